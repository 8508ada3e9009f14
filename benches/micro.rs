//! Criterion micro-benchmarks of the functions every order and event goes
//! through: a part's platform fee, largest-remainder allocation, webhook
//! signature verification, posting one balanced entry (SQLite in memory), and
//! taking a token of a rate limit shared through the database (a SQLite file
//! in WAL mode, and PostgreSQL when `BAZAAR_BENCH_POSTGRES_URL` or the local
//! default answers).
//!
//! ```sh
//! cargo bench --bench micro            # all
//! cargo bench --bench micro -- fee     # those whose name contains "fee"
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;

use bazaar::db::DbConnection;
use bazaar::fees::{fee_for, FeeRuleVersion, FeeTerms};
use bazaar::ledger::{post, Account, NewEntry};
use bazaar::money::{allocate, Currency, Money};
use bazaar::webhooks::signature;
use criterion::{criterion_group, criterion_main, Criterion};
use diesel::{Connection, RunQueryDsl};

fn usd() -> Currency {
    Currency::parse("USD").expect("USD")
}

fn fee_version() -> FeeRuleVersion {
    let fixed = BTreeMap::from([("USD".to_owned(), 30)]);
    let terms =
        FeeTerms::parse("10.5", &fixed, Some(50), Some(100_000), "platform", true).expect("terms");
    FeeRuleVersion {
        id: "frv_bench".into(),
        rule_id: "fr_bench".into(),
        version: 1,
        terms,
        effective_from: bazaar::db::now(),
        created_at: bazaar::db::now(),
    }
}

fn fees(c: &mut Criterion) {
    let version = fee_version();
    let part = Money::new(12_345, usd());
    c.bench_function("fee_for one part", |b| {
        b.iter(|| fee_for(black_box(part), black_box(&version)).expect("fee"))
    });
}

fn allocation(c: &mut Criterion) {
    let three = [3_499u64, 12_000, 899];
    c.bench_function("allocate 1000 minor over 3 lines", |b| {
        b.iter(|| allocate(black_box(1_000), black_box(&three)).expect("allocation"))
    });
    let fifty: Vec<u64> = (1..=50).map(|w| w * 137).collect();
    c.bench_function("allocate 99999 minor over 50 lines", |b| {
        b.iter(|| allocate(black_box(99_999), black_box(&fifty)).expect("allocation"))
    });
}

fn signatures(c: &mut Criterion) {
    let payload = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/webhooks/payment_intent.succeeded.json"
    ))
    .expect("a webhook payload");
    let now = 1_764_000_000;
    let secrets = vec!["whsec_old".to_owned(), "whsec_bench".to_owned()];
    let header = signature::sign(&payload, "whsec_bench", now);
    c.bench_function("verify a signed event (2 secrets)", |b| {
        b.iter(|| {
            signature::verify(black_box(&payload), black_box(&header), &secrets, 300, now)
                .expect("valid")
        })
    });
}

fn posting(c: &mut Criterion) {
    let mut conn = DbConnection::Sqlite(
        diesel::SqliteConnection::establish(":memory:").expect("in-memory SQLite"),
    );
    bazaar::db::migrate(&mut conn).expect("migrations");
    let mut n = 0u64;
    c.bench_function("post a 4-posting entry (SQLite in memory)", |b| {
        b.iter(|| {
            n += 1;
            let entry = NewEntry::new(format!("bench:{n}"), "bench entry")
                .debit(Account::platform_cash(), Money::new(10_000, usd()))
                .credit(Account::buyer_clearing(), Money::new(10_000, usd()))
                .debit(Account::buyer_clearing(), Money::new(1_000, usd()))
                .credit(Account::fee_revenue(), Money::new(1_000, usd()));
            assert!(post(&mut conn, black_box(&entry)).expect("posted"));
        })
    });
}

/// A migrated database of `url`, through the pool `serve` uses.
fn migrated_pool(url: &str) -> Option<bazaar::db::DbPool> {
    let settings = bazaar::config::DatabaseSettings {
        url: bazaar::config::DatabaseUrl::parse(url).ok()?,
        pool_size_max: 2,
        connect_timeout: std::time::Duration::from_secs(2),
        busy_timeout: std::time::Duration::from_secs(5),
        migrate_on_start: true,
    };
    let pool = bazaar::db::connect_pool(&settings).ok()?;
    let mut conn = pool.get().ok()?;
    bazaar::db::migrate(&mut conn).ok()?;
    drop(conn);
    Some(pool)
}

/// One token of a shared limit: one `INSERT … ON CONFLICT DO UPDATE …
/// RETURNING` (what a limited request costs when its bucket has room).
fn shared_rate_limits(c: &mut Criterion) {
    use bazaar::http::rate_limit::{now_us, Bucket, Claim};
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("limits.db").display());
    let admin = std::env::var("BAZAAR_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into());
    // A database of its own, dropped at the end.
    let scratch = format!("bazaar_micro_{}", std::process::id());
    let postgres = diesel::PgConnection::establish(&admin)
        .ok()
        .and_then(|mut conn| {
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {scratch}"))
                .execute(&mut conn)
                .ok()?;
            diesel::sql_query(format!("CREATE DATABASE {scratch}"))
                .execute(&mut conn)
                .ok()
        })
        .and_then(|_| {
            let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
            let server = base.rsplit_once('/')?.0;
            Some(format!("{server}/{scratch}?{query}"))
        })
        .unwrap_or_default();
    for (name, url) in [("SQLite file", sqlite), ("PostgreSQL", postgres)] {
        let Some(pool) = migrated_pool(&url) else {
            eprintln!("rate limit claim ({name}): database not reachable, skipped");
            continue;
        };
        let bucket = Bucket::new(
            "bench",
            1_000_000,
            std::time::Duration::from_secs(1),
            pool.clone(),
        );
        let mut conn = pool.get().expect("a connection");
        let mut n = 0u64;
        c.bench_function(&format!("claim a rate-limit token ({name})"), |b| {
            b.iter(|| {
                // A thousand clients, as a flood from many addresses would be.
                n += 1;
                let key = format!("client{}", n % 1000);
                let claim = bucket.claim_at(&mut conn, &key, now_us(), 1);
                assert_eq!(claim.expect("claimed"), Claim::Taken);
            })
        });
    }
    if let Ok(mut conn) = diesel::PgConnection::establish(&admin) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
            .execute(&mut conn);
    }
}

criterion_group!(
    benches,
    fees,
    allocation,
    signatures,
    posting,
    shared_rate_limits
);
criterion_main!(benches);
