//! Scenario `checkout`: what a buyer does, at a constant rate of orders.
//!
//! Set-up (not measured): three sellers sign up over the API, each opens a
//! shop that the in-process sandbox onboards and lists products with stock
//! enough for any run; a platform fee rule is created as `bazaar demo --seed`
//! does; buyers sign up and log in.
//!
//! Each scheduled order is one buyer's chain of requests: one product of each
//! shop into the cart (three `POST /v1/cart/lines`), then `POST /v1/checkout`
//! paying at once with `pm_card_visa`. The order's latency is the whole chain,
//! from its *scheduled* time to the checkout's answer, so time spent waiting
//! for anything (the client, a buyer's previous order, the server) counts.
//! The checkout request alone is reported in the notes. A buyer places one
//! order at a time (a cart is per buyer); there are enough buyers that this
//! only queues when the server is already behind.
//!
//! Processed: the time until every accepted order is paid, has its three
//! transfers to the sellers made, and every webhook event the sandbox sent
//! about them (payment, charge, transfers) has been processed by the job
//! queue — the whole system quiet again. Then the money is checked: every
//! order paid with exactly three succeeded transfers, none failed, and the
//! ledger's trial balance zero in every currency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{self, count, percentile_ms, Backend, Outcome, Row};

const SHOPS: usize = 3;
const PRODUCTS_PER_SHOP: usize = 8;
/// Stock of each product: the most the API accepts, more than a run sells
/// (24 products, at most 2 of one per order).
const STOCK: i64 = 1_000_000;
/// Buyers per order per second of offered rate (bounded below and above).
const BUYERS_MIN: u64 = 32;
const BUYERS_MAX: u64 = 512;
/// Sign-ups in flight during set-up (each hashes a password twice).
const SIGNUPS_IN_FLIGHT: usize = 8;
/// An order whose chain has not answered this long after its scheduled time is dropped.
const CHAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// A chain that starts this much after its scheduled time is late.
const LATE_AFTER: Duration = Duration::from_millis(10);
/// Longest wait for settlement and the webhook queue after the sending stops.
const DRAIN_MAX: Duration = Duration::from_secs(300);
const PASSWORD: &str = "plum orbit sailing forty";

const ORDERS: &str = "SELECT COUNT(*) AS n FROM orders";
const PAID: &str = "SELECT COUNT(*) AS n FROM orders WHERE status = 'paid'";
/// Paid orders with all three shares transferred.
const SETTLED: &str = "SELECT COUNT(*) AS n FROM orders o WHERE o.status = 'paid' AND \
     (SELECT COUNT(*) FROM order_parts p JOIN part_movements m ON m.part_id = p.id \
      WHERE p.order_id = o.id AND m.kind = 'transfer' AND m.status = 'succeeded') = 3";
const MOVEMENTS_NOT_SUCCEEDED: &str =
    "SELECT COUNT(*) AS n FROM part_movements WHERE status <> 'succeeded'";
const WEBHOOKS_UNPROCESSED: &str =
    "SELECT COUNT(*) AS n FROM webhook_events WHERE processed_at IS NULL";
const WEBHOOKS: &str = "SELECT COUNT(*) AS n FROM webhook_events";

struct Market {
    address: String,
    /// One product id per shop, `PRODUCTS_PER_SHOP` of each.
    products: Vec<Vec<String>>,
    /// Buyers' tokens, each behind a lock: a buyer builds one cart at a time.
    buyers: Vec<tokio::sync::Mutex<String>>,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap()
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
    status: u16,
) -> Value {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("set-up request sent");
    let actual = response.status().as_u16();
    let body: Value = response.json().await.expect("set-up answer is JSON");
    assert_eq!(actual, status, "set-up {url}: {body}");
    body
}

