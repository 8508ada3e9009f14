//! Secrets at rest and at the edge: TOTP secrets encrypted in the database
//! (and key rotation), staff API keys that expire and need a second factor,
//! `/metrics` kept from the public, and the client address behind a proxy.

use crate::common;

use std::collections::HashMap;

use bazaar::auth::schema::{api_keys, users};
use diesel::prelude::*;
use serde_json::{json, Value};

use common::people::{
    audit_rows, bearer, forget_used_step, get_with_token, login_token, operator, pool, post_as,
    signup, staff, totp_code, unique_email, unix_now, Person, PASSWORD,
};
use common::{assert_error, test_settings, TestApp};

const KEY_A: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeaf00a1a2a3a4a5a6a7a8a9aaabacadaeaf00";
const KEY_B: &str = "b1b2b3b4b5b6b7b8b9babbbcbdbebf00b1b2b3b4b5b6b7b8b9babbbcbdbebf00";
const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef0123456789";

/// Runs `f` on a connection to the app's database.
async fn with_db<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&mut bazaar::db::DbConnection) -> T + Send + 'static,
) -> T {
    let pool = pool(app);
    tokio::task::spawn_blocking(move || f(&mut pool.get().unwrap()))
        .await
        .unwrap()
}

async fn stored_totp_secret(app: &TestApp, user_id: &str) -> String {
    let user_id = user_id.to_owned();
    with_db(app, move |conn| {
        users::table
            .find(user_id)
            .select(users::totp_secret)
            .first::<Option<String>>(conn)
            .unwrap()
            .expect("a stored secret")
    })
    .await
}

fn current_code(person: &Person) -> String {
    totp_code(person.totp_secret.as_deref().unwrap(), unix_now())
}

/// Another server process on `app`'s database, with `overrides`; its address.
async fn second_process(app: &TestApp, overrides: &[(&str, &str)]) -> anyhow::Result<String> {
    let settings = test_settings(&app.database.url, overrides);
    let application = bazaar::app::Application::build(settings).await?;
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    Ok(address)
}

