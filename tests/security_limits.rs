//! Limits against slow or greedy clients (trickled heads and bodies, many
//! connections from one address), and a database outage answered 503, never 500.

use crate::common;

use std::time::{Duration, Instant};

use common::people::{post_signup, unique_email, PASSWORD};
use common::{TestApp, TEST_DATABASE_URL_VAR};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn port(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port(app)))
        .await
        .expect("connect")
}

/// Sends `bytes` one at a time, `every` apart, until the server closes the
/// connection or `give_up` passes; returns when it closed (None: it did not)
/// and what the server sent.
async fn trickle(
    stream: &mut TcpStream,
    bytes: &[u8],
    every: Duration,
    give_up: Duration,
) -> (Option<Duration>, Vec<u8>) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut next = bytes.iter().cycle();
    while started.elapsed() < give_up {
        if stream.write_all(&[*next.next().unwrap()]).await.is_err() {
            return (Some(started.elapsed()), answer);
        }
        let deadline = tokio::time::Instant::now() + every;
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (Some(started.elapsed()), answer),
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
    }
    (None, answer)
}

/// Reads one whole `HTTP/1.1 200` answer to a `GET /healthz` on a kept-alive connection.
async fn read_healthz(stream: &mut TcpStream) {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let complete = |answer: &[u8]| {
        let text = String::from_utf8_lossy(answer);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        body.len() >= length
    };
    while !complete(&answer) {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn a_first_request_head_trickled_past_the_header_timeout_is_cut_off() {
    let app = TestApp::spawn_with(
        &[("BAZAAR__SERVER__REQUEST_HEADER_TIMEOUT_MS", "1000")],
        |_| {},
    )
    .await;
    let mut stream = connect(&app).await;
    let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let (closed, answer) = trickle(
        &mut stream,
        head,
        Duration::from_millis(200),
        Duration::from_secs(8),
    )
    .await;
    let closed = closed.expect("connection closed");
    assert!(
        closed < Duration::from_millis(2500),
        "closed after {closed:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn the_next_request_head_on_a_kept_alive_connection_is_bounded_too() {
    let app = TestApp::spawn_with(
        &[("BAZAAR__SERVER__REQUEST_HEADER_TIMEOUT_MS", "1000")],
        |_| {},
    )
    .await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    read_healthz(&mut stream).await;
    // Past actix's head timer (first request only): keep-alive ends at the
    // first byte, and nothing else bounded the head before.
    let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let (closed, _) = trickle(
        &mut stream,
        head,
        Duration::from_millis(200),
        Duration::from_secs(12),
    )
    .await;
    let closed = closed.expect("connection closed");
    // keep-alive (5 s) + header timeout (1 s), and a margin.
    assert!(
        closed < Duration::from_millis(8000),
        "closed after {closed:?}"
    );
}

#[tokio::test]
async fn a_body_trickled_past_the_body_timeout_is_answered_408() {
    let app = TestApp::spawn_with(&[("BAZAAR__SERVER__BODY_TIMEOUT_MS", "1000")], |_| {}).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /v1/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 200\r\n\r\n",
        )
        .await
        .unwrap();
    let (closed, answer) = trickle(
        &mut stream,
        br#"{"email": "slow@example.com", "password": "#,
        Duration::from_millis(200),
        Duration::from_secs(8),
    )
    .await;
    let closed = closed.expect("connection closed");
    assert!(
        closed < Duration::from_millis(3000),
        "closed after {closed:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains(r#""code":"request_timeout""#),
        "JSON error shape: {answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("x-request-id"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_body_sent_in_time_is_still_read() {
    let app = TestApp::spawn_with(&[("BAZAAR__SERVER__BODY_TIMEOUT_MS", "1000")], |_| {}).await;
    let response = post_signup(&app, &unique_email("prompt"), PASSWORD, "buyer").await;
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn one_address_holds_at_most_its_connection_cap() {
    let app = TestApp::spawn_with(
        &[("BAZAAR__SERVER__CONNECTIONS_PER_ADDRESS_MAX", "3")],
        |_| {},
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        read_healthz(&mut stream).await;
        held.push(stream);
    }
    // The fourth is accepted by the kernel, then shut down unread.
    let mut fourth = connect(&app).await;
    let _ = fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), fourth.read(&mut buf))
        .await
        .expect("refused at once");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "fourth was served: {read:?}"
    );
    // One given back, one more admitted.
    drop(held.pop());
    let started = Instant::now();
    loop {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        if let Ok(Ok(12)) =
            tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut first)).await
        {
            assert_eq!(&first, b"HTTP/1.1 200");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "slot not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Statuses a database outage may be answered with: success, or 503 with
/// `Retry-After`; never 500.
fn assert_outage_status(status: u16, retry_after: Option<&str>, during: &str) {
    assert_ne!(status, 500, "500 during {during}");
    if status == 503 {
        assert!(
            retry_after.is_some(),
            "503 without Retry-After during {during}"
        );
    }
}

#[tokio::test]
async fn a_locked_sqlite_database_is_answered_503() {
    if std::env::var(TEST_DATABASE_URL_VAR).is_ok_and(|url| !url.is_empty()) {
        return; // the PostgreSQL test below covers this backend
    }
    let app = TestApp::spawn_with(&[("BAZAAR__DATABASE__BUSY_TIMEOUT_MS", "200")], |_| {}).await;
    let path = app
        .database
        .url
        .strip_prefix("sqlite://")
        .expect("sqlite url")
        .to_owned();
    let mut locker = diesel::SqliteConnection::establish(&path).expect("second connection");
    locker
        .batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE;")
        .expect("write lock");
    let mut unavailable = 0;
    for _ in 0..4 {
        let response = post_signup(&app, &unique_email("locked"), PASSWORD, "buyer").await;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_outage_status(status, retry_after.as_deref(), "a held SQLite write lock");
        if status == 503 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "service_unavailable", "{body}");
            unavailable += 1;
        }
    }
    assert_eq!(unavailable, 4, "every write waited past the busy timeout");
    locker.batch_execute("COMMIT").unwrap();
    let response = post_signup(&app, &unique_email("unlocked"), PASSWORD, "buyer").await;
    assert_eq!(
        response.status(),
        202,
        "writes resume once the lock is gone"
    );
}