/// Signs up as `role`, verifies the address (in the database: set-up, not
/// what is measured) and logs in; returns the session token.
async fn person(
    client: &reqwest::Client,
    address: &str,
    db_url: &str,
    role: &str,
    n: u64,
) -> String {
    use bazaar::auth::schema::users;
    use diesel::prelude::*;
    let email = format!("{role}-{n}-{}@example.com", uuid::Uuid::new_v4().simple());
    let body = json!({"email": email, "password": PASSWORD, "role": role});
    post(client, &format!("{address}/v1/users"), None, &body, 202).await;
    let address_of = email.clone();
    harness::with_connection(db_url, move |conn| {
        diesel::update(users::table.filter(users::email.eq(address_of)))
            .set(users::email_verified_at.eq(bazaar::db::now()))
            .execute(conn)
            .expect("address verified");
    })
    .await;
    let body = json!({"email": email, "password": PASSWORD});
    let session = post(client, &format!("{address}/v1/sessions"), None, &body, 201).await;
    session["token"].as_str().unwrap().to_owned()
}

/// The platform fee rule: 10.5 % + 30 per part, the platform bears the
/// processing fee (what the orders tests use).
async fn fee_rule(url: &str) {
    harness::with_connection(url, |conn| {
        let fixed = [("USD".to_owned(), 30_i64)].into();
        let terms = bazaar::fees::FeeTerms::parse("10.5", &fixed, None, None, "platform", true)
            .expect("fee terms");
        let now = bazaar::db::now();
        bazaar::db::write_transaction(conn, |conn| {
            bazaar::fees::create_rule(conn, &bazaar::fees::FeeScope::Platform, &terms, now, now)
        })
        .expect("platform fee rule");
    })
    .await;
}

/// A seller with one active shop and its products; returns the product ids.
async fn seller(
    client: &reqwest::Client,
    address: &str,
    db_url: &str,
    sandbox: &str,
    n: u64,
) -> Vec<String> {
    let token = person(client, address, db_url, "seller", n).await;
    let slug = format!(
        "bench-{n}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let body = json!({"name": format!("Shop {slug}"), "slug": slug, "country": "US",
        "default_currency": "USD", "support_email": "help@shop.example"});
    let shop = post(
        client,
        &format!("{address}/v1/shops"),
        Some(&token),
        &body,
        201,
    )
    .await;
    let account = shop["provider_account_id"].as_str().expect("account");
    let onboarded = client
        .post(format!(
            "{sandbox}/v1/test_helpers/accounts/{account}/complete_onboarding"
        ))
        .bearer_auth("sk_test_sandbox")
        .send()
        .await
        .expect("sandbox reachable");
    assert!(onboarded.status().is_success(), "onboarding completed");
    let id = shop["id"].as_str().unwrap();
    let url = format!("{address}/v1/shops/{id}/sync");
    let shop = post(client, &url, Some(&token), &json!({}), 200).await;
    assert_eq!(shop["status"], "active", "shop active");
    let mut products = Vec::with_capacity(PRODUCTS_PER_SHOP);
    for p in 0..PRODUCTS_PER_SHOP {
        let title = format!("Bowl {n}.{p}");
        let body = json!({
            "sku": format!("SKU-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
            "title": title,
            "description": format!("{title}, made by hand."),
            // Prices differ so fees and splits are not all alike.
            "price_minor": 1_000 + 137 * i64::try_from(p).unwrap() + 11 * i64::try_from(n).unwrap(),
            "currency": "USD",
            "stock": STOCK,
            "category": "home-kitchen",
            "images": [{"url": "https://img.example.com/p.jpg", "alt": title}],
        });
        let url = format!("{address}/v1/shops/{id}/products");
        let product = post(client, &url, Some(&token), &body, 201).await;
        products.push(product["id"].as_str().unwrap().to_owned());
    }
    products
}

async fn market(
    client: &reqwest::Client,
    address: &str,
    sandbox: &str,
    db_url: &str,
    buyers: u64,
) -> Market {
    fee_rule(db_url).await;
    let mut products = Vec::with_capacity(SHOPS);
    for n in 0..SHOPS as u64 {
        products.push(seller(client, address, db_url, sandbox, n).await);
    }
    let semaphore = Arc::new(tokio::sync::Semaphore::new(SIGNUPS_IN_FLIGHT));
    let mut signups = tokio::task::JoinSet::new();
    for n in 0..buyers {
        let (client, address, db_url, semaphore) = (
            client.clone(),
            address.to_owned(),
            db_url.to_owned(),
            Arc::clone(&semaphore),
        );
        signups.spawn(async move {
            let _permit = semaphore.acquire().await.unwrap();
            person(&client, &address, &db_url, "buyer", n).await
        });
    }
    let mut tokens = Vec::with_capacity(usize::try_from(buyers).unwrap());
    while let Some(token) = signups.join_next().await {
        tokens.push(tokio::sync::Mutex::new(token.expect("buyer signs up")));
    }
    Market {
        address: address.to_owned(),
        products,
        buyers: tokens,
    }
}

