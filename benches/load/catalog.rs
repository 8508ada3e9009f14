//! Scenarios `catalog` and `catalog-uncached`: buyers reading a catalog of
//! 10,000 products in 8 shops and 8 categories, anonymously, over HTTP.
//!
//! The catalog is loaded straight through the library
//! ([`bazaar::catalog::load_demo_catalog`], the `bazaar demo --seed` path: one
//! transaction, every product validated) and its shops are then marked as
//! onboarded, so every product is visible. Request `n` is one of (by a hash of
//! `n`, so both backends get the same sequence):
//!
//! - 40 % detail, `GET /v1/products/{id}`;
//! - 25 % first pages of `GET /v1/products`: no filter, a category, a shop, or
//!   a currency with a price range, 20 or 50 per page;
//! - 15 % deeper pages: a cursor at a random position of the catalog (cursors
//!   are opaque to clients, but the bench builds the ones a walk would get),
//!   sometimes with a category;
//! - 20 % text search `q=`: common words (a material, a colour), two words,
//!   rare ones (a shop-specific word), sometimes with a category.
//!
//! Cached (`catalog`): detail reads go to a hot set of 512 products, which
//! fits the server's product cache, as a storefront's popular products would.
//! Uncached (`catalog-uncached`): detail reads walk a permutation of all
//! 10,000 products, so no product is read twice within the cache TTL and
//! every one is a cache miss (a crawler's pattern), with the server's cache
//! left on as deployed. Lists and searches have no server-side cache in either
//! scenario and the client sends no `If-None-Match`, so each one is a query.
//! Every answer must be 200.
//!
//! The set-up ([`set_up`]: a server, the catalog, its keys) is shared with
//! the `storefront` scenario, which browses the same catalog as HTML pages.
//!
//! PostgreSQL gets `ANALYZE` after the load (autovacuum would do it on a live
//! catalog); SQLite gets nothing, as the server's own file would.

use std::sync::Arc;

use bazaar::catalog::Cursor;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::harness::{self, count, Backend, Row};

pub const SHOPS: usize = 8;
pub const PRODUCTS: usize = 10_000;
/// Detail reads of the cached scenario go to this many products.
pub const HOT_PRODUCTS: usize = 512;

pub const CATEGORIES: [&str; 8] = [
    "apparel", "home", "kitchen", "garden", "toys", "books", "outdoor", "beauty",
];
const SHOP_NAMES: [(&str, &str, &str, &str); SHOPS] = [
    ("northwind", "Northwind Outfitters", "US", "USD"),
    ("lumiere", "Atelier Lumière", "FR", "EUR"),
    ("schwarzwald", "Schwarzwald Werkstatt", "DE", "EUR"),
    ("thames", "Thames & Co", "GB", "GBP"),
    ("saguaro", "Saguaro Supply", "US", "USD"),
    ("fjord", "Fjord & Fell", "DE", "EUR"),
    ("kiln", "Kiln House", "GB", "GBP"),
    ("prairie", "Prairie Goods", "US", "USD"),
];
const ADJECTIVES: [&str; 16] = [
    "Natural", "Coastal", "Rustic", "Classic", "Handmade", "Vintage", "Modern", "Soft", "Sturdy",
    "Everyday", "Organic", "Heritage", "Compact", "Deluxe", "Woven", "Minimal",
];
const MATERIALS: [&str; 12] = [
    "Linen",
    "Ceramic",
    "Oak",
    "Wool",
    "Cotton",
    "Leather",
    "Copper",
    "Bamboo",
    "Walnut",
    "Stoneware",
    "Canvas",
    "Glass",
];
const NOUNS: [[&str; 6]; 8] = [
    ["Shirt", "Scarf", "Jacket", "Apron", "Cap", "Socks"],
    ["Lamp", "Throw", "Cushion", "Vase", "Basket", "Clock"],
    ["Mug", "Bowl", "Teapot", "Board", "Skillet", "Jar"],
    ["Planter", "Trowel", "Bench", "Lantern", "Hose", "Shears"],
    ["Puzzle", "Blocks", "Kite", "Train", "Doll", "Top"],
    [
        "Journal",
        "Atlas",
        "Cookbook",
        "Notebook",
        "Almanac",
        "Sketchbook",
    ],
    ["Tent", "Flask", "Backpack", "Hammock", "Compass", "Stove"],
    ["Soap", "Balm", "Comb", "Brush", "Candle", "Oil"],
];
const COLOURS: [&str; 10] = [
    "Slate", "Forest", "Sand", "Ivory", "Rust", "Indigo", "Sage", "Ochre", "Charcoal", "Rose",
];
/// Search terms: common words, pairs, and a few that match one shop only.
pub const QUERIES: [&str; 16] = [
    "linen",
    "ceramic mug",
    "oak",
    "wool scarf",
    "indigo",
    "copper",
    "handmade",
    "stoneware",
    "vintage lamp",
    "bamboo",
    "rose",
    "kiln house",
    "fjord",
    "walnut board",
    "organic",
    "glass jar",
];

