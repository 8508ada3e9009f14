//! Open-loop load against a real `bazaar serve` over loopback.
//!
//! ```sh
//! cargo bench --bench load -- webhooks --backend sqlite --rate 2000 --seconds 10
//! cargo bench --bench load -- webhooks --backend postgres --rate 2000 --seconds 10
//! ```
//!
//! Requests leave at a constant rate whatever the server does (a slow server
//! cannot slow the client down and hide its latency): each one's latency is
//! measured from the moment it was *scheduled*, a request that could not even
//! be sent on time counts as late, and one without an answer within 5 s as
//! dropped. The server runs as its own process (the release binary beside
//! this bench) on a fresh database; its peak RSS is read from
//! `/proc/{pid}/status`. One table is printed and written as JSON under
//! `target/bench/`.
//!
//! Scenario `webhooks`: signed provider events (the mix of `webhooks/*.json`,
//! each with a fresh id) posted to both endpoints; then the time until the job
//! queue has processed every one (each re-reads its object from the in-process
//! sandbox, which answers "no such object": the cost of a real fetch).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{json, Value};

const BAZAAR: &str = env!("CARGO_BIN_EXE_bazaar");
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// A request that starts this much after its scheduled time is late.
const LATE_AFTER: Duration = Duration::from_millis(10);

struct Args {
    scenario: String,
    backend: String,
    rate: u64,
    seconds: u64,
}

fn args() -> Args {
    let mut parsed = Args {
        scenario: "webhooks".into(),
        backend: "sqlite".into(),
        rate: 1000,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--backend" => parsed.backend = value(),
            "--rate" => parsed.rate = value().parse().expect("--rate N"),
            "--seconds" => parsed.seconds = value().parse().expect("--seconds N"),
            "--smoke" => {
                parsed.rate = 200;
                parsed.seconds = 2;
            }
            other if !other.starts_with('-') => parsed.scenario = other.to_owned(),
            other => panic!("unknown argument {other}"),
        }
    }
    parsed
}

