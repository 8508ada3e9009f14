//! Open-loop load against a real `bazaar serve` over loopback.
//!
//! ```sh
//! cargo bench --bench load -- all                      # every scenario, both backends
//! cargo bench --bench load -- webhooks --backend postgres --rate 3000 --seconds 10
//! cargo bench --bench load -- storefront --backend sqlite --rate 1000 --seconds 30
//! cargo bench --bench load -- login-flood --backend sqlite   # sign-in flood vs other clients, 30 s a row
//! cargo bench --bench load -- events-out --backend both --rate 1000   # webhooks out: lag from commit to arrival
//! cargo bench --bench load -- anchors --seconds 10      # wrk on trivial handlers and on serve; the generator's own ceiling
//! cargo bench --bench load -- all --smoke              # CI: every scenario for 2 s, light rates
//! ```
//!
//! Requests leave at a constant rate whatever the server does (a slow server
//! cannot slow the client down and hide its latency): each one's latency is
//! measured from the moment it was *scheduled*, a request that could not even
//! be sent within 10 ms of schedule counts as late, and one without an answer
//! within 5 s as dropped. The server runs as its own process (the release
//! binary beside this bench) on a fresh database; its peak RSS is its kernel
//! high-water mark. One table is printed and written as JSON under
//! `target/bench/`.

mod anchors;
mod catalog;
mod checkout;
#[path = "../../tests/common/edge.rs"]
mod edge;
mod events_out;
mod harness;
mod hot_account;
mod login_flood;
mod soak;
mod storefront;
mod webhooks;

use std::path::PathBuf;

use harness::{Backend, Row};

/// A scenario, and the rate its target is stated at (per backend).
struct Scenario {
    name: &'static str,
    target_rate: fn(Backend) -> u64,
    /// Seconds when `--seconds` is not given.
    default_seconds: u64,
    /// Whether `all` runs it (the soak runs alone: it takes ten minutes a
    /// backend; `all --smoke` runs it too, for seconds).
    in_all: bool,
}

const SCENARIOS: &[Scenario] = &[
    // No rate of its own: wrk runs closed loop, and the generator is tried
    // at rising rates against a trivial handler (see anchors.rs).
    Scenario {
        name: "anchors",
        target_rate: |_| 0,
        default_seconds: 10,
        in_all: true,
    },
    Scenario {
        name: "webhooks",
        target_rate: |b| match b {
            Backend::Sqlite => 5000,
            Backend::Postgres => 3000,
        },
        default_seconds: 10,
        in_all: true,
    },
    // Postings per second (two per entry).
    Scenario {
        name: "hot-account",
        target_rate: |_| 2000,
        default_seconds: 10,
        in_all: true,
    },
    // Requests per second; the product cache answers most detail reads.
    Scenario {
        name: "catalog",
        target_rate: |_| 5000,
        default_seconds: 10,
        in_all: true,
    },
    // Every detail read misses the cache; lists and searches always query.
    Scenario {
        name: "catalog-uncached",
        target_rate: |_| 2000,
        default_seconds: 10,
        in_all: true,
    },
    // Pages per second: the HTML storefront (product, listing, search, home,
    // shop pages) on the catalog's 10,000 products, then the same visits as
    // JSON reads (two rows).
    Scenario {
        name: "storefront",
        target_rate: |_| 1000,
        default_seconds: 10,
        in_all: true,
    },
    // Requests per second: three webhook deliveries for every two adjustments.
    Scenario {
        name: "soak",
        target_rate: |_| 500,
        default_seconds: 600,
        in_all: false,
    },
    // Orders per second (each a buyer's 3-shop cart and checkout).
    Scenario {
        name: "checkout",
        target_rate: |_| 250,
        default_seconds: 10,
        in_all: true,
    },
    // Events committed per second, each delivered as a signed webhook to a
    // local receiver; the latency columns are the lag from commit to arrival.
    Scenario {
        name: "events-out",
        target_rate: |_| 1000,
        default_seconds: 10,
        in_all: true,
    },
    // Other clients' catalog reads per second, while sign-ins with unknown
    // emails flood in at 33/s from 12 addresses (the issue's 989 in 30 s);
    // the server keeps its sign-in defences as deployed. Three rows: the
    // flood from one /24, from twelve /24s, and against the server without
    // its defences.
    Scenario {
        name: "login-flood",
        target_rate: |_| 200,
        default_seconds: 30,
        in_all: true,
    },
];

/// The rows of one scenario on one backend (most have one).
async fn run(name: &str, backend: Backend, rate: u64, seconds: u64) -> Vec<Row> {
    let row = match name {
        "anchors" => return anchors::run(backend, seconds).await,
        "webhooks" => webhooks::run(backend, rate, seconds).await,
        "hot-account" => hot_account::run(backend, rate, seconds).await,
        "catalog" => catalog::run(backend, rate, seconds, true).await,
        "catalog-uncached" => catalog::run(backend, rate, seconds, false).await,
        "storefront" => return storefront::run(backend, rate, seconds).await,
        "soak" => soak::run(backend, rate, seconds).await,
        "checkout" => checkout::run(backend, rate, seconds).await,
        "events-out" => events_out::run(backend, rate, seconds).await,
        "login-flood" => return login_flood::run(backend, rate, seconds).await,
        other => unreachable!("{other} is checked against SCENARIOS"),
    };
    vec![row]
}