/// A well-mixed 64-bit hash (splitmix64), so the request mix needs no RNG state.
pub fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn pick<T: Copy>(items: &[T], h: u64) -> T {
    items[usize::try_from(h % items.len() as u64).unwrap()]
}

/// The demo-catalog file of the bench: 8 shops, 10,000 products.
fn catalog_json() -> String {
    let shops: Vec<Value> = SHOP_NAMES
        .iter()
        .map(|(slug, name, country, currency)| {
            json!({
                "slug": slug, "name": name, "country": country,
                "default_currency": currency,
                "support_email": format!("help@{slug}.example"),
            })
        })
        .collect();
    let products: Vec<Value> = (0..PRODUCTS)
        .map(|i| {
            let h = mix(i as u64);
            let (slug, name, _, currency) = SHOP_NAMES[i % SHOPS];
            let c = usize::try_from(h % CATEGORIES.len() as u64).unwrap();
            let title = format!(
                "{} {} {} — {}",
                pick(&ADJECTIVES, h >> 8),
                pick(&MATERIALS, h >> 16),
                pick(&NOUNS[c], h >> 24),
                pick(&COLOURS, h >> 32),
            );
            let sku = format!("{}-{i:05}", slug.to_uppercase());
            json!({
                "shop": slug,
                "sku": sku,
                "description": format!(
                    "{title} from {name}. A {} favourite, made to last and packed without plastic.",
                    CATEGORIES[c]
                ),
                "title": title,
                "price_minor": 500 + i64::try_from((h >> 40) % 20_000).unwrap(),
                "currency": currency,
                "stock": i64::try_from((h >> 48) % 200).unwrap(),
                "category": CATEGORIES[c],
                "images": [
                    {"url": format!("https://images.bazaar.example/bench/{sku}/1.jpg"), "alt": format!("{title}, front view")},
                    {"url": format!("https://images.bazaar.example/bench/{sku}/2.jpg"), "alt": format!("{title}, in use")},
                ],
            })
        })
        .collect();
    json!({ "shops": shops, "products": products }).to_string()
}

/// What the request mix needs to know of the loaded catalog.
pub struct Loaded {
    /// Every product's key, in catalog order `(created_at, id)`.
    pub keys: Vec<Key>,
    pub shop_ids: Vec<String>,
}

/// A product's position in the catalog's `(created_at, id)` order.
pub struct Key {
    pub created_at: NaiveDateTime,
    pub id: String,
}

/// Loads the catalog, makes its shops sellable and returns its keys.
async fn seed(backend: Backend, url: &str) -> Loaded {
    let json = catalog_json();
    harness::with_connection(url, move |conn| {
        let loaded =
            bazaar::catalog::load_demo_catalog(conn, |slug| format!("usr_bench_{slug}"), &json)
                .expect("the bench catalog loads");
        assert_eq!(loaded.products_inserted, PRODUCTS);
        // Onboarding goes through the provider; for a read bench the state is what matters.
        diesel::sql_query(
            "UPDATE shops SET onboarding_status = 'active', charges_enabled = TRUE, \
             payouts_enabled = TRUE, frozen = FALSE",
        )
        .execute(conn)
        .expect("shops sellable");
        if backend == Backend::Postgres {
            diesel::sql_query("ANALYZE").execute(conn).expect("analyze");
        }
        use bazaar::catalog::schema::products;
        let keys: Vec<(NaiveDateTime, String)> = products::table
            .order((products::created_at.asc(), products::id.asc()))
            .select((products::created_at, products::id))
            .load(conn)
            .expect("product keys");
        Loaded {
            keys: keys
                .into_iter()
                .map(|(created_at, id)| Key { created_at, id })
                .collect(),
            shop_ids: loaded.shops.into_iter().map(|s| s.id).collect(),
        }
    })
    .await
}

