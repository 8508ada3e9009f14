//! People for auth stories: sign up, log in, become staff with TOTP, and call
//! the API as someone.

use bazaar::db::DbPool;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Builder, Secret};

use super::TestApp;

/// A password every helper uses: long enough and not common.
pub const PASSWORD: &str = "plum orbit sailing forty";

/// Someone with a live session.
#[derive(Debug, Clone)]
pub struct Person {
    pub token: String,
    pub user_id: String,
    pub email: String,
    pub role: String,
    /// Base32 TOTP secret, for staff.
    pub totp_secret: Option<String>,
}

/// A fresh address, so several people can share one app.
pub fn unique_email(tag: &str) -> String {
    format!(
        "{tag}-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A second pool on the app's database, for domain calls and inspecting rows.
pub fn pool(app: &TestApp) -> DbPool {
    bazaar::db::connect_pool(&app.settings.database).expect("test pool")
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The RFC 6238 code (SHA-1, 6 digits, 30 s) for `secret` at `unix` seconds,
/// computed here rather than by the code under test.
pub fn totp_code(secret: &str, unix: u64) -> String {
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(Secret::try_from_base32(secret).expect("base32 secret"))
        .build()
        .expect("totp");
    totp.generate(unix).to_string()
}

/// `POST /v1/users`.
pub async fn post_signup(
    app: &TestApp,
    email: &str,
    password: &str,
    role: &str,
) -> reqwest::Response {
    app.post_json(
        "/v1/users",
        &json!({"email": email, "password": password, "role": role}),
    )
    .await
}

/// `POST /v1/sessions`.
pub async fn post_login(
    app: &TestApp,
    email: &str,
    password: &str,
    totp_code: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({"email": email, "password": password});
    if let Some(code) = totp_code {
        body["totp_code"] = json!(code);
    }
    app.post_json("/v1/sessions", &body).await
}

/// Logs in and returns the token; panics unless 201.
pub async fn login_token(
    app: &TestApp,
    email: &str,
    password: &str,
    totp_code: Option<&str>,
) -> String {
    let response = post_login(app, email, password, totp_code).await;
    assert_eq!(response.status(), 201, "login of {email}");
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// A verification token for `email`'s account, made as the email job makes
/// the one its link carries (the emails themselves are read in the tests
/// of the account life cycle; here the job may not even be running).
pub async fn verification_token(app: &TestApp, email: &str) -> String {
    account_token(app, email, "verify_email").await
}

/// A token of `purpose` (`verify_email`, `reset_password`) for `email`'s
/// account, as the email job makes it.
pub async fn account_token(app: &TestApp, email: &str, purpose: &'static str) -> String {
    let pool = pool(app);
    let settings = app.settings.auth.clone();
    let email = email.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().expect("connection");
        let address = bazaar::auth::Email::parse(&email).expect("email");
        let user = bazaar::auth::find_user_by_email(&mut conn, &address)
            .expect("look-up")
            .unwrap_or_else(|| panic!("{email} has an account"));
        bazaar::auth::mint_account_token(
            &mut conn,
            &settings,
            user.id.as_str(),
            purpose,
            bazaar::db::now(),
        )
        .expect("token")
        .expect("the account still wants the link")
    })
    .await
    .unwrap()
}

/// `POST /v1/email_verifications/confirm`.
pub async fn post_verification(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json(
        "/v1/email_verifications/confirm",
        &json!({ "token": token }),
    )
    .await
}

/// Signs up as `role` (buyer or seller), verifies the address and so signs in.
pub async fn signup(app: &TestApp, role: &str) -> Person {
    let email = unique_email(role);
    let response = post_signup(app, &email, PASSWORD, role).await;
    assert_eq!(response.status(), 202, "sign-up as {role}");
    let token = verification_token(app, &email).await;
    let response = post_verification(app, &token).await;
    assert_eq!(response.status(), 200, "verification of {email}");
    let verified: Value = response.json().await.unwrap();
    Person {
        token: verified["token"].as_str().expect("a session").to_owned(),
        user_id: verified["user"]["id"].as_str().unwrap().to_owned(),
        email,
        role: role.to_owned(),
        totp_secret: None,
    }
}

/// Enrols TOTP for a staff member's session, which is then fully usable.
pub async fn enrol_totp(app: &TestApp, person: &mut Person) {
    let response = post_as(app, person, "/v1/me/totp", &json!({})).await;
    assert_eq!(response.status(), 201, "start TOTP enrolment");
    let enrolment: Value = response.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let code = totp_code(&secret, unix_now());
    let response = post_as(app, person, "/v1/me/totp/confirm", &json!({"code": code})).await;
    assert_eq!(response.status(), 200, "confirm TOTP");
    person.totp_secret = Some(secret);
}

/// A code for the next time step: the current one was just used, and a used
/// step is never accepted again.
pub fn next_code(person: &Person) -> String {
    totp_code(
        person.totp_secret.as_deref().expect("enrolled"),
        unix_now() + 30,
    )
}

/// An operator created as `bazaar admin create-operator` does, enrolled in TOTP
/// and logged in with a code.
pub async fn operator(app: &TestApp) -> Person {
    let email = unique_email("operator");
    let user_id = {
        let pool = pool(app);
        let email = email.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().unwrap();
            bazaar::auth::create_operator(&mut conn, &email, PASSWORD).expect("create operator")
        })
        .await
        .unwrap()
    };
    let token = login_token(app, &email, PASSWORD, None).await;
    let mut person = Person {
        token,
        user_id: user_id.0,
        email,
        role: "operator".into(),
        totp_secret: None,
    };
    enrol_totp(app, &mut person).await;
    person.token = login_token(app, &person.email, PASSWORD, Some(&next_code(&person))).await;
    person
}

