//! Signing up, logging in and out, and what a session token is good for.

use crate::common;

use std::time::Instant;

use bazaar::auth::{login, LoginAttempt, RequestContext};
use chrono::TimeDelta;
use common::people::{
    get_as, get_with_token, post_login, post_signup, signup, unique_email, PASSWORD,
};
use common::{assert_error, TestApp};
use serde_json::Value;

#[tokio::test]
async fn a_buyer_signs_up_logs_in_sees_themself_and_logs_out() {
    let app = TestApp::spawn().await;
    let email = unique_email("Ann");
    let response = post_signup(
        &app,
        &format!("  {}  ", email.to_uppercase()),
        PASSWORD,
        "buyer",
    )
    .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["email"], email.to_lowercase(), "stored normalised");
    let token = common::people::verification_token(&app, &email.to_lowercase()).await;
    let verified: Value = common::people::post_verification(&app, &token)
        .await
        .json()
        .await
        .unwrap();
    let user = verified["user"].clone();
    assert!(user["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(user["role"], "buyer");
    assert_eq!(user.as_object().unwrap().len(), 3, "{user}");

    let started = chrono::Utc::now();
    let response = post_login(&app, &email.to_uppercase(), PASSWORD, None).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("bzs_") && token.len() == 68, "{token}");
    assert_eq!(session["user"], user);
    let expires_at: chrono::DateTime<chrono::Utc> =
        session["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires_at - started;
    assert!(
        (TimeDelta::days(7) - TimeDelta::seconds(5)..=TimeDelta::days(7) + TimeDelta::seconds(5))
            .contains(&ttl),
        "ttl {ttl}"
    );

    let response = get_with_token(&app, &token, "/v1/me").await;
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["totp_enrolled"], false);

    let response = common::people::delete_with_token(&app, &token, "/v1/sessions/current").await;
    assert_eq!(response.status(), 204);
    assert_error(
        get_with_token(&app, &token, "/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        common::people::delete_with_token(&app, &token, "/v1/sessions/current").await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn only_the_token_is_stored_hashed_and_other_sessions_survive_a_logout() {
    let app = TestApp::spawn().await;
    let ann = signup(&app, "seller").await;
    let second = common::people::login_token(&app, &ann.email, PASSWORD, None).await;
    common::people::delete_as(&app, &ann, "/v1/sessions/current").await;
    assert_eq!(get_with_token(&app, &second, "/v1/me").await.status(), 200);

    use diesel::prelude::*;
    let pool = common::people::pool(&app);
    let mut conn = pool.get().unwrap();
    let hashes: Vec<String> = bazaar::auth::schema::sessions::table
        .select(bazaar::auth::schema::sessions::token_hash)
        .load(&mut conn)
        .unwrap();
    assert_eq!(hashes.len(), 2);
    assert!(hashes
        .iter()
        .all(|h| h.len() == 64 && !h.contains(&second[4..])));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer_in_similar_time() {
    let app = TestApp::spawn_with(&[("BAZAAR__AUTH__LOGIN_FAILURES_MAX", "50")], |_| {}).await;
    let ann = signup(&app, "buyer").await;
    let nobody = unique_email("nobody");
    let mut known_ms = Vec::new();
    let mut unknown_ms = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let wrong = assert_error(
            post_login(&app, &ann.email, "not the password at all", None).await,
            401,
            "invalid_credentials",
        )
        .await;
        known_ms.push(started.elapsed().as_millis());
        let started = Instant::now();
        let unknown = assert_error(
            post_login(&app, &nobody, "not the password at all", None).await,
            401,
            "invalid_credentials",
        )
        .await;
        unknown_ms.push(started.elapsed().as_millis());
        assert_eq!(wrong, unknown, "same body for both");
    }
    // Both verify an argon2 hash; without the dummy hash the unknown email would
    // answer in a fraction of the time.
    let known = *known_ms.iter().min().unwrap();
    let unknown = *unknown_ms.iter().min().unwrap();
    assert!(
        unknown * 3 >= known,
        "unknown {unknown_ms:?} vs known {known_ms:?}"
    );

    // A malformed email is just another wrong login.
    assert_error(
        post_login(&app, "not an email", PASSWORD, None).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn bad_bearer_values_are_401() {
    let app = TestApp::spawn().await;
    assert_error(app.get("/v1/me").await, 401, "unauthenticated").await;
    let well_formed_but_unknown = format!("bzs_{}", "ab".repeat(32));
    for token in [
        "garbage",
        well_formed_but_unknown.as_str(),
        "bzk_12345678_abc",
        &"x".repeat(500),
    ] {
        assert_error(
            get_with_token(&app, token, "/v1/me").await,
            401,
            "unauthenticated",
        )
        .await;
    }
    let response = app
        .client
        .get(format!("{}/v1/me", app.address))
        .header("authorization", "Basic YW5uOnB3")
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_session_expires_after_its_ttl() {
    let app = TestApp::spawn_with(&[("BAZAAR__AUTH__SESSION_TTL_S", "60")], |_| {}).await;
    let ann = signup(&app, "buyer").await;
    let pool = common::people::pool(&app);
    let settings = app.settings.auth.clone();
    let login_at = move |now| {
        let mut conn = pool.get().unwrap();
        login(
            &mut conn,
            LoginAttempt {
                email: ann.email.clone(),
                password: PASSWORD.into(),
                totp_code: None,
                context: RequestContext::default(),
            },
            &settings,
            now,
        )
        .expect("login")
    };
    let (fresh, stale) = tokio::task::spawn_blocking(move || {
        let now = bazaar::db::now();
        // Logged in 61 s ago with a 60 s TTL: expired a second ago.
        (login_at(now), login_at(now - TimeDelta::seconds(61)))
    })
    .await
    .unwrap();
    assert_eq!(
        get_with_token(&app, &fresh.token, "/v1/me").await.status(),
        200
    );
    assert_error(
        get_with_token(&app, &stale.token, "/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn login_validates_its_body() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/v1/sessions",
            &serde_json::json!({"email": "a@example.com", "password": "x", "remember": true}),
        )
        .await;
    let error = assert_error(response, 422, "unknown_field").await;
    assert_eq!(error["param"], "remember");
    let response = app
        .post_json(
            "/v1/sessions",
            &serde_json::json!({"email": "a@example.com"}),
        )
        .await;
    assert_error(response, 422, "missing_field").await;
    let ann = signup(&app, "buyer").await;
    assert_eq!(get_as(&app, &ann, "/v1/me").await.status(), 200);
}
