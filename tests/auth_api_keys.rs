//! API keys: shown once, work as bearer tokens, listed without secrets, revocable
//! by their owner only.

use crate::common;

use common::people::{
    audit_rows, delete_as, delete_with_token, get_as, get_with_token, operator, post_as, signup,
    staff, step_up,
};
use common::{assert_error, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn a_seller_creates_uses_lists_and_revokes_a_key() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let response = post_as(
        &app,
        &seller,
        "/v1/api_keys",
        &json!({"name": "  warehouse sync "}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["key"].as_str().unwrap().to_owned();
    let prefix = created["prefix"].as_str().unwrap();
    assert!(id.starts_with("key_"));
    assert_eq!(created["name"], "warehouse sync");
    assert_eq!(prefix.len(), 8);
    assert!(key.starts_with(&format!("bzk_{prefix}_")), "{key}");
    assert_eq!(key.len(), 4 + 8 + 1 + 64);

    // The key is a bearer credential for its owner.
    let me: Value = get_with_token(&app, &key, "/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], seller.user_id.as_str());
    assert_eq!(me["role"], "seller");

    // Listed without the secret.
    let listing = get_as(&app, &seller, "/v1/api_keys").await;
    assert_eq!(listing.status(), 200);
    let text = listing.text().await.unwrap();
    assert!(!text.contains(&key[13..]), "secret leaked: {text}");
    let listing: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listing["data"].as_array().unwrap().len(), 1);
    assert_eq!(listing["data"][0]["id"], id.as_str());
    assert_eq!(listing["data"][0]["prefix"], prefix);
    assert!(listing["data"][0].get("key").is_none());

    // A key with a right prefix and a wrong secret is nobody.
    let forged = format!("bzk_{prefix}_{}", "0".repeat(64));
    assert_error(
        get_with_token(&app, &forged, "/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;

    // An API key cannot log itself out as if it were a session.
    let response = delete_with_token(&app, &key, "/v1/sessions/current").await;
    assert_error(response, 422, "not_a_session").await;

    assert_eq!(
        delete_as(&app, &seller, &format!("/v1/api_keys/{id}"))
            .await
            .status(),
        204
    );
    assert_error(
        get_with_token(&app, &key, "/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        delete_as(&app, &seller, &format!("/v1/api_keys/{id}")).await,
        404,
        "not_found",
    )
    .await;
    let listing: Value = get_as(&app, &seller, "/v1/api_keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["data"], json!([]));

    let operator = operator(&app).await;
    let created_rows = audit_rows(&app, &operator, "api_key.create").await;
    assert_eq!(created_rows.len(), 1);
    assert_eq!(created_rows[0]["subject"], id.as_str());
    assert_eq!(created_rows[0]["actor_user_id"], seller.user_id.as_str());
    assert!(
        !created_rows[0].to_string().contains(&key[13..]),
        "secret in the audit log"
    );
    assert_eq!(audit_rows(&app, &operator, "api_key.revoke").await.len(), 1);
}

#[tokio::test]
async fn another_users_key_is_not_found_and_keeps_working() {
    let app = TestApp::spawn().await;
    let ann = signup(&app, "seller").await;
    let bob = signup(&app, "seller").await;
    let created: Value = post_as(&app, &ann, "/v1/api_keys", &json!({"name": "ann"}))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    assert_error(
        delete_as(&app, &bob, &format!("/v1/api_keys/{id}")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        delete_as(&app, &bob, "/v1/api_keys/key_nope").await,
        404,
        "not_found",
    )
    .await;
    let key = created["key"].as_str().unwrap();
    assert_eq!(get_with_token(&app, key, "/v1/me").await.status(), 200);
    let bobs: Value = get_as(&app, &bob, "/v1/api_keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["data"], json!([]));
}

#[tokio::test]
async fn buyers_have_no_keys_and_staff_do() {
    let app = TestApp::spawn().await;
    let buyer = signup(&app, "buyer").await;
    assert_error(
        post_as(&app, &buyer, "/v1/api_keys", &json!({"name": "x"})).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(get_as(&app, &buyer, "/v1/api_keys").await, 403, "forbidden").await;
    let operator = operator(&app).await;
    for person in [staff(&app, &operator, "finance").await, operator.clone()] {
        // Staff step up: a TOTP session and a fresh code (tests/security_secrets.rs).
        let (person, code) = step_up(&app, &person).await;
        let body = json!({"name": "reports", "totp_code": code});
        let response = post_as(&app, &person, "/v1/api_keys", &body).await;
        assert_eq!(response.status(), 201, "{}", person.role);
    }
}

#[tokio::test]
async fn key_names_are_checked() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    for name in [
        String::new(),
        "   ".into(),
        "x".repeat(101),
        "tab\there".into(),
    ] {
        let error = assert_error(
            post_as(&app, &seller, "/v1/api_keys", &json!({"name": name})).await,
            422,
            "invalid_name",
        )
        .await;
        assert_eq!(error["param"], "name");
    }
    let response = post_as(
        &app,
        &seller,
        "/v1/api_keys",
        &json!({"name": "x", "scopes": []}),
    )
    .await;
    let error = assert_error(response, 422, "unknown_field").await;
    assert_eq!(error["param"], "scopes");
}
