//! Buyers' search over 100,000 products: server time of `GET /v1/products?q=`
//! and `GET /v1/products/facets?q=` by kind of query, against `/healthz` on
//! the same server as the anchor.
//!
//! The real server starts on a fresh database (SQLite, or PostgreSQL with
//! `BAZAAR_TEST_DATABASE_URL`, as the tests do). Eight shops are onboarded
//! through the domain functions; the products are written straight into the
//! table in transactions of 2,000, so the search index is built by the same
//! triggers as a seller's write. Titles are `<adjective> <material> <noun>`
//! from small word lists (so common words match thousands of products) and
//! each description carries a model code, a word of its own (so the index
//! holds about as many words as products, as a real catalog's does).
//!
//! Each query is sent once to warm up and then `samples` times in turn
//! (serially: this measures the server's time, not its throughput); latency
//! is from sending the request to the last byte of the answer. Every timed
//! request differs from the others in its `limit` (20 to 39), so none is
//! answered from the server's listing cache; the last row times one query
//! repeated, i.e. the cache.
//!
//! `cargo bench --bench search` (results also in
//! `target/bench/search-{backend}.json`); `-- --smoke` runs the same steps on
//! 2,000 products (CI).

#[path = "../tests/catalog_support/mod.rs"]
mod catalog_support;
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use bazaar::catalog::schema::products;
use bazaar::db::DbConnection;
use common::people::pool;
use common::TestApp;
use diesel::prelude::*;

const ADJECTIVES: [&str; 24] = [
    "rustic", "modern", "vintage", "classic", "minimal", "bold", "soft", "bright", "dark", "light",
    "large", "small", "round", "square", "tall", "slim", "woven", "painted", "glazed", "carved",
    "polished", "handmade", "compact", "sturdy",
];
const MATERIALS: [&str; 16] = [
    "walnut",
    "oak",
    "maple",
    "bamboo",
    "ceramic",
    "stoneware",
    "porcelain",
    "linen",
    "cotton",
    "wool",
    "leather",
    "brass",
    "copper",
    "steel",
    "glass",
    "marble",
];
const NOUNS: [&str; 32] = [
    "bowl", "plate", "mug", "cup", "vase", "lamp", "chair", "stool", "table", "shelf", "basket",
    "tray", "board", "spoon", "jug", "teapot", "candle", "frame", "mirror", "clock", "rug",
    "cushion", "blanket", "towel", "apron", "bag", "wallet", "belt", "notebook", "pen", "planter",
    "bench",
];
const CATEGORIES: [&str; 6] = ["home", "kitchen", "garden", "office", "apparel", "decor"];

/// Products and samples per query.
struct Sizes {
    products: usize,
    samples: usize,
}
const FULL: Sizes = Sizes {
    products: 100_000,
    samples: 200,
};
const SMOKE: Sizes = Sizes {
    products: 2_000,
    samples: 3,
};
const BATCH: usize = 2_000;

/// A model code: five letters from the product's number, different for each.
fn model_code(n: usize) -> String {
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5bd1_e995;
    (0..5)
        .map(|_| {
            let letter = b'a' + u8::try_from(x % 26).expect("< 26");
            x /= 26;
            char::from(letter)
        })
        .collect()
}

