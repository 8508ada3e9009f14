//! `bazaar serve` killed with SIGKILL again and again under a checkout load,
//! restarted on the same data each time: every answered order exists, is paid
//! once and settles; nothing waits for payment; no job died; the ledger
//! balances and a reconciliation with the provider finds nothing. Once with
//! the embedded sandbox (killed with the server: its state file must keep what
//! it confirmed) and once with the sandbox as its own process (killed too,
//! once), on the suite's database.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common;

use common::cli::{free_port, sandbox_process, Running};
use common::TestDatabase;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{json, Value};

pub(crate) const PASSWORD: &str = "bazaar-demo-2026!";
pub(crate) const BUYER: &str = "buyer@demo.bazaar.example";
/// Kills of the server during the load.
const KILLS: usize = 4;
/// How long the load runs between two kills.
const BETWEEN_KILLS: Duration = Duration::from_millis(1_500);
/// How long the books may take to settle after the load.
const SETTLE_WAIT: Duration = Duration::from_secs(60);

/// The marketplace's processes, their folder and settings.
pub(crate) struct Market {
    pub(crate) dir: PathBuf,
    pub(crate) database: String,
    pub(crate) port: u16,
    /// Settings for an outside sandbox (empty: the embedded one).
    pub(crate) provider: Vec<(&'static str, String)>,
    pub(crate) serve: Option<Running>,
    pub(crate) starts: usize,
}

impl Market {
    pub(crate) fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = common::cli::bazaar_command(&self.dir, Some(&self.database), args);
        for (key, value) in &self.provider {
            command.env(key, value);
        }
        // One buyer places every order of the load: the per-buyer checkout
        // limit is not what this test is about.
        command.env("BAZAAR__LIMITS__CHECKOUT_PER_MINUTE", "1000000");
        // A job a killed server (or the outage) left claimed runs again when
        // its lease ends: ten seconds instead of two minutes, to wait less.
        command.env("BAZAAR__JOBS__LEASE_MS", "10000");
        command
    }

    /// `demo --seed`: the demo shops, their catalog, the buyer and a fee rule.
    pub(crate) fn seed(&self) {
        let seeded = self.command(&["demo", "--seed"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&seeded.stderr);
        assert!(seeded.status.success(), "{stderr}");
    }

    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts `serve` and waits until it is ready.
    pub(crate) async fn start(&mut self) {
        let log =
            std::fs::File::create(self.dir.join(format!("serve-{}.log", self.starts))).unwrap();
        self.starts += 1;
        let child = self
            .command(&["serve", "--bind", &format!("127.0.0.1:{}", self.port)])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("serve starts");
        self.serve = Some(Running(child));
        let readyz = format!("{}/readyz", self.base());
        let ready = common::cli::answers_within(&readyz, None, Duration::from_secs(60)).await;
        assert!(ready, "serve did not get ready: {}", self.logs());
    }

    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.serve.take() {
            child.kill();
        }
    }

