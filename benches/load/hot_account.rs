//! Scenario `hot-account`: every posting touches one account. Finance's
//! adjustments (`POST /v1/ledger/adjustments`, each a two-posting entry with
//! its own idempotency key and an audit row) all credit or debit
//! `platform:fee_revenue`, against four other platform accounts in turn.
//! Postings per second = 2 × entries per second.
//!
//! Exactness is checked after the run: the hot account's balance read back
//! from the API equals the sum the bench computed from the answers it got,
//! and the trial balance is zero. The time to read that balance (a sum over
//! every posting of the account) is reported in the notes.

use std::time::Instant;

use serde_json::{json, Value};

use crate::harness::{self, Backend, Row};

/// The other side of each entry, in turn.
const COUNTERPARTS: [&str; 4] = [
    "platform:adjustments",
    "platform:refunds_borne",
    "platform:dispute_fees",
    "platform:processing_fees",
];
const HOT: &str = "platform:fee_revenue";

/// Entry `n`: its amount and whether it credits the hot account.
fn entry(n: u64) -> (i64, bool) {
    let amount = 100 + i64::try_from(n % 997).expect("small");
    (amount, !n.is_multiple_of(3))
}

/// Request `n`: adjustment `n`, with its own idempotency key.
pub fn adjustments(
    client: reqwest::Client,
    address: &str,
    api_key: &str,
) -> impl Fn(u64) -> reqwest::RequestBuilder + Send + Sync + 'static {
    let (url, token) = (
        format!("{address}/v1/ledger/adjustments"),
        format!("Bearer {api_key}"),
    );
    let run = uuid::Uuid::new_v4().simple().to_string();
    move |n| {
        let (amount, credit_hot) = entry(n);
        let other = COUNTERPARTS[usize::try_from(n).unwrap() % COUNTERPARTS.len()];
        let (debit, credit) = if credit_hot {
            (other, HOT)
        } else {
            (HOT, other)
        };
        client
            .post(&url)
            .header("authorization", &token)
            .header("idempotency-key", format!("bench-{run}-{n}"))
            .json(&json!({
                "description": format!("load bench adjustment {n}"),
                "currency": "USD",
                "postings": [
                    {"account": debit, "debit_minor": amount},
                    {"account": credit, "credit_minor": amount},
                ],
            }))
    }
}

pub async fn run(backend: Backend, rate: u64, seconds: u64) -> Row {
    let db = harness::database(backend);
    let work = tempfile::tempdir().unwrap();
    let server = harness::start_server(&db, work.path(), &[]).await;
    let key = harness::operator_api_key(&db.url).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let sent = harness::open_loop(
        rate.div_ceil(2),
        seconds,
        adjustments(client.clone(), &server.address, &key),
    )
    .await;
    let get = |path: String| {
        let request = client
            .get(format!("{}{path}", server.address))
            .header("authorization", format!("Bearer {key}"));
        async move {
            let started = Instant::now();
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            (body, started.elapsed())
        }
    };
    let (account, read_time) = get(format!("/v1/ledger/accounts/{HOT}:USD?limit=1")).await;
    let (trial, _) = get("/v1/ledger/trial-balance".into()).await;
    let mut row = Row::new("hot-account", backend, rate, &sent, &server);
    // The answers are per entry; the table counts postings (two per entry).
    row.achieved_rate = (sent.achieved_rate() * 2.0).round();
    row.notes["entries"] = json!(sent.succeeded());
    row.notes["hot_balance_minor"] = account["account"]["balance"]["minor"].clone();
    row.notes["hot_balance_read_ms"] = json!(read_time.as_secs_f64() * 1000.0);
    row.notes["trial_balance_totals"] = trial["totals"].clone();
    // Which entries succeeded is not known per request here; with no errors,
    // every entry did, and the balance must be exactly their sum.
    if sent.errors + sent.dropped == 0 {
        let total = u64::try_from(sent.latencies_us.len()).unwrap();
        let expected: i64 = (0..total)
            .map(|n| {
                let (amount, credit_hot) = entry(n);
                if credit_hot {
                    amount
                } else {
                    -amount
                }
            })
            .sum();
        let actual = account["account"]["balance"]["minor"].as_i64();
        row.notes["hot_balance_expected_minor"] = json!(expected);
        assert_eq!(actual, Some(expected), "the hot account's balance is exact");
    }
    row
}