/// What one order's chain came to.
enum Chain {
    /// The order was placed; the checkout request alone took this long.
    Placed {
        checkout: Duration,
    },
    Failed(Option<u16>),
}

/// Order `n`: the buyer's cart of one product of each shop, then checkout.
async fn order(client: &reqwest::Client, market: &Market, run: &str, n: u64) -> Chain {
    let index = usize::try_from(n).unwrap();
    let token = market.buyers[index % market.buyers.len()].lock().await;
    let address = &market.address;
    for (shop, products) in market.products.iter().enumerate() {
        // Walk the products so concurrent orders spread over rows.
        let product = &products[(index / market.buyers.len() + shop) % products.len()];
        let body = json!({"product_id": product, "quantity": 1 + (index + shop) % 2});
        let answer = client
            .post(format!("{address}/v1/cart/lines"))
            .bearer_auth(&*token)
            .json(&body)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
            }
            Ok(r) => return Chain::Failed(Some(r.status().as_u16())),
            Err(_) => return Chain::Failed(None),
        }
    }
    let body = json!({
        "shipping": {"name": "Ann Buyer", "line1": "1 Main St", "city": "Springfield",
            "postal_code": "12345", "country": "US"},
        "payment_method": "pm_card_visa",
    });
    let sent = Instant::now();
    let answer = client
        .post(format!("{address}/v1/checkout"))
        .bearer_auth(&*token)
        .header("idempotency-key", format!("bench-{run}-{n}"))
        .json(&body)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().as_u16() == 201 => match r.json::<Value>().await {
            Ok(order) if order["status"] == "paid" => Chain::Placed {
                checkout: sent.elapsed(),
            },
            // Accepted, but not paid at once: counted as an error here; the
            // settlement check below shows whether it was paid later.
            _ => Chain::Failed(Some(201)),
        },
        Ok(r) => Chain::Failed(Some(r.status().as_u16())),
        Err(_) => Chain::Failed(None),
    }
}