    pub(crate) fn logs(&self) -> String {
        (0..self.starts)
            .map(|i| {
                std::fs::read_to_string(self.dir.join(format!("serve-{i}.log"))).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

/// A buyer's requests, retried as a client of a crashing server must: a
/// connection refused, reset or a 5xx is sent again, checkout under the same
/// `Idempotency-Key`, until an answer comes. With several `bases` (processes
/// of one marketplace, as behind a load balancer), a request whose process
/// does not answer goes to the next.
pub(crate) struct Buyer {
    pub(crate) http: reqwest::Client,
    pub(crate) bases: Vec<String>,
    /// The index in `bases` requests go to now.
    pub(crate) at: std::sync::atomic::AtomicUsize,
    pub(crate) token: String,
    /// Every 5xx answered, with when.
    pub(crate) failures: std::sync::Arc<std::sync::Mutex<Vec<(Instant, u16)>>>,
}

impl Buyer {
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let base =
                &self.bases[self.at.load(std::sync::atomic::Ordering::Relaxed) % self.bases.len()];
            let mut request = self
                .http
                .request(method.clone(), format!("{base}{path}"))
                .bearer_auth(&self.token)
                .timeout(Duration::from_secs(20))
                .json(body);
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key);
            }
            let sent = request.send().await;
            if sent.as_ref().is_err_and(reqwest::Error::is_connect) {
                self.at.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if let Ok(response) = sent {
                let status = response.status().as_u16();
                if status >= 500 {
                    self.failures.lock().unwrap().push((Instant::now(), status));
                }
                if let Ok(body) = response.json::<Value>().await {
                    // 503 while overloaded or the database is away; 409 while
                    // the first attempt of this key is still running.
                    let again = status >= 500
                        || (status == 409
                            && key.is_some()
                            && body["error"]["code"] == "idempotency_key_in_use");
                    if !again {
                        return (status, body);
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{method} {path}: no answer in 90 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Buys one product of each shop of `products` per order until `stop`; returns
/// the ids of the orders checkout answered, with when.
pub(crate) async fn shop_until(
    buyer: Buyer,
    products: Vec<Vec<String>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<(String, Instant)> {
    let mut orders = Vec::new();
    for i in 0.. {
        if *stop.borrow() {
            break;
        }
        for shop_products in &products {
            let product = &shop_products[i % shop_products.len()];
            let line = json!({"product_id": product, "quantity": 1});
            let (status, body) = buyer
                .send(reqwest::Method::POST, "/v1/cart/lines", &line, None)
                .await;
            assert!(matches!(status, 200 | 201), "cart line: {status} {body}");
        }
        let checkout = json!({
            "shipping": {"name": "Ann Buyer", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"},
            "payment_method": "pm_card_visa",
        });
        let key = format!("crash-order-{i}");
        let (status, order) = buyer
            .send(reqwest::Method::POST, "/v1/checkout", &checkout, Some(&key))
            .await;
        assert!(
            matches!(status, 200 | 201),
            "checkout {key}: {status} {order}"
        );
        orders.push((order["id"].as_str().unwrap().to_owned(), Instant::now()));
    }
    orders
}

/// A session of the demo account `email`.
pub(crate) async fn sign_in(base: &str, email: &str) -> String {
    let body = json!({"email": email, "password": PASSWORD});
    let answer = post_json(&format!("{base}/v1/sessions"), &body).await;
    answer["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{email} signs in: {answer}"))
        .to_owned()
}

/// POST `body` to `url`; the answer's JSON.
pub(crate) async fn post_json(url: &str, body: &Value) -> Value {
    let response = crate::common::http_client().post(url).json(body).send();
    response.await.unwrap().json().await.unwrap()
}

/// GET `url`'s JSON, with `token` as the bearer when given.
pub(crate) async fn get_json(url: &str, token: Option<&str>) -> Value {
    let mut request = crate::common::http_client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// Per euro shop of the demo catalog, up to 8 of its products with 100 or more
/// in stock: each order takes one of each shop's, in turn (a cart across two
/// sellers that no fast run sells out).
pub(crate) async fn two_shops_products(base: &str) -> Vec<Vec<String>> {
    let mut picked = Vec::new();
    for slug in ["atelier-lumiere", "schwarzwald-werkstatt"] {
        let shops = get_json(&format!("{base}/v1/shop_profiles"), None).await;
        let shop = shops["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slug"] == slug)
            .unwrap_or_else(|| panic!("{slug} is not selling: {shops}"))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let url = format!("{base}/v1/products?shop={shop}&in_stock=true&limit=100");
        let products = get_json(&url, None).await;
        let mut stocked: Vec<String> = products["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["stock"].as_i64().unwrap_or(0) >= 100)
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            stocked.len() >= 4,
            "{slug} has few stocked products: {products}"
        );
        stocked.truncate(8);
        picked.push(stocked);
    }
    picked
}

/// Each euro shop's id and its demo seller's session.
pub(crate) async fn euro_sellers(base: &str) -> Vec<(String, String)> {
    let mut sellers = Vec::new();
    for slug in ["atelier-lumiere", "schwarzwald-werkstatt"] {
        let token = sign_in(base, &format!("owner@{slug}.demo.bazaar.example")).await;
        let shops = get_json(&format!("{base}/v1/shops"), Some(&token)).await;
        let shop = shops["data"][0]["id"].as_str().unwrap().to_owned();
        sellers.push((shop, token));
    }
    sellers
}

/// The parts, as their sellers see them, that are not yet paid and either
/// settled, waiting for their release (the shop's policy) or held with a
/// reason, leaving out the orders `unpaid` names; and an entry per shop with
/// fewer parts than `orders`.
pub(crate) async fn unsettled_parts(
    base: &str,
    sellers: &[(String, String)],
    orders: usize,
    unpaid: &[String],
) -> Vec<Value> {
    let mut unsettled = Vec::new();
    for (shop, token) in sellers {
        let mut parts = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let mut url = format!("{base}/v1/shops/{shop}/orders?limit=100");
            if let Some(before) = &before {
                url.push_str(&format!("&created_before={before}"));
            }
            let page = get_json(&url, Some(token)).await;
            let data = page["data"].as_array().unwrap().clone();
            let full = data.len() == 100;
            before = data
                .last()
                .and_then(|p| p["created_at"].as_str())
                .map(str::to_owned);
            parts.extend(data);
            if !full {
                break;
            }
        }
        if parts.len() != orders {
            unsettled.push(json!({"shop": shop, "parts": parts.len(), "orders": orders}));
        }
        for part in parts {
            let settlement = &part["part"]["settlement"];
            let status = settlement["status"].as_str().unwrap_or_default();
            let done = status == "settled"
                || status == "awaiting_release"
                || (status == "held" && settlement["hold_reason"].is_string());
            let left_out = unpaid.iter().any(|id| part["order_id"] == id.as_str());
            if !left_out && (part["order_status"] != "paid" || !done) {
                unsettled.push(part);
            }
        }
    }
    unsettled
}

/// How long the database is away.
const OUTAGE: Duration = Duration::from_secs(10);

/// Takes the database away for [`OUTAGE`]: SQLite's write lock held by
/// another connection; PostgreSQL refusing connections to it, its sessions
/// ended. Returns when it is back.
async fn database_outage(database: &str) {
    let database = database.to_owned();
    tokio::task::spawn_blocking(move || {
        if let Some(path) = database.strip_prefix("sqlite://") {
            let mut locker = diesel::SqliteConnection::establish(path).unwrap();
            locker
                .batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE;")
                .unwrap();
            std::thread::sleep(OUTAGE);
            locker.batch_execute("COMMIT").unwrap();
            return;
        }
        let admin_url = std::env::var(common::TEST_DATABASE_URL_VAR).unwrap();
        let name = database
            .split('?')
            .next()
            .and_then(|base| base.rsplit('/').next())
            .unwrap()
            .to_owned();
        let mut admin = diesel::PgConnection::establish(&admin_url).unwrap();
        // The name was generated by the suite, never input.
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
            ))
            .unwrap();
        std::thread::sleep(OUTAGE);
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
            ))
            .unwrap();
    })
    .await
    .unwrap();
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub(crate) fn count(pool: &bazaar::db::DbPool, sql: &str) -> i64 {
    let mut conn = pool.get().unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

/// A buyer placing two-shop orders without pause against a running market.
pub(crate) struct Load {
    stop: tokio::sync::watch::Sender<bool>,
    orders: tokio::task::JoinHandle<Vec<(String, Instant)>>,
    /// Every 5xx the buyer was answered, with when.
    pub(crate) failures: std::sync::Arc<std::sync::Mutex<Vec<(Instant, u16)>>>,
}

impl Load {
    /// Starts the load on `market` (seeded and serving).
    pub(crate) async fn start(market: &Market) -> Load {
        let base = market.base();
        let products = two_shops_products(&base).await;
        let failures = std::sync::Arc::default();
        let buyer = Buyer {
            http: crate::common::http_client(),
            bases: vec![base.clone()],
            at: std::sync::atomic::AtomicUsize::new(0),
            token: sign_in(&base, BUYER).await,
            failures: std::sync::Arc::clone(&failures),
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let orders = tokio::spawn(shop_until(buyer, products, stopped));
        Load {
            stop,
            orders,
            failures,
        }
    }

    /// Stops after the order under way; the orders answered, with when.
    /// Every 5xx the buyer saw must have been a 503: the server said to retry.
    pub(crate) async fn stop(self) -> Vec<(String, Instant)> {
        self.stop.send(true).unwrap();
        let answered = self.orders.await.unwrap();
        assert!(
            answered.len() >= 10,
            "only {} orders in the load",
            answered.len()
        );
        let failures = self.failures.lock().unwrap().clone();
        assert!(
            failures.iter().all(|(_, status)| *status == 503),
            "{failures:?}"
        );
        eprintln!(
            "the buyer was answered 503 (and retried) {} time(s)",
            failures.len()
        );
        answered
    }
}

/// Loads checkouts while killing `serve` `KILLS` times (and `kill_also`,
/// once, halfway), then checks the books.
async fn crash_under_load(market: &mut Market, mut kill_also: impl FnMut(usize)) {
    market.seed();
    market.start().await;
    let load = Load::start(market).await;
    for kill in 0..KILLS {
        tokio::time::sleep(BETWEEN_KILLS).await;
        market.kill();
        kill_also(kill);
        market.start().await;
    }
    tokio::time::sleep(BETWEEN_KILLS).await;
    // Then the database goes away under the same load, and comes back.
    let outage_started = Instant::now();
    database_outage(&market.database).await;
    let outage_ended = Instant::now();
    tokio::time::sleep(BETWEEN_KILLS).await;
    // While the database was away the server said so (503, retried), and it
    // never failed otherwise.
    let answered = load.stop().await;
    eprintln!(
        "{} orders answered through {KILLS} kills and an outage",
        answered.len()
    );
    // The outage held: once a request waiting for the database has given
    // up (the busy or connect timeout, 5 s), no order is made until it ends.
    let dark = outage_started + Duration::from_secs(6)..outage_ended;
    let during: Vec<_> = answered
        .iter()
        .filter(|(_, at)| dark.contains(at))
        .collect();
    assert!(
        during.is_empty(),
        "orders answered while the database was away: {during:?}"
    );
    books_agree(market, &answered).await;
}

/// After a load: every order the buyer was answered is there once, paid and
/// settled (or waiting by policy, or held with a reason), and no other;
/// nothing waits for payment; no job died; the ledger balances; and a
/// reconciliation with the provider (run once `serve` is stopped) is clean.
pub(crate) async fn books_agree(market: &mut Market, answered: &[(String, Instant)]) {
    let orders: Vec<String> = answered.iter().map(|(id, _)| id.clone()).collect();
    let base = market.base();
    let settings = common::test_settings(&market.database, &[]);
    let pool = bazaar::db::connect_pool(&settings.database).unwrap();
    let sellers = euro_sellers(&base).await;
    let deadline = Instant::now() + SETTLE_WAIT;
    loop {
        let unsettled = unsettled_parts(&base, &sellers, orders.len(), &[]).await;
        let Some(example) = unsettled.first() else {
            break;
        };
        assert!(
            Instant::now() < deadline,
            "{} part(s) not paid and settled in time, e.g. {example}\n{}",
            unsettled.len(),
            market.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every order the buyer was answered is there once: retries replayed it.
    let ids: std::collections::BTreeSet<&String> = orders.iter().collect();
    assert_eq!(ids.len(), orders.len(), "an order answered twice");
    assert_eq!(
        count(&pool, "SELECT COUNT(*) AS n FROM orders"),
        i64::try_from(orders.len()).unwrap(),
        "orders made beside the answered ones"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) AS n FROM orders WHERE status = 'awaiting_payment'"
        ),
        0
    );
    ledger_and_provider_agree(market, &pool);
}

/// No job died, debits equal credits, and `bazaar reconcile` (run once
/// `serve` is stopped) finds nothing.
pub(crate) fn ledger_and_provider_agree(market: &mut Market, pool: &bazaar::db::DbPool) {
    assert_eq!(
        count(pool, "SELECT COUNT(*) AS n FROM jobs WHERE status = 'dead'"),
        0,
        "{}",
        market.logs()
    );
    {
        let mut conn = pool.get().unwrap();
        // Panics when debits and credits differ in a currency.
        bazaar::ledger::trial_balance(&mut conn, None).unwrap();
    }
    market.kill();
    let reconciled = market.command(&["reconcile"]).output().unwrap();
    let out = String::from_utf8_lossy(&reconciled.stdout);
    assert_eq!(
        reconciled.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&reconciled.stderr)
    );
    assert!(out.contains(" 0 difference(s)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_under_checkout_load_with_the_embedded_sandbox_loses_nothing() {
    let database = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let mut market = Market {
        dir: dir.path().to_owned(),
        database: database.url.clone(),
        port: free_port(),
        provider: Vec::new(),
        serve: None,
        starts: 0,
    };
    crash_under_load(&mut market, |_| {}).await;
}

/// The provider as its own process: `bazaar sandbox` on `sandbox_port` with
/// its state in `state_file`, sending the marketplace's webhooks to
/// `webhooks_base`. Returns it and the settings that point `serve` at it.
pub(crate) async fn outside_provider(
    dir: &std::path::Path,
    state_file: &std::path::Path,
    sandbox_port: u16,
    webhooks_base: &str,
) -> (Running, Vec<(&'static str, String)>) {
    let sandbox_base = format!("http://127.0.0.1:{sandbox_port}");
    let sandbox = sandbox_process(dir, state_file, sandbox_port).await;
    // The provider sends the marketplace's webhooks to it, signed with the
    // secrets it gives each endpoint.
    let mut secrets = Vec::new();
    for (path, connect) in [
        ("/webhooks/stripe", "false"),
        ("/webhooks/stripe/connect", "true"),
    ] {
        let endpoint: Value = crate::common::http_client()
            .post(format!("{sandbox_base}/v1/webhook_endpoints"))
            .bearer_auth(common::SANDBOX_KEY)
            .form(&[
                ("url", format!("{webhooks_base}{path}").as_str()),
                ("enabled_events[]", "*"),
                ("connect", connect),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        secrets.push(
            endpoint["secret"]
                .as_str()
                .expect("a whsec_ secret")
                .to_owned(),
        );
    }
    let settings = vec![
        ("BAZAAR__PROVIDER__KIND", "stripe".into()),
        ("BAZAAR__PROVIDER__API_BASE", sandbox_base),
        ("BAZAAR__PROVIDER__SECRET_KEY", common::SANDBOX_KEY.into()),
        ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", secrets[0].clone()),
        (
            "BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS",
            secrets[1].clone(),
        ),
    ];
    (sandbox, settings)
}

/// The seed leaves shops pending at a provider that is not the embedded
/// sandbox: the outside sandbox's helper completes their onboarding, and its
/// `account.updated` webhooks make them active (`market` must be serving).
pub(crate) async fn onboard_seeded_shops(market: &Market, sandbox_port: u16) {
    let settings = common::test_settings(&market.database, &[]);
    let pool = bazaar::db::connect_pool(&settings.database).unwrap();
    #[derive(QueryableByName)]
    struct Account {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let accounts: Vec<Account> = {
        let mut conn = pool.get().unwrap();
        diesel::sql_query(
            "SELECT provider_account_id AS id FROM shops WHERE provider_account_id IS NOT NULL",
        )
        .load(&mut conn)
        .unwrap()
    };
    for account in &accounts {
        let done = crate::common::http_client()
            .post(format!(
                "http://127.0.0.1:{sandbox_port}/v1/test_helpers/accounts/{}/complete_onboarding",
                account.id
            ))
            .bearer_auth(common::SANDBOX_KEY)
            .send()
            .await
            .unwrap();
        assert!(done.status().is_success());
    }
    common::wait_until(|| async {
        count(
            &pool,
            "SELECT COUNT(*) AS n FROM shops WHERE onboarding_status = 'active' AND charges_enabled",
        ) == i64::try_from(accounts.len()).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_under_checkout_load_with_the_sandbox_outside_loses_nothing() {
    let database = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let (sandbox_port, port) = (free_port(), free_port());
    let state_file = dir.path().join("provider/sandbox.db");
    let (mut sandbox, provider) = outside_provider(
        dir.path(),
        &state_file,
        sandbox_port,
        &format!("http://127.0.0.1:{port}"),
    )
    .await;
    let mut market = Market {
        dir: dir.path().to_owned(),
        database: database.url.clone(),
        port,
        provider,
        serve: None,
        starts: 0,
    };
    market.seed();
    market.start().await;
    onboard_seeded_shops(&market, sandbox_port).await;
    market.kill();

    // The provider dies once too, between two of the server's deaths.
    let sandbox_dir = dir.path().to_owned();
    crash_under_load(&mut market, |kill| {
        if kill == KILLS / 2 {
            sandbox.kill();
            sandbox = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(sandbox_process(
                    &sandbox_dir,
                    &state_file,
                    sandbox_port,
                ))
            });
        }
    })
    .await;
    sandbox.kill();
}
