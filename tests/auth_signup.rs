//! Sign-up refuses weak passwords, bad emails and staff roles; an address
//! has one account, and the answer never says whether it had one already.

use crate::common;

use common::people::{
    audit_rows, get_as, login_token, operator, post_login, post_signup, signup, unique_email,
    Person, PASSWORD,
};
use common::{assert_error, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn weak_passwords_are_refused_with_a_clear_code() {
    let app = TestApp::spawn().await;
    let cases = [
        ("short", "password_too_short"),
        ("elevenchars", "password_too_short"),
        ("PASSWORD1234", "password_too_common"),
        ("QwertyUiop123", "password_too_common"),
        ("123456789012", "password_too_common"),
    ];
    for (password, code) in cases {
        let response = post_signup(&app, &unique_email("ann"), password, "buyer").await;
        let error = assert_error(response, 422, code).await;
        assert_eq!(error["param"], "password", "{password}");
    }
    let too_long = "y".repeat(257);
    let error = assert_error(
        post_signup(&app, &unique_email("ann"), &too_long, "buyer").await,
        422,
        "password_too_long",
    )
    .await;
    assert_eq!(error["param"], "password");
    // Exactly twelve uncommon characters is enough.
    let response = post_signup(&app, &unique_email("ann"), "zebra-quiet7", "buyer").await;
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn bad_emails_are_refused() {
    let app = TestApp::spawn().await;
    for email in [
        "",
        "ann",
        "ann@",
        "ann@example",
        "ann @example.com",
        "a@b@example.com",
    ] {
        let error = assert_error(
            post_signup(&app, email, PASSWORD, "buyer").await,
            422,
            "invalid_email",
        )
        .await;
        assert_eq!(error["param"], "email", "{email:?}");
    }
}

#[tokio::test]
async fn an_email_has_one_account_whatever_its_letter_case_and_the_answer_never_says_so() {
    let app = TestApp::spawn().await;
    let owner = signup(&app, "seller").await;
    let fresh = unique_email("ann");
    let first = post_signup(&app, &fresh, PASSWORD, "buyer").await;
    let again = post_signup(
        &app,
        &owner.email.to_uppercase(),
        "another good passphrase",
        "buyer",
    )
    .await;
    // The same status and the same body shape, whether the address is new or taken.
    assert_eq!(first.status(), 202);
    assert_eq!(again.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        first,
        json!({"email": fresh, "status": "verification_sent"})
    );
    assert_eq!(
        again,
        json!({"email": owner.email, "status": "verification_sent"})
    );
    // The owner's account is untouched: old password, old role, still one account.
    let token = login_token(&app, &owner.email, PASSWORD, None).await;
    let me = get_as(
        &app,
        &Person {
            token,
            ..owner.clone()
        },
        "/v1/me",
    )
    .await;
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["role"], "seller");
    assert_eq!(me["id"], owner.user_id.as_str());
    let refused = post_login(&app, &owner.email, "another good passphrase", None).await;
    assert_error(refused, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn staff_roles_cannot_be_chosen_at_sign_up() {
    let app = TestApp::spawn().await;
    for role in ["operator", "finance", "support"] {
        let error = assert_error(
            post_signup(&app, &unique_email("eve"), PASSWORD, role).await,
            422,
            "role_not_allowed",
        )
        .await;
        assert_eq!(error["param"], "role");
    }
    let error = assert_error(
        post_signup(&app, &unique_email("eve"), PASSWORD, "king").await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "role");
}

#[tokio::test]
async fn unknown_and_missing_fields_are_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/v1/users",
            &json!({"email": unique_email("ann"), "password": PASSWORD, "role": "buyer", "is_admin": true}),
        )
        .await;
    let error = assert_error(response, 422, "unknown_field").await;
    assert_eq!(error["param"], "is_admin");
    let response = app
        .post_json(
            "/v1/users",
            &json!({"email": unique_email("ann"), "password": PASSWORD}),
        )
        .await;
    let error = assert_error(response, 422, "missing_field").await;
    assert_eq!(error["param"], "role");
}

#[tokio::test]
async fn sign_ups_are_audited() {
    let app = TestApp::spawn().await;
    let email = unique_email("ann");
    let response = app
        .client
        .post(format!("{}/v1/users", app.address))
        .header("x-request-id", "signup-req-1")
        .json(&json!({"email": email, "password": PASSWORD, "role": "seller"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let operator = operator(&app).await;
    let rows = audit_rows(&app, &operator, "user.signup").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    let user = json!({"id": row["subject"].clone()});
    assert_eq!(row["actor_user_id"], user["id"]);
    assert_eq!(row["request_id"], "signup-req-1");
    assert_eq!(row["ip"], "127.0.0.1");
    // The log names accounts by id only: it is append-only, and a deleted
    // account must leave no address in it.
    assert_eq!(row["after"], json!({"role": "seller"}));
    assert!(!row.to_string().contains(&email));
    assert!(row["before"].is_null());
    let created = audit_rows(&app, &operator, "user.create_operator").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["subject"], operator.user_id.as_str());
}
