//! Login throttling: per account and per client address, in the database, with
//! an injected clock so windows pass without sleeping.

use crate::common;

use bazaar::auth::{login, LoginAttempt, RequestContext, SessionCreated};
use bazaar::config::AuthSettings;
use bazaar::db::DbPool;
use bazaar::error::AppError;
use chrono::{NaiveDateTime, TimeDelta};
use common::people::{audit_rows, operator, post_login, signup, unique_email, PASSWORD};
use common::{assert_error, TestApp};

const FAILURES_MAX: &str = "3";
const LOCKOUT_S: i64 = 900;

async fn spawn() -> TestApp {
    TestApp::spawn_with(
        &[
            ("BAZAAR__AUTH__LOGIN_FAILURES_MAX", FAILURES_MAX),
            ("BAZAAR__AUTH__LOGIN_LOCKOUT_S", "900"),
        ],
        |_| {},
    )
    .await
}

/// Calls the domain function directly: any address, any clock.
struct Clerk {
    pool: DbPool,
    settings: AuthSettings,
}

impl Clerk {
    fn new(app: &TestApp) -> Self {
        Self {
            pool: common::people::pool(app),
            settings: app.settings.auth.clone(),
        }
    }

    fn attempt(
        &self,
        email: &str,
        password: &str,
        ip: &str,
        now: NaiveDateTime,
    ) -> Result<SessionCreated, AppError> {
        let mut conn = self.pool.get().unwrap();
        login(
            &mut conn,
            LoginAttempt {
                email: email.into(),
                password: password.into(),
                totp_code: None,
                context: RequestContext {
                    ip: Some(ip.into()),
                    request_id: None,
                },
            },
            &self.settings,
            now,
        )
    }

    fn fail_times(&self, email: &str, ip: &str, now: NaiveDateTime, times: usize) {
        for _ in 0..times {
            let error = self
                .attempt(email, "wrong password!!", ip, now)
                .unwrap_err();
            assert_eq!(error.code(), "invalid_credentials");
        }
    }
}

fn retry_after(result: Result<SessionCreated, AppError>) -> u64 {
    match result {
        Err(AppError::RateLimited { retry_after_s }) => retry_after_s,
        Err(other) => panic!("expected 429, got {other:?}"),
        Ok(_) => panic!("expected 429, got a session"),
    }
}

