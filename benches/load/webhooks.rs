//! Scenario `webhooks`: signed provider events (the mix of `webhooks/*.json`:
//! payments, charges, refunds, disputes, transfers, payouts, account and
//! balance updates, each with a fresh id) posted to both endpoints at a
//! constant rate; then the time until the job queue has processed every one
//! (each re-reads its object from the in-process sandbox, which answers "no
//! such object": the cost of a real fetch, acknowledged as not ours).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{self, count, Backend, Row};

const UNPROCESSED: &str = "SELECT COUNT(*) AS n FROM webhook_events WHERE processed_at IS NULL";
/// Longest wait for the queue to drain after the sending stops.
const DRAIN_MAX: Duration = Duration::from_secs(600);

/// The event templates: every payload in `webhooks/`.
fn templates() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("webhooks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect()
}

/// Request `n`: template `n mod 20` as a new event, signed now.
pub fn deliveries(
    client: reqwest::Client,
    address: &str,
) -> impl Fn(u64) -> reqwest::RequestBuilder + Send + Sync + 'static {
    let (platform, connect) = bazaar::app::SANDBOX_WEBHOOK_SECRETS;
    let templates = Arc::new(templates());
    let address = address.to_owned();
    let run = uuid::Uuid::new_v4().simple().to_string();
    move |n| {
        let mut event = templates[usize::try_from(n).unwrap() % templates.len()].clone();
        event["id"] = json!(format!("evt_bench_{run}_{n}"));
        let body = serde_json::to_vec(&event).unwrap();
        let connected = event.get("account").is_some_and(|a| !a.is_null());
        let (path, secret) = if connected {
            ("/webhooks/stripe/connect", connect)
        } else {
            ("/webhooks/stripe", platform)
        };
        let signature =
            bazaar::webhooks::signature::sign(&body, secret, chrono::Utc::now().timestamp());
        client
            .post(format!("{address}{path}"))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body)
    }
}

/// Events not processed yet.
pub async fn unprocessed(url: &str) -> i64 {
    count(url, UNPROCESSED).await
}

pub async fn run(backend: Backend, rate: u64, seconds: u64) -> Row {
    let db = harness::database(backend);
    let work = tempfile::tempdir().unwrap();
    let server = harness::start_server(&db, work.path(), &[]).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let sent = harness::open_loop(rate, seconds, deliveries(client, &server.address)).await;
    let drain_started = Instant::now();
    while count(&db.url, UNPROCESSED).await > 0 && drain_started.elapsed() < DRAIN_MAX {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let processed_in = sent.elapsed + drain_started.elapsed();
    let mut row = Row::new("webhooks", backend, rate, &sent, &server);
    row.processed_rate = Some((sent.succeeded() as f64 / processed_in.as_secs_f64()).round());
    row.notes["unprocessed_left"] = json!(count(&db.url, UNPROCESSED).await);
    row.notes["drain_s"] = json!(drain_started.elapsed().as_secs_f64());
    row
}
