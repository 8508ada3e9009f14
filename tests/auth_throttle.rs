//! Login throttling: per account and per client address, in the database, with
//! an injected clock so windows pass without sleeping.

mod common;

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
async fn over_http_the_account_locks_even_for_the_right_password() {
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
async fn the_account_lock_holds_from_every_address_until_the_window_passes() {
    let app = spawn().await;
    let ann = signup(&app, "buyer").await;
    let clerk = Clerk::new(&app);
    let t0 = bazaar::db::now();
    clerk.fail_times(&ann.email, "10.0.0.1", t0, 3);

    // From another address, with the right password, 100 s later.
    let wait = retry_after(clerk.attempt(
        &ann.email,
        PASSWORD,
        "10.0.0.2",
        t0 + TimeDelta::seconds(100),
    ));
    assert_eq!(wait, 800);
    let wait = retry_after(clerk.attempt(
        &ann.email,
        PASSWORD,
        "10.0.0.2",
        t0 + TimeDelta::seconds(899),
    ));
    assert_eq!(wait, 1);
    let late = t0 + TimeDelta::seconds(LOCKOUT_S);
    assert!(clerk
        .attempt(&ann.email, PASSWORD, "10.0.0.2", late)
        .is_ok());

    let operator = operator(&app).await;
    let lockouts = audit_rows(&app, &operator, "login.lockout").await;
    let subjects: Vec<&str> = lockouts
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.contains(&format!("email:{}", ann.email).as_str()),
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
        2
    );
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
    for (i, ip) in ["10.3.0.1", "10.3.0.2", "10.3.0.3"].iter().enumerate() {
        clerk.fail_times(&nobody, ip, t0 + TimeDelta::seconds(i as i64), 1);
    }
    let wait =
        retry_after(clerk.attempt(&nobody, PASSWORD, "10.3.0.4", t0 + TimeDelta::seconds(10)));
    assert_eq!(wait, 890);
}
