//! What every scenario shares: a fresh database, `bazaar serve` as its own
//! process, the open-loop sender, resident-memory sampling and the result row.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde::Serialize;

pub const BAZAAR: &str = env!("CARGO_BIN_EXE_bazaar");
/// An answer later than this after its scheduled time is dropped.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// A request that starts this much after its scheduled time is late.
const LATE_AFTER: Duration = Duration::from_millis(10);
/// Most requests one run may schedule (bounds the latency vector).
const REQUESTS_MAX: u64 = 20_000_000;

/// Which database a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A fresh database for the server: a SQLite file, or a new PostgreSQL database.
pub struct Database {
    pub url: String,
    pub backend: Backend,
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

/// The PostgreSQL server benches create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("BAZAAR_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into())
}

pub fn database(backend: Backend) -> Database {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut postgres = None;
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("bench.db").display()),
        Backend::Postgres => {
            let admin = postgres_admin_url();
            let name = format!("bazaar_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&admin).expect("PostgreSQL reachable");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .expect("create the bench database");
            let url = admin.replace("/test?", &format!("/{name}?"));
            postgres = Some((admin, name));
            url
        }
    };
    Database {
        url,
        backend,
        postgres,
        _dir: dir,
    }
}

/// `bazaar serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub address: String,
    /// The highest resident set seen by the sampler (KiB).
    rss_peak_kib: Arc<AtomicU64>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, MiB.
    pub fn rss_mib(&self) -> f64 {
        status_kib(self.pid(), "VmRSS:").map_or(0.0, |kib| kib as f64 / 1024.0)
    }

    /// Peak resident memory since the server started (the kernel's high-water mark), MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let hwm = status_kib(self.pid(), "VmHWM:").unwrap_or(0);
        hwm.max(self.rss_peak_kib.load(Ordering::Relaxed)) as f64 / 1024.0
    }

    /// CPU time the server has used so far (user + system), seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) else {
            return 0.0;
        };
        // After `pid (comm) `, fields 3… of proc(5); utime and stime are 14 and 15.
        let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
            return 0.0;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // SAFETY: sysconf only reads a configuration value.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
        (ticks(11) + ticks(12)) as f64 / per_second as f64
    }

    /// Waits until the server is idle — under a tenth of a core over half a
    /// second, twice running — or `max` has passed: an overloaded server goes
    /// on with requests whose clients gave up, and the next phase must not
    /// queue behind them. How long it waited.
    pub async fn wait_idle(&self, max: Duration) -> Duration {
        const WINDOW: Duration = Duration::from_millis(500);
        let start = Instant::now();
        let mut quiet = 0;
        let mut before = self.cpu_seconds();
        while quiet < 2 && start.elapsed() < max {
            tokio::time::sleep(WINDOW).await;
            let now = self.cpu_seconds();
            quiet = if now - before < 0.1 * WINDOW.as_secs_f64() {
                quiet + 1
            } else {
                0
            };
            before = now;
        }
        start.elapsed()
    }

    /// Starts the peak over from the resident memory now (`5` into
    /// `/proc/{pid}/clear_refs` resets `VmHWM`), so a scenario with phases
    /// can report each one's peak. Whether the kernel took it.
    pub fn reset_peak_rss(&self) -> bool {
        let reset = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok();
        if reset {
            let now = status_kib(self.pid(), "VmRSS:").unwrap_or(0);
            self.rss_peak_kib.store(now, Ordering::Relaxed);
        }
        reset
    }
}

