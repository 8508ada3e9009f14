//! The console's books pages over a 10,000-order day: server time of the
//! trial balance, the P&L and fee revenue report, the payouts list and the
//! ledger accounts, as finance opens them in a browser.
//!
//! The real server starts on a fresh database (SQLite, or PostgreSQL with
//! `BAZAAR_TEST_DATABASE_URL`, as the tests do) with the in-process sandbox.
//! The marketplace is made through the API (an operator and fee rule, 40
//! shops onboarded at the sandbox, a product each); then a day of 10,000 paid
//! orders (one to three shops each) is written straight into the tables with
//! the ledger entries a paid and transferred order posts (`ledger::post`:
//! the charge and its processing fee, the allocation to fees and sellers,
//! each part's transfer and its memo on the connected account), ~14 postings
//! an order, and 400 payouts (a tenth failed). Each page is then fetched
//! `SAMPLES` times after one warm-up; latency is from sending the request to
//! the last byte of the answer, on the same machine.
//!
//! `cargo bench --bench books` (results also in `target/bench/books-{backend}.json`);
//! `-- --smoke` runs the same steps on 500 orders (CI).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/orders_support/mod.rs"]
mod orders_support;
#[path = "../tests/web_support/mod.rs"]
mod web_support;

use std::time::{Duration, Instant};

use bazaar::db::DbConnection;
use bazaar::ledger::{self, Account, NewEntry};
use bazaar::money::{Currency, Money};
use bazaar::orders::schema::{order_lines, order_parts, orders};
use bazaar::payouts::schema::payouts;
use common::people::{pool, staff};
use common::TestApp;
use diesel::prelude::*;
use orders_support::{active_shop, market, market_fee, product};

/// Orders written per transaction.
const BATCH_ORDERS: usize = 500;

/// How big the day is, and how often each page is fetched.
struct Sizes {
    orders: usize,
    shops: usize,
    payouts: usize,
    samples: usize,
}

/// The measured day: 10,000 orders.
const FULL: Sizes = Sizes {
    orders: 10_000,
    shops: 40,
    payouts: 400,
    samples: 20,
};
/// `--smoke` (CI): the same steps on a small day, to prove they still run.
const SMOKE: Sizes = Sizes {
    orders: 500,
    shops: 4,
    payouts: 20,
    samples: 2,
};
/// What each page must stay under (median).
const TARGET_MS: f64 = 200.0;

/// The sandbox's card fee: 2.9 % (half up) + 30.
fn card_fee(amount: i64) -> i64 {
    (amount * 290 + 5_000) / 10_000 + 30
}

/// Everything one day's orders need from the marketplace made through the API.
struct Catalog {
    buyer_id: String,
    buyer_email: String,
    fee_rule_version_id: String,
    /// `(shop id, its product id)`.
    shops: Vec<(String, String)>,
}