/// The path and query of request `n`.
fn request_path(n: u64, loaded: &Loaded, cached: bool) -> String {
    let h = mix(n ^ 0x5EED);
    let kind = h % 100;
    let h = h >> 8;
    let keys = &loaded.keys;
    let limit = if h.is_multiple_of(4) { 50 } else { 20 };
    match kind {
        0..40 => {
            let index = if cached {
                usize::try_from(h % HOT_PRODUCTS as u64).unwrap() * (PRODUCTS / HOT_PRODUCTS)
            } else {
                // n ↦ n·k mod N with k coprime to N is a permutation: no repeats
                // among the first N detail reads.
                usize::try_from(n.wrapping_mul(7_919) % keys.len() as u64).unwrap()
            };
            format!("/v1/products/{}", keys[index].id)
        }
        40..65 => match (h >> 4) % 4 {
            0 => format!("/v1/products?limit={limit}"),
            1 => format!(
                "/v1/products?category={}&limit={limit}",
                pick(&CATEGORIES, h >> 8)
            ),
            2 => format!(
                "/v1/products?shop={}&limit={limit}",
                loaded.shop_ids[usize::try_from((h >> 8) % SHOPS as u64).unwrap()]
            ),
            _ => {
                let currency = pick(&["USD", "EUR", "GBP"], h >> 8);
                let min = 1_000 + (h >> 12) % 10_000;
                format!(
                    "/v1/products?currency={currency}&min_price={min}&max_price={}&limit={limit}",
                    min + 2_500
                )
            }
        },
        65..80 => {
            let at = &keys[usize::try_from((h >> 4) % keys.len() as u64).unwrap()];
            let cursor = Cursor::After {
                created_at: at.created_at,
                id: at.id.clone(),
            }
            .encode();
            if (h >> 20).is_multiple_of(3) {
                format!(
                    "/v1/products?category={}&cursor={cursor}&limit={limit}",
                    pick(&CATEGORIES, h >> 24)
                )
            } else {
                format!("/v1/products?cursor={cursor}&limit={limit}")
            }
        }
        _ => {
            let q = pick(&QUERIES, h >> 4).replace(' ', "+");
            if (h >> 12).is_multiple_of(4) {
                format!("/v1/products?q={q}&category={}", pick(&CATEGORIES, h >> 16))
            } else {
                format!("/v1/products?q={q}")
            }
        }
    }
}

/// A `bazaar serve` on a fresh database holding the bench catalog: what
/// `catalog`, `catalog-uncached` and `storefront` run against. Dropped in
/// field order: the server, its folder, then the database.
pub struct Catalog {
    pub server: harness::Server,
    _work: tempfile::TempDir,
    pub db: harness::Database,
    pub loaded: Arc<Loaded>,
    /// Seconds the catalog took to load.
    pub seed_s: f64,
    /// Products buyers can see (all of them).
    pub visible: i64,
}

impl Catalog {
    /// What every catalog row notes: the catalog's size and load time, and
    /// the memory the server still holds (caches, pools, allocator retention).
    pub fn note(&self, row: &mut Row) {
        row.notes["products"] = json!(self.visible);
        row.notes["seed_s"] = json!((self.seed_s * 10.0).round() / 10.0);
        row.notes["rss_end_mib"] = json!((self.server.rss_mib() * 10.0).round() / 10.0);
    }
}

/// Starts a server on a fresh `backend` database and loads the catalog into it.
pub async fn set_up(backend: Backend) -> Catalog {
    let db = harness::database(backend);
    let work = tempfile::tempdir().unwrap();
    let server = harness::start_server(&db, work.path(), &[]).await;
    let seeding = std::time::Instant::now();
    let loaded = Arc::new(seed(db.backend, &db.url).await);
    let seed_s = seeding.elapsed().as_secs_f64();
    let visible = count(
        &db.url,
        "SELECT COUNT(*) AS n FROM products WHERE active = TRUE",
    )
    .await;
    Catalog {
        server,
        _work: work,
        db,
        loaded,
        seed_s,
        visible,
    }
}

pub async fn run(backend: Backend, rate: u64, seconds: u64, cached: bool) -> Row {
    let scenario = if cached {
        "catalog"
    } else {
        "catalog-uncached"
    };
    let catalog = set_up(backend).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let address = catalog.server.address.clone();
    let loaded = Arc::clone(&catalog.loaded);
    let sent = harness::open_loop(rate, seconds, move |n| {
        client.get(format!("{address}{}", request_path(n, &loaded, cached)))
    })
    .await;
    let mut row = Row::new(scenario, backend, rate, &sent, &catalog.server);
    catalog.note(&mut row);
    row
}