/// Settings every bench server gets: no rate limits in the way (the load is
/// the point; the generator is one client address with many connections), logs
/// at error level, a fresh folder for the sandbox state.
const BENCH_ENV: &[(&str, &str)] = &[
    ("BAZAAR__LIMITS__SIGNUP_PER_MINUTE", "1000000"),
    ("BAZAAR__LIMITS__CHECKOUT_PER_MINUTE", "1000000"),
    ("BAZAAR__LIMITS__WEBHOOKS_PER_SECOND", "1000000"),
    ("BAZAAR__LIMITS__PROVIDER_CALLS_PER_MINUTE", "1000000"),
    ("BAZAAR__LIMITS__LOGINS_PER_MINUTE", "1000000"),
    ("BAZAAR__LIMITS__LOGINS_PER_MINUTE_PER_SUBNET", "1000000"),
    ("BAZAAR__LIMITS__PASSWORD_CHECKS_WAITING_MAX", "100000"),
    ("BAZAAR__SERVER__CONNECTIONS_PER_ADDRESS_MAX", "0"),
    ("BAZAAR__DATABASE__MIGRATE_ON_START", "true"),
    ("RUST_LOG", "error"),
];

/// Settings over [`BENCH_ENV`] for every server started while a
/// [`ServerEnv`] lives (`None` unsets a variable: the server's own default).
static SERVER_ENV: std::sync::Mutex<Vec<(&str, Option<&str>)>> = std::sync::Mutex::new(Vec::new());

/// While it lives, servers start with its settings over [`BENCH_ENV`]: for a
/// scenario that starts its server through another's set-up (`login-flood`
/// through the catalog's) and needs some limits as deployed.
pub struct ServerEnv(());

