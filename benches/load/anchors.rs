//! Scenario `anchors`: what this machine does at all, measured in the same run
//! as the catalog it anchors, so the catalog's rows can be read as fractions
//! of it. `wrk` (Debian's; closed loop, 2 threads, 32 connections) drives,
//! for `seconds` each:
//!
//! - two handlers served from this bench process by actix-web with 2 workers
//!   (as `serve` runs on 2 cores): a trivial one answering 1 KB of JSON, and
//!   one making one primary-key SELECT of a product through a `bazaar::db`
//!   pool on the catalog's database;
//! - `bazaar serve` on the bench catalog (10,000 products): `/healthz`, a
//!   cached product detail, the first list page, a category page, a search —
//!   each one URL, so as cached as a popular page — and list pages and
//!   searches that miss the listing cache (10,000 cursors; searches with
//!   varying page sizes).
//!
//! - nginx with `config/nginx/bazaar.conf` (one worker) in front of `serve`:
//!   a product detail and the first list page from the edge's cache, with
//!   `serve`'s CPU meanwhile (skipped without nginx; under `CI=true`, fails).
//!
//! Then the bench's own open-loop generator is measured against the trivial
//! handler: the highest of 2,500 … 40,000 requests/s it keeps (≤ 1 % late,
//! nothing dropped or failed, ≥ 97 % of the rate achieved). A scenario whose
//! offered rate is above a tenth of that measures the generator, not the
//! server. Without `wrk` the scenario says it skipped; under `CI=true` it
//! fails.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use bazaar::catalog::Cursor;
use bazaar::db::dialect::{load_sql, SqlValue};
use serde_json::json;

use crate::catalog::{self, CATEGORIES, QUERIES};
use crate::harness::{self, Backend, Row};

/// Rates the generator is tried at, lowest first.
const GENERATOR_RATES: [u64; 5] = [2_500, 5_000, 10_000, 20_000, 40_000];

/// What one `wrk` run measured.
struct Measured {
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

#[derive(diesel::QueryableByName)]
struct Titled {
    #[diesel(sql_type = diesel::sql_types::Text)]
    title: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    price_minor: i64,
}

/// The anchors' own server: `/json` and `/select`, on a thread of its own.
struct AnchorServer {
    address: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for AnchorServer {
    fn drop(&mut self) {
        // Stopping needs the server's runtime: ask from a small one here.
        let handle = self.handle.clone();
        let _ = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(handle.stop(false));
        })
        .join();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn start_anchor_server(database_url: &str, ids: Vec<String>) -> AnchorServer {
    let settings = bazaar::config::DatabaseSettings {
        url: bazaar::config::DatabaseUrl::parse(database_url).expect("the bench's URL"),
        pool_size_max: 8,
        connect_timeout: Duration::from_secs(5),
        busy_timeout: Duration::from_secs(5),
        migrate_on_start: false,
    };
    let pool = bazaar::db::connect_pool(&settings).expect("a pool on the catalog");
    let kilobyte = {
        let filler = "x".repeat(1_000);
        serde_json::to_vec(&json!({ "id": "anchor", "filler": filler })).unwrap()
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let (sender, receiver) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let body = web::Bytes::from(kilobyte.clone());
                let (pool, ids, next) = (pool.clone(), Arc::clone(&ids), Arc::clone(&next));
                App::new()
                    .route(
                        "/json",
                        web::get().to(move || {
                            let body = body.clone();
                            async move {
                                HttpResponse::Ok()
                                    .content_type("application/json")
                                    .body(body)
                            }
                        }),
                    )
                    .route(
                        "/select",
                        web::get().to(move || {
                            let (pool, ids, next) =
                                (pool.clone(), Arc::clone(&ids), Arc::clone(&next));
                            async move {
                                let id =
                                    ids[next.fetch_add(1, Ordering::Relaxed) % ids.len()].clone();
                                let row = web::block(move || {
                                    let mut conn = pool.get().expect("a connection");
                                    load_sql::<Titled>(
                                        &mut conn,
                                        "SELECT title, price_minor FROM products WHERE id = ?",
                                        &[SqlValue::Text(id)],
                                    )
                                    .expect("the product")
                                })
                                .await
                                .expect("the query ran");
                                let row = row.first().expect("a product");
                                HttpResponse::Ok()
                                    .json(json!({"title": row.title, "price": row.price_minor}))
                            }
                        }),
                    )
            })
            .workers(2)
            .listen(listener)
            .expect("listens")
            .run();
            sender.send(server.handle()).unwrap();
            server.await.expect("the anchor server runs");
        });
    });
    let handle = receiver.recv().expect("the anchor server starts");
    AnchorServer {
        address,
        handle,
        thread: Some(thread),
    }
}

