//! Scenario `events-out`: events committed at a constant rate, delivered as
//! signed webhooks to one platform-wide endpoint on a local receiver.
//!
//! The bench commits the events itself, straight into the server's
//! database through the same function the marketplace's writes call
//! (`bazaar::events::outbox::emit`, one transaction each), so the rate is
//! exact whatever action would have produced them; the server's dispatcher
//! fans them out and delivers them. The latency columns are the lag: from an
//! event's commit (its `timestamp`) to its arrival at the receiver. Each
//! event must arrive exactly once (a `webhook-id` seen twice counts as an
//! error).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::harness::{self, percentile_ms, Backend, Row};

/// Longest wait for the last deliveries after the producing stops.
const DRAIN_MAX: Duration = Duration::from_secs(120);

/// What the receiver saw: each `webhook-id` with its arrivals' lags (µs).
#[derive(Default)]
struct Received {
    lags_us: HashMap<String, Vec<u64>>,
    last_arrival: Option<Instant>,
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    seen: web::Data<Mutex<Received>>,
) -> HttpResponse {
    let arrived = chrono::Utc::now();
    let id = request
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let committed = payload["timestamp"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let lag_us = committed.map_or(0, |at| {
        u64::try_from(
            (arrived - at.with_timezone(&chrono::Utc))
                .num_microseconds()
                .unwrap_or(0),
        )
        .unwrap_or(0)
    });
    let mut seen = seen.lock().unwrap();
    seen.lags_us.entry(id).or_default().push(lag_us);
    seen.last_arrival = Some(Instant::now());
    HttpResponse::NoContent().finish()
}

/// Starts the receiver on a free loopback port: its URL and the record.
fn start_receiver() -> (
    String,
    web::Data<Mutex<Received>>,
    actix_web::dev::ServerHandle,
) {
    let seen = web::Data::new(Mutex::new(Received::default()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = seen.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/hook", web::post().to(receive))
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), seen, handle)
}

/// Commits `rate` events a second for `seconds` from `connections`
/// connections, each event at its scheduled instant; returns how many were
/// committed, how many missed their slot by more than 10 ms, and how long it
/// took.
async fn produce(url: &str, rate: u64, seconds: u64, connections: u64) -> (u64, u64, Duration) {
    let total = rate * seconds;
    let started = Instant::now();
    let producers = (0..connections).map(|first| {
        harness::with_connection(url, move |conn| {
            let mut late = 0;
            // Connection k commits events k, k + connections, …: together
            // they keep the one schedule.
            for n in (first..total).step_by(usize::try_from(connections).unwrap()) {
                let due = started + Duration::from_micros(n * 1_000_000 / rate);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                } else if now - due > Duration::from_millis(10) {
                    late += 1;
                }
                let event = bazaar::events::outbox::NewEvent::new(
                    bazaar::events::types::EventType::ProductUpdated,
                    json!({"id": format!("prod_bench_{n}"), "name": "Bench vase", "n": n}),
                );
                bazaar::db::write_transaction(conn, |conn| {
                    bazaar::events::outbox::emit(conn, event)
                })
                .expect("commit an event");
            }
            late
        })
    });
    let late = futures_util::future::join_all(producers)
        .await
        .into_iter()
        .sum();
    (total, late, started.elapsed())
}

pub async fn run(backend: Backend, rate: u64, seconds: u64) -> Row {
    let db = harness::database(backend);
    let work = tempfile::tempdir().unwrap();
    let server = harness::start_server(
        &db,
        work.path(),
        &[("BAZAAR__OUTGOING_WEBHOOKS__ALLOW_PRIVATE_ADDRESSES", "true")],
    )
    .await;
    let key = harness::operator_api_key(&db.url).await;
    let (hook, seen, receiver) = start_receiver();
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/v1/webhook_endpoints", server.address))
        .header("authorization", format!("Bearer {key}"))
        .json(&json!({"url": hook, "description": "load bench receiver"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());

    // One connection commits at most a few hundred events a second on
    // PostgreSQL (a round trip and a commit each); SQLite has one writer
    // whatever the number of connections, and a second one only waits.
    let connections = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 4,
    };
    let (produced, late, producing) = produce(&db.url, rate, seconds, connections).await;
    let drain_started = Instant::now();
    while seen.lock().unwrap().lags_us.len() < usize::try_from(produced).unwrap()
        && drain_started.elapsed() < DRAIN_MAX
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver.stop(true).await;
    let seen = seen.lock().unwrap();
    let delivered = u64::try_from(seen.lags_us.len()).unwrap();
    let duplicates: usize = seen.lags_us.values().map(|l| l.len() - 1).sum();
    let mut lags: Vec<u64> = seen.lags_us.values().map(|l| l[0]).collect();
    lags.sort_unstable();
    // From the first commit to the last arrival.
    let span = seen.last_arrival.map_or(producing, |last| {
        last.duration_since(drain_started) + producing
    });
    let mut row = Row::new(
        "events-out",
        backend,
        rate,
        &harness::Outcome::default(),
        &server,
    );
    row.achieved_rate = (produced as f64 / producing.as_secs_f64()).round();
    row.processed_rate = Some((delivered as f64 / span.as_secs_f64()).round());
    row.p50_ms = percentile_ms(&lags, 50.0);
    row.p99_ms = percentile_ms(&lags, 99.0);
    row.p999_ms = percentile_ms(&lags, 99.9);
    row.late = late;
    row.errors = produced - delivered.min(produced) + u64::try_from(duplicates).unwrap();
    row.seconds = seconds;
    row.notes["produced"] = json!(produced);
    row.notes["delivered"] = json!(delivered);
    row.notes["duplicates"] = json!(duplicates);
    row.notes["producing_connections"] = json!(connections);
    row.notes["latency_is"] = json!("lag from commit to arrival at the receiver");
    row
}