fn title_of(n: usize) -> String {
    format!(
        "{} {} {}",
        capitalised(ADJECTIVES[n % ADJECTIVES.len()]),
        MATERIALS[(n / 7) % MATERIALS.len()],
        NOUNS[(n / 3) % NOUNS.len()]
    )
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn write_products(
    conn: &mut DbConnection,
    shops: &[(String, String)],
    first: usize,
    count: usize,
) -> Result<(), bazaar::error::AppError> {
    let now = bazaar::db::now();
    bazaar::db::write_transaction(conn, |conn| {
        for n in first..first + count {
            let (shop_id, currency) = &shops[n % shops.len()];
            let noun = NOUNS[(n / 5) % NOUNS.len()];
            diesel::insert_into(products::table)
                .values((
                    products::id.eq(format!("prd_bench{n:07}")),
                    products::shop_id.eq(shop_id),
                    products::sku.eq(format!("SKU-{n:07}")),
                    products::title.eq(title_of(n)),
                    products::description.eq(format!(
                        "A {noun} for every day, made to last. Model {}.",
                        model_code(n)
                    )),
                    products::price_minor.eq(500 + i64::try_from(n * 37 % 40_000).expect("small")),
                    products::currency.eq(currency),
                    products::stock.eq(i64::try_from(n % 4).expect("small")),
                    products::category.eq(CATEGORIES[n % CATEGORIES.len()]),
                    products::images
                        .eq(r#"[{"url":"https://img.example.com/p.jpg","alt":"the product"}]"#),
                    products::active.eq(true),
                    products::search_text.eq(String::new()),
                    products::created_at
                        .eq(now + chrono::Duration::microseconds(i64::try_from(n).expect("small"))),
                    products::updated_at.eq(now),
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

/// The kinds of query measured: a name and the query strings sent in turn.
fn kinds(sizes: &Sizes) -> Vec<(&'static str, Vec<String>)> {
    let some = |f: &dyn Fn(usize) -> String| (0..16).map(f).collect::<Vec<_>>();
    let code_of = |i: usize| model_code(i * sizes.products / 16 + 3);
    vec![
        ("anchor: health check", vec!["/healthz".to_owned()]),
        (
            "one common word",
            some(&|i| format!("/v1/products?q={}", MATERIALS[i % MATERIALS.len()])),
        ),
        (
            "two words",
            some(&|i| {
                format!(
                    "/v1/products?q={}+{}",
                    MATERIALS[i % MATERIALS.len()],
                    NOUNS[i % NOUNS.len()]
                )
            }),
        ),
        (
            "a prefix (3 letters)",
            some(&|i| format!("/v1/products?q={}", &NOUNS[i % NOUNS.len()][..3])),
        ),
        (
            "a rare word (model code)",
            some(&|i| format!("/v1/products?q={}", code_of(i))),
        ),
        (
            "a misspelt word",
            some(&|i| {
                let word = MATERIALS[i % MATERIALS.len()];
                // Drop the second-to-last letter: one edit away.
                let mut chars: Vec<char> = word.chars().collect();
                chars.remove(chars.len() - 2);
                format!("/v1/products?q={}", chars.into_iter().collect::<String>())
            }),
        ),
        (
            "words and filters",
            some(&|i| {
                format!(
                    "/v1/products?q={}&category={}&in_stock=true&currency=USD&max_price=20000",
                    NOUNS[i % NOUNS.len()],
                    CATEGORIES[i % CATEGORIES.len()]
                )
            }),
        ),
        (
            "one common word (cached)",
            vec![format!("/v1/products?q={}", MATERIALS[0])],
        ),
        (
            "facets of a common word",
            some(&|i| format!("/v1/products/facets?q={}", MATERIALS[i % MATERIALS.len()])),
        ),
        (
            "facets of two words",
            some(&|i| {
                format!(
                    "/v1/products/facets?q={}+{}",
                    MATERIALS[i % MATERIALS.len()],
                    NOUNS[i % NOUNS.len()]
                )
            }),
        ),
    ]
}

#[tokio::main]
async fn main() {
    let smoke = std::env::args().any(|arg| arg == "--smoke");
    let sizes = if smoke { SMOKE } else { FULL };
    let app = TestApp::spawn().await;
    let backend = app.database.backend();
    let pool = pool(&app);
    let mut shops: Vec<(String, String)> = Vec::new();
    for _ in 0..8 {
        let owner = common::people::signup(&app, "seller").await.user_id;
        let pool = pool.clone();
        let shop = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().expect("connection");
            catalog_support::shop(&mut conn, &owner, "USD", true)
        })
        .await
        .expect("joined");
        shops.push((shop.id, "USD".to_owned()));
    }
    let shops = std::sync::Arc::new(shops);
    eprintln!("search: writing {} products ({backend})…", sizes.products);
    let started = Instant::now();
    for first in (0..sizes.products).step_by(BATCH) {
        let (pool, shops) = (pool.clone(), shops.clone());
        let count = BATCH.min(sizes.products - first);
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().expect("connection");
            write_products(&mut conn, &shops, first, count).expect("products written");
        })
        .await
        .expect("joined");
    }
    if backend == "postgres" {
        // As autovacuum would after a load this size (the load bench does the same).
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || {
            diesel::sql_query("ANALYZE")
                .execute(&mut pool.get().expect("connection"))
                .expect("analyze")
        })
        .await
        .expect("joined");
    }
    eprintln!("search: loaded in {:.1} s", started.elapsed().as_secs_f64());

    let mut rows = Vec::new();
    println!("| query | median ms | p99 ms | max ms | results on the first page |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, paths) in kinds(&sizes) {
        let mut found = 0usize;
        for path in &paths {
            let warm = app.get(path).await;
            assert_eq!(warm.status(), 200, "{path}");
            if let Ok(body) = warm.json::<serde_json::Value>().await {
                found += body["data"].as_array().map_or(0, Vec::len);
            }
        }
        let mut ms = Vec::with_capacity(sizes.samples);
        for sample in 0..sizes.samples {
            let path = &paths[sample % paths.len()];
            let limit = 20 + (sample / paths.len()) % 20;
            let path = if name.starts_with("anchor") || name.ends_with("(cached)") {
                path.clone()
            } else if path.contains('?') {
                format!("{path}&limit={limit}")
            } else {
                format!("{path}?limit={limit}")
            };
            let at = Instant::now();
            let response = app.get(&path).await;
            assert_eq!(response.status(), 200, "{path}");
            let _ = response.bytes().await.expect("body");
            ms.push(at.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let (median, p99, max) = (
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            ms[ms.len() - 1],
        );
        let per_query = found / paths.len();
        if !name.starts_with("anchor") && !name.starts_with("facets") {
            assert!(found > 0, "{name}: nothing found, so nothing measured");
        }
        println!("| {name} | {median:.2} | {p99:.2} | {max:.2} | {per_query} |");
        rows.push(serde_json::json!({
            "query": name, "median_ms": median, "p99_ms": p99, "max_ms": max,
            "first_page_results": per_query,
        }));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    if !smoke && std::fs::create_dir_all(&dir).is_ok() {
        let file = dir.join(format!("search-{backend}.json"));
        let report = serde_json::json!({
            "backend": backend, "products": sizes.products, "samples": sizes.samples, "rows": rows,
        });
        let _ = std::fs::write(
            &file,
            serde_json::to_vec_pretty(&report).unwrap_or_default(),
        );
    }
}
