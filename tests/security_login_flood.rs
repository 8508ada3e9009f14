//! A sign-in flood: attempts are counted per client address and per subnet
//! before any account is read or password hashed, and only a few passwords
//! are checked at once with a short queue — the excess is answered 429 at
//! once. (How other clients fare during a flood is measured by the load
//! bench's `login-flood` scenario, not timed here.)

use crate::common;

use common::people::{signup, PASSWORD};
use common::TestApp;
use serde_json::{json, Value};

async fn sign_in(
    app: &TestApp,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/v1/sessions", app.address))
        .json(&json!({"email": email, "password": password}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").is_some();
    let body: Value = response.json().await.unwrap();
    if status == 429 {
        assert!(retry_after, "a refusal says when to come back");
        assert_eq!(body["error"]["code"], "rate_limited");
    }
    (status, body)
}

#[tokio::test]
async fn an_address_past_its_sign_in_allowance_is_refused_before_its_password_is_checked() {
    let app = TestApp::spawn_with(&[("BAZAAR__LIMITS__LOGINS_PER_MINUTE", "4")], |_| {}).await;
    // Signing up signs in once.
    let buyer = signup(&app, "buyer").await;
    for _ in 0..3 {
        let (status, _) = sign_in(&app, None, "nobody@example.com", "wrong password 1").await;
        assert_eq!(status, 401);
    }
    // The right password too: refused before it is looked at.
    let (status, _) = sign_in(&app, None, &buyer.email, PASSWORD).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn a_flood_spread_over_a_subnet_counts_as_one() {
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__SERVER__TRUSTED_PROXIES", "127.0.0.1"),
            ("BAZAAR__LIMITS__LOGINS_PER_MINUTE", "100"),
            ("BAZAAR__LIMITS__LOGINS_PER_MINUTE_PER_SUBNET", "3"),
        ],
        |_| {},
    )
    .await;
    let buyer = signup(&app, "buyer").await;
    for host in 1..=3 {
        let address = format!("203.0.113.{host}");
        let (status, _) = sign_in(&app, Some(&address), "x@example.com", "wrong password 1").await;
        assert_eq!(status, 401, "{address}");
    }
    let (status, _) = sign_in(&app, Some("203.0.113.200"), &buyer.email, PASSWORD).await;
    assert_eq!(status, 429, "a fourth address of the same /24");
    // Another subnet, and an IPv6 /64, are their own.
    let (status, _) = sign_in(&app, Some("198.51.100.7"), &buyer.email, PASSWORD).await;
    assert_eq!(status, 201);
    for host in 1..=3 {
        let address = format!("2001:db8:5:6::{host}");
        assert_eq!(
            sign_in(&app, Some(&address), "x@example.com", "wrong password 1")
                .await
                .0,
            401
        );
    }
    let (status, _) = sign_in(
        &app,
        Some("2001:db8:5:6:ffff::1"),
        "x@example.com",
        "wrong password 1",
    )
    .await;
    assert_eq!(status, 429, "a fourth address of the same /64");
}

#[tokio::test]
async fn passwords_past_the_queue_are_refused_at_once() {
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__LIMITS__PASSWORD_CHECKS_AT_ONCE", "1"),
            ("BAZAAR__LIMITS__PASSWORD_CHECKS_WAITING_MAX", "0"),
        ],
        |_| {},
    )
    .await;
    let attempts = (0..8).map(|i| {
        let app = &app;
        async move {
            sign_in(
                app,
                None,
                &format!("nobody{i}@example.com"),
                "wrong password 1",
            )
            .await
            .0
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    // One password is checked at a time and none may wait: of eight at once,
    // some are checked (401) and the others refused without waiting (429).
    assert!(statuses.contains(&401), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
}
