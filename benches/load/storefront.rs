//! Scenario `storefront`: visitors without cookies browsing the HTML pages,
//! on the catalog the `catalog` scenario builds ([`catalog::set_up`]: 10,000
//! products in 8 shops), then — same server, same catalog, same rate, the
//! same sequence of visits — the JSON reads a client of the API would make
//! for them, for comparison.
//!
//! Visit `n` is one of (by a hash of `n`, so both phases and both backends
//! get the same sequence):
//!
//! | kind | share | page | its JSON counterpart |
//! | --- | --- | --- | --- |
//! | `product` | 50 % | `/products/{id}` | `/v1/products/{id}` |
//! | `listing` | 7 % | `/search?category=…` | `/v1/products?category=…&limit=24` |
//! | `search` | 7 % | `/search?q=…` (1 in 5 also with a category) | `/v1/products?q=…&limit=24` |
//! | `listing-next` | 6 % | one of those with `&cursor=…` (page 2, 3, 4 or 5) | the same with `cursor` |
//! | `home` | 15 % | `/` | `/v1/products?limit=8` |
//! | `shop` | 11 % | `/shops/{id}` | `/v1/products?shop=…&limit=24` |
//! | `shop-next` | 4 % | `/shops/{id}?cursor=…` | the same with `cursor` |
//!
//! Product visits go 4 in 5 to the 512 popular products of `catalog` and 1 in
//! 5 anywhere in the catalog. Deeper pages are what a visitor reaches by
//! "Next page": before the run the bench walks each listing and shop through
//! the JSON API and keeps each page's `next_cursor` (the pages put the same
//! cursor in their link, which the probe checks); page 2 is asked for half
//! the time, page 3 a quarter, and so on.
//!
//! Requests go as a browser's would: no cookies, `Accept: text/html…` (the
//! JSON phase `application/json`) and `Accept-Encoding: gzip, br`. The
//! bench's client decompresses nothing (reqwest is built without gzip or
//! brotli), so the body it reads is the bytes on the wire, and each answer's
//! `Content-Encoding` is counted. Every answer must be 200. With
//! `BAZAAR_BENCH_ACCEPT_ENCODING=identity` both phases ask for nothing
//! compressed instead (a comparison; the row notes say which ran).
//!
//! After each phase the bench waits (up to 5 minutes) until the server is
//! idle, so an overloaded first phase does not leave the second queued
//! behind requests nobody waits for; the notes say how long the server
//! stayed busy and the CPU it used per request.
//!
//! Before the open loop, not measured: a serial probe of each kind of page
//! (compressed and not, and its JSON counterpart), and the median time of
//! each database call the pages make, through the library on the bench's own
//! connection. Both go in the notes, to tell where a page's time goes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap, HeaderValue};
use serde_json::{json, Value};

use crate::catalog::{self, mix, pick, Loaded, CATEGORIES, HOT_PRODUCTS, PRODUCTS, QUERIES};
use crate::harness::{self, percentile_ms, Backend, Outcome, Row};

/// Products per listing page, as the pages show them.
const PAGE: usize = 24;
/// Pages of each listing and shop walked for their cursors (pages 2 to 5).
const PAGES_WALKED: usize = 4;
/// Queries that are also searched within a category.
const QUERIES_IN_A_CATEGORY: usize = 4;
/// Longest wait for the server to finish what a phase queued.
const BUSY_AFTER_MAX: Duration = Duration::from_secs(300);
/// What a browser asks for.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
/// What it accepts, unless `BAZAAR_BENCH_ACCEPT_ENCODING` says otherwise
/// (`identity`: the same visits with nothing compressed, to compare).
const ACCEPT_ENCODING: &str = "gzip, br";