async fn login_at(address: &str, person: &Person, code: &str) -> reqwest::Response {
    crate::common::http_client()
        .post(format!("{address}/v1/sessions"))
        .json(&json!({"email": person.email, "password": PASSWORD, "totp_code": code}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn totp_secrets_are_encrypted_at_rest_and_logins_still_work() {
    let app = TestApp::spawn().await;
    let op = operator(&app).await; // enrols, then logs in with a code
    let secret = op.totp_secret.clone().unwrap();
    let stored = stored_totp_secret(&app, &op.user_id).await;
    assert!(stored.starts_with("v1:"), "{stored}");
    assert!(
        !stored.contains(&secret),
        "plaintext secret stored: {stored}"
    );

    // A row from before encryption (plaintext) still works, and is sealed by its use.
    let user_id = op.user_id.clone();
    let plain = secret.clone();
    with_db(&app, move |conn| {
        diesel::update(users::table.find(user_id))
            .set(users::totp_secret.eq(plain))
            .execute(conn)
            .unwrap()
    })
    .await;
    forget_used_step(&app, &op).await;
    login_token(&app, &op.email, PASSWORD, Some(&current_code(&op))).await;
    let stored = stored_totp_secret(&app, &op.user_id).await;
    assert!(
        stored.starts_with("v1:") && !stored.contains(&secret),
        "{stored}"
    );
}

#[tokio::test]
async fn plaintext_rows_are_encrypted_at_start() {
    let app = TestApp::spawn().await;
    let op = operator(&app).await;
    let secret = op.totp_secret.clone().unwrap();
    let user_id = op.user_id.clone();
    let plain = secret.clone();
    with_db(&app, move |conn| {
        diesel::update(users::table.find(user_id))
            .set(users::totp_secret.eq(plain))
            .execute(conn)
            .unwrap()
    })
    .await;
    second_process(&app, &[]).await.expect("starts");
    let stored = stored_totp_secret(&app, &op.user_id).await;
    assert!(
        stored.starts_with("v1:") && !stored.contains(&secret),
        "{stored}"
    );
}

#[tokio::test]
async fn rotating_the_totp_key_keeps_old_rows_readable() {
    let app = TestApp::spawn_with(&[("BAZAAR__AUTH__TOTP_ENCRYPTION_KEYS", KEY_A)], |_| {}).await;
    let op = operator(&app).await;
    let under_a = stored_totp_secret(&app, &op.user_id).await;

    // Step 1 of a rotation: the new key listed second (decrypts only).
    let both = format!("{KEY_A},{KEY_B}");
    let step1 = second_process(&app, &[("BAZAAR__AUTH__TOTP_ENCRYPTION_KEYS", &both)])
        .await
        .expect("starts");
    assert_eq!(stored_totp_secret(&app, &op.user_id).await, under_a);
    forget_used_step(&app, &op).await;
    assert_eq!(
        login_at(&step1, &op, &current_code(&op)).await.status(),
        201
    );

    // Step 2: the new key first; the start re-encrypts every row with it.
    let rotated = format!("{KEY_B},{KEY_A}");
    let step2 = second_process(&app, &[("BAZAAR__AUTH__TOTP_ENCRYPTION_KEYS", &rotated)])
        .await
        .expect("starts");
    let under_b = stored_totp_secret(&app, &op.user_id).await;
    assert_ne!(under_b, under_a);
    assert_eq!(
        under_b.split(':').nth(1).map(str::len),
        Some(8),
        "{under_b}"
    );
    assert_ne!(under_b.split(':').nth(1), under_a.split(':').nth(1));
    forget_used_step(&app, &op).await;
    assert_eq!(
        login_at(&step2, &op, &current_code(&op)).await.status(),
        201
    );

    // Step 3: the old key dropped.
    let step3 = second_process(&app, &[("BAZAAR__AUTH__TOTP_ENCRYPTION_KEYS", KEY_B)])
        .await
        .expect("starts");
    forget_used_step(&app, &op).await;
    assert_eq!(
        login_at(&step3, &op, &current_code(&op)).await.status(),
        201
    );

    // A process without the key the rows are sealed with refuses to start,
    // naming the setting, instead of refusing every staff login.
    let error = second_process(&app, &[("BAZAAR__AUTH__TOTP_ENCRYPTION_KEYS", KEY_A)])
        .await
        .expect_err("refused");
    assert!(
        format!("{error:#}").contains("auth.totp_encryption_keys"),
        "{error:#}"
    );
}

#[test]
fn production_needs_a_totp_key_and_never_reads_it_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let environment = HashMap::from([
        ("BAZAAR_ENV".to_owned(), "production".to_owned()),
        (
            "BAZAAR__PROVIDER__SECRET_KEY".to_owned(),
            "sk_test_123".to_owned(),
        ),
        (
            "BAZAAR__PROVIDER__WEBHOOK_SECRETS".to_owned(),
            "whsec_a".to_owned(),
        ),
        (
            "BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS".to_owned(),
            "whsec_b".to_owned(),
        ),
    ]);
    std::fs::write(
        dir.path().join("production.toml"),
        "[provider]\nkind = \"stripe\"\n",
    )
    .unwrap();
    let error = bazaar::config::Settings::load_from(dir.path(), &environment)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("`auth.totp_encryption_keys`"), "{error}");
    assert!(
        error.contains("BAZAAR__AUTH__TOTP_ENCRYPTION_KEYS"),
        "{error}"
    );

    let mut with_key = environment.clone();
    with_key.insert(
        "BAZAAR__AUTH__TOTP_ENCRYPTION_KEYS".into(),
        KEY_A.to_owned(),
    );
    bazaar::config::Settings::load_from(dir.path(), &with_key).expect("starts with a key");
    with_key.insert(
        "BAZAAR__AUTH__TOTP_ENCRYPTION_KEYS".into(),
        "not-hex".to_owned(),
    );
    let error = bazaar::config::Settings::load_from(dir.path(), &with_key)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("`auth.totp_encryption_keys`"), "{error}");
    assert!(!error.contains("not-hex"), "{error}");

    for (section, key) in [
        ("auth", "totp_encryption_keys"),
        ("server", "metrics_token"),
    ] {
        std::fs::write(
            dir.path().join("production.toml"),
            format!("[provider]\nkind = \"stripe\"\n[{section}]\n{key} = \"{KEY_A}\"\n"),
        )
        .unwrap();
        let error = bazaar::config::Settings::load_from(dir.path(), &environment)
            .expect_err("a secret in a file is refused")
            .to_string();
        assert!(error.contains(&format!("`{section}.{key}`")), "{error}");
        assert!(!error.contains(KEY_A), "{error}");
    }
}

async fn create_key(app: &TestApp, person: &Person, body: Value) -> reqwest::Response {
    post_as(app, person, "/v1/api_keys", &body).await
}