struct Args {
    scenarios: Vec<&'static Scenario>,
    backends: Vec<Backend>,
    rate: Option<u64>,
    seconds: Option<u64>,
    smoke: bool,
}

fn usage() -> String {
    let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
    format!(
        "usage: cargo bench --bench load -- <all|{}> [--backend sqlite|postgres|both] [--rate N] [--seconds N] [--smoke]",
        names.join("|")
    )
}

fn args() -> Args {
    let mut parsed = Args {
        scenarios: Vec::new(),
        backends: vec![Backend::Sqlite, Backend::Postgres],
        rate: None,
        seconds: None,
        smoke: false,
    };
    // cargo passes `--bench` to every bench target.
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut all = false;
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| panic!("{arg} needs a value\n{}", usage()))
        };
        match arg.as_str() {
            "--backend" => {
                parsed.backends = match value().as_str() {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    "both" => vec![Backend::Sqlite, Backend::Postgres],
                    other => panic!("unknown backend {other}\n{}", usage()),
                }
            }
            "--rate" => parsed.rate = Some(value().parse().expect("--rate N")),
            "--seconds" => parsed.seconds = Some(value().parse().expect("--seconds N")),
            "--smoke" => parsed.smoke = true,
            "all" => all = true,
            other if !other.starts_with('-') => parsed.scenarios.push(
                SCENARIOS
                    .iter()
                    .find(|s| s.name == other)
                    .unwrap_or_else(|| panic!("unknown scenario {other}\n{}", usage())),
            ),
            other => panic!("unknown argument {other}\n{}", usage()),
        }
    }
    if all {
        let smoke = parsed.smoke;
        parsed
            .scenarios
            .extend(SCENARIOS.iter().filter(|s| s.in_all || smoke));
    }
    assert!(!parsed.scenarios.is_empty(), "{}", usage());
    if parsed.smoke {
        parsed.seconds = Some(2);
    }
    parsed
}

fn print_table(rows: &[Row]) {
    println!(
        "| scenario | backend | offered /s | achieved /s | processed /s | p50 ms | p99 ms | p99.9 ms | late | errors | peak RSS MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.backend.name(),
            r.offered_rate,
            r.achieved_rate,
            r.processed_rate.map_or("—".to_owned(), |p| p.to_string()),
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.late,
            r.errors,
            r.peak_rss_mib
        );
    }
    print_kinds(rows);
    login_flood::print_floods(rows);
    anchors::print_anchors(rows);
}

/// Rows that break their requests down by kind (`notes.by_kind`): one more
/// table, a line per kind.
fn print_kinds(rows: &[Row]) {
    let broken_down: Vec<&Row> = rows
        .iter()
        .filter(|r| r.notes["by_kind"].is_array())
        .collect();
    if broken_down.is_empty() {
        return;
    }
    println!();
    println!(
        "| scenario | backend | kind | share % | answered /s | p50 ms | p99 ms | p99.9 ms | errors | wire bytes | compressed % |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in broken_down {
        for k in r.notes["by_kind"].as_array().into_iter().flatten() {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.scenario,
                r.backend.name(),
                k["kind"].as_str().unwrap_or("?"),
                k["share_pct"],
                k["answered_per_s"],
                k["p50_ms"],
                k["p99_ms"],
                k["p999_ms"],
                k["errors"],
                k["wire_bytes_avg"],
                k["compressed_pct"]
            );
        }
    }
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for scenario in &args.scenarios {
        for &backend in &args.backends {
            let target = (scenario.target_rate)(backend);
            // Smoke runs only prove every scenario works end to end.
            let rate = args.rate.unwrap_or(if args.smoke {
                (target / 20).max(5)
            } else {
                target
            });
            let seconds = args.seconds.unwrap_or(scenario.default_seconds);
            eprintln!(
                "{} on {} at {rate}/s for {seconds} s",
                scenario.name,
                backend.name()
            );
            for row in runtime.block_on(run(scenario.name, backend, rate, seconds)) {
                eprintln!("  {} notes: {}", row.scenario, row.notes);
                rows.push(row);
            }
        }
    }
    print_table(&rows);
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let out = target.join("bench");
    std::fs::create_dir_all(&out).unwrap();
    for row in &rows {
        // Scenario names may hold spaces and slashes (the anchors' targets).
        let slug: String = row
            .scenario
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let file = out.join(format!("{slug}-{}.json", row.backend.name()));
        std::fs::write(&file, serde_json::to_vec_pretty(row).unwrap()).unwrap();
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let file = out.join(format!("run-{stamp}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(&rows).unwrap()).unwrap();
    println!("written to {}", file.display());
}