fn accept_encoding() -> &'static str {
    static CHOSEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(|| {
        std::env::var("BAZAAR_BENCH_ACCEPT_ENCODING").unwrap_or_else(|_| ACCEPT_ENCODING.into())
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Product,
    Listing,
    Search,
    ListingNext,
    Home,
    Shop,
    ShopNext,
}

impl Kind {
    const ALL: [Self; 7] = [
        Self::Product,
        Self::Listing,
        Self::Search,
        Self::ListingNext,
        Self::Home,
        Self::Shop,
        Self::ShopNext,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Listing => "listing",
            Self::Search => "search",
            Self::ListingNext => "listing-next",
            Self::Home => "home",
            Self::Shop => "shop",
            Self::ShopNext => "shop-next",
        }
    }

    /// Per cent of visits.
    fn share(self) -> u64 {
        match self {
            Self::Product => 50,
            Self::Listing | Self::Search => 7,
            Self::ListingNext => 6,
            Self::Home => 15,
            Self::Shop => 11,
            Self::ShopNext => 4,
        }
    }
}

/// Visit `n`'s kind, and the hash bits left to choose within it.
fn kind_of(n: u64) -> (Kind, u64) {
    let h = mix(n ^ 0x5709_E4F0);
    let mut roll = h % 100;
    for kind in Kind::ALL {
        if roll < kind.share() {
            return (kind, h >> 8);
        }
        roll -= kind.share();
    }
    unreachable!("the shares add up to 100")
}

/// A listing a visitor pages through.
struct Listing {
    /// Its query string without a cursor, the same for the page and the API
    /// (`category=…`, `q=…`).
    query: String,
    /// The cursors of its pages 2, 3, … as `next_cursor` gave them.
    next: Vec<String>,
}

/// Everything the visits are drawn from.
struct Plan {
    loaded: Arc<Loaded>,
    /// By category, first.
    listings: Vec<Listing>,
    /// By text.
    searches: Vec<Listing>,
    /// Each shop's cursors of its pages 2, 3, …
    shop_next: Vec<Vec<String>>,
}

/// Whether a path is for the pages or for the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Html,
    Json,
}

/// A page deeper than the first: 2 half the time, 3 a quarter…, within `next`.
fn deeper(next: &[String], h: u64) -> &str {
    let depth = usize::try_from((h | 1 << 40).trailing_zeros()).unwrap();
    &next[depth.min(next.len() - 1)]
}

/// Visit `n`: its kind and the path and query asked for.
fn visit(plan: &Plan, n: u64, api: Api) -> (Kind, String) {
    let (kind, h) = kind_of(n);
    let keys = &plan.loaded.keys;
    let html = api == Api::Html;
    let list = |query: &str, cursor: Option<&str>| {
        let cursor = cursor.map_or(String::new(), |c| format!("&cursor={c}"));
        if html {
            format!("/search?{query}{cursor}")
        } else {
            format!("/v1/products?{query}{cursor}&limit={PAGE}")
        }
    };
    let shop_page = |shop: &str, cursor: Option<&str>| match (html, cursor) {
        (true, None) => format!("/shops/{shop}"),
        (true, Some(c)) => format!("/shops/{shop}?cursor={c}"),
        (false, None) => format!("/v1/products?shop={shop}&limit={PAGE}"),
        (false, Some(c)) => format!("/v1/products?shop={shop}&cursor={c}&limit={PAGE}"),
    };
    let path = match kind {
        Kind::Product => {
            let index = if h.is_multiple_of(5) {
                usize::try_from((h >> 4) % keys.len() as u64).unwrap()
            } else {
                // The hot set of `catalog`.
                usize::try_from((h >> 4) % HOT_PRODUCTS as u64).unwrap() * (PRODUCTS / HOT_PRODUCTS)
            };
            let id = &keys[index].id;
            if html {
                format!("/products/{id}")
            } else {
                format!("/v1/products/{id}")
            }
        }
        Kind::Listing => list(&pick_listing(&plan.listings, h).query, None),
        Kind::Search => list(&pick_listing(&plan.searches, h).query, None),
        Kind::ListingNext => {
            let from = if h.is_multiple_of(2) {
                &plan.listings
            } else {
                &plan.searches
            };
            let deep: Vec<&Listing> = from.iter().filter(|l| !l.next.is_empty()).collect();
            let listing = deep[usize::try_from((h >> 1) % deep.len() as u64).unwrap()];
            list(&listing.query, Some(deeper(&listing.next, h >> 12)))
        }
        Kind::Home => {
            if html {
                "/".to_owned()
            } else {
                "/v1/products?limit=8".to_owned()
            }
        }
        Kind::Shop | Kind::ShopNext => {
            let s = usize::try_from(h % plan.shop_next.len() as u64).unwrap();
            let shop = &plan.loaded.shop_ids[s];
            let next = &plan.shop_next[s];
            if kind == Kind::Shop || next.is_empty() {
                shop_page(shop, None)
            } else {
                shop_page(shop, Some(deeper(next, h >> 8)))
            }
        }
    };
    (kind, path)
}