#[tokio::test]
async fn staff_api_keys_need_a_fresh_second_factor_and_expire_within_90_days() {
    let app = TestApp::spawn().await;
    let op = operator(&app).await; // signed in with a code

    // The step up: a current code in the request itself.
    assert_error(
        create_key(&app, &op, json!({"name": "ci"})).await,
        422,
        "totp_required",
    )
    .await;
    assert_error(
        create_key(&app, &op, json!({"name": "ci", "totp_code": "000000"})).await,
        422,
        "totp_invalid",
    )
    .await;
    forget_used_step(&app, &op).await;
    assert_error(
        create_key(
            &app,
            &op,
            json!({"name": "ci", "totp_code": current_code(&op), "expires_in_days": 91}),
        )
        .await,
        422,
        "invalid_expiry",
    )
    .await;
    let response = create_key(
        &app,
        &op,
        json!({"name": "ci", "totp_code": current_code(&op)}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let expires_at = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let in_90_days = i64::try_from(unix_now()).unwrap() + 90 * 86_400;
    assert!((expires_at - in_90_days).abs() < 120, "{created}");
    // The code was used: the same one again is a replay.
    assert_error(
        create_key(
            &app,
            &op,
            json!({"name": "ci2", "totp_code": current_code(&op)}),
        )
        .await,
        422,
        "totp_invalid",
    )
    .await;

    // A key cannot make keys for staff, and neither can a session that was
    // signed in before the second factor was enrolled.
    let key = created["key"].as_str().unwrap().to_owned();
    let as_key = Person {
        token: key.clone(),
        ..op.clone()
    };
    forget_used_step(&app, &op).await;
    assert_error(
        create_key(
            &app,
            &as_key,
            json!({"name": "x", "totp_code": current_code(&op)}),
        )
        .await,
        403,
        "step_up_required",
    )
    .await;
    let finance = staff(&app, &op, "finance").await; // enrolled in this session
    forget_used_step(&app, &finance).await;
    assert_error(
        create_key(
            &app,
            &finance,
            json!({"name": "x", "totp_code": current_code(&finance)}),
        )
        .await,
        403,
        "step_up_required",
    )
    .await;

    // The key works until it expires, then answers 401 api_key_expired.
    assert_eq!(get_with_token(&app, &key, "/v1/me").await.status(), 200);
    let id = created["id"].as_str().unwrap().to_owned();
    with_db(&app, move |conn| {
        let past = bazaar::db::now() - chrono::TimeDelta::seconds(1);
        diesel::update(api_keys::table.find(id))
            .set(api_keys::expires_at.eq(Some(past)))
            .execute(conn)
            .unwrap()
    })
    .await;
    assert_error(
        get_with_token(&app, &key, "/v1/me").await,
        401,
        "api_key_expired",
    )
    .await;
}

#[tokio::test]
async fn staff_keys_from_before_expiry_stop_after_90_days_seller_keys_choose() {
    let app = TestApp::spawn().await;
    let op = operator(&app).await;
    forget_used_step(&app, &op).await;
    let created: Value = create_key(
        &app,
        &op,
        json!({"name": "old", "totp_code": current_code(&op)}),
    )
    .await
    .json()
    .await
    .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    // As a key made before expiry existed, 91 days ago.
    let id = created["id"].as_str().unwrap().to_owned();
    with_db(&app, move |conn| {
        let then = bazaar::db::now() - chrono::TimeDelta::days(91);
        diesel::update(api_keys::table.find(id))
            .set((
                api_keys::created_at.eq(then),
                api_keys::expires_at.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(conn)
            .unwrap()
    })
    .await;
    assert_error(
        get_with_token(&app, &key, "/v1/me").await,
        401,
        "api_key_expired",
    )
    .await;

    // Sellers: no second factor, no expiry unless asked, at most 365 days.
    let seller = signup(&app, "seller").await;
    let created: Value = create_key(&app, &seller, json!({"name": "sync"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["expires_at"], Value::Null, "{created}");
    let response = create_key(
        &app,
        &seller,
        json!({"name": "sync", "expires_in_days": 365}),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_error(
        create_key(
            &app,
            &seller,
            json!({"name": "sync", "expires_in_days": 366}),
        )
        .await,
        422,
        "invalid_expiry",
    )
    .await;
}

async fn get_metrics(address: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = crate::common::http_client().get(format!("{address}/metrics"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn metrics_without_configuration_are_for_this_machine_only() {
    let app = TestApp::spawn().await;
    assert_eq!(get_metrics(&app.address, &[]).await, 200);
    // Forwarded by a proxy on this machine: the client is elsewhere.
    assert_eq!(
        get_metrics(&app.address, &[("x-forwarded-for", "203.0.113.7")]).await,
        404
    );
    assert_eq!(
        get_metrics(&app.address, &[("forwarded", "for=203.0.113.7")]).await,
        404
    );
    // Behind a trusted proxy, a remote client is not local.
    let proxied =
        TestApp::spawn_with(&[("BAZAAR__SERVER__TRUSTED_PROXIES", "127.0.0.1")], |_| {}).await;
    assert_eq!(
        get_metrics(&proxied.address, &[("x-forwarded-for", "203.0.113.7")]).await,
        404
    );
}

#[tokio::test]
async fn metrics_with_a_token_need_it() {
    let app =
        TestApp::spawn_with(&[("BAZAAR__SERVER__METRICS_TOKEN", METRICS_TOKEN)], |_| {}).await;
    assert_eq!(get_metrics(&app.address, &[]).await, 401);
    assert_eq!(
        get_metrics(&app.address, &[("authorization", "Bearer wrong")]).await,
        401
    );
    let good = bearer(METRICS_TOKEN);
    assert_eq!(
        get_metrics(&app.address, &[("authorization", good.as_str())]).await,
        200
    );
    // A short token is refused at start.
    let error = bazaar::config::Settings::load_from(
        &common::config_dir(),
        &HashMap::from([
            ("BAZAAR_ENV".to_owned(), "test".to_owned()),
            (
                "BAZAAR__SERVER__METRICS_TOKEN".to_owned(),
                "short".to_owned(),
            ),
        ]),
    )
    .expect_err("refused")
    .to_string();
    assert!(error.contains("`server.metrics_token`"), "{error}");
}

#[tokio::test]
async fn metrics_on_their_own_listener_only() {
    let port = common::cli::free_port();
    let bind = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(&[("BAZAAR__SERVER__METRICS_BIND", &bind)], |_| {}).await;
    let metrics_address = format!("http://{bind}");
    assert_eq!(get_metrics(&app.address, &[]).await, 404);
    assert_eq!(get_metrics(&metrics_address, &[]).await, 200);
    // The API is not on the scraper's port.
    let healthz = reqwest::get(format!("{metrics_address}/healthz"))
        .await
        .unwrap();
    assert_eq!(healthz.status(), 404);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn signup_from(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/v1/users", app.address))
        .json(&json!({
            "email": unique_email("buyer"),
            "password": PASSWORD,
            "role": "buyer",
        }));
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().await.unwrap()
}

async fn signup_ips(app: &TestApp) -> Vec<String> {
    let op = operator(app).await;
    audit_rows(app, &op, "user.signup")
        .await
        .iter()
        .map(|row| row["ip"].as_str().unwrap_or("-").to_owned())
        .collect()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_is_the_forwarded_address() {
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__SERVER__TRUSTED_PROXIES", "127.0.0.1"),
            ("BAZAAR__LIMITS__SIGNUP_PER_MINUTE", "2"),
        ],
        |_| {},
    )
    .await;
    // nginx appends the client it saw; what the client wrote itself is left of it.
    for _ in 0..2 {
        let response = signup_from(&app, Some("198.51.100.1, 203.0.113.7")).await;
        assert_eq!(response.status(), 202);
    }
    assert_error(
        signup_from(&app, Some("203.0.113.7")).await,
        429,
        "rate_limited",
    )
    .await;
    // Another client behind the same proxy has its own allowance.
    assert_eq!(signup_from(&app, Some("203.0.113.8")).await.status(), 202);
    let ips = signup_ips(&app).await;
    assert_eq!(
        ips.iter().filter(|ip| *ip == "203.0.113.7").count(),
        2,
        "{ips:?}"
    );
    assert!(ips.contains(&"203.0.113.8".to_owned()), "{ips:?}");
}

#[tokio::test]
async fn without_trusted_proxies_the_header_is_ignored() {
    let app = TestApp::spawn().await;
    assert_eq!(signup_from(&app, Some("203.0.113.7")).await.status(), 202);
    let ips = signup_ips(&app).await;
    assert_eq!(ips, ["127.0.0.1"], "{ips:?}");
}