/// Places `rate` orders per second for `seconds`, open loop: order `n`'s chain
/// starts at `n / rate` whatever happened to the ones before it.
async fn open_loop(market: Arc<Market>, rate: u64, seconds: u64) -> (Outcome, Vec<u64>) {
    let client = client();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let total = rate * seconds;
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let checkouts_us = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let scheduled = start + interval * u32::try_from(n).expect("bounded run");
        tokio::time::sleep_until(scheduled.into()).await;
        let late = Instant::now().duration_since(scheduled) > LATE_AFTER;
        let (client, market, run) = (client.clone(), Arc::clone(&market), run.clone());
        let (outcome, checkouts_us, in_flight) = (
            Arc::clone(&outcome),
            Arc::clone(&checkouts_us),
            Arc::clone(&in_flight),
        );
        in_flight.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(async move {
            let chain = tokio::time::timeout(CHAIN_TIMEOUT, order(&client, &market, &run, n)).await;
            let latency = Instant::now().duration_since(scheduled);
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let mut outcome = outcome.lock().unwrap();
            outcome.late += u64::from(late);
            match chain {
                Err(_) => outcome.dropped += 1,
                Ok(Chain::Failed(status)) => {
                    outcome.errors += 1;
                    if let Some(status) = status {
                        if outcome.error_statuses.len() < 8
                            && !outcome.error_statuses.contains(&status)
                        {
                            outcome.error_statuses.push(status);
                        }
                    }
                }
                Ok(Chain::Placed { checkout }) => {
                    outcome
                        .latencies_us
                        .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                    checkouts_us
                        .lock()
                        .unwrap()
                        .push(u64::try_from(checkout.as_micros()).unwrap_or(u64::MAX));
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let mut outcome = std::mem::take(&mut *outcome.lock().unwrap());
    outcome.elapsed = start.elapsed();
    let checkouts = std::mem::take(&mut *checkouts_us.lock().unwrap());
    (outcome, checkouts)
}

/// Whether the ledger balances: the trial balance asserts debits = credits
/// per currency; a panic there is reported, not propagated.
async fn ledger_balances(url: &str) -> Value {
    harness::with_connection(url, |conn| {
        let trial = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bazaar::ledger::trial_balance(conn, None)
        }));
        match trial {
            Ok(Ok(trial)) => json!(trial
                .totals
                .iter()
                .all(|(_, totals)| totals.debits == totals.credits)),
            Ok(Err(e)) => json!(format!("error: {e}")),
            Err(_) => json!("unbalanced"),
        }
    })
    .await
}

pub async fn run(backend: Backend, rate: u64, seconds: u64) -> Row {
    let db = harness::database(backend);
    let work = tempfile::tempdir().unwrap();
    // A known port for the in-process sandbox, so set-up can onboard shops.
    let sandbox_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sandbox_bind = format!("127.0.0.1:{sandbox_port}");
    let server = harness::start_server(
        &db,
        work.path(),
        &[("BAZAAR__SANDBOX__BIND", sandbox_bind.as_str())],
    )
    .await;
    let client = client();
    let buyers = (rate / 2).clamp(BUYERS_MIN, BUYERS_MAX);
    let set_up = Instant::now();
    let market = Arc::new(
        market(
            &client,
            &server.address,
            &format!("http://{sandbox_bind}"),
            &db.url,
            buyers,
        )
        .await,
    );
    let set_up_s = set_up.elapsed().as_secs_f64();
    eprintln!("  set up in {set_up_s:.1} s ({buyers} buyers); ordering");
    let webhooks_before = count(&db.url, WEBHOOKS).await;
    let (sent, mut checkouts_us) = open_loop(market, rate, seconds).await;
    let drain_started = Instant::now();
    let orders = count(&db.url, ORDERS).await;
    let mut received = -1;
    loop {
        let settled = count(&db.url, SETTLED).await;
        // Quiet: nothing unprocessed, and no event arrived since the last look
        // (deliveries still in flight are not in the table yet).
        let now_received = count(&db.url, WEBHOOKS).await;
        let quiet = now_received == received && count(&db.url, WEBHOOKS_UNPROCESSED).await == 0;
        received = now_received;
        if (settled >= orders && quiet) || drain_started.elapsed() >= DRAIN_MAX {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let processed_in = sent.elapsed + drain_started.elapsed();
    let settled = count(&db.url, SETTLED).await;
    let mut row = Row::new("checkout", db.backend, rate, &sent, &server);
    row.processed_rate = Some((settled as f64 / processed_in.as_secs_f64()).round());
    checkouts_us.sort_unstable();
    let notes = &mut row.notes;
    notes["chain"] =
        json!("3 × POST /v1/cart/lines + POST /v1/checkout, latency from the scheduled time");
    notes["checkout_p50_ms"] = json!(percentile_ms(&checkouts_us, 50.0));
    notes["checkout_p99_ms"] = json!(percentile_ms(&checkouts_us, 99.0));
    notes["checkout_p999_ms"] = json!(percentile_ms(&checkouts_us, 99.9));
    notes["buyers"] = json!(buyers);
    notes["set_up_s"] = json!(set_up_s);
    notes["drain_s"] = json!(drain_started.elapsed().as_secs_f64());
    notes["orders"] = json!(orders);
    notes["orders_paid"] = json!(count(&db.url, PAID).await);
    notes["orders_settled"] = json!(settled);
    notes["movements_not_succeeded"] = json!(count(&db.url, MOVEMENTS_NOT_SUCCEEDED).await);
    notes["webhooks_received"] = json!(count(&db.url, WEBHOOKS).await - webhooks_before);
    notes["webhooks_unprocessed"] = json!(count(&db.url, WEBHOOKS_UNPROCESSED).await);
    notes["ledger_balances"] = ledger_balances(&db.url).await;
    notes["rss_after_drain_mib"] = json!((server.rss_mib() * 10.0).round() / 10.0);
    row
}
