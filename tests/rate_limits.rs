//! Sign-up, checkout and webhook rates: over the configured rate a client
//! gets 429 `rate_limited` with `Retry-After`, and other clients do not.

use crate::common;
use crate::orders_support;

use common::people::signup;
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::json;

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn sign_ups_over_the_rate_are_refused_with_retry_after() {
    let app = TestApp::spawn_with(&[("BAZAAR__LIMITS__SIGNUP_PER_MINUTE", "3")], |_| {}).await;
    for _ in 0..3 {
        signup(&app, "buyer").await;
    }
    let body = json!({"email": "late@buyers.example", "password": "a long enough password", "role": "buyer"});
    let response = app.post_json("/v1/users", &body).await;
    assert_eq!(response.status(), 429);
    assert_eq!(retry_after(&response), 20, "one sign-up back every 20 s");
    assert_error(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn checkouts_over_the_rate_are_refused_per_buyer() {
    let app = TestApp::spawn_with(&[("BAZAAR__LIMITS__CHECKOUT_PER_MINUTE", "2")], |_| {}).await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let mug = product(&app, &seller, &shop, "Mug", 1250, 10).await;
    for key in ["one", "two"] {
        add_to_cart(&app, &market.buyer, &mug, 1).await;
        checkout_ok(&app, &market.buyer, key, Some("pm_card_visa")).await;
    }
    add_to_cart(&app, &market.buyer, &mug, 1).await;
    let response = post_keyed(
        &app,
        &market.buyer,
        "/v1/checkout",
        "three",
        &checkout_body(Some("pm_card_visa")),
    )
    .await;
    assert_eq!(response.status(), 429);
    assert!(retry_after(&response) >= 1);
    assert_error(response, 429, "rate_limited").await;
    // The refused checkout changed nothing: the cart is still there for later.
    let cart = json_of(
        common::people::get_as(&app, &market.buyer, "/v1/cart").await,
        200,
    )
    .await;
    assert_eq!(cart["lines"].as_array().unwrap().len(), 1);
    // Another buyer is not limited by this one.
    let other = signup(&app, "buyer").await;
    add_to_cart(&app, &other, &mug, 1).await;
    checkout_ok(&app, &other, "mine", Some("pm_card_visa")).await;
}

#[tokio::test]
async fn webhook_floods_are_answered_429_for_the_provider_to_retry() {
    let app = TestApp::spawn_with(&[("BAZAAR__LIMITS__WEBHOOKS_PER_SECOND", "2")], |_| {}).await;
    let post = || {
        app.client
            .post(format!("{}/webhooks/stripe", app.address))
            .header("content-type", "application/json")
            .body("{}")
            .send()
    };
    for _ in 0..2 {
        assert_error(post().await.unwrap(), 400, "missing_signature").await;
    }
    let response = post().await.unwrap();
    assert_eq!(retry_after(&response), 1);
    assert_error(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn calls_that_reach_the_provider_are_limited_per_user() {
    let app = TestApp::spawn_with(
        &[("BAZAAR__LIMITS__PROVIDER_CALLS_PER_MINUTE", "3")],
        |_| {},
    )
    .await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let mug = product(&app, &seller, &shop, "Mug", 1250, 10).await;
    add_to_cart(&app, &market.buyer, &mug, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    let sync = format!("/v1/orders/{}/sync", order["id"].as_str().unwrap());
    for _ in 0..3 {
        json_of(
            common::people::post_as(&app, &market.buyer, &sync, &json!({})).await,
            200,
        )
        .await;
    }
    let refused = common::people::post_as(&app, &market.buyer, &sync, &json!({})).await;
    assert!(retry_after(&refused) >= 1);
    assert_error(refused, 429, "rate_limited").await;
    // The seller's budget (its shop's set-up spent some): onboarding links
    // and shop syncs share it, and run out within three more calls.
    let shop_id = shop["id"].as_str().unwrap();
    let mut statuses = Vec::new();
    for path in ["onboarding_link", "sync", "sync", "onboarding_link"] {
        let response = common::people::post_as(
            &app,
            &seller,
            &format!("/v1/shops/{shop_id}/{path}"),
            &json!({}),
        )
        .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 429)),
        "{statuses:?}"
    );
    // Support's own budget is untouched by the buyer's and the seller's.
    let support = common::people::staff(&app, &market.operator, "support").await;
    let synced = common::people::post_as(&app, &support, &sync, &json!({})).await;
    assert_eq!(synced.status(), 200);
}

#[tokio::test]
async fn every_process_on_the_database_shares_one_limit() {
    let app = TestApp::spawn_with(&[("BAZAAR__LIMITS__SIGNUP_PER_MINUTE", "4")], |_| {}).await;
    let beside = app.spawn_beside().await;
    let sign_up = |base: String, n: usize| {
        let client = app.client.clone();
        async move {
            let body = json!({
                "email": format!("shared{n}@buyers.example"),
                "password": "a long enough password",
                "role": "buyer",
            });
            client
                .post(format!("{base}/v1/users"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Four sign-ups spread over the two processes use the one allowance…
    for n in 0..4 {
        let base = if n % 2 == 0 { &app.address } else { &beside };
        let response = sign_up(base.clone(), n).await;
        assert!(response.status().is_success(), "{}", response.status());
    }
    // …so neither process allows a fifth: not four each.
    for (n, base) in [(4, &app.address), (5, &beside)] {
        let response = sign_up(base.clone(), n).await;
        assert_eq!(retry_after(&response), 15, "one sign-up back every 15 s");
        assert_error(response, 429, "rate_limited").await;
    }
}

#[tokio::test]
async fn a_bucket_refills_at_its_rate_and_leases_come_out_of_it() {
    use bazaar::http::rate_limit::{Bucket, Claim};
    use std::time::Duration;
    let app = TestApp::spawn().await;
    let pool = bazaar::db::connect_pool(&app.settings.database).unwrap();
    let mut conn = pool.get().unwrap();
    let t0 = bazaar::http::rate_limit::now_us();
    let s = 1_000_000;
    let minute = Bucket::new("test_minute", 3, Duration::from_secs(60), pool.clone());
    for _ in 0..3 {
        assert_eq!(
            minute.claim_at(&mut conn, "a", t0, 1).unwrap(),
            Claim::Taken
        );
    }
    assert_eq!(
        minute.claim_at(&mut conn, "a", t0, 1).unwrap(),
        Claim::Refused { retry_after_s: 20 }
    );
    // Another key has its own bucket.
    assert_eq!(
        minute.claim_at(&mut conn, "b", t0, 1).unwrap(),
        Claim::Taken
    );
    // One token is back after 20 s, not before; 40 s later, two.
    assert_eq!(
        minute.claim_at(&mut conn, "a", t0 + 19 * s, 1).unwrap(),
        Claim::Refused { retry_after_s: 1 }
    );
    assert_eq!(
        minute.claim_at(&mut conn, "a", t0 + 40 * s, 2).unwrap(),
        Claim::Taken
    );
    assert!(matches!(
        minute.claim_at(&mut conn, "a", t0 + 40 * s, 1).unwrap(),
        Claim::Refused { .. }
    ));
    // Asking for more than is left takes nothing: the one left is still there.
    assert!(matches!(
        minute.claim_at(&mut conn, "b", t0, 3).unwrap(),
        Claim::Refused { .. }
    ));
    assert_eq!(
        minute.claim_at(&mut conn, "b", t0, 2).unwrap(),
        Claim::Taken
    );
    // A fast bucket (2,000 a second) hands out leases of 100 (1/20 s of
    // refill): twenty of them empty it.
    let fast = Bucket::new("test_fast", 2000, Duration::from_secs(1), pool.clone());
    for _ in 0..20 {
        assert_eq!(
            fast.claim_at(&mut conn, "peer", t0, 100).unwrap(),
            Claim::Taken
        );
    }
    assert!(matches!(
        fast.claim_at(&mut conn, "peer", t0, 1).unwrap(),
        Claim::Refused { retry_after_s: 1 }
    ));
    // Through `take`, the lease's tokens are spent without the database: a
    // bucket emptied behind the process's back (for the next 10 s: claimed
    // as of then) still lets the lease's other 99 go, and no more.
    fast.take("leased").await.unwrap();
    let later = bazaar::http::rate_limit::now_us() + 10 * s;
    while fast.claim_at(&mut conn, "leased", later, 100).unwrap() == Claim::Taken {}
    for _ in 0..99 {
        fast.take("leased").await.unwrap();
    }
    assert!(matches!(
        fast.take("leased").await,
        Err(bazaar::error::AppError::RateLimited { .. })
    ));
}
