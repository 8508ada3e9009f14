//! The acceptance test of the money flow: a day of a marketplace — 52 orders
//! over 5 sellers, refunds, a lost and a won dispute, payouts paid and one
//! failed — with every webhook delivered twice, in shuffled bursts, some held
//! back past later ones, and the job workers killed and restarted all along.
//! The ledger must end exactly where a calculation made here, from the
//! orders' prices alone, says; the trial balance must be zero; reconciliation
//! with the provider must find nothing. Then one input is taken out of the
//! ledger and reconciliation must name it.

use crate::common;
use crate::orders_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::people::{get_as, pool, post_as, signup, staff, Person};
use common::TestApp;
use diesel::prelude::*;
use orders_support::*;
use serde_json::{json, Value};

const SHOPS: usize = 5;
const ORDERS: usize = 50;
const PRICES: [i64; SHOPS] = [1250, 1999, 3000, 845, 2210];
/// The sandbox's USD dispute fee.
pub(crate) const DISPUTE_FEE: i64 = 1500;

/// The sandbox's card fee, computed here: 2.9 % (half up) + 30.
pub(crate) fn card_fee(amount: i64) -> i64 {
    (amount * 290 + 5_000) / 10_000 + 30
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

/// Job workers that are killed and replaced every few hundred milliseconds
/// until `stop`; then two are left running and the task ends with the number
/// of kills.
pub(crate) fn chaotic_workers(
    app: &TestApp,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u32> {
    let pool = pool(app);
    let provider = Arc::clone(&app.provider);
    let notifier =
        Arc::new(bazaar::app::notifier(&app.settings, app.address.clone()).expect("notifier"));
    let settings = app.settings.jobs.clone();
    tokio::spawn(async move {
        let spawn = |n: u64| -> Vec<tokio::task::JoinHandle<()>> {
            (0..n)
                .map(|_| {
                    bazaar::jobs::spawn_worker(
                        pool.clone(),
                        bazaar::app::job_handler(
                            pool.clone(),
                            Arc::clone(&provider),
                            Arc::clone(&notifier),
                        ),
                        settings.clone(),
                    )
                })
                .collect()
        };
        let mut random = Lcg(7);
        let mut kills = 0;
        while !stop.load(Ordering::SeqCst) {
            let workers = spawn(1 + random.next(3));
            tokio::time::sleep(Duration::from_millis(40 + random.next(200))).await;
            for worker in workers {
                worker.abort();
            }
            kills += 1;
        }
        // Detached: they run until the test's runtime ends.
        drop(spawn(2));
        kills
    })
}

/// The people of a day (the market's operator set its fee rule).
pub(crate) struct Cast {
    pub(crate) support: Person,
    pub(crate) finance: Person,
    /// One per price, in USD, onboarded.
    pub(crate) shops: Vec<Value>,
    /// Each shop's one product, at its price, 10,000 in stock.
    pub(crate) products: Vec<String>,
    /// The market's buyer and two more.
    pub(crate) buyers: [Person; 3],
}

/// Sets up a [`Cast`]: a seller per price; the last one's bank refuses
/// payouts when `failing_bank`.
pub(crate) async fn cast(app: &TestApp, prices: &[i64], failing_bank: bool) -> Cast {
    let market = market(app).await;
    let support = staff(app, &market.operator, "support").await;
    let finance = staff(app, &market.operator, "finance").await;
    let mut shops = Vec::new();
    let mut products = Vec::new();
    for (i, price) in prices.iter().enumerate() {
        let seller = signup(app, "seller").await;
        let shop = active_shop(app, &seller, "USD").await;
        if failing_bank && i == prices.len() - 1 {
            let account = shop["provider_account_id"].as_str().unwrap();
            app.sandbox_post(
                &format!("/v1/test_helpers/accounts/{account}/external_account"),
                &[("account_number", "000111111116")],
            )
            .await;
        }
        products.push(product(app, &seller, &shop, &format!("Item {i}"), *price, 10_000).await);
        shops.push(shop);
    }
    let buyers = [
        market.buyer.clone(),
        signup(app, "buyer").await,
        signup(app, "buyer").await,
    ];
    Cast {
        support,
        finance,
        shops,
        products,
        buyers,
    }
}

/// Sends the evidence that wins (or loses) the dispute of `order_id`, one of
/// `opened` (from [`disputes_opened`]).
pub(crate) async fn decide_dispute(
    app: &TestApp,
    support: &Person,
    opened: &[Value],
    order_id: &str,
    won: bool,
) {
    let view = json_of(
        get_as(app, support, &format!("/v1/orders/{order_id}")).await,
        200,
    )
    .await;
    let intent = &view["payment"]["intent_id"];
    let dispute = opened
        .iter()
        .find(|d| &d["payment_intent"] == intent)
        .unwrap_or_else(|| panic!("no dispute for {order_id}"));
    let evidence = if won {
        "winning_evidence"
    } else {
        "losing_evidence"
    };
    app.sandbox_post(
        &format!("/v1/disputes/{}", dispute["id"].as_str().unwrap()),
        &[("evidence[uncategorized_text]", evidence)],
    )
    .await;
}

/// What the test expects, from prices and rules alone.
#[derive(Default)]
pub(crate) struct Expected {
    pub(crate) gross: i64,
    pub(crate) card_fees: i64,
    pub(crate) fees: i64,
    pub(crate) refunded: i64,
    pub(crate) refunds_borne: i64,
    /// Per shop: what its connected account should have received, net.
    pub(crate) transferred: BTreeMap<usize, i64>,
}

impl Expected {
    pub(crate) fn part(&mut self, shop: usize, subtotal: i64) {
        let fee = market_fee(subtotal);
        self.fees += fee;
        *self.transferred.entry(shop).or_insert(0) += subtotal - fee;
    }
}

pub(crate) async fn ledger(app: &TestApp, finance: &Person) -> Value {
    let trial = json_of(get_as(app, finance, "/v1/ledger/trial-balance").await, 200).await;
    assert_eq!(
        trial["totals"]["USD"][0], trial["totals"]["USD"][1],
        "debits = credits: {}",
        trial["totals"]
    );
    trial
}

/// Waits until the sandbox has delivered everything and every job is done,
/// sweeping what a killed worker left half-way, and nothing changes any more.
pub(crate) async fn settle_down(app: &TestApp) {
    let pool = pool(app);
    let mut quiet = 0;
    let mut last = (-1, -1);
    for _ in 0..600 {
        sweep(app, 0).await;
        let pool = pool.clone();
        let seen = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().unwrap();
            let events: i64 = diesel::sql_query("SELECT COUNT(*) AS n FROM webhook_events")
                .get_result::<Count>(&mut conn)
                .unwrap()
                .n;
            let open: i64 =
                diesel::sql_query("SELECT COUNT(*) AS n FROM jobs WHERE status <> 'done'")
                    .get_result::<Count>(&mut conn)
                    .unwrap()
                    .n;
            (events, open)
        })
        .await
        .unwrap();
        if seen.1 == 0 && seen == last {
            quiet += 1;
            if quiet == 8 {
                return;
            }
        } else {
            quiet = 0;
        }
        last = seen;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the marketplace never settled down: {last:?}");
}

/// Polls `check` for up to a minute (deliveries here are slow on purpose).
pub(crate) async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not reached in 60 s: {what}");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub(crate) async fn reconcile(app: &TestApp, finance: &Person) -> Value {
    json_of(
        post_as(app, finance, "/v1/reconciliation/reports", &json!({})).await,
        201,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_day_of_chaotic_delivery_ends_with_exact_books_and_a_clean_reconciliation() {
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__JOBS__WORKERS", "0"),
            ("BAZAAR__JOBS__LEASE_MS", "300"),
            ("BAZAAR__SANDBOX__FAULT_DUPLICATE", "true"),
            ("BAZAAR__SANDBOX__FAULT_SHUFFLE", "true"),
            ("BAZAAR__SANDBOX__FAULT_JITTER_MS", "400"),
        ],
        |_| {},
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let workers = chaotic_workers(&app, Arc::clone(&stop));
    // Five sellers; the last one's bank refuses payouts.
    let Cast {
        support,
        finance,
        shops,
        products,
        buyers,
    } = cast(&app, &PRICES, true).await;

    // Fifty orders of one to three shops, one or two units per line.
    let mut expected = Expected::default();
    let mut random = Lcg(2026);
    let mut orders = Vec::new();
    for n in 0..ORDERS {
        let buyer = &buyers[n % buyers.len()];
        let first = random.next(SHOPS as u64) as usize;
        let count = 1 + random.next(3) as usize;
        let mut lines = Vec::new();
        for k in 0..count {
            let shop = (first + k * 2) % SHOPS;
            let quantity = 1 + random.next(2) as i64;
            add_to_cart(&app, buyer, &products[shop], quantity).await;
            lines.push((shop, quantity * PRICES[shop]));
        }
        let order = checkout_ok(&app, buyer, &format!("order-{n}"), Some("pm_card_visa")).await;
        assert_eq!(order["status"], "paid", "{order}");
        let gross: i64 = lines.iter().map(|(_, amount)| amount).sum();
        expected.gross += gross;
        expected.card_fees += card_fee(gross);
        for (shop, subtotal) in &lines {
            expected.part(*shop, *subtotal);
        }
        orders.push((order, lines));
    }

    // Refunds: one unit of the first line of every seventh order.
    for (n, (order, lines)) in orders.iter().enumerate().filter(|(n, _)| n % 7 == 3) {
        let (shop, subtotal) = lines[0];
        let line = &order["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["shop_id"] == shops[shop]["id"])
            .unwrap()["lines"][0];
        let amount = PRICES[shop];
        let body = json!({"lines": [{"line_id": line["id"], "quantity": 1}], "restock": false});
        let path = format!("/v1/orders/{}/refunds", order["id"].as_str().unwrap());
        let refund = json_of(
            post_keyed(&app, &support, &path, &format!("refund-{n}"), &body).await,
            201,
        )
        .await;
        assert_eq!(refund["status"], "succeeded");
        let fee = market_fee(subtotal);
        let seller_portion = proportion(amount, subtotal - fee, subtotal);
        expected.refunded += amount;
        expected.refunds_borne += amount - seller_portion;
        *expected.transferred.get_mut(&shop).unwrap() -= seller_portion;
    }

    // Two disputed orders of one shop each: the first is won, the second lost.
    let mut disputed = Vec::new();
    for (k, shop) in [0usize, 1].into_iter().enumerate() {
        let buyer = &buyers[k];
        add_to_cart(&app, buyer, &products[shop], 1).await;
        let order = checkout_ok(
            &app,
            buyer,
            &format!("disputed-{k}"),
            Some("pm_card_createDispute"),
        )
        .await;
        let gross = PRICES[shop];
        expected.gross += gross;
        expected.card_fees += card_fee(gross);
        expected.part(shop, gross);
        disputed.push((order["id"].as_str().unwrap().to_owned(), shop, gross));
    }
    let opened = disputes_opened(&app).await;
    assert_eq!(opened.len(), 2);
    for (order_id, shop, gross) in &disputed {
        let won = *shop == 0;
        decide_dispute(&app, &support, &opened, order_id, won).await;
        if !won {
            // Lost: the seller gives back its whole share; the platform loses
            // its fee on the order and pays the dispute fee.
            *expected.transferred.get_mut(shop).unwrap() -= gross - market_fee(*gross);
        }
    }
    let (won_order, lost_order) = (disputed[0].0.clone(), disputed[1].0.clone());
    let (app_ref, support_ref) = (&app, &support);
    let outcome = |id: String| async move {
        json_of(
            get_as(app_ref, support_ref, &format!("/v1/orders/{id}")).await,
            200,
        )
        .await["disputes"][0]["outcome"]
            .clone()
    };
    eventually("both disputes decided", || async {
        outcome(won_order.clone()).await == "won" && outcome(lost_order.clone()).await == "lost"
    })
    .await;

    // Four days later: funds available after two, paid out daily, one day in
    // transit; the last seller's payout fails.
    settle_down(&app).await;
    app.sandbox_post("/v1/test_helpers/advance_clock", &[("seconds", "345600")])
        .await;
    // A seller may get more than one payout (funds can become available on
    // both sides of a payout day): wait until each has one landed and none
    // on its way.
    let shop_ids: Vec<String> = shops
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    eventually("every seller's payouts landed or failed", || async {
        let payouts = json_of(get_as(&app, &support, "/v1/payouts?limit=100").await, 200).await;
        let payouts = payouts["data"].as_array().unwrap().clone();
        shop_ids.iter().enumerate().all(|(i, shop)| {
            let statuses: Vec<&str> = payouts
                .iter()
                .filter(|p| p["shop_id"] == shop.as_str())
                .map(|p| p["status"].as_str().unwrap())
                .collect();
            let landed = if i == SHOPS - 1 { "failed" } else { "paid" };
            statuses.contains(&landed)
                && statuses
                    .iter()
                    .all(|s| *s == "paid" || *s == "failed" || *s == "canceled")
        })
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let kills = workers.await.unwrap();
    assert!(kills > 3, "workers were killed during the run ({kills})");
    settle_down(&app).await;

    // The books, against the calculation above.
    let trial = ledger(&app, &finance).await;
    let lost_gross = disputed[1].2;
    let transferred: i64 = expected.transferred.values().sum();
    let checks = [
        ("platform:fee_revenue", expected.fees),
        ("platform:processing_fees", expected.card_fees),
        ("platform:processing_fees_recovered", 0),
        ("platform:buyer_clearing", 0),
        ("platform:refunds_borne", expected.refunds_borne),
        ("platform:disputes_open", 0),
        ("platform:dispute_fees", DISPUTE_FEE),
        ("platform:dispute_losses", market_fee(lost_gross)),
        (
            "platform:cash",
            expected.gross
                - expected.card_fees
                - expected.refunded
                - transferred
                - lost_gross
                - DISPUTE_FEE,
        ),
    ];
    for (code, want) in checks {
        assert_eq!(balance_in(&trial, code), want, "{code}");
    }
    for (i, shop) in shops.iter().enumerate() {
        let id = shop["id"].as_str().unwrap();
        let sent = expected.transferred[&i];
        let of = |name: &str| balance_in(&trial, &format!("shop:{id}:{name}"));
        assert_eq!(of("payable"), 0, "shop {i} owed nothing");
        assert_eq!(of("transferred_in"), sent, "shop {i} received");
        assert_eq!(of("connected_pending"), 0, "shop {i}: nothing pending");
        assert_eq!(of("in_transit"), 0, "shop {i}: nothing in transit");
        if i == SHOPS - 1 {
            assert_eq!(
                (of("paid_out"), of("connected_balance")),
                (0, sent),
                "failed payout: the money is back"
            );
        } else {
            assert_eq!(
                (of("paid_out"), of("connected_balance")),
                (sent, 0),
                "shop {i} paid out"
            );
        }
    }

    // Every paid payout's balance transactions match the ledger line by line.
    let payouts = json_of(get_as(&app, &support, "/v1/payouts?limit=100").await, 200).await;
    for payout in payouts["data"].as_array().unwrap() {
        if payout["status"] == "paid" {
            let lines = payout["lines"].as_array().unwrap();
            assert!(!lines.is_empty(), "{payout}");
            assert!(lines.iter().all(|l| l["matched"] == true), "{payout}");
            let net: i64 = lines
                .iter()
                .map(|l| l["net"]["minor"].as_i64().unwrap())
                .sum();
            assert_eq!(net, payout["amount"]["minor"].as_i64().unwrap());
        }
    }

    // Reconciliation agrees, and its report is stored.
    let report = reconcile(&app, &finance).await;
    assert_eq!(report["differences"], json!([]), "{report}");
    assert_eq!(report["accounts_checked"], SHOPS as i64 + 1);
    let latest = json_of(
        get_as(&app, &finance, "/v1/reconciliation/reports/latest").await,
        200,
    )
    .await;
    assert_eq!(latest["id"], report["id"]);

    // Take one transfer out of the ledger's inputs: reconciliation names it,
    // on the platform (the transfer) and on the seller's account (its payment).
    let (order, _) = &orders[0];
    let transfer = transfers_of(&app, order["id"].as_str().unwrap()).await[0].clone();
    let (transfer_id, payment_id) = (
        transfer["id"].as_str().unwrap().to_owned(),
        transfer["destination_payment"].as_str().unwrap().to_owned(),
    );
    remove_entry_mirroring(&app, &transfer_id).await;
    let report = reconcile(&app, &finance).await;
    let differences = report["differences"].as_array().unwrap();
    let named = |object: &str| {
        differences
            .iter()
            .find(|d| d["object"] == object)
            .unwrap_or_else(|| panic!("{object} not reported: {report}"))
            .clone()
    };
    let missing = named(&transfer_id);
    assert_eq!(missing["kind"], "missing_in_ledger");
    assert_eq!(missing["scope"], "platform");
    assert_eq!(
        missing["provider"]["minor"],
        -transfer["amount"].as_i64().unwrap()
    );
    // Its funds did become available (that entry is still there), so the
    // payment nets to zero in the ledger: missing, as far as it can tell.
    let missing = named(&payment_id);
    assert_eq!(missing["kind"], "missing_in_ledger");
    assert!(missing["scope"].as_str().unwrap().starts_with("shop:"));
    assert!(differences
        .iter()
        .any(|d| d["object"] == "balance:total" && d["scope"] == "platform"));
}

/// Deletes the ledger entry with a posting mirroring `provider_ref` (the
/// append-only triggers are dropped first: this is the test playing a lost
/// input, not something the application can do).
async fn remove_entry_mirroring(app: &TestApp, provider_ref: &str) {
    let pool = pool(app);
    let reference = provider_ref.to_owned();
    let postgres = app.database.backend() == "postgres";
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let drops: &[&str] = if postgres {
            &[
                "DROP TRIGGER ledger_entries_append_only ON ledger_entries",
                "DROP TRIGGER ledger_postings_append_only ON ledger_postings",
            ]
        } else {
            &[
                "DROP TRIGGER ledger_entries_no_delete",
                "DROP TRIGGER ledger_postings_no_delete",
            ]
        };
        for sql in drops {
            diesel::sql_query(*sql).execute(&mut conn).unwrap();
        }
        #[derive(QueryableByName)]
        struct Entry {
            #[diesel(sql_type = diesel::sql_types::Text)]
            entry_id: String,
        }
        let entry: Entry = diesel::sql_query(
            "SELECT entry_id FROM ledger_postings WHERE provider_ref = $1 LIMIT 1",
        )
        .bind::<diesel::sql_types::Text, _>(&reference)
        .get_result(&mut conn)
        .unwrap();
        for table in ["ledger_postings", "ledger_entries"] {
            let column = if table == "ledger_entries" {
                "id"
            } else {
                "entry_id"
            };
            diesel::sql_query(format!("DELETE FROM {table} WHERE {column} = $1"))
                .bind::<diesel::sql_types::Text, _>(&entry.entry_id)
                .execute(&mut conn)
                .unwrap();
        }
    })
    .await
    .unwrap();
}

/// What happens to one part in the `on_delivery` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// The seller cancels it before shipping.
    Canceled,
    /// Shipped, and the buyer says it arrived.
    Delivered,
    /// Shipped; nobody confirms; it counts as delivered days later.
    AutoReleased,
    /// One unit refunded while the share is held, then shipped and delivered.
    RefundedWhileHeld,
    /// Delivered, then one unit returned (refunded after release: a reversal).
    Returned,
}

const FATES: [Fate; 5] = [
    Fate::Canceled,
    Fate::Delivered,
    Fate::AutoReleased,
    Fate::RefundedWhileHeld,
    Fate::Returned,
];

/// Each shop's US rate: the first unit, and each unit after it.
const SHIPPING_FIRST: i64 = 300;
const SHIPPING_ADDITIONAL: i64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_delivery_with_shipments_releases_and_returns_amid_chaos_books_every_cent_once() {
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__JOBS__WORKERS", "0"),
            ("BAZAAR__JOBS__LEASE_MS", "300"),
            ("BAZAAR__SANDBOX__FAULT_DUPLICATE", "true"),
            ("BAZAAR__SANDBOX__FAULT_SHUFFLE", "true"),
            ("BAZAAR__SANDBOX__FAULT_JITTER_MS", "400"),
            ("BAZAAR__ORDERS__RELEASE", "on_delivery"),
            ("BAZAAR__ORDERS__RELEASE_AFTER_DAYS", "2"),
        ],
        |_| {},
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let workers = chaotic_workers(&app, Arc::clone(&stop));
    let market = market(&app).await;
    let support = staff(&app, &market.operator, "support").await;
    let finance = staff(&app, &market.operator, "finance").await;

    // Sweeps of two "processes" running all along, by the wall clock.
    let sweeping = {
        let (pool, provider, stop) = (pool(&app), Arc::clone(&app.provider), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut passes = 0;
            while !stop.load(Ordering::SeqCst) {
                let now = bazaar::db::now();
                let (a, b) = tokio::join!(
                    bazaar::fulfilment::sweep::sweep_once(&pool, provider.as_ref(), now),
                    bazaar::fulfilment::sweep::sweep_once(&pool, provider.as_ref(), now),
                );
                assert_eq!(a.parts_delivered_automatically, 0, "nothing is due yet");
                assert_eq!(b.parts_delivered_automatically, 0, "nothing is due yet");
                passes += 1;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            passes
        })
    };

    const ON_DELIVERY_SHOPS: usize = 3;
    let mut sellers = Vec::new();
    let mut shops = Vec::new();
    let mut products = Vec::new();
    for (i, price) in PRICES.iter().take(ON_DELIVERY_SHOPS).enumerate() {
        let seller = signup(&app, "seller").await;
        let shop = active_shop(&app, &seller, "USD").await;
        let body = json!({
            "rates": [{"destination": "US", "currency": "USD", "first_item_minor": SHIPPING_FIRST, "additional_item_minor": SHIPPING_ADDITIONAL, "handling_days": 1}],
            "returns": {"window_days": 30, "refunds_shipping": false},
        });
        let response = app
            .client
            .put(format!(
                "{}/v1/shops/{}/shipping",
                app.address,
                shop["id"].as_str().unwrap()
            ))
            .header("authorization", format!("Bearer {}", seller.token))
            .json(&body)
            .send()
            .await
            .unwrap();
        json_of(response, 200).await;
        products.push(product(&app, &seller, &shop, &format!("Parcel {i}"), *price, 10_000).await);
        sellers.push(seller);
        shops.push(shop);
    }

    // Fifteen orders of one or two shops; each part gets a fate in turn.
    let mut expected = Expected::default();
    let mut random = Lcg(1207);
    let mut parts = Vec::new();
    for n in 0..15 {
        let first = random.next(ON_DELIVERY_SHOPS as u64) as usize;
        let count = 1 + random.next(2) as usize;
        let mut lines = Vec::new();
        for k in 0..count {
            let shop = (first + k) % ON_DELIVERY_SHOPS;
            let quantity = 2 + random.next(2) as i64;
            add_to_cart(&app, &market.buyer, &products[shop], quantity).await;
            lines.push((shop, quantity));
        }
        let order = checkout_ok(
            &app,
            &market.buyer,
            &format!("held-{n}"),
            Some("pm_card_visa"),
        )
        .await;
        assert_eq!(order["status"], "paid", "{order}");
        let mut gross = 0;
        for (shop, quantity) in lines {
            let items = quantity * PRICES[shop];
            let shipping = SHIPPING_FIRST + (quantity - 1) * SHIPPING_ADDITIONAL;
            let subtotal = items + shipping;
            let fee = market_fee(items);
            gross += subtotal;
            expected.fees += fee;
            let part = order["parts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["shop_id"] == shops[shop]["id"])
                .unwrap()
                .clone();
            assert_eq!(part["subtotal"]["minor"], subtotal);
            assert_eq!(part["settlement"]["status"], "awaiting_release");
            let fate = FATES[parts.len() % FATES.len()];
            parts.push((
                order["id"].as_str().unwrap().to_owned(),
                part,
                shop,
                subtotal,
                fee,
                fate,
            ));
        }
        expected.gross += gross;
        expected.card_fees += card_fee(gross);
    }

    // Every fate, in an order shuffled by the generator.
    let mut order_of_play: Vec<usize> = (0..parts.len()).collect();
    for i in (1..order_of_play.len()).rev() {
        order_of_play.swap(i, random.next(i as u64 + 1) as usize);
    }
    for &i in &order_of_play {
        let (order_id, part, shop, subtotal, fee, fate) = &parts[i];
        let seller = &sellers[*shop];
        let part_id = part["id"].as_str().unwrap();
        let path = |what: &str| format!("/v1/orders/{order_id}/parts/{part_id}/{what}");
        let line = part["lines"][0].clone();
        let seller_amount = subtotal - fee;
        let mut sent = seller_amount;
        match fate {
            Fate::Canceled => {
                let refund = json_of(
                    post_as(
                        &app,
                        seller,
                        &path("cancel"),
                        &json!({"reason": "cannot ship"}),
                    )
                    .await,
                    200,
                )
                .await;
                assert_eq!(refund["amount"]["minor"], *subtotal);
                expected.refunded += subtotal;
                expected.refunds_borne += subtotal - seller_amount;
                sent = 0;
            }
            Fate::RefundedWhileHeld => {
                let body = json!({"lines": [{"line_id": line["id"], "quantity": 1}]});
                let key = format!("held-refund-{part_id}");
                let refunds = format!("/v1/orders/{order_id}/refunds");
                json_of(post_keyed(&app, &support, &refunds, &key, &body).await, 201).await;
                let amount = PRICES[*shop];
                let portion = proportion(amount, seller_amount, *subtotal);
                expected.refunded += amount;
                expected.refunds_borne += amount - portion;
                sent -= portion;
            }
            _ => {}
        }
        if *fate != Fate::Canceled {
            json_of(
                post_as(
                    &app,
                    seller,
                    &path("shipments"),
                    &json!({"carrier": "UPS", "tracking_number": format!("1Z{i}")}),
                )
                .await,
                201,
            )
            .await;
        }
        if matches!(
            fate,
            Fate::Delivered | Fate::RefundedWhileHeld | Fate::Returned
        ) {
            json_of(
                post_as(&app, &market.buyer, &path("delivered"), &json!({})).await,
                200,
            )
            .await;
        }
        if *fate == Fate::Returned {
            let requested = json_of(
                post_keyed(
                    &app,
                    &market.buyer,
                    &format!("/v1/orders/{order_id}/returns"),
                    &format!("return-{part_id}"),
                    &json!({"lines": [{"line_id": line["id"], "quantity": 1}], "reason": "not as pictured"}),
                )
                .await,
                201,
            )
            .await;
            let id = requested["id"].as_str().unwrap();
            for (who, step, body) in [
                (seller, "approve", json!({"return_address": "1 Return Rd"})),
                (
                    &market.buyer,
                    "tracking",
                    json!({"carrier": "UPS", "tracking_number": "R1"}),
                ),
                (seller, "receive", json!({"restock": false})),
            ] {
                json_of(
                    post_as(&app, who, &format!("/v1/returns/{id}/{step}"), &body).await,
                    200,
                )
                .await;
            }
            let amount = PRICES[*shop];
            let portion = proportion(amount, seller_amount, *subtotal);
            expected.refunded += amount;
            expected.refunds_borne += amount - portion;
            sent -= portion;
        }
        *expected.transferred.entry(*shop).or_insert(0) += sent;
    }

    // Days pass on the sandbox's clock: the parts nobody confirmed are
    // delivered automatically, by two sweeps at once.
    settle_down(&app).await;
    stop.store(true, Ordering::SeqCst);
    assert!(sweeping.await.unwrap() > 0);
    let ahead: i64 = 2 * 86_400 + 3_600;
    app.sandbox_post(
        "/v1/test_helpers/advance_clock",
        &[("seconds", &ahead.to_string())],
    )
    .await;
    let (pool, now) = (
        pool(&app),
        bazaar::db::now() + chrono::Duration::seconds(ahead),
    );
    let (a, b) = tokio::join!(
        bazaar::fulfilment::sweep::sweep_once(&pool, app.provider.as_ref(), now),
        bazaar::fulfilment::sweep::sweep_once(&pool, app.provider.as_ref(), now),
    );
    let auto = parts.iter().filter(|p| p.5 == Fate::AutoReleased).count();
    assert_eq!(
        a.parts_delivered_automatically + b.parts_delivered_automatically,
        auto,
        "each part counted as delivered once"
    );
    let kills = workers.await.unwrap();
    assert!(kills > 3, "workers were killed during the run ({kills})");
    settle_down(&app).await;
    sweep(&app, ahead).await;
    settle_down(&app).await;

    // Every part: at most one transfer, exactly what its fate leaves the seller.
    for (order_id, part, shop, subtotal, fee, fate) in &parts {
        let transfers: Vec<Value> = transfers_of(&app, order_id)
            .await
            .into_iter()
            .filter(|t| t["metadata"]["part_id"] == part["id"])
            .collect();
        let expected_count = usize::from(*fate != Fate::Canceled);
        assert_eq!(transfers.len(), expected_count, "{fate:?}: {transfers:?}");
        if let Some(transfer) = transfers.first() {
            let reversed = transfer["amount_reversed"].as_i64().unwrap();
            let amount = transfer["amount"].as_i64().unwrap();
            let seller_amount = subtotal - fee;
            match fate {
                Fate::RefundedWhileHeld => {
                    assert_eq!(reversed, 0, "refunded before release: nothing reversed");
                    assert!(amount < seller_amount);
                }
                Fate::Returned => assert!(reversed > 0 && amount == seller_amount),
                _ => assert_eq!((amount, reversed), (seller_amount, 0), "{fate:?}"),
            }
        }
        let view = staff_view(&app, order_id).await;
        let now_part = view["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == part["id"])
            .unwrap()
            .clone();
        assert_eq!(
            now_part["settlement"]["status"], "settled",
            "{fate:?} {now_part}"
        );
        let _ = shop;
    }

    // The books, against the calculation above.
    let trial = ledger(&app, &finance).await;
    let transferred: i64 = expected.transferred.values().sum();
    for (code, want) in [
        ("platform:fee_revenue", expected.fees),
        ("platform:processing_fees", expected.card_fees),
        ("platform:buyer_clearing", 0),
        ("platform:refunds_borne", expected.refunds_borne),
        (
            "platform:cash",
            expected.gross - expected.card_fees - expected.refunded - transferred,
        ),
    ] {
        assert_eq!(balance_in(&trial, code), want, "{code}");
    }
    for (i, shop) in shops.iter().enumerate() {
        let id = shop["id"].as_str().unwrap();
        let of = |name: &str| balance_in(&trial, &format!("shop:{id}:{name}"));
        assert_eq!(
            of("payable"),
            0,
            "shop {i}: nothing held or owed at the end"
        );
        assert_eq!(
            of("transferred_in"),
            expected.transferred[&i],
            "shop {i} received"
        );
    }
    let report = reconcile(&app, &finance).await;
    assert_eq!(report["differences"], json!([]), "{report}");
}
