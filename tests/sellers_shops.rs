//! Sellers open shops and onboard them with the provider (the sandbox), over HTTP.

use crate::common;

use common::people::{get_as, operator, post_as, signup, Person};
use common::{assert_error, TestApp, SANDBOX_KEY};
use serde_json::{json, Value};

fn shop_body(slug: &str) -> Value {
    json!({
        "name": "Ann's Pottery",
        "slug": slug,
        "country": "US",
        "default_currency": "USD",
        "support_email": "help@anns.example",
    })
}

async fn open_shop(app: &TestApp, seller: &Person, slug: &str) -> Value {
    let response = post_as(app, seller, "/v1/shops", &shop_body(slug)).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_seller_onboards_a_shop_until_it_can_sell() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = open_shop(&app, &seller, "anns-pottery").await;
    let id = shop["id"].as_str().unwrap().to_owned();
    // The connected account exists at once; the provider still wants details.
    assert_eq!(shop["status"], "pending");
    assert!(shop["provider_account_id"]
        .as_str()
        .unwrap()
        .starts_with("acct_"));
    assert!(!shop["requirements_due"].as_array().unwrap().is_empty());
    assert_eq!(shop["can_sell"], false);

    let link = post_as(
        &app,
        &seller,
        &format!("/v1/shops/{id}/onboarding_link"),
        &json!({}),
    )
    .await;
    assert_eq!(link.status(), 200);
    let link: Value = link.json().await.unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(app.sandbox_url.as_deref().unwrap()),
        "{url}"
    );
    // Links are single-use: asking again gives a fresh one.
    let again: Value = post_as(
        &app,
        &seller,
        &format!("/v1/shops/{id}/onboarding_link"),
        &json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_ne!(again["url"], link["url"]);

    // The seller completes the provider's onboarding form.
    let submitted = app
        .client
        .post(url)
        .form(&[
            ("business_name", "Ann's Pottery"),
            ("business_type", "individual"),
            ("first_name", "Ann"),
            ("last_name", "Potter"),
            ("dob", "1990-04-27"),
            ("routing_number", "110000000"),
            ("account_number", "000123456789"),
        ])
        .send()
        .await
        .unwrap();
    assert!(submitted.status().is_success() || submitted.status().is_redirection());
    let synced: Value = post_as(&app, &seller, &format!("/v1/shops/{id}/sync"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(synced["status"], "active");
    assert_eq!(synced["can_sell"], true);
    assert_eq!(synced["can_be_paid_out"], true);
    assert_eq!(synced["requirements_due"], json!([]));

    // An active shop's products are buyable: buyers (anonymous too) see them.
    let product = post_as(
        &app,
        &seller,
        &format!("/v1/shops/{id}/products"),
        &json!({
            "sku": "MUG-1", "title": "Stoneware mug", "price_minor": 2_400, "currency": "USD",
            "stock": 5, "category": "home-kitchen",
            "images": [{"url": "https://img.example/mug.jpg", "alt": "A blue stoneware mug"}],
        }),
    )
    .await;
    assert_eq!(product.status(), 201);
    let listed: Value = app
        .get(&format!("/v1/products?shop={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["sku"], "MUG-1");

    // The provider restricts the account: the shop stops selling.
    let account = synced["provider_account_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/test_helpers/accounts/{account}/restrict"),
        &[("disabled_reason", "requirements.past_due")],
    )
    .await;
    let restricted: Value = post_as(&app, &seller, &format!("/v1/shops/{id}/sync"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(restricted["status"], "restricted");
    assert_eq!(restricted["disabled_reason"], "requirements.past_due");
    assert_eq!(restricted["can_sell"], false);
    // ...and its products disappear from the catalog.
    let listed: Value = app
        .get(&format!("/v1/products?shop={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn shops_are_private_to_their_seller_and_staff() {
    let app = TestApp::spawn().await;
    let ann = signup(&app, "seller").await;
    let bob = signup(&app, "seller").await;
    let buyer = signup(&app, "buyer").await;
    let ops = operator(&app).await;
    let shop = open_shop(&app, &ann, "anns-pottery").await;
    let path = format!("/v1/shops/{}", shop["id"].as_str().unwrap());

    assert_eq!(get_as(&app, &ann, &path).await.status(), 200);
    assert_eq!(get_as(&app, &ops, &path).await.status(), 200);
    // Another seller's id answers as if it did not exist.
    assert_error(get_as(&app, &bob, &path).await, 404, "not_found").await;
    assert_error(
        post_as(&app, &bob, &format!("{path}/onboarding_link"), &json!({})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(get_as(&app, &buyer, &path).await, 403, "forbidden").await;
    assert_error(
        post_as(&app, &buyer, "/v1/shops", &shop_body("buyers-shop")).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(app.get(&path).await, 401, "unauthenticated").await;

    let bobs: Value = get_as(&app, &bob, "/v1/shops").await.json().await.unwrap();
    assert_eq!(bobs["data"], json!([]));
    let all: Value = get_as(&app, &ops, "/v1/shops").await.json().await.unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_shop_requests_get_clear_errors_and_leave_nothing() {
    let app = TestApp::spawn().await;
    let ann = signup(&app, "seller").await;
    let mut bad_currency = shop_body("anns");
    bad_currency["default_currency"] = json!("ABC");
    let error = assert_error(
        post_as(&app, &ann, "/v1/shops", &bad_currency).await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "default_currency");
    let mut unknown = shop_body("anns");
    unknown["fee_percent"] = json!(0);
    assert_error(
        post_as(&app, &ann, "/v1/shops", &unknown).await,
        422,
        "unknown_field",
    )
    .await;
    let listed: Value = get_as(&app, &ann, "/v1/shops").await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]));

    open_shop(&app, &ann, "anns").await;
    assert_error(
        post_as(&app, &ann, "/v1/shops", &shop_body("anns")).await,
        409,
        "slug_taken",
    )
    .await;
}

#[tokio::test]
async fn operators_freeze_and_unfreeze_shops() {
    let app = TestApp::spawn().await;
    let ann = signup(&app, "seller").await;
    let ops = operator(&app).await;
    let shop = open_shop(&app, &ann, "anns").await;
    let path = format!("/v1/shops/{}", shop["id"].as_str().unwrap());

    assert_error(
        post_as(
            &app,
            &ann,
            &format!("{path}/freeze"),
            &json!({"reason": "self"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let error = assert_error(
        post_as(
            &app,
            &ops,
            &format!("{path}/freeze"),
            &json!({"reason": " "}),
        )
        .await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "reason");
    let frozen: Value = post_as(
        &app,
        &ops,
        &format!("{path}/freeze"),
        &json!({"reason": "chargebacks"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(frozen["status"], "frozen");
    assert_eq!(frozen["frozen_reason"], "chargebacks");
    assert_eq!(frozen["can_sell"], false);
    let seen_by_seller: Value = get_as(&app, &ann, &path).await.json().await.unwrap();
    assert_eq!(seen_by_seller["status"], "frozen");
    let unfrozen: Value = post_as(&app, &ops, &format!("{path}/unfreeze"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unfrozen["status"], "pending");
    let audited = common::people::audit_rows(&app, &ops, "shop.freeze").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["subject"], shop["id"]);
    assert_eq!(audited[0]["actor_user_id"], ops.user_id.as_str());
    assert_eq!(
        common::people::audit_rows(&app, &ops, "shop.unfreeze")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_shop_is_kept_when_the_provider_is_down_and_its_account_made_later() {
    // A sandbox that is not running yet: the port is reserved, then released.
    let port = common::cli::free_port();
    let api_base = format!("http://127.0.0.1:{port}");
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__PROVIDER__KIND", "stripe"),
            ("BAZAAR__PROVIDER__API_BASE", &api_base),
            ("BAZAAR__PROVIDER__SECRET_KEY", SANDBOX_KEY),
            ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", "whsec_unused"),
            (
                "BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS",
                "whsec_unused_connect",
            ),
            ("BAZAAR__PROVIDER__RETRY_ATTEMPTS_MAX", "2"),
        ],
        |_| {},
    )
    .await;
    let ann = signup(&app, "seller").await;
    let shop = open_shop(&app, &ann, "anns").await;
    assert_eq!(shop["status"], "not_started");
    assert!(shop["provider_account_id"].is_null());
    let id = shop["id"].as_str().unwrap();

    let link = post_as(
        &app,
        &ann,
        &format!("/v1/shops/{id}/onboarding_link"),
        &json!({}),
    )
    .await;
    assert_error(link, 503, "service_unavailable").await;

    // The provider comes back: the next request creates the account, once.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let sandbox =
        bazaar::sandbox::Sandbox::start(bazaar::sandbox::SandboxConfig::default(), listener)
            .await
            .unwrap();
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let link = post_as(
            &app,
            &ann,
            &format!("/v1/shops/{id}/onboarding_link"),
            &json!({}),
        )
        .await;
        assert_eq!(link.status(), 200);
        let shop: Value = get_as(&app, &ann, &format!("/v1/shops/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shop["status"], "pending");
        accounts.push(shop["provider_account_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(accounts[0], accounts[1]);
    let account = app
        .client
        .get(format!(
            "{}/v1/accounts/{}",
            sandbox.base_url(),
            accounts[0]
        ))
        .bearer_auth(SANDBOX_KEY)
        .send()
        .await
        .unwrap();
    let account: Value = account.json().await.unwrap();
    assert_eq!(account["metadata"]["shop_id"], id);
    sandbox.stop().await;
}
