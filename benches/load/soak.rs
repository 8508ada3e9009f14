//! Scenario `soak`: webhook deliveries and ledger adjustments together at a
//! steady rate for ten minutes (by default) against one server, its resident
//! memory sampled every 10 s. Memory is "flat" when the last minute's
//! average is within a few MiB of the second minute's (the first holds the
//! warm-up: pools filling, caches loading). The samples are in the notes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::harness::{self, Backend, Row};
use crate::{hot_account, webhooks};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);

pub async fn run(backend: Backend, rate: u64, seconds: u64) -> Row {
    let db = harness::database(backend);
    let work = tempfile::tempdir().unwrap();
    let server = Arc::new(harness::start_server(&db, work.path(), &[]).await);
    let key = harness::operator_api_key(&db.url).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let samples = Arc::new(Mutex::new(Vec::<f64>::new()));
    let sampler = {
        let (server, samples) = (Arc::clone(&server), Arc::clone(&samples));
        tokio::spawn(async move {
            loop {
                samples.lock().unwrap().push(server.rss_mib());
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        })
    };
    // Three events for every two adjustments.
    let (events_rate, entries_rate) = ((rate * 3 / 5).max(1), (rate * 2 / 5).max(1));
    let events = harness::open_loop(
        events_rate,
        seconds,
        webhooks::deliveries(client.clone(), &server.address),
    );
    let entries = harness::open_loop(
        entries_rate,
        seconds,
        hot_account::adjustments(client, &server.address, &key),
    );
    let (mut events, entries) = tokio::join!(events, entries);
    sampler.abort();
    let samples = samples.lock().unwrap().clone();
    let per_minute = usize::try_from(60 / SAMPLE_EVERY.as_secs()).unwrap();
    let average = |window: &[f64]| window.iter().sum::<f64>() / window.len().max(1) as f64;
    let second_minute = samples.get(per_minute..(2 * per_minute).min(samples.len()));
    let last_minute = &samples[samples.len().saturating_sub(per_minute)..];
    // One table row for both streams.
    events.latencies_us.extend(&entries.latencies_us);
    events.late += entries.late;
    events.errors += entries.errors;
    events.dropped += entries.dropped;
    events.error_statuses.extend(&entries.error_statuses);
    let mut row = Row::new(
        "soak",
        backend,
        events_rate + entries_rate,
        &events,
        &server,
    );
    row.notes["rss_samples_mib"] = json!(samples
        .iter()
        .map(|m| (m * 10.0).round() / 10.0)
        .collect::<Vec<_>>());
    if let Some(second) = second_minute.filter(|w| !w.is_empty()) {
        row.notes["rss_growth_mib"] =
            json!(((average(last_minute) - average(second)) * 10.0).round() / 10.0);
    }
    row.notes["unprocessed_events_left"] = json!(webhooks::unprocessed(&db.url).await);
    row
}