/// A fresh database for the server: a SQLite file, or a new PostgreSQL database.
struct Database {
    url: String,
    /// PostgreSQL: the admin URL and the database's name, dropped at the end.
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            if let Ok(mut conn) = diesel::PgConnection::establish(admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

fn database(backend: &str) -> Database {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut postgres = None;
    let url = match backend {
        "sqlite" => format!("sqlite://{}", dir.path().join("bench.db").display()),
        "postgres" => {
            let admin = std::env::var("BAZAAR_BENCH_POSTGRES_URL").unwrap_or_else(|_| {
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into()
            });
            let name = format!("bazaar_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&admin).expect("PostgreSQL reachable");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .expect("create the bench database");
            let url = admin.replace("/test?", &format!("/{name}?"));
            postgres = Some((admin, name));
            url
        }
        other => panic!("unknown backend {other} (sqlite | postgres)"),
    };
    Database {
        url,
        postgres,
        _dir: dir,
    }
}

/// `bazaar serve`, killed when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

async fn start_server(db: &Database, dir: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The in-process sandbox keeps its state under ./data, beside the default database.
    std::fs::create_dir_all(dir.join("data")).expect("data folder");
    let child = Command::new(BAZAAR)
        .arg("serve")
        .current_dir(dir)
        .env("BAZAAR__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("BAZAAR__DATABASE__URL", &db.url)
        .env("BAZAAR__DATABASE__MIGRATE_ON_START", "true")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("bazaar serve starts");
    let server = Server {
        child,
        address: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = client
            .get(format!("{}/readyz", server.address))
            .send()
            .await
        {
            if r.status().is_success() {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server never became ready");
}

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

struct Outcome {
    latencies_us: Vec<u64>,
    late: u64,
    dropped: u64,
    errors: u64,
}

/// Sends `rate` requests per second for `seconds`, open loop.
async fn open_loop<F>(rate: u64, seconds: u64, request: F) -> (Outcome, Duration)
where
    F: Fn(u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let total = rate * seconds;
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let scheduled = start + interval * u32::try_from(n).expect("bounded run");
        tokio::time::sleep_until(scheduled.into()).await;
        let late = Instant::now().duration_since(scheduled) > LATE_AFTER;
        let request = Arc::clone(&request);
        tasks.spawn(async move {
            let sent = tokio::time::timeout(ANSWER_TIMEOUT, request(n).send()).await;
            let latency = Instant::now().duration_since(scheduled);
            (late, sent.map(|r| r.map(|r| r.status().as_u16())), latency)
        });
    }
    let mut outcome = Outcome {
        latencies_us: Vec::with_capacity(usize::try_from(total).unwrap_or(0)),
        late: 0,
        dropped: 0,
        errors: 0,
    };
    while let Some(done) = tasks.join_next().await {
        let (late, answer, latency) = done.expect("request task");
        outcome.late += u64::from(late);
        match answer {
            Err(_) => outcome.dropped += 1,
            Ok(Err(_)) => outcome.errors += 1,
            Ok(Ok(status)) if status >= 300 => outcome.errors += 1,
            Ok(Ok(_)) => outcome
                .latencies_us
                .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX)),
        }
    }
    (outcome, start.elapsed())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn unprocessed(url: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    const SQL: &str = "SELECT COUNT(*) AS n FROM webhook_events WHERE processed_at IS NULL";
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        match url.strip_prefix("sqlite://") {
            Some(path) => diesel::SqliteConnection::establish(path)
                .ok()
                .and_then(|mut c| diesel::sql_query(SQL).get_result::<Count>(&mut c).ok()),
            None => diesel::PgConnection::establish(&url)
                .ok()
                .and_then(|mut c| diesel::sql_query(SQL).get_result::<Count>(&mut c).ok()),
        }
        .map_or(-1, |c| c.n)
    })
    .await
    .unwrap()
}

async fn webhooks(args: &Args) -> Value {
    let db = database(&args.backend);
    let work = tempfile::tempdir().unwrap();
    let server = start_server(&db, work.path()).await;
    let (platform, connect) = bazaar::app::SANDBOX_WEBHOOK_SECRETS;
    let templates = Arc::new(templates());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let address = server.address.clone();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (sent, elapsed) = open_loop(args.rate, args.seconds, move |n| {
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
    })
    .await;
    let accepted = sent.latencies_us.len() as f64;
    let mut waited = Duration::ZERO;
    let processing_started = Instant::now();
    while unprocessed(&db.url).await > 0 && waited < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        waited = processing_started.elapsed();
    }
    let processed_in = elapsed + processing_started.elapsed();
    let mut sorted = sent.latencies_us.clone();
    sorted.sort_unstable();
    json!({
        "scenario": "webhooks",
        "backend": args.backend,
        "offered_rate": args.rate,
        "achieved_rate": (accepted / elapsed.as_secs_f64()).round(),
        "processed_rate": (accepted / processed_in.as_secs_f64()).round(),
        "p50_ms": percentile(&sorted, 50.0),
        "p99_ms": percentile(&sorted, 99.0),
        "p999_ms": percentile(&sorted, 99.9),
        "late": sent.late,
        "dropped": sent.dropped,
        "errors": sent.errors,
        "peak_rss_mib": (server.peak_rss_mib() * 10.0).round() / 10.0,
        "unprocessed_left": unprocessed(&db.url).await,
    })
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        match args.scenario.as_str() {
            "webhooks" => webhooks(&args).await,
            other => panic!("unknown scenario {other} (webhooks)"),
        }
    });
    println!(
        "{:<10} {:<9} {:>8} {:>9} {:>10} {:>8} {:>8} {:>8} {:>6} {:>8} {:>9}",
        "scenario",
        "backend",
        "offered",
        "achieved",
        "processed",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "late",
        "errors",
        "peak MiB"
    );
    println!(
        "{:<10} {:<9} {:>8} {:>9} {:>10} {:>8} {:>8} {:>8} {:>6} {:>8} {:>9}",
        result["scenario"].as_str().unwrap(),
        result["backend"].as_str().unwrap(),
        result["offered_rate"],
        result["achieved_rate"],
        result["processed_rate"],
        result["p50_ms"],
        result["p99_ms"],
        result["p999_ms"],
        result["late"],
        result["errors"].as_u64().unwrap() + result["dropped"].as_u64().unwrap(),
        result["peak_rss_mib"],
    );
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let out = target.join("bench");
    std::fs::create_dir_all(&out).unwrap();
    let file = out.join(format!(
        "{}-{}.json",
        result["scenario"].as_str().unwrap(),
        result["backend"].as_str().unwrap()
    ));
    std::fs::write(&file, serde_json::to_vec_pretty(&result).unwrap()).unwrap();
    println!("written to {}", file.display());
}