impl Drop for ServerEnv {
    fn drop(&mut self) {
        SERVER_ENV
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// Puts `vars` over [`BENCH_ENV`] until the guard is dropped.
pub fn server_env(vars: &'static [(&'static str, Option<&'static str>)]) -> ServerEnv {
    *SERVER_ENV
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = vars.to_vec();
    ServerEnv(())
}

/// Starts `bazaar serve` on `db` in `dir` with `extra` settings (`BAZAAR__…`
/// variables), and waits until it is ready.
pub async fn start_server(db: &Database, dir: &Path, extra: &[(&str, &str)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::create_dir_all(dir.join("data")).expect("data folder");
    // Worktrees sharing one target folder overwrite each other's release
    // binary: a run can name its own copy.
    let binary = std::env::var("BAZAAR_BENCH_SERVER").unwrap_or_else(|_| BAZAAR.to_owned());
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .current_dir(dir)
        .env("BAZAAR__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("BAZAAR__DATABASE__URL", &db.url)
        .env("BAZAAR__EMAIL__OUTBOX_DIR", dir.join("outbox"))
        .stdout(Stdio::null());
    for (key, value) in BENCH_ENV {
        command.env(key, value);
    }
    let overrides = SERVER_ENV
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for (key, value) in overrides {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    for (key, value) in extra {
        command.env(key, value);
    }
    let child = command.spawn().expect("bazaar serve starts");
    let rss_peak_kib = Arc::new(AtomicU64::new(0));
    let server = Server {
        address: format!("http://127.0.0.1:{port}"),
        rss_peak_kib: Arc::clone(&rss_peak_kib),
        child,
    };
    let pid = server.pid();
    // VmHWM already holds the peak; the sampler also keeps it if the process
    // is gone before it is read.
    tokio::spawn(async move {
        while let Some(kib) = status_kib(pid, "VmRSS:") {
            rss_peak_kib.fetch_max(kib, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let client = reqwest::Client::new();
    for _ in 0..600 {
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

/// One request of an open-loop run, for scenarios that break their results
/// down by the kind of request (`n` says which one it was).
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub n: u64,
    /// The answer's status; 0 when none came (dropped, or the connection failed).
    pub status: u16,
    /// From the scheduled time to the end of the body, µs.
    pub latency_us: u64,
    /// Body bytes as they came over the wire (the client decompresses nothing).
    pub wire_bytes: u64,
    /// Whether the answer had a `Content-Encoding` (gzip, br…).
    pub encoded: bool,
}

/// What an open-loop run saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Latency of each successful answer from its scheduled time, µs.
    pub latencies_us: Vec<u64>,
    /// Every request [`open_loop`] sent, in the order answers came.
    pub requests: Vec<Sent>,
    pub late: u64,
    pub dropped: u64,
    pub errors: u64,
    /// Answers by status, for the first few error statuses seen.
    pub error_statuses: Vec<u16>,
    /// The body of the first error answer (its start), to say what went wrong.
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn succeeded(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    pub fn achieved_rate(&self) -> f64 {
        self.succeeded() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `rate` requests per second for `seconds`, open loop: request `n` is
/// scheduled at `n / rate` whatever happened to the ones before it.
/// `request(n)` builds it; an answer is a success when `ok(status)`.
pub async fn open_loop<F>(rate: u64, seconds: u64, request: F) -> Outcome
where
    F: Fn(u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let total = (rate * seconds).min(REQUESTS_MAX);
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut outcome = Outcome {
        latencies_us: Vec::with_capacity(usize::try_from(total).unwrap_or(0)),
        requests: Vec::with_capacity(usize::try_from(total).unwrap_or(0)),
        ..Outcome::default()
    };
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let scheduled = start + interval * u32::try_from(n).expect("bounded run");
        tokio::time::sleep_until(scheduled.into()).await;
        let late = Instant::now().duration_since(scheduled) > LATE_AFTER;
        let request = Arc::clone(&request);
        tasks.spawn(async move {
            let answer = tokio::time::timeout(ANSWER_TIMEOUT, async {
                let response = request(n).send().await?;
                let status = response.status().as_u16();
                let encoded = response
                    .headers()
                    .contains_key(reqwest::header::CONTENT_ENCODING);
                // The latency includes reading the whole body.
                response.bytes().await.map(|body| {
                    let said = (status >= 300).then(|| {
                        String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
                    });
                    Answered {
                        status,
                        said,
                        wire_bytes: body.len() as u64,
                        encoded,
                    }
                })
            })
            .await;
            (n, late, answer, Instant::now().duration_since(scheduled))
        });
        // Reap finished requests as we go, so a long run holds only those in flight.
        while let Some(done) = tasks.try_join_next() {
            tally(&mut outcome, done.expect("request task"));
        }
    }
    while let Some(done) = tasks.join_next().await {
        tally(&mut outcome, done.expect("request task"));
    }
    outcome.elapsed = start.elapsed();
    outcome
}

/// An answer that came, body read.
struct Answered {
    status: u16,
    /// The start of an error answer's body.
    said: Option<String>,
    wire_bytes: u64,
    encoded: bool,
}

type Answer = (
    u64,
    bool,
    Result<Result<Answered, reqwest::Error>, tokio::time::error::Elapsed>,
    Duration,
);

fn tally(outcome: &mut Outcome, (n, late, answer, latency): Answer) {
    outcome.late += u64::from(late);
    let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    let mut sent = Sent {
        n,
        status: 0,
        latency_us,
        wire_bytes: 0,
        encoded: false,
    };
    if let Ok(Ok(answered)) = &answer {
        sent.status = answered.status;
        sent.wire_bytes = answered.wire_bytes;
        sent.encoded = answered.encoded;
    }
    outcome.requests.push(sent);
    match answer {
        Err(_) => outcome.dropped += 1,
        Ok(Err(_)) => outcome.errors += 1,
        Ok(Ok(Answered { status, said, .. })) if status >= 300 => {
            outcome.errors += 1;
            if outcome.error_statuses.len() < 8 && !outcome.error_statuses.contains(&status) {
                outcome.error_statuses.push(status);
            }
            if outcome.first_error.is_none() {
                outcome.first_error = said;
            }
        }
        Ok(Ok(_)) => outcome.latencies_us.push(latency_us),
    }
}

/// The `p`th percentile of `sorted` microseconds, in milliseconds.
pub fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    let us = sorted[rank.min(sorted.len() - 1)] as f64;
    (us / 10.0).round() / 100.0
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub backend: Backend,
    pub offered_rate: u64,
    pub achieved_rate: f64,
    /// Work finished per second where it trails the answers (events processed
    /// into the ledger, orders paid and transferred); `None` otherwise.
    pub processed_rate: Option<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub late: u64,
    pub errors: u64,
    pub peak_rss_mib: f64,
    pub seconds: u64,
    /// What the scenario measured beyond the columns (counts, checks).
    pub notes: serde_json::Value,
}

impl Row {
    /// A row from an open-loop run against `server`.
    pub fn new(
        scenario: &str,
        backend: Backend,
        rate: u64,
        sent: &Outcome,
        server: &Server,
    ) -> Self {
        let mut sorted = sent.latencies_us.clone();
        sorted.sort_unstable();
        Self {
            scenario: scenario.to_owned(),
            backend,
            offered_rate: rate,
            achieved_rate: sent.achieved_rate().round(),
            processed_rate: None,
            p50_ms: percentile_ms(&sorted, 50.0),
            p99_ms: percentile_ms(&sorted, 99.0),
            p999_ms: percentile_ms(&sorted, 99.9),
            late: sent.late,
            errors: sent.errors + sent.dropped,
            peak_rss_mib: (server.peak_rss_mib() * 10.0).round() / 10.0,
            seconds: sent.elapsed.as_secs(),
            notes: serde_json::json!({
                "dropped": sent.dropped,
                "error_statuses": sent.error_statuses,
                "first_error": sent.first_error,
            }),
        }
    }
}

/// Runs a closure on a fresh connection to `url` off the async threads.
pub async fn with_connection<T, F>(url: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&mut bazaar::db::DbConnection) -> T + Send + 'static,
{
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = match url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut lite = diesel::SqliteConnection::establish(path).expect("bench database");
                // The server writes at the same time.
                diesel::connection::SimpleConnection::batch_execute(
                    &mut lite,
                    "PRAGMA busy_timeout = 10000",
                )
                .expect("busy timeout");
                bazaar::db::DbConnection::Sqlite(lite)
            }
            None => bazaar::db::DbConnection::Postgresql(
                diesel::PgConnection::establish(&url).expect("bench database"),
            ),
        };
        f(&mut conn)
    })
    .await
    .expect("database task")
}

/// Counts rows with a `SELECT COUNT(*) AS n …` statement.
pub async fn count(url: &str, sql: &'static str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    with_connection(url, move |conn| {
        diesel::sql_query(sql)
            .get_result::<Count>(conn)
            .map_or(-1, |c| c.n)
    })
    .await
}

/// An operator and an API key of theirs, made through the library against
/// the bench database (as `bazaar admin create-operator` would): the
/// `Bearer` token. The operator is marked enrolled in TOTP directly (staff
/// are held back until they enrol, a dance the load does not measure).
pub async fn operator_api_key(url: &str) -> String {
    with_connection(url, |conn| {
        let email = format!(
            "bench-{}@bench.bazaar.example",
            uuid::Uuid::new_v4().simple()
        );
        let user_id = bazaar::auth::create_operator(conn, &email, "bench-operator-password-2026")
            .expect("create the bench operator");
        diesel::sql_query("UPDATE users SET totp_enrolled_at = $1 WHERE id = $2")
            .bind::<diesel::sql_types::Timestamp, _>(bazaar::db::now())
            .bind::<diesel::sql_types::Text, _>(user_id.as_str())
            .execute(conn)
            .expect("mark the bench operator enrolled");
        let caller = bazaar::auth::Caller {
            user_id,
            email,
            role: bazaar::auth::Role::Operator,
        };
        // Straight from the database: no second factor to step up with.
        bazaar::auth::issue_api_key(
            conn,
            &caller,
            "load bench",
            None,
            &bazaar::auth::RequestContext::default(),
            bazaar::db::now(),
        )
        .expect("create the bench API key")
        .key
    })
    .await
}