/// Writes the orders `[first, first + count)` and their ledger entries in one transaction.
fn write_orders(
    conn: &mut DbConnection,
    catalog: &Catalog,
    first: usize,
    count: usize,
) -> Result<(), bazaar::error::AppError> {
    let usd = Currency::parse("USD").expect("USD");
    let now = bazaar::db::now();
    bazaar::db::write_transaction(conn, |conn| {
        for n in first..first + count {
            let order_id = format!("ord_bench{n:06}");
            let charge = format!("ch_bench{n:06}");
            let parts = 1 + n % 3;
            let mut total = 0i64;
            let mut allocation = NewEntry::new(
                format!("allocation:{order_id}"),
                format!("order {order_id} allocated"),
            );
            let mut lines = Vec::new();
            for p in 0..parts {
                let (shop_id, product_id) = &catalog.shops[(n * 7 + p * 13) % catalog.shops.len()];
                let subtotal = 500 + i64::try_from((n * 37 + p * 101) % 9_500).expect("small");
                let fee = market_fee(subtotal);
                total += subtotal;
                lines.push((shop_id.clone(), product_id.clone(), subtotal, fee));
            }
            let card = card_fee(total);
            diesel::insert_into(orders::table)
                .values((
                    orders::id.eq(&order_id),
                    orders::buyer_user_id.eq(&catalog.buyer_id),
                    orders::buyer_email.eq(&catalog.buyer_email),
                    orders::currency.eq("USD"),
                    orders::total_minor.eq(total),
                    orders::status.eq("paid"),
                    orders::request_hash.eq("bench"),
                    orders::shipping.eq("{}"),
                    orders::payment_intent_id.eq(format!("pi_bench{n:06}")),
                    orders::payment_status.eq("succeeded"),
                    orders::charge_id.eq(&charge),
                    orders::processing_fee_minor.eq(card),
                    orders::expires_at.eq(now),
                    orders::paid_at.eq(now),
                    orders::created_at.eq(now),
                    orders::updated_at.eq(now),
                ))
                .execute(conn)?;
            ledger::post(
                conn,
                &NewEntry::new(format!("charge:{charge}"), format!("charge {charge}"))
                    .debit_ref(Account::platform_cash(), Money::new(total, usd), &charge)
                    .credit(Account::buyer_clearing(), Money::new(total, usd))
                    .debit(Account::processing_fees(), Money::new(card, usd))
                    .credit_ref(Account::platform_cash(), Money::new(card, usd), &charge),
            )?;
            allocation = allocation.debit(Account::buyer_clearing(), Money::new(total, usd));
            for (position, (shop_id, product_id, subtotal, fee)) in lines.iter().enumerate() {
                let part_id = format!("part_bench{n:06}_{position}");
                let seller = subtotal - fee;
                diesel::insert_into(order_parts::table)
                    .values((
                        order_parts::id.eq(&part_id),
                        order_parts::order_id.eq(&order_id),
                        order_parts::shop_id.eq(shop_id),
                        order_parts::subtotal_minor.eq(subtotal),
                        order_parts::fee_minor.eq(fee),
                        order_parts::fee_rule_version_id.eq(&catalog.fee_rule_version_id),
                        order_parts::processing_fee_payer.eq("platform"),
                        order_parts::refund_fee_proportionally.eq(true),
                        order_parts::seller_amount_minor.eq(seller),
                        order_parts::position.eq(i32::try_from(position).expect("small")),
                        order_parts::created_at.eq(now),
                        order_parts::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                diesel::insert_into(order_lines::table)
                    .values((
                        order_lines::id.eq(format!("line_bench{n:06}_{position}")),
                        order_lines::order_id.eq(&order_id),
                        order_lines::part_id.eq(&part_id),
                        order_lines::product_id.eq(product_id),
                        order_lines::position.eq(i32::try_from(position).expect("small")),
                        order_lines::sku.eq("BENCH"),
                        order_lines::title.eq("Bench item"),
                        order_lines::category.eq(["home-kitchen", "toys-games", "books"][n % 3]),
                        order_lines::unit_price_minor.eq(subtotal),
                        order_lines::quantity.eq(1),
                        order_lines::amount_minor.eq(subtotal),
                    ))
                    .execute(conn)?;
                allocation = allocation
                    .credit(Account::fee_revenue(), Money::new(*fee, usd))
                    .credit(Account::seller_payable(shop_id), Money::new(seller, usd));
                let transfer = format!("tr_bench{n:06}_{position}");
                ledger::post(
                    conn,
                    &NewEntry::new(
                        format!("movement:{transfer}"),
                        format!("transfer {transfer}"),
                    )
                    .debit(Account::seller_payable(shop_id), Money::new(seller, usd))
                    .credit_ref(Account::platform_cash(), Money::new(seller, usd), &transfer)
                    .debit_ref(
                        Account::seller_connected_pending(shop_id),
                        Money::new(seller, usd),
                        &format!("py_bench{n:06}_{position}"),
                    )
                    .credit(
                        Account::seller_transferred_in(shop_id),
                        Money::new(seller, usd),
                    ),
                )?;
            }
            ledger::post(conn, &allocation)?;
        }
        Ok(())
    })
}

/// Writes the day's payouts: one in ten failed.
fn write_payouts(
    conn: &mut DbConnection,
    catalog: &Catalog,
    count: usize,
) -> Result<(), bazaar::error::AppError> {
    let now = bazaar::db::now();
    bazaar::db::write_transaction(conn, |conn| {
        for n in 0..count {
            let (shop_id, _) = &catalog.shops[n % catalog.shops.len()];
            let failed = n % 10 == 0;
            diesel::insert_into(payouts::table)
                .values((
                    payouts::id.eq(format!("po_bench{n:05}")),
                    payouts::shop_id.eq(shop_id),
                    payouts::account_id.eq(format!("acct_bench{}", n % catalog.shops.len())),
                    payouts::amount_minor.eq(1_000 + i64::try_from(n).expect("small")),
                    payouts::currency.eq("USD"),
                    payouts::status.eq(if failed { "failed" } else { "paid" }),
                    payouts::failure_code.eq(failed.then_some("no_account")),
                    payouts::arrival_date.eq(now.and_utc().timestamp()),
                    payouts::automatic.eq(true),
                    payouts::created_at.eq(now),
                    payouts::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; only `--smoke` changes anything.
    let smoke = std::env::args().any(|arg| arg == "--smoke");
    let sizes = if smoke { SMOKE } else { FULL };
    let app = TestApp::spawn().await;
    let backend = app.database.backend();
    eprintln!("books: making the marketplace ({backend})…");
    let market = market(&app).await;
    let mut shops = Vec::new();
    for i in 0..sizes.shops {
        let seller = common::people::signup(&app, "seller").await;
        let shop = active_shop(&app, &seller, "USD").await;
        let item = product(&app, &seller, &shop, &format!("Item {i}"), 1000, 1000).await;
        shops.push((shop["id"].as_str().expect("shop id").to_owned(), item));
    }
    let pool = pool(&app);
    let (buyer_id, buyer_email) = (market.buyer.user_id.clone(), market.buyer.email.clone());
    let fee_rule_version_id: String = {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().expect("connection");
            bazaar::fees::schema::fee_rule_versions::table
                .select(bazaar::fees::schema::fee_rule_versions::id)
                .first::<String>(&mut conn)
                .expect("the market's fee rule")
        })
        .await
        .expect("joined")
    };
    let catalog = std::sync::Arc::new(Catalog {
        buyer_id,
        buyer_email,
        fee_rule_version_id,
        shops,
    });
    eprintln!("books: writing {} orders and their entries…", sizes.orders);
    let started = Instant::now();
    for first in (0..sizes.orders).step_by(BATCH_ORDERS) {
        let (pool, catalog) = (pool.clone(), catalog.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().expect("connection");
            let count = BATCH_ORDERS.min(sizes.orders - first);
            write_orders(&mut conn, &catalog, first, count).expect("orders written");
        })
        .await
        .expect("joined");
    }
    {
        let (pool, catalog) = (pool.clone(), catalog.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().expect("connection");
            write_payouts(&mut conn, &catalog, sizes.payouts).expect("payouts written");
        })
        .await
        .expect("joined");
    }
    eprintln!("books: loaded in {:.1} s", started.elapsed().as_secs_f64());

    let finance = staff(&app, &market.operator, "finance").await;
    let mut browser = web_support::console(&app, &finance).await;
    // `/healthz` first: the same server's time for a request that does no
    // work, so runs on different machines or builds can be compared.
    let pages = [
        ("anchor: health check", "/healthz"),
        ("trial balance", "/ops/money/trial-balance"),
        ("P&L and fee revenue", "/ops/money/reports"),
        ("payouts", "/ops/money/payouts"),
        ("ledger accounts", "/ops/money/ledger"),
    ];
    let mut rows = Vec::new();
    println!("| page | path | median ms | p95 ms | max ms | bytes |");
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    for (name, path) in pages {
        let warm = browser.get(path).await;
        assert_eq!(warm.status, 200, "{path}: {}", warm.body);
        let mut times = Vec::with_capacity(sizes.samples);
        for _ in 0..sizes.samples {
            let at = Instant::now();
            let page = browser.get(path).await;
            times.push(at.elapsed());
            assert_eq!(page.status, 200, "{path}");
        }
        let mut ms: Vec<f64> = times
            .iter()
            .map(Duration::as_secs_f64)
            .map(|s| s * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let (median, p95, max) = (
            percentile(&ms, 0.5),
            percentile(&ms, 0.95),
            ms[ms.len() - 1],
        );
        println!(
            "| {name} | `{path}` | {median:.1} | {p95:.1} | {max:.1} | {} |",
            warm.body.len()
        );
        if median > TARGET_MS {
            eprintln!("books: {name} is over the {TARGET_MS} ms target");
        }
        rows.push(serde_json::json!({
            "page": name, "path": path, "median_ms": median, "p95_ms": p95, "max_ms": max,
            "bytes": warm.body.len(), "orders": sizes.orders, "backend": backend,
        }));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    if !smoke && std::fs::create_dir_all(&dir).is_ok() {
        let file = dir.join(format!("books-{backend}.json"));
        let _ = std::fs::write(&file, serde_json::to_vec_pretty(&rows).unwrap_or_default());
    }
}
