//! Staff must enrol TOTP; then logins need a fresh code, never a replayed one.

use crate::common;

use common::people::{
    audit_rows, delete_as, enrol_totp, get_as, login_token, next_code, operator, pool, post_as,
    post_login, totp_code, unenrolled_staff, unix_now, Person, PASSWORD,
};
use common::{assert_error, TestApp};
use serde_json::{json, Value};

async fn spawn() -> TestApp {
    // Generous throttle: these stories fail on purpose several times.
    TestApp::spawn_with(&[("BAZAAR__AUTH__LOGIN_FAILURES_MAX", "50")], |_| {}).await
}

#[tokio::test]
async fn an_operator_enrols_then_needs_a_fresh_code_to_log_in() {
    let app = spawn().await;
    let email = common::people::unique_email("op");
    let db = pool(&app);
    let create_email = email.clone();
    let user_id = tokio::task::spawn_blocking(move || {
        bazaar::auth::create_operator(&mut db.get().unwrap(), &create_email, PASSWORD)
    })
    .await
    .unwrap()
    .expect("operator created");

    // Not enrolled yet: the password alone opens a session that can only enrol.
    let token = login_token(&app, &email, PASSWORD, None).await;
    let mut op = Person {
        token,
        user_id: user_id.0,
        email: email.clone(),
        role: "operator".into(),
        totp_secret: None,
    };
    for path in ["/v1/me", "/v1/audit_log", "/v1/api_keys"] {
        assert_error(
            get_as(&app, &op, path).await,
            403,
            "totp_enrollment_required",
        )
        .await;
    }

    let response = post_as(&app, &op, "/v1/me/totp", &json!({})).await;
    assert_eq!(response.status(), 201);
    let enrolment: Value = response.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let url = enrolment["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/Bazaar:"), "{url}");
    assert!(url.contains(&format!("secret={secret}")), "{url}");
    let wrong = post_as(&app, &op, "/v1/me/totp/confirm", &json!({"code": "000000"})).await;
    let error = assert_error(wrong, 422, "totp_invalid").await;
    assert_eq!(error["param"], "code");
    let confirm_code = totp_code(&secret, unix_now());
    let response = post_as(
        &app,
        &op,
        "/v1/me/totp/confirm",
        &json!({"code": confirm_code}),
    )
    .await;
    assert_eq!(response.status(), 200);
    op.totp_secret = Some(secret.clone());

    // The enrolling session is now fully usable.
    let me: Value = get_as(&app, &op, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["totp_enrolled"], true);
    assert_error(
        post_as(&app, &op, "/v1/me/totp", &json!({})).await,
        409,
        "totp_already_enrolled",
    )
    .await;

    assert_error(
        post_login(&app, &email, PASSWORD, None).await,
        401,
        "totp_required",
    )
    .await;
    let wrong_code = if confirm_code == "123456" {
        "654321"
    } else {
        "123456"
    };
    assert_error(
        post_login(&app, &email, PASSWORD, Some(wrong_code)).await,
        401,
        "totp_invalid",
    )
    .await;
    assert_error(
        post_login(&app, &email, PASSWORD, Some("12ab56")).await,
        401,
        "totp_invalid",
    )
    .await;
    // The code used to confirm enrolment is spent.
    assert_error(
        post_login(&app, &email, PASSWORD, Some(&confirm_code)).await,
        401,
        "totp_invalid",
    )
    .await;
    // A wrong password with a right code is still a wrong password.
    assert_error(
        post_login(&app, &email, "not the password!", Some(&next_code(&op))).await,
        401,
        "invalid_credentials",
    )
    .await;

    let fresh = next_code(&op);
    let response = post_login(&app, &email, PASSWORD, Some(&fresh)).await;
    assert_eq!(response.status(), 201);
    // Replaying the same code, even at once, fails.
    assert_error(
        post_login(&app, &email, PASSWORD, Some(&fresh)).await,
        401,
        "totp_invalid",
    )
    .await;

    let enrolments = audit_rows(&app, &op, "totp.enrol").await;
    assert_eq!(enrolments.len(), 1);
    assert_eq!(enrolments[0]["actor_user_id"], op.user_id.as_str());
    let failures = audit_rows(&app, &op, "login.failure").await;
    let reasons: Vec<&str> = failures
        .iter()
        .map(|r| r["after"]["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"totp_invalid"), "{reasons:?}");
}

#[tokio::test]
async fn unenrolled_finance_and_support_may_only_enrol_or_log_out() {
    let app = spawn().await;
    let op = operator(&app).await;
    for role in ["finance", "support"] {
        let mut person = unenrolled_staff(&app, &op, role).await;
        for path in ["/v1/me", "/v1/api_keys", "/v1/users?email=a@example.com"] {
            assert_error(
                get_as(&app, &person, path).await,
                403,
                "totp_enrollment_required",
            )
            .await;
        }
        assert_error(
            post_as(&app, &person, "/v1/api_keys", &json!({"name": "ci"})).await,
            403,
            "totp_enrollment_required",
        )
        .await;
        enrol_totp(&app, &mut person).await;
        assert_eq!(
            get_as(&app, &person, "/v1/me").await.status(),
            200,
            "{role}"
        );
        assert_error(
            post_login(&app, &person.email, PASSWORD, None).await,
            401,
            "totp_required",
        )
        .await;
    }
    let person = unenrolled_staff(&app, &op, "support").await;
    assert_eq!(
        delete_as(&app, &person, "/v1/sessions/current")
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn confirming_without_starting_is_a_conflict() {
    let app = spawn().await;
    let op = operator(&app).await;
    let person = unenrolled_staff(&app, &op, "finance").await;
    let response = post_as(
        &app,
        &person,
        "/v1/me/totp/confirm",
        &json!({"code": "123456"}),
    )
    .await;
    assert_error(response, 409, "totp_enrolment_not_started").await;
    let response = post_as(
        &app,
        &person,
        "/v1/me/totp/confirm",
        &json!({"code": "1", "x": 1}),
    )
    .await;
    assert_error(response, 422, "unknown_field").await;
}