fn pick_listing(listings: &[Listing], h: u64) -> &Listing {
    &listings[usize::try_from(h % listings.len() as u64).unwrap()]
}

/// A client that asks as a browser does (no cookie store: reqwest has none here).
fn client(accept: &'static str, encoding: Option<&'static str>) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
    if let Some(encoding) = encoding {
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(encoding).expect("an Accept-Encoding value"),
        );
    }
    headers.insert(
        header::ACCEPT_LANGUAGE,
        HeaderValue::from_static("en-GB,en;q=0.9"),
    );
    headers.insert(
        header::USER_AGENT,
        HeaderValue::from_static("Mozilla/5.0 (X11; Linux x86_64) bazaar-load-bench"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap()
}

/// The cursors of pages 2 to `PAGES_WALKED + 1` of `/v1/products?{query}`.
async fn walk(client: &reqwest::Client, address: &str, query: &str) -> Vec<String> {
    let mut next = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..PAGES_WALKED {
        let after = cursor
            .as_ref()
            .map_or(String::new(), |c| format!("&cursor={c}"));
        let page: Value = client
            .get(format!("{address}/v1/products?{query}{after}&limit={PAGE}"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("a catalog page")
            .json()
            .await
            .expect("a catalog page's JSON");
        match page["next_cursor"].as_str() {
            Some(c) => {
                next.push(c.to_owned());
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    next
}

async fn plan(address: &str, loaded: Arc<Loaded>) -> Plan {
    let client = client("application/json", None);
    let mut listings = Vec::new();
    for category in CATEGORIES {
        let query = format!("category={category}");
        let next = walk(&client, address, &query).await;
        listings.push(Listing { query, next });
    }
    let mut searches = Vec::new();
    for (i, q) in QUERIES.iter().enumerate() {
        let q = q.replace(' ', "+");
        let mut queries = vec![format!("q={q}")];
        if i < QUERIES_IN_A_CATEGORY {
            queries.push(format!(
                "q={q}&category={}",
                pick(&CATEGORIES, mix(i as u64))
            ));
        }
        for query in queries {
            let next = walk(&client, address, &query).await;
            searches.push(Listing { query, next });
        }
    }
    let mut shop_next = Vec::new();
    for shop in &loaded.shop_ids {
        shop_next.push(walk(&client, address, &format!("shop={shop}")).await);
    }
    Plan {
        loaded,
        listings,
        searches,
        shop_next,
    }
}

/// The median of `iterations` runs of `f`, ms.
fn median_ms(iterations: usize, mut f: impl FnMut()) -> f64 {
    let mut us: Vec<u64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
        })
        .collect();
    us.sort_unstable();
    percentile_ms(&us, 50.0)
}

/// The median time of each database call the pages make, on the bench's own
/// connection (no pool, no HTTP, no template): what each page's reads cost.
async fn database_calls(url: &str, loaded: Arc<Loaded>, iterations: usize) -> Value {
    harness::with_connection(url, move |conn| {
        use bazaar::catalog::listing::CatalogQueryParams;
        use bazaar::catalog::CatalogQuery;
        let query = |params: CatalogQueryParams| {
            CatalogQuery::try_from(CatalogQueryParams {
                limit: Some(PAGE as i64),
                ..params
            })
            .expect("a valid query")
        };
        let by_category = query(CatalogQueryParams {
            category: Some(CATEGORIES[1].into()),
            ..CatalogQueryParams::default()
        });
        let by_text = query(CatalogQueryParams {
            q: Some(QUERIES[1].into()),
            ..CatalogQueryParams::default()
        });
        let by_shop = query(CatalogQueryParams {
            shop: Some(loaded.shop_ids[0].clone()),
            ..CatalogQueryParams::default()
        });
        let product = loaded.keys[0].id.clone();
        let shop = loaded.shop_ids[0].clone();
        let shops: Vec<&str> = loaded.shop_ids.iter().map(String::as_str).collect();
        let mut times = serde_json::Map::new();
        let mut time = |name: &str, ms: f64| {
            times.insert(name.to_owned(), json!(ms));
        };
        use bazaar::{catalog as c, sellers as s};
        time(
            "visible_product",
            median_ms(iterations, || {
                c::visible_product(conn, &product).unwrap();
            }),
        );
        time(
            "public_shop",
            median_ms(iterations, || {
                s::public_shop(conn, &shop).unwrap();
            }),
        );
        time(
            "public_shops",
            median_ms(iterations, || {
                s::public_shops(conn).unwrap();
            }),
        );
        time(
            "shop_names",
            median_ms(iterations, || {
                s::shop_names(conn, &shops).unwrap();
            }),
        );
        time(
            "visible_categories",
            median_ms(iterations, || {
                c::visible_categories(conn).unwrap();
            }),
        );
        time(
            "newest_products_8",
            median_ms(iterations, || {
                c::newest_products(conn, 8).unwrap();
            }),
        );
        for (name, q) in [
            ("category", &by_category),
            ("text", &by_text),
            ("shop", &by_shop),
        ] {
            time(
                &format!("list_catalog_{name}"),
                median_ms(iterations, || {
                    c::list_catalog(conn, q).unwrap();
                }),
            );
            time(
                &format!("count_catalog_{name}"),
                median_ms(iterations, || {
                    c::count_catalog(conn, q).unwrap();
                }),
            );
        }
        Value::Object(times)
    })
    .await
}

/// One GET, timed to the end of its body: (ms, status, wire bytes,
/// `Content-Encoding`, whether it set a cookie, the body).
async fn timed_get(
    client: &reqwest::Client,
    url: &str,
) -> (f64, u16, usize, String, bool, Vec<u8>) {
    let start = Instant::now();
    let response = client.get(url).send().await.expect("an answer");
    let status = response.status().as_u16();
    let encoding = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .to_owned();
    let cookie = response.headers().contains_key(header::SET_COOKIE);
    let body = response.bytes().await.expect("a body");
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    (ms, status, body.len(), encoding, cookie, body.to_vec())
}

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2] * 100.0).round() / 100.0
}

/// Each kind of page asked for serially: compressed as a browser asks, not
/// compressed, and its JSON counterpart (compressed); sizes and median times.
/// Also checks that the pages' "Next page" links carry the API's cursors.
async fn probe(address: &str, plan: &Plan, samples: usize) -> Value {
    let browser = client(BROWSER_ACCEPT, Some(accept_encoding()));
    let plain = client(BROWSER_ACCEPT, Some("identity"));
    let api = client("application/json", Some(accept_encoding()));
    let mut kinds = Vec::new();
    let mut cookies_set = 0;
    let mut failed = Vec::new();
    for kind in Kind::ALL {
        let ns: Vec<u64> = (1_000_000_000..)
            .filter(|&n| kind_of(n).0 == kind)
            .take(samples)
            .collect();
        let (mut compressed, mut identity, mut json_ms) = (Vec::new(), Vec::new(), Vec::new());
        let (mut wire, mut full, mut json_wire) = (0, 0, 0);
        let (mut encoding, mut json_encoding) = (String::new(), String::new());
        for (i, &n) in ns.iter().enumerate() {
            let page = format!("{address}{}", visit(plan, n, Api::Html).1);
            let data = format!("{address}{}", visit(plan, n, Api::Json).1);
            // Alternate which goes first, so neither always finds caches warm.
            let (a, b) = if i % 2 == 0 {
                let a = timed_get(&browser, &page).await;
                (a, timed_get(&plain, &page).await)
            } else {
                let b = timed_get(&plain, &page).await;
                (timed_get(&browser, &page).await, b)
            };
            let j = timed_get(&api, &data).await;
            for (what, status) in [(&page, a.1), (&page, b.1), (&data, j.1)] {
                if status != 200 {
                    failed.push(format!("{status} {what}"));
                }
            }
            cookies_set += usize::from(a.4) + usize::from(b.4);
            compressed.push(a.0);
            identity.push(b.0);
            json_ms.push(j.0);
            wire += a.2;
            full += b.2;
            json_wire += j.2;
            encoding = a.3;
            json_encoding = j.3;
        }
        let count = ns.len().max(1);
        kinds.push(json!({
            "kind": kind.name(),
            "page_bytes": full / count,
            "page_wire_bytes": wire / count,
            "page_encoding": encoding,
            "page_ms_compressed": median(compressed),
            "page_ms_identity": median(identity),
            "json_wire_bytes": json_wire / count,
            "json_encoding": json_encoding,
            "json_ms": median(json_ms),
        }));
    }
    // The link a visitor follows carries the cursor the API gives.
    let listing = plan
        .listings
        .iter()
        .find(|l| !l.next.is_empty())
        .expect("a listing with a second page");
    let page = timed_get(&plain, &format!("{address}/search?{}", listing.query)).await;
    let shop = &plan.loaded.shop_ids[0];
    let shop_page = timed_get(&plain, &format!("{address}/shops/{shop}")).await;
    let links = |body: &[u8], cursor: Option<&String>| {
        cursor.is_some_and(|c| String::from_utf8_lossy(body).contains(&format!("cursor={c}")))
    };
    json!({
        "samples_per_kind": samples,
        "kinds": kinds,
        "set_cookie_answers": cookies_set,
        "non_200": failed.into_iter().take(8).collect::<Vec<_>>(),
        "next_links_carry_api_cursor": links(page.5.as_slice(), listing.next.first())
            && links(shop_page.5.as_slice(), plan.shop_next[0].first()),
    })
}

/// The results of a phase by kind of visit, then all together.
fn by_kind(sent: &Outcome) -> Value {
    let seconds = sent.elapsed.as_secs_f64().max(1e-9);
    let summary = |name: &str, share: u64, of: &dyn Fn(u64) -> bool| {
        let mine: Vec<_> = sent.requests.iter().filter(|r| of(r.n)).collect();
        let ok: Vec<_> = mine
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect();
        let mut latencies: Vec<u64> = ok.iter().map(|r| r.latency_us).collect();
        latencies.sort_unstable();
        let answered = ok.len() as u64;
        let bytes: u64 = ok.iter().map(|r| r.wire_bytes).sum();
        let encoded = ok.iter().filter(|r| r.encoded).count() as u64;
        json!({
            "kind": name,
            "share_pct": share,
            "sent": mine.len(),
            "answered_per_s": (answered as f64 / seconds * 10.0).round() / 10.0,
            "p50_ms": percentile_ms(&latencies, 50.0),
            "p99_ms": percentile_ms(&latencies, 99.0),
            "p999_ms": percentile_ms(&latencies, 99.9),
            "errors": mine.len() as u64 - answered,
            "wire_bytes_avg": bytes / answered.max(1),
            "compressed_pct": (encoded * 1000 / answered.max(1)) as f64 / 10.0,
        })
    };
    let mut rows: Vec<Value> = Kind::ALL
        .iter()
        .map(|&kind| summary(kind.name(), kind.share(), &|n| kind_of(n).0 == kind))
        .collect();
    rows.push(summary("all", 100, &|_| true));
    Value::Array(rows)
}

/// Second by second of the schedule: visits sent, answered, and the answers'
/// p50 and p99 (how a run went wrong, when it did).
fn timeline(sent: &Outcome, rate: u64) -> Value {
    let seconds =
        usize::try_from(sent.requests.iter().map(|r| r.n).max().unwrap_or(0) / rate.max(1))
            .unwrap()
            + 1;
    let mut by_second: Vec<(u64, Vec<u64>)> = vec![(0, Vec::new()); seconds];
    for r in &sent.requests {
        let second = &mut by_second[usize::try_from(r.n / rate.max(1)).unwrap()];
        second.0 += 1;
        if (200..300).contains(&r.status) {
            second.1.push(r.latency_us);
        }
    }
    by_second
        .into_iter()
        .map(|(count, mut ok)| {
            ok.sort_unstable();
            json!([
                count,
                ok.len(),
                percentile_ms(&ok, 50.0),
                percentile_ms(&ok, 99.0)
            ])
        })
        .collect()
}

/// One phase: `rate` visits a second for `seconds`, as pages or as API reads.
async fn phase(
    catalog: &catalog::Catalog,
    plan: &Arc<Plan>,
    api: Api,
    rate: u64,
    seconds: u64,
) -> Row {
    let client = match api {
        Api::Html => client(BROWSER_ACCEPT, Some(accept_encoding())),
        Api::Json => client("application/json", Some(accept_encoding())),
    };
    let reset = catalog.server.reset_peak_rss();
    let address = catalog.server.address.clone();
    let visits = Arc::clone(plan);
    let cpu_before = catalog.server.cpu_seconds();
    let sent = harness::open_loop(rate, seconds, move |n| {
        client.get(format!("{address}{}", visit(&visits, n, api).1))
    })
    .await;
    // Work the server still has queued after every client has given up.
    let busy_after = catalog.server.wait_idle(BUSY_AFTER_MAX).await;
    let cpu_s = catalog.server.cpu_seconds() - cpu_before;
    let scenario = match api {
        Api::Html => "storefront",
        Api::Json => "storefront-json",
    };
    let mut row = Row::new(scenario, catalog.db.backend, rate, &sent, &catalog.server);
    catalog.note(&mut row);
    row.notes["peak_rss_of"] = json!(if reset {
        "this phase"
    } else {
        "the server's life"
    });
    row.notes["by_kind"] = by_kind(&sent);
    // [sent, answered, p50 ms, p99 ms] for each second of the schedule.
    row.notes["timeline"] = timeline(&sent, rate);
    row.notes["accept_encoding"] = json!(accept_encoding());
    // Idle counts twice half a second: less than a second of it is noise.
    row.notes["server_busy_after_s"] = json!((busy_after.as_secs_f64() * 10.0).round() / 10.0);
    row.notes["server_cpu_s"] = json!((cpu_s * 10.0).round() / 10.0);
    row.notes["server_cpu_ms_per_request"] =
        json!((cpu_s * 1e5 / sent.requests.len().max(1) as f64).round() / 100.0);
    row
}

pub async fn run(backend: Backend, rate: u64, seconds: u64) -> Vec<Row> {
    let catalog = catalog::set_up(backend).await;
    let planning = Instant::now();
    let plan = Arc::new(plan(&catalog.server.address, Arc::clone(&catalog.loaded)).await);
    let plan_s = planning.elapsed().as_secs_f64();
    // Short runs (the smoke) probe lightly.
    let samples = if seconds < 10 { 3 } else { 25 };
    let probe = probe(&catalog.server.address, &plan, samples).await;
    let calls = database_calls(&catalog.db.url, Arc::clone(&catalog.loaded), samples).await;
    catalog.server.wait_idle(BUSY_AFTER_MAX).await;
    let mut html = phase(&catalog, &plan, Api::Html, rate, seconds).await;
    let product_p99 = html.notes["by_kind"][0]["p99_ms"]
        .as_f64()
        .unwrap_or(f64::MAX);
    html.notes["product_p99_under_10ms"] = json!(product_p99 < 10.0);
    html.notes["plan_s"] = json!((plan_s * 10.0).round() / 10.0);
    html.notes["probe"] = probe;
    html.notes["database_calls_ms"] = calls;
    let json = phase(&catalog, &plan, Api::Json, rate, seconds).await;
    vec![html, json]
}
