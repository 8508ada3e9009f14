//! The account life cycle over HTTP, with the emails read as their
//! recipients would: a sign-up opens an account only through the link it
//! emails, and answers the same for a taken address; a password reset works
//! once, through an emailed link stored only hashed; a password change ends
//! the other sessions; a buyer deletes their account and their orders stay
//! with the personal data removed.

use crate::common;
use crate::orders_support;

use common::mail::{messages_to, token_of, wait_for_link};
use common::people::{
    get_as, login_token, pool, post_as, post_login, post_signup, post_verification, signup,
    unique_email, PASSWORD,
};
use common::{assert_error, wait_until, TestApp};
use diesel::prelude::*;
use orders_support::*;
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "copper lantern meadow nine";

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/v1/me", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Every text column of the tables an emailed token could hide in.
fn stored_text(app: &TestApp) -> String {
    use bazaar::auth::schema::account_tokens;
    use bazaar::notify::schema::outbox;
    let pool = pool(app);
    let mut conn = pool.get().unwrap();
    let outbox: Vec<(String, String, String)> = outbox::table
        .select((outbox::cause, outbox::data, outbox::subject))
        .load(&mut conn)
        .unwrap();
    let tokens: Vec<(String, String)> = account_tokens::table
        .select((account_tokens::id, account_tokens::token_hash))
        .load(&mut conn)
        .unwrap();
    format!("{outbox:?} {tokens:?}")
}

#[tokio::test]
async fn a_sign_up_opens_the_account_only_through_its_emailed_link() {
    let app = TestApp::spawn().await;
    let email = unique_email("ann");
    let response = post_signup(&app, &email, PASSWORD, "buyer").await;
    assert_eq!(response.status(), 202);

    // The password alone does not sign in yet; only its owner learns why.
    let refused = post_login(&app, &email, PASSWORD, None).await;
    assert_error(refused, 403, "email_not_verified").await;
    let guessed = post_login(&app, &email, "not the password at all", None).await;
    assert_error(guessed, 401, "invalid_credentials").await;

    let link = wait_for_link(&app, &email, "/verify-email").await;
    assert!(link.starts_with(&app.address), "{link}");
    let token = token_of(&link);
    assert!(
        token.starts_with("bzt_") && token.len() == 4 + 64,
        "{token}"
    );
    // The database never holds the token itself: the outbox names the
    // account, the token table its digest.
    assert!(!stored_text(&app).contains(&token));

    let verified: Value = json_of(post_verification(&app, &token).await, 200).await;
    assert_eq!(verified["user"]["email"], email.as_str());
    assert_eq!(verified["user"]["role"], "buyer");
    let session = verified["token"].as_str().unwrap();
    assert_eq!(me(&app, session).await.status(), 200);
    // Once only.
    let again = post_verification(&app, &token).await;
    let error = assert_error(again, 422, "token_invalid").await;
    assert_eq!(error["param"], "token");
    // And the password works now.
    login_token(&app, &email, PASSWORD, None).await;
    // Shapes that are not tokens are refused the same way.
    for bad in ["", "bzt_", "bzs_00", &format!("bzt_{}", "g".repeat(64))] {
        assert_error(post_verification(&app, bad).await, 422, "token_invalid").await;
    }
}

#[tokio::test]
async fn a_sign_up_with_a_taken_address_tells_the_owner_and_nobody_else() {
    let app = TestApp::spawn().await;
    let owner = signup(&app, "buyer").await;
    let response = post_signup(&app, &owner.email, "someone else's password", "seller").await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"email": owner.email, "status": "verification_sent"})
    );
    // The owner hears of it, with a way to reset the password, and gets no
    // link that would verify anything.
    let notices = || {
        messages_to(&app, &owner.email)
            .into_iter()
            .filter(|m| m.contains("already have an account"))
            .collect::<Vec<_>>()
    };
    wait_until(|| async { !notices().is_empty() }).await;
    let mail = notices().join("\n");
    assert!(mail.contains(&format!("{}/forgot-password", app.address)));
    assert!(!mail.contains("/verify-email?token="));
    // No new verification link either: the one the owner's own sign-up got is all.
    let links = messages_to(&app, &owner.email)
        .iter()
        .filter(|m| m.contains("/verify-email?token="))
        .count();
    assert!(links <= 1);
    // A second attempt within the hour sends no second notice.
    post_signup(&app, &owner.email, "someone else's password", "seller").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(notices().len(), 1);
}