/// A `wrk` duration in milliseconds (`812.00us`, `1.20ms`, `2.01s`).
fn wrk_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(us) = text.strip_suffix("us") {
        (us, 0.001)
    } else if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60_000.0)
    } else {
        (text.strip_suffix('s')?, 1_000.0)
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Runs `wrk` on `url` (with the Lua `script` when given).
fn wrk(url: &str, seconds: u64, script: Option<&std::path::Path>) -> Measured {
    let mut command = std::process::Command::new("wrk");
    command.args([
        "-t2",
        "-c32",
        &format!("-d{seconds}s"),
        "--latency",
        "--timeout",
        "5s",
    ]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(url).output().expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk {url}: {text}");
    let mut measured = Measured {
        per_s: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        errors: 0,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => measured.per_s = n.parse().unwrap_or(0.0),
            ["50%", at] => measured.p50_ms = wrk_ms(at).unwrap_or(0.0),
            ["99%", at] => measured.p99_ms = wrk_ms(at).unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => measured.errors += n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                measured.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    measured
}

/// A Lua script for `wrk` that requests `paths` in turn, each thread from its
/// own place in the list (so two threads do not send the same path at once).
fn rotating_script(dir: &std::path::Path, name: &str, paths: &[String]) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.lua"));
    let mut out = std::fs::File::create(&file).unwrap();
    writeln!(out, "paths = {{").unwrap();
    for path in paths {
        writeln!(out, "  {path:?},").unwrap();
    }
    writeln!(
        out,
        "}}
local threads = 0
function setup(thread)
  thread:set(\"first\", threads * 7919)
  threads = threads + 1
end
function init(args)
  n = first
end
function request()
  n = n + 1
  return wrk.format(\"GET\", paths[(n % #paths) + 1])
end"
    )
    .unwrap();
    file
}

/// The highest rate the generator keeps against `url`, and the row of each try.
async fn generator_capacity(url: &str, seconds: u64) -> (u64, Vec<serde_json::Value>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let mut kept = 0;
    let mut tries = Vec::new();
    for rate in GENERATOR_RATES {
        let (client, url) = (client.clone(), url.to_owned());
        let sent = harness::open_loop(rate, seconds, move |_| client.get(&url)).await;
        let total = sent.latencies_us.len() as u64 + sent.dropped;
        let held = sent.dropped == 0
            && sent.errors == 0
            && sent.late * 100 <= total
            && sent.achieved_rate() >= rate as f64 * 0.97;
        let mut sorted = sent.latencies_us.clone();
        sorted.sort_unstable();
        tries.push(json!({
            "rate": rate,
            "achieved": sent.achieved_rate().round(),
            "late": sent.late,
            "dropped": sent.dropped,
            "p99_ms": harness::percentile_ms(&sorted, 99.0),
            "kept": held,
        }));
        if !held {
            break;
        }
        kept = rate;
    }
    (kept, tries)
}

fn row(name: &str, backend: Backend, measured: &Measured, seconds: u64) -> Row {
    Row {
        scenario: format!("anchors: {name}"),
        backend,
        offered_rate: 0,
        achieved_rate: measured.per_s.round(),
        processed_rate: None,
        p50_ms: measured.p50_ms,
        p99_ms: measured.p99_ms,
        // wrk reports no 99.9th percentile.
        p999_ms: 0.0,
        late: 0,
        errors: measured.errors,
        peak_rss_mib: 0.0,
        seconds,
        notes: json!({ "tool": "wrk -t2 -c32" }),
    }
}

pub async fn run(backend: Backend, seconds: u64) -> Vec<Row> {
    if std::process::Command::new("wrk")
        .arg("-v")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "wrk is not installed (.ci/run installs it)"
        );
        eprintln!("anchors: skipped, wrk is not installed (apt-get install wrk)");
        return Vec::new();
    }
    let catalog = catalog::set_up(backend).await;
    let ids: Vec<String> = catalog.loaded.keys.iter().map(|k| k.id.clone()).collect();
    let anchor = start_anchor_server(&catalog.db.url, ids.clone());
    let scripts = tempfile::tempdir().unwrap();
    let server = catalog.server.address.clone();
    let cursors: Vec<String> = catalog
        .loaded
        .keys
        .iter()
        .map(|k| {
            let cursor = Cursor::After {
                created_at: k.created_at,
                id: k.id.clone(),
            }
            .encode();
            format!("/v1/products?cursor={cursor}&limit=20")
        })
        .collect();
    let searches: Vec<String> = (1..=50)
        .flat_map(|limit| {
            QUERIES
                .iter()
                .map(move |q| format!("/v1/products?q={}&limit={limit}", q.replace(' ', "+")))
        })
        .collect();
    let targets: Vec<(&str, String, Option<std::path::PathBuf>)> = vec![
        (
            "trivial handler, 1 KB JSON",
            format!("{}/json", anchor.address),
            None,
        ),
        (
            "one primary-key SELECT",
            format!("{}/select", anchor.address),
            None,
        ),
        ("serve /healthz", format!("{server}/healthz"), None),
        (
            "serve product detail (cached)",
            format!("{server}/v1/products/{}", ids[0]),
            None,
        ),
        (
            "serve first list page",
            format!("{server}/v1/products?limit=20"),
            None,
        ),
        (
            "serve category page",
            format!("{server}/v1/products?category={}&limit=20", CATEGORIES[1]),
            None,
        ),
        (
            "serve search",
            format!("{server}/v1/products?q=linen"),
            None,
        ),
        (
            "serve list pages, uncached",
            server.clone(),
            Some(rotating_script(scripts.path(), "lists", &cursors)),
        ),
        (
            "serve searches, uncached",
            server.clone(),
            Some(rotating_script(scripts.path(), "searches", &searches)),
        ),
    ];
    let mut rows = Vec::new();
    let mut trivial = 0.0;
    let mut one_query = 0.0;
    for (name, url, script) in targets {
        let url_owned = url.clone();
        let measured =
            tokio::task::spawn_blocking(move || wrk(&url_owned, seconds, script.as_deref()))
                .await
                .unwrap();
        if trivial == 0.0 {
            trivial = measured.per_s;
        } else if one_query == 0.0 {
            one_query = measured.per_s;
        }
        let mut row = row(name, backend, &measured, seconds);
        row.notes["of_trivial"] = json!((measured.per_s / trivial * 100.0).round() / 100.0);
        row.notes["of_one_query"] = json!((measured.per_s / one_query * 100.0).round() / 100.0);
        rows.push(row);
    }
    if std::path::Path::new(crate::edge::NGINX).is_file() {
        rows.extend(
            through_the_edge(&catalog, &ids[0], backend, seconds, trivial, one_query).await,
        );
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "nginx is not installed (.ci/run installs it)"
        );
        eprintln!(
            "anchors: the edge's rows skipped, nginx is not installed (apt-get install nginx)"
        );
    }
    let (capacity, tries) =
        generator_capacity(&format!("{}/json", anchor.address), seconds.min(3)).await;
    rows.push(Row {
        scenario: "anchors: the bench's generator".to_owned(),
        backend,
        offered_rate: capacity,
        achieved_rate: capacity as f64,
        processed_rate: None,
        p50_ms: 0.0,
        p99_ms: 0.0,
        p999_ms: 0.0,
        late: 0,
        errors: 0,
        peak_rss_mib: 0.0,
        seconds: seconds.min(3),
        notes: json!({
            "kept_rate": capacity,
            "tries": tries,
            "meaning": "the highest rate the open-loop generator keeps against the trivial handler",
        }),
    });
    drop(anchor);
    rows
}

/// wrk through nginx (`config/nginx/bazaar.conf`, one worker) in front of
/// `serve`: a product detail and the first list page, answered from the
/// edge's cache; the server's CPU meanwhile, as a share of one core.
async fn through_the_edge(
    catalog: &catalog::Catalog,
    product: &str,
    backend: Backend,
    seconds: u64,
    trivial: f64,
    one_query: f64,
) -> Vec<Row> {
    let upstream: u16 = catalog
        .server
        .address
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("the server's port");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let edge = crate::edge::start_edge(upstream, port, 1);
    let mut rows = Vec::new();
    for (name, path) in [
        (
            "nginx: product detail, cached at the edge",
            format!("/v1/products/{product}"),
        ),
        (
            "nginx: first list page, cached at the edge",
            "/v1/products?limit=20".to_owned(),
        ),
    ] {
        let url = format!("{}{path}", edge.address);
        // The first request fills the edge's cache.
        reqwest::get(&url).await.expect("through nginx");
        let cpu_before = catalog.server.cpu_seconds();
        let measured = tokio::task::spawn_blocking(move || wrk(&url, seconds, None))
            .await
            .unwrap();
        let cpu = catalog.server.cpu_seconds() - cpu_before;
        let mut row = row(name, backend, &measured, seconds);
        row.notes["of_trivial"] = json!((measured.per_s / trivial * 100.0).round() / 100.0);
        row.notes["of_one_query"] = json!((measured.per_s / one_query * 100.0).round() / 100.0);
        row.notes["app_cpu_pct"] = json!((cpu / seconds as f64 * 1000.0).round() / 10.0);
        rows.push(row);
    }
    drop(edge);
    rows
}

/// The anchors' own table: each target's rate as a fraction of the trivial
/// handler's and of the one-query handler's.
pub fn print_anchors(rows: &[Row]) {
    let anchors: Vec<&Row> = rows
        .iter()
        .filter(|r| r.scenario.starts_with("anchors: "))
        .collect();
    if anchors.is_empty() {
        return;
    }
    println!();
    println!("| target | backend | req/s (wrk) | p50 ms | p99 ms | errors | × trivial | × one query | serve's CPU % |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in anchors {
        let target = r.scenario.trim_start_matches("anchors: ");
        if r.notes["kept_rate"].is_u64() {
            println!(
                "| {target} | {} | keeps {} /s open loop | — | — | — | — | — | — |",
                r.backend.name(),
                r.notes["kept_rate"]
            );
            continue;
        }
        println!(
            "| {target} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.backend.name(),
            r.achieved_rate,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.notes["of_trivial"],
            r.notes["of_one_query"],
            r.notes["app_cpu_pct"]
        );
    }
}
