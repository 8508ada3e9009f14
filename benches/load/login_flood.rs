//! Scenario `login-flood` (issue #27): a flood of sign-ins with unknown
//! emails and wrong passwords, `POST /v1/sessions` at 33/s (the 989
//! attempts in 30 s) spread over 12 client addresses, while other clients
//! browse the catalog (`GET /v1/products…` on the `catalog` scenario's 10,000
//! products) at the scenario's rate from addresses of their own. A row's
//! columns are the *other* clients' (their latency, their errors) and the
//! server's peak RSS; the flood's answers (how many 401, how many 429, how
//! fast) are in its notes and in a second table.
//!
//! Unlike every other scenario, the server runs with the sign-in defences as
//! deployed (`limits.logins_per_minute`, `…_per_subnet`,
//! `limits.password_checks_at_once`, `…_waiting_max` and the `auth` lockout
//! from `config/default.toml`), behind a trusted proxy
//! (`server.trusted_proxies = 127.0.0.1`): every request says who it is for
//! with `X-Forwarded-For`. One server (and one freshly loaded catalog) per row:
//!
//! - `login-flood`: the flood from 203.0.113.1–12, one /24;
//! - `login-flood-spread`: from 198.18.1.10 … 198.18.12.10, twelve /24s, so
//!   only the per-address allowance holds it;
//! - `login-flood-undefended`: the server as it was before the defences —
//!   no per-address or per-subnet allowance (1,000,000 a minute), as many
//!   password checks at once as come (1024) and no queue bound — with the
//!   flood from the one /24. The `auth` lockout (5 failures an address in
//!   15 minutes, read from the database) is on in every row.
//!
//! Sign-ins and browsing leave on their own schedules (two open loops side
//! by side, each on its own connection pool).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::catalog::{self, mix, pick, Loaded, CATEGORIES, HOT_PRODUCTS, PRODUCTS, QUERIES};
use crate::harness::{self, percentile_ms, Backend, Outcome, Row, Sent};

/// Sign-in attempts per second: the 989 in 30 s
/// (`BAZAAR_BENCH_FLOOD_RATE` sends another rate).
pub const FLOOD_PER_S: u64 = 33;