#[tokio::test]
async fn over_http_the_account_locks_at_that_address_even_for_the_right_password() {
    let app = spawn().await;
    let ann = signup(&app, "buyer").await;
    for _ in 0..3 {
        assert_error(
            post_login(&app, &ann.email, "wrong password!!", None).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let response = post_login(&app, &ann.email, PASSWORD, None).await;
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    assert_error(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn over_http_a_lockout_ends_when_its_window_passes() {
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__AUTH__LOGIN_FAILURES_MAX", "2"),
            ("BAZAAR__AUTH__LOGIN_LOCKOUT_S", "1"),
        ],
        |_| {},
    )
    .await;
    let ann = signup(&app, "seller").await;
    for _ in 0..2 {
        assert_error(
            post_login(&app, &ann.email, "wrong password!!", None).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let response = post_login(&app, &ann.email, PASSWORD, None).await;
    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(response, 429, "rate_limited").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        post_login(&app, &ann.email, PASSWORD, None).await.status(),
        201
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_holds_at_the_failing_address_until_the_window_passes_not_for_the_owner_elsewhere() {
    let app = spawn().await;
    let ann = signup(&app, "buyer").await;
    let clerk = Clerk::new(&app);
    let t0 = bazaar::db::now();
    clerk.fail_times(&ann.email, "10.0.0.1", t0, 3);

    // The failing address waits out the window, even with the right password.
    let wait = retry_after(clerk.attempt(
        &ann.email,
        PASSWORD,
        "10.0.0.1",
        t0 + TimeDelta::seconds(100),
    ));
    assert_eq!(wait, 800);
    let wait = retry_after(clerk.attempt(
        &ann.email,
        PASSWORD,
        "10.0.0.1",
        t0 + TimeDelta::seconds(899),
    ));
    assert_eq!(wait, 1);
    // Ann, from her own address, is not locked out by someone else's guesses.
    assert!(clerk
        .attempt(
            &ann.email,
            PASSWORD,
            "10.0.0.2",
            t0 + TimeDelta::seconds(100)
        )
        .is_ok());
    let late = t0 + TimeDelta::seconds(LOCKOUT_S);
    assert!(clerk
        .attempt(&ann.email, PASSWORD, "10.0.0.1", late)
        .is_ok());

    let operator = operator(&app).await;
    let lockouts = audit_rows(&app, &operator, "login.lockout").await;
    let subjects: Vec<&str> = lockouts
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.contains(&format!("email:{} at 10.0.0.1", ann.email).as_str()),
        "{subjects:?}"
    );
    assert!(subjects.contains(&"address:10.0.0.1"), "{subjects:?}");
    let failures = audit_rows(&app, &operator, "login.failure").await;
    let ann_failures = failures
        .iter()
        .filter(|r| r["subject"] == ann.user_id.as_str())
        .count();
    assert_eq!(ann_failures, 3);
    assert_eq!(
        audit_rows(&app, &operator, "login.success")
            .await
            .iter()
            .filter(|r| r["subject"] == ann.user_id.as_str())
            .count(),
        3
    );
    // Ann was told, once.
    let emails = json_of_emails(&app, &operator).await;
    let told: Vec<&serde_json::Value> = emails
        .iter()
        .filter(|e| e["template"] == "sign_in_attempts" && e["to"] == ann.email.as_str())
        .collect();
    assert_eq!(told.len(), 1, "{emails:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn guesses_from_many_addresses_lock_an_account_without_a_second_factor_but_never_an_operator()
{
    let app = spawn().await;
    let ann = signup(&app, "buyer").await;
    let operator = operator(&app).await;
    let clerk = Clerk::new(&app);
    let t0 = bazaar::db::now();
    // 4 × the per-address limit, one guess from each of 12 addresses.
    let account_wide = 3 * 4;
    for i in 0..account_wide {
        let ip = format!("10.5.0.{i}");
        clerk.fail_times(&ann.email, &ip, t0, 1);
        clerk.fail_times(&operator.email, &ip, t0, 1);
    }
    // Ann has no second factor: her account now waits from every address.
    retry_after(clerk.attempt(&ann.email, PASSWORD, "10.5.1.1", t0));
    // The operator steps up instead: the password alone asks for the code,
    // and the password with the code gets in, from an address that never failed.
    let asks = clerk.attempt(&operator.email, PASSWORD, "10.5.1.1", t0);
    assert_eq!(asks.unwrap_err().code(), "totp_required");
    let mut conn = common::people::pool(&app).get().unwrap();
    let session = login(
        &mut conn,
        LoginAttempt {
            email: operator.email.clone(),
            password: PASSWORD.into(),
            // A step after the one its sign-in used (a used step is never accepted again).
            totp_code: Some(common::people::totp_code(
                operator.totp_secret.as_deref().unwrap(),
                common::people::unix_now() + 60,
            )),
            context: RequestContext {
                ip: Some("10.5.1.1".into()),
                request_id: None,
            },
        },
        &app.settings.auth,
        t0 + TimeDelta::seconds(60),
    );
    assert!(session.is_ok(), "{:?}", session.err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_success_resets_the_accounts_count() {
    let app = spawn().await;
    let ann = signup(&app, "buyer").await;
    let clerk = Clerk::new(&app);
    let t0 = bazaar::db::now();
    // Different addresses each time, so only the account's count matters.
    clerk.fail_times(&ann.email, "10.1.0.1", t0, 2);
    assert!(clerk.attempt(&ann.email, PASSWORD, "10.1.0.2", t0).is_ok());
    clerk.fail_times(&ann.email, "10.1.0.3", t0, 2);
    assert!(clerk.attempt(&ann.email, PASSWORD, "10.1.0.4", t0).is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_guessing_many_emails_is_locked_out() {
    let app = spawn().await;
    let ann = signup(&app, "buyer").await;
    let clerk = Clerk::new(&app);
    let t0 = bazaar::db::now();
    for _ in 0..3 {
        clerk.fail_times(&unique_email("guess"), "10.2.0.1", t0, 1);
    }
    // Even Ann's right password is refused from that address...
    retry_after(clerk.attempt(&ann.email, PASSWORD, "10.2.0.1", t0));
    // ...but not from hers.
    assert!(clerk.attempt(&ann.email, PASSWORD, "10.2.0.2", t0).is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_emails_lock_like_known_ones_so_lockouts_reveal_nothing() {
    let app = spawn().await;
    let clerk = Clerk::new(&app);
    let nobody = unique_email("nobody");
    let t0 = bazaar::db::now();
    // From one address, an unknown email locks as a known one does...
    clerk.fail_times(&nobody, "10.3.0.1", t0, 3);
    let wait =
        retry_after(clerk.attempt(&nobody, PASSWORD, "10.3.0.1", t0 + TimeDelta::seconds(10)));
    assert_eq!(wait, 890);
    // ...and from many, after the same account-wide count.
    for i in 0..9 {
        clerk.fail_times(&nobody, &format!("10.3.1.{i}"), t0, 1);
    }
    let wait =
        retry_after(clerk.attempt(&nobody, PASSWORD, "10.3.2.1", t0 + TimeDelta::seconds(10)));
    assert_eq!(wait, 890);
}

/// The outbox as an operator lists it.
async fn json_of_emails(
    app: &TestApp,
    operator: &common::people::Person,
) -> Vec<serde_json::Value> {
    let response = common::people::get_as(app, operator, "/v1/emails?limit=100").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}