#[tokio::test]
async fn whoever_reads_the_inbox_owns_an_unverified_address() {
    let app = TestApp::spawn().await;
    let email = unique_email("victim");
    // Someone signs up first with the victim's address and a password of theirs…
    post_signup(&app, &email, "squatter password 1234", "seller").await;
    // …then the owner signs up; the link they follow opens the account with
    // the owner's password and role.
    post_signup(&app, &email, PASSWORD, "buyer").await;
    let link = wait_for_link(&app, &email, "/verify-email").await;
    let verified = json_of(post_verification(&app, &token_of(&link)).await, 200).await;
    assert_eq!(verified["user"]["role"], "buyer");
    login_token(&app, &email, PASSWORD, None).await;
    let squatter = post_login(&app, &email, "squatter password 1234", None).await;
    assert_error(squatter, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn a_password_reset_works_once_through_its_emailed_link_and_ends_every_session() {
    let app = TestApp::spawn().await;
    let ann = signup(&app, "buyer").await;
    let other_session = login_token(&app, &ann.email, PASSWORD, None).await;

    // The same answer for an address without an account, and no email.
    let nobody = unique_email("nobody");
    let unknown = app
        .post_json("/v1/password_resets", &json!({"email": nobody}))
        .await;
    assert_eq!(unknown.status(), 202);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(
        unknown,
        json!({"email": nobody, "status": "reset_link_sent"})
    );
    let known = app
        .post_json("/v1/password_resets", &json!({"email": ann.email}))
        .await;
    assert_eq!(known.status(), 202);
    let link = wait_for_link(&app, &ann.email, "/reset-password").await;
    assert!(messages_to(&app, &nobody).is_empty());
    let token = token_of(&link);
    assert!(!stored_text(&app).contains(&token));

    // The new password must pass the same rules as at sign-up.
    let weak = app
        .post_json(
            "/v1/password_resets/confirm",
            &json!({"token": token, "password": "short"}),
        )
        .await;
    assert_error(weak, 422, "password_too_short").await;
    let reset = app
        .post_json(
            "/v1/password_resets/confirm",
            &json!({"token": token, "password": NEW_PASSWORD}),
        )
        .await;
    let reset = json_of(reset, 200).await;
    assert_eq!(reset["sessions_ended"], 2);
    assert_eq!(me(&app, &ann.token).await.status(), 401);
    assert_eq!(me(&app, &other_session).await.status(), 401);
    assert_error(
        post_login(&app, &ann.email, PASSWORD, None).await,
        401,
        "invalid_credentials",
    )
    .await;
    login_token(&app, &ann.email, NEW_PASSWORD, None).await;
    let reused = app
        .post_json(
            "/v1/password_resets/confirm",
            &json!({"token": token, "password": "yet another passphrase"}),
        )
        .await;
    assert_error(reused, 422, "token_invalid").await;
    // The owner is told.
    wait_until(|| async {
        messages_to(&app, &ann.email)
            .iter()
            .any(|m| m.contains("was reset with a link sent to this address"))
    })
    .await;
}

#[tokio::test]
async fn a_reset_link_expires() {
    let app = TestApp::spawn().await;
    let ann = signup(&app, "buyer").await;
    let token = common::people::account_token(&app, &ann.email, "reset_password").await;
    let pool = pool(&app);
    let ttl = chrono::TimeDelta::from_std(app.settings.auth.password_reset_ttl).unwrap();
    let password = bazaar::auth::Password::parse(NEW_PASSWORD).unwrap();
    let late = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let after = bazaar::db::now() + ttl + chrono::TimeDelta::seconds(1);
        bazaar::auth::reset_password(
            &mut conn,
            &token,
            &password,
            &bazaar::auth::RequestContext::default(),
            after,
        )
    })
    .await
    .unwrap();
    assert_eq!(late.unwrap_err().code(), "token_invalid");
    login_token(&app, &ann.email, PASSWORD, None).await;
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let ann = signup(&app, "seller").await;
    let laptop = login_token(&app, &ann.email, PASSWORD, None).await;
    let wrong = post_as(
        &app,
        &ann,
        "/v1/me/password",
        &json!({"current_password": "not my password", "password": NEW_PASSWORD}),
    )
    .await;
    let error = assert_error(wrong, 422, "current_password_incorrect").await;
    assert_eq!(error["param"], "current_password");
    assert_eq!(me(&app, &laptop).await.status(), 200);

    let changed = post_as(
        &app,
        &ann,
        "/v1/me/password",
        &json!({"current_password": PASSWORD, "password": NEW_PASSWORD}),
    )
    .await;
    let changed = json_of(changed, 200).await;
    assert_eq!(changed["sessions_ended"], 1);
    // This session stays; the laptop's ended.
    assert_eq!(me(&app, &ann.token).await.status(), 200);
    assert_eq!(me(&app, &laptop).await.status(), 401);
    login_token(&app, &ann.email, NEW_PASSWORD, None).await;
    assert_error(
        post_login(&app, &ann.email, PASSWORD, None).await,
        401,
        "invalid_credentials",
    )
    .await;
    // Anonymous callers are refused before the body is read.
    let anonymous = app.post_json("/v1/me/password", &json!({})).await;
    assert_error(anonymous, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_buyer_deletes_their_account_and_their_orders_stay_without_them() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let buyer = market.buyer.clone();
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let mug = product(&app, &seller, &shop, "Mug", 1250, 10).await;
    add_to_cart(&app, &buyer, &mug, 2).await;
    let order = checkout_ok(&app, &buyer, "del-1", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let part_id = order["parts"][0]["id"].as_str().unwrap().to_owned();

    // Sellers and staff do not delete themselves here.
    let refused = post_as(
        &app,
        &seller,
        "/v1/me/deletion",
        &json!({"password": PASSWORD}),
    )
    .await;
    assert_error(refused, 403, "account_not_deletable").await;
    // A paid order not yet delivered keeps the account.
    let busy = post_as(
        &app,
        &buyer,
        "/v1/me/deletion",
        &json!({"password": PASSWORD}),
    )
    .await;
    assert_error(busy, 409, "account_busy").await;
    let wrong = post_as(
        &app,
        &buyer,
        "/v1/me/deletion",
        &json!({"password": "not mine at all"}),
    )
    .await;
    assert_error(wrong, 422, "current_password_incorrect").await;

    let parcel = json!({"carrier": "DHL", "tracking_number": "Z1", "lines": [{"line_id": order["parts"][0]["lines"][0]["id"], "quantity": 2}]});
    let shipments = format!("/v1/orders/{order_id}/parts/{part_id}/shipments");
    json_of(post_as(&app, &seller, &shipments, &parcel).await, 201).await;
    let delivered = format!("/v1/orders/{order_id}/parts/{part_id}/delivered");
    json_of(post_as(&app, &buyer, &delivered, &json!({})).await, 200).await;
    add_to_cart(&app, &buyer, &mug, 1).await;

    let deleted = post_as(
        &app,
        &buyer,
        "/v1/me/deletion",
        &json!({"password": PASSWORD}),
    )
    .await;
    let deleted = json_of(deleted, 200).await;
    assert_eq!(deleted["user_id"], buyer.user_id.as_str());
    assert_eq!(deleted["orders_anonymised"], 1);

    // Signed out everywhere, and the password opens nothing.
    assert_eq!(me(&app, &buyer.token).await.status(), 401);
    assert_error(
        post_login(&app, &buyer.email, PASSWORD, None).await,
        401,
        "invalid_credentials",
    )
    .await;
    // The order stays, with its money, without the person.
    let view = staff_view(&app, &order_id).await;
    assert_eq!(view["status"], "paid");
    assert_eq!(view["total"], order["total"]);
    let placeholder = format!("deleted-{}@deleted.invalid", buyer.user_id);
    assert_eq!(view["buyer_email"], placeholder.as_str(), "{view}");
    let shipping = &view["shipping"];
    for field in ["name", "line1", "city", "postal_code"] {
        assert_eq!(shipping[field], "(removed)", "{field} in {shipping}");
    }
    assert_eq!(shipping["country"], order["shipping"]["country"]);
    // The outbox keeps no trace of the address; the audit log names the deletion.
    let emails = json_of(
        get_as(&app, &market.operator, "/v1/emails?limit=100").await,
        200,
    )
    .await;
    assert!(!emails.to_string().contains(&buyer.email), "{emails}");
    let audit = json_of(
        get_as(&app, &market.operator, "/v1/audit_log?limit=100").await,
        200,
    )
    .await;
    // (Only the sign-in tried above with the old address names it: a failed
    // attempt records the address it was made with.)
    let naming: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row.to_string().contains(&buyer.email))
        .collect();
    assert!(
        naming.iter().all(|row| row["action"] == "login.failure"),
        "{naming:?}"
    );
    assert!(audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|row| row["action"] == "user.deleted" && row["subject"] == buyer.user_id.as_str()));
    // The address is free for a new account.
    assert_eq!(
        post_signup(&app, &buyer.email, PASSWORD, "buyer")
            .await
            .status(),
        202
    );
    let fresh = common::people::verification_token(&app, &buyer.email).await;
    let fresh = json_of(post_verification(&app, &fresh).await, 200).await;
    assert_ne!(fresh["user"]["id"], buyer.user_id.as_str());
}