fn flood_rate() -> u64 {
    std::env::var("BAZAAR_BENCH_FLOOD_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(FLOOD_PER_S)
}
/// Client addresses the flood comes from.
const FLOOD_ADDRESSES: u64 = 12;
/// The other clients' latency is also reported per window of this many seconds.
const WINDOW_S: u64 = 5;

/// Login settings as `config/default.toml` has them (the bench's own
/// settings lift every limit), behind a proxy on loopback.
const DEFENDED: &[(&str, Option<&str>)] = &[
    ("BAZAAR__SERVER__TRUSTED_PROXIES", Some("127.0.0.1")),
    ("BAZAAR__LIMITS__LOGINS_PER_MINUTE", None),
    ("BAZAAR__LIMITS__LOGINS_PER_MINUTE_PER_SUBNET", None),
    ("BAZAAR__LIMITS__PASSWORD_CHECKS_AT_ONCE", None),
    ("BAZAAR__LIMITS__PASSWORD_CHECKS_WAITING_MAX", None),
    ("BAZAAR__AUTH__LOGIN_FAILURES_MAX", None),
    ("BAZAAR__AUTH__LOGIN_LOCKOUT_S", None),
];

/// The sign-in defences out of the way (the server before them); the
/// database lockout stays as deployed.
const UNDEFENDED: &[(&str, Option<&str>)] = &[
    ("BAZAAR__SERVER__TRUSTED_PROXIES", Some("127.0.0.1")),
    ("BAZAAR__LIMITS__LOGINS_PER_MINUTE", Some("1000000")),
    (
        "BAZAAR__LIMITS__LOGINS_PER_MINUTE_PER_SUBNET",
        Some("1000000"),
    ),
    ("BAZAAR__LIMITS__PASSWORD_CHECKS_AT_ONCE", Some("1024")),
    (
        "BAZAAR__LIMITS__PASSWORD_CHECKS_WAITING_MAX",
        Some("100000"),
    ),
    ("BAZAAR__AUTH__LOGIN_FAILURES_MAX", None),
    ("BAZAAR__AUTH__LOGIN_LOCKOUT_S", None),
];

/// The new defences as deployed, the database lockout lifted.
const NO_LOCKOUT: &[(&str, Option<&str>)] = &[
    ("BAZAAR__SERVER__TRUSTED_PROXIES", Some("127.0.0.1")),
    ("BAZAAR__LIMITS__LOGINS_PER_MINUTE", None),
    ("BAZAAR__LIMITS__LOGINS_PER_MINUTE_PER_SUBNET", None),
    ("BAZAAR__LIMITS__PASSWORD_CHECKS_AT_ONCE", None),
    ("BAZAAR__LIMITS__PASSWORD_CHECKS_WAITING_MAX", None),
    ("BAZAAR__AUTH__LOGIN_FAILURES_MAX", Some("100")),
    ("BAZAAR__AUTH__LOGIN_LOCKOUT_S", Some("1")),
];

/// Nothing in the way.
const BARE: &[(&str, Option<&str>)] = &[
    ("BAZAAR__SERVER__TRUSTED_PROXIES", Some("127.0.0.1")),
    ("BAZAAR__LIMITS__LOGINS_PER_MINUTE", Some("1000000")),
    (
        "BAZAAR__LIMITS__LOGINS_PER_MINUTE_PER_SUBNET",
        Some("1000000"),
    ),
    ("BAZAAR__LIMITS__PASSWORD_CHECKS_AT_ONCE", Some("1024")),
    (
        "BAZAAR__LIMITS__PASSWORD_CHECKS_WAITING_MAX",
        Some("100000"),
    ),
    ("BAZAAR__AUTH__LOGIN_FAILURES_MAX", Some("100")),
    ("BAZAAR__AUTH__LOGIN_LOCKOUT_S", Some("1")),
];

/// One row: the server's settings and where the flood comes from.
struct Variant {
    name: &'static str,
    env: &'static [(&'static str, Option<&'static str>)],
    /// The flood's `i`th address (`i` < [`FLOOD_ADDRESSES`]).
    address: fn(u64) -> String,
    /// How the row's notes describe the addresses.
    addresses: &'static str,
}

const VARIANTS: [Variant; 5] = [
    Variant {
        name: "login-flood",
        env: DEFENDED,
        address: |i| format!("203.0.113.{}", i + 1),
        addresses: "203.0.113.1-12 (one /24)",
    },
    Variant {
        name: "login-flood-spread",
        env: DEFENDED,
        address: |i| format!("198.18.{}.10", i + 1),
        addresses: "198.18.1.10 ... 198.18.12.10 (twelve /24s)",
    },
    Variant {
        name: "login-flood-undefended",
        env: UNDEFENDED,
        address: |i| format!("203.0.113.{}", i + 1),
        addresses: "203.0.113.1-12 (one /24)",
    },
    Variant {
        name: "login-flood-no-lockout",
        env: NO_LOCKOUT,
        address: |i| format!("203.0.113.{}", i + 1),
        addresses: "203.0.113.1-12 (one /24)",
    },
    Variant {
        name: "login-flood-bare",
        env: BARE,
        address: |i| format!("203.0.113.{}", i + 1),
        addresses: "203.0.113.1-12 (one /24)",
    },
];

/// The other clients' request `n`: the catalog's popular products, first
/// pages (filtered or not) and searches, from one of 64 addresses of
/// 198.51.100.0/24.
fn browse_path(n: u64, loaded: &Loaded) -> String {
    let h = mix(n ^ 0x000B_205E);
    let kind = h % 100;
    let h = h >> 8;
    let limit = if h.is_multiple_of(4) { 50 } else { 20 };
    match kind {
        0..45 => {
            let index =
                usize::try_from(h % HOT_PRODUCTS as u64).unwrap() * (PRODUCTS / HOT_PRODUCTS);
            format!("/v1/products/{}", loaded.keys[index].id)
        }
        45..75 => match (h >> 4) % 3 {
            0 => format!("/v1/products?limit={limit}"),
            1 => format!(
                "/v1/products?category={}&limit={limit}",
                pick(&CATEGORIES, h >> 8)
            ),
            _ => format!(
                "/v1/products?shop={}&limit={limit}",
                loaded.shop_ids[usize::try_from((h >> 8) % loaded.shop_ids.len() as u64).unwrap()]
            ),
        },
        _ => format!(
            "/v1/products?q={}",
            pick(&QUERIES, h >> 4).replace(' ', "+")
        ),
    }
}

/// Milliseconds, to a hundredth.
fn ms(sorted_us: &[u64], p: f64) -> Value {
    json!(percentile_ms(sorted_us, p))
}

/// The flood's answers: counts by status, and how fast each kind came.
fn flood_notes(flood: &Outcome) -> Value {
    let mut statuses: Vec<u16> = flood.requests.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let by_status: Vec<Value> = statuses
        .iter()
        .map(|&status| {
            let mut us: Vec<u64> = flood
                .requests
                .iter()
                .filter(|r| r.status == status)
                .map(|r| r.latency_us)
                .collect();
            us.sort_unstable();
            json!({
                // 0: no answer (dropped after 5 s, or the connection failed).
                "status": status,
                "count": us.len(),
                "p50_ms": ms(&us, 50.0),
                "p99_ms": ms(&us, 99.0),
                "max_ms": ms(&us, 100.0),
            })
        })
        .collect();
    let count = |status: u16| flood.requests.iter().filter(|r| r.status == status).count();
    json!({
        "sent": flood.requests.len(),
        "per_s": flood_rate(),
        "answered_401": count(401),
        "answered_429": count(429),
        "unanswered": count(0),
        "other": flood.requests.iter().filter(|r| ![0, 401, 429].contains(&r.status)).count(),
        "by_status": by_status,
    })
}

/// The other clients' p50/p99 for each [`WINDOW_S`] seconds of their schedule.
fn windows(requests: &[Sent], rate: u64) -> Value {
    let per_window = (rate * WINDOW_S).max(1);
    let windows = requests
        .iter()
        .map(|r| r.n / per_window)
        .max()
        .map_or(0, |w| w + 1);
    let mut us: Vec<Vec<u64>> = vec![Vec::new(); usize::try_from(windows).unwrap()];
    for r in requests.iter().filter(|r| (200..300).contains(&r.status)) {
        us[usize::try_from(r.n / per_window).unwrap()].push(r.latency_us);
    }
    us.iter_mut()
        .enumerate()
        .map(|(w, us)| {
            us.sort_unstable();
            json!({
                "from_s": w as u64 * WINDOW_S,
                "p50_ms": ms(us, 50.0),
                "p99_ms": ms(us, 99.0),
            })
        })
        .collect()
}

async fn run_variant(variant: &Variant, backend: Backend, rate: u64, seconds: u64) -> Row {
    let catalog = {
        // The catalog's shared set-up starts the server: with this row's settings.
        let _env = harness::server_env(variant.env);
        catalog::set_up(backend).await
    };
    let browse = {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .unwrap();
        let address = catalog.server.address.clone();
        let loaded = Arc::clone(&catalog.loaded);
        harness::open_loop(rate, seconds, move |n| {
            client
                .get(format!("{address}{}", browse_path(n, &loaded)))
                .header("x-forwarded-for", format!("198.51.100.{}", n % 64 + 1))
        })
    };
    let flood = {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .unwrap();
        let url = format!("{}/v1/sessions", catalog.server.address);
        let run = uuid::Uuid::new_v4().simple().to_string();
        let address = variant.address;
        harness::open_loop(flood_rate(), seconds, move |n| {
            client
                .post(&url)
                .header("x-forwarded-for", address(n % FLOOD_ADDRESSES))
                .json(&json!({
                    "email": format!("nobody-{run}-{n}@flood.bazaar.example"),
                    "password": format!("not the password {n}"),
                }))
        })
    };
    let (browsed, flooded) = tokio::join!(browse, flood);
    let mut row = Row::new(variant.name, backend, rate, &browsed, &catalog.server);
    catalog.note(&mut row);
    row.notes["flood"] = flood_notes(&flooded);
    row.notes["flood"]["from"] = json!(variant.addresses);
    row.notes["other_clients_by_window"] = windows(&browsed.requests, rate);
    row.notes["login_failures_recorded"] = json!(
        harness::count(
            &catalog.db.url,
            "SELECT COUNT(*) AS n FROM login_failures WHERE scope = 'address'"
        )
        .await
    );
    row.notes["settings"] = json!(variant
        .env
        .iter()
        .map(|(k, v)| format!("{k}={}", v.unwrap_or("(default)")))
        .collect::<Vec<_>>());
    row
}

/// One row per variant: `login-flood`, `login-flood-spread`,
/// `login-flood-undefended`.
pub async fn run(backend: Backend, rate: u64, seconds: u64) -> Vec<Row> {
    let mut rows = Vec::new();
    let only = std::env::var("LF_ONLY").unwrap_or_default();
    for variant in VARIANTS
        .iter()
        .filter(|v| only.is_empty() || only.split(',').any(|o| o == v.name))
    {
        eprintln!("  {} (flood from {})", variant.name, variant.addresses);
        rows.push(run_variant(variant, backend, rate, seconds).await);
    }
    rows
}

/// The flood's side of each row: one more table.
pub fn print_floods(rows: &[Row]) {
    let floods: Vec<&Row> = rows
        .iter()
        .filter(|r| r.notes["flood"].is_object())
        .collect();
    if floods.is_empty() {
        return;
    }
    println!();
    println!(
        "| scenario | backend | sign-ins sent | 401 | 429 | no answer | 401 p50 ms | 429 p50 ms | 429 p99 ms | other clients p99 ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in floods {
        let f = &r.notes["flood"];
        let of = |status: u64, key: &str| {
            f["by_status"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["status"] == status)
                .map_or("—".to_owned(), |s| s[key].to_string())
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.backend.name(),
            f["sent"],
            f["answered_401"],
            f["answered_429"],
            f["unanswered"],
            of(401, "p50_ms"),
            of(429, "p50_ms"),
            of(429, "p99_ms"),
            r.p99_ms,
        );
    }
}