#[tokio::test]
async fn terminated_postgres_backends_are_answered_503() {
    if !std::env::var(TEST_DATABASE_URL_VAR).is_ok_and(|url| !url.is_empty()) {
        return; // PostgreSQL only
    }
    let app = TestApp::spawn().await;
    let url = app.database.url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::task::spawn_blocking(move || {
            let mut admin = diesel::PgConnection::establish(&url).expect("admin connection");
            let mut kills = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let killed = admin.batch_execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                );
                if killed.is_err() {
                    break; // the test ended and dropped its database
                }
                kills += 1;
                std::thread::sleep(Duration::from_millis(30));
            }
            kills
        })
    };
    let started = Instant::now();
    let (mut served, mut unavailable) = (0, 0);
    while started.elapsed() < Duration::from_secs(4) {
        let mut requests = Vec::new();
        for i in 0..6 {
            let app = &app;
            requests.push(async move {
                let response = if i % 2 == 0 {
                    post_signup(app, &unique_email("outage"), PASSWORD, "buyer").await
                } else {
                    app.get("/v1/products").await
                };
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                (response.status().as_u16(), retry_after)
            });
        }
        for (status, retry_after) in futures_util::future::join_all(requests).await {
            assert_outage_status(status, retry_after.as_deref(), "terminated backends");
            if status == 503 {
                unavailable += 1;
            } else {
                served += 1;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let kills = killer.await.unwrap();
    assert!(kills > 10, "the killer ran");
    assert!(unavailable > 0, "the outage was seen ({served} served)");
    // Once the backends are left alone, the pool reconnects.
    let mut recovered = false;
    for _ in 0..50 {
        let response = post_signup(&app, &unique_email("after"), PASSWORD, "buyer").await;
        if response.status() == 202 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "writes resume after the outage");
}