/// A staff member (`finance`, `support` or `operator`) promoted by `by`, not yet
/// enrolled in TOTP.
pub async fn unenrolled_staff(app: &TestApp, by: &Person, role: &str) -> Person {
    let mut person = signup(app, "buyer").await;
    let path = format!("/v1/users/{}/role", person.user_id);
    let response = post_as(app, by, &path, &json!({"role": role})).await;
    assert_eq!(response.status(), 200, "promote to {role}");
    person.role = role.to_owned();
    person
}

/// A staff member promoted by `by` and enrolled in TOTP.
pub async fn staff(app: &TestApp, by: &Person, role: &str) -> Person {
    let mut person = unenrolled_staff(app, by, role).await;
    enrol_totp(app, &mut person).await;
    person
}

/// One of each role, staff enrolled: buyer, seller, operator, finance, support.
pub async fn everyone(app: &TestApp) -> Vec<Person> {
    let operator = operator(app).await;
    vec![
        signup(app, "buyer").await,
        signup(app, "seller").await,
        staff(app, &operator, "finance").await,
        staff(app, &operator, "support").await,
        operator,
    ]
}

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET path` as `person`.
pub async fn get_as(app: &TestApp, person: &Person, path: &str) -> reqwest::Response {
    get_with_token(app, &person.token, path).await
}

/// `GET path` with a raw bearer token (a session token or an API key).
pub async fn get_with_token(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("authorization", bearer(token))
        .send()
        .await
        .expect("request sent")
}

/// `POST path` with a JSON body as `person`.
pub async fn post_as(
    app: &TestApp,
    person: &Person,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("authorization", bearer(&person.token))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// `DELETE path` as `person`.
pub async fn delete_as(app: &TestApp, person: &Person, path: &str) -> reqwest::Response {
    delete_with_token(app, &person.token, path).await
}

/// `DELETE path` with a raw bearer token.
pub async fn delete_with_token(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .delete(format!("{}{path}", app.address))
        .header("authorization", bearer(token))
        .send()
        .await
        .expect("request sent")
}

/// The audit log's rows (newest first) with this action, read as an operator.
pub async fn audit_rows(app: &TestApp, operator: &Person, action: &str) -> Vec<Value> {
    let response = get_as(app, operator, "/v1/audit_log?limit=100").await;
    assert_eq!(response.status(), 200, "audit log");
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["action"] == action)
        .cloned()
        .collect()
}

/// Forgets the TOTP step `person` used last, as if half a minute had passed:
/// a code of the current step is accepted again (replay protection itself
/// is tested in auth_totp).
pub async fn forget_used_step(app: &TestApp, person: &Person) {
    use diesel::prelude::*;
    let pool = pool(app);
    let user_id = person.user_id.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().expect("connection");
        diesel::update(bazaar::auth::schema::users::table.find(user_id))
            .set(bazaar::auth::schema::users::totp_last_step.eq(None::<i64>))
            .execute(&mut conn)
            .expect("forget the used step");
    })
    .await
    .unwrap();
}

/// A staff member's second factor, stepped up: a session signed in with a
/// TOTP code, and a fresh code for a request that asks again (creating an API
/// key). Used steps are forgotten first, as if half a minute had passed.
pub async fn step_up(app: &TestApp, person: &Person) -> (Person, String) {
    let secret = person.totp_secret.as_deref().expect("enrolled");
    forget_used_step(app, person).await;
    let token = login_token(
        app,
        &person.email,
        PASSWORD,
        Some(&totp_code(secret, unix_now())),
    )
    .await;
    forget_used_step(app, person).await;
    let stepped = Person {
        token,
        ..person.clone()
    };
    (stepped, totp_code(secret, unix_now()))
}
