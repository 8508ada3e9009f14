//! Releases under pressure, with two marketplace processes on one database
//! and one provider: the buyer and the seller confirming delivery at once
//! while a sweep counts the part as delivered, and a refund racing the
//! release. A seller's share is transferred at most once, and what is held
//! never goes below zero.

use crate::common;
use crate::orders_support;

use bazaar::app::Application;
use common::people::{get_as, pool, post_as, signup, staff, Person};
use common::{TestApp, SANDBOX_KEY};
use orders_support::*;
use serde_json::{json, Value};

/// Two processes of the marketplace on one database, both talking to one
/// sandbox provider outside them.
async fn two_processes() -> (TestApp, String, bazaar::sandbox::Sandbox) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sandbox = bazaar::sandbox::Sandbox::start(
        bazaar::sandbox::SandboxConfig {
            secret_key: SANDBOX_KEY.into(),
            state_file: None,
            ..Default::default()
        },
        listener,
    )
    .await
    .unwrap();
    let overrides = [
        ("BAZAAR__PROVIDER__KIND", "stripe"),
        ("BAZAAR__PROVIDER__API_BASE", sandbox.base_url()),
        ("BAZAAR__PROVIDER__SECRET_KEY", SANDBOX_KEY),
        ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", "whsec_races_platform"),
        (
            "BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS",
            "whsec_races_connect",
        ),
        ("BAZAAR__ORDERS__RELEASE", "on_delivery"),
        ("BAZAAR__ORDERS__RELEASE_AFTER_DAYS", "1"),
    ];
    let mut first = TestApp::spawn_with(&overrides, |_| {}).await;
    // The tests read and drive the provider outside the processes.
    first.sandbox_url = Some(sandbox.base_url().to_owned());
    let second = Application::build(first.settings.clone()).await.unwrap();
    let second_address = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());
    (first, second_address, sandbox)
}

async fn post_to(address: &str, app: &TestApp, person: &Person, path: &str) -> u16 {
    app.client
        .post(format!("{address}{path}"))
        .header("authorization", format!("Bearer {}", person.token))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Transfers made for one part, from the provider.
async fn part_transfers(app: &TestApp, order_id: &str, part_id: &str) -> Vec<Value> {
    transfers_of(app, order_id)
        .await
        .into_iter()
        .filter(|t| t["metadata"]["part_id"] == part_id)
        .collect()
}

/// A paid one-part order of `quantity` units at `price`, shipped; returns
/// `(order_id, part)`.
async fn shipped_order(
    app: &TestApp,
    buyer: &Person,
    seller: &Person,
    product_id: &str,
    quantity: i64,
    key: &str,
) -> (String, Value) {
    add_to_cart(app, buyer, product_id, quantity).await;
    let order = checkout_ok(app, buyer, key, Some("pm_card_visa")).await;
    let part = order["parts"][0].clone();
    let order_id = order["id"].as_str().unwrap().to_owned();
    let path = format!(
        "/v1/orders/{order_id}/parts/{}/shipments",
        part["id"].as_str().unwrap()
    );
    json_of(
        post_as(
            app,
            seller,
            &path,
            &json!({"carrier": "UPS", "tracking_number": key}),
        )
        .await,
        201,
    )
    .await;
    (order_id, part)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_from_two_processes_and_a_sweep_at_once_transfer_the_share_once() {
    let (app, second, _sandbox) = two_processes().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let mug = product(&app, &seller, &shop, "Mug", 2400, 100).await;
    let pool = pool(&app);
    let second_pool = bazaar::db::connect_pool(&app.settings.database).unwrap();
    for round in 0..4 {
        let (order_id, part) = shipped_order(
            &app,
            &market.buyer,
            &seller,
            &mug,
            1,
            &format!("race-{round}"),
        )
        .await;
        let part_id = part["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/orders/{order_id}/parts/{part_id}/delivered");
        // A day and more later by the sweep's clock: it too finds the part due.
        let later = bazaar::db::now() + chrono::Duration::hours(25);
        let (buyer_says, seller_says, swept, other_sweep) = tokio::join!(
            post_to(&app.address, &app, &market.buyer, &path),
            post_to(&second, &app, &seller, &path),
            bazaar::fulfilment::sweep::sweep_once(&pool, app.provider.as_ref(), later),
            bazaar::fulfilment::sweep::sweep_once(&second_pool, app.provider.as_ref(), later),
        );
        let confirmations = [buyer_says == 200, seller_says == 200];
        let delivered = confirmations.iter().filter(|ok| **ok).count()
            + swept.parts_delivered_automatically
            + other_sweep.parts_delivered_automatically;
        assert_eq!(
            delivered, 1,
            "round {round}: exactly one delivery ({buyer_says}, {seller_says}, {swept:?}, {other_sweep:?})"
        );
        for status in [buyer_says, seller_says] {
            assert!(status == 200 || status == 409, "{status}");
        }
        // Both processes settle the released part at once.
        let (a, b) = tokio::join!(
            bazaar::orders::settlement::settle_part(&pool, app.provider.as_ref(), &part_id),
            bazaar::orders::settlement::settle_part(&second_pool, app.provider.as_ref(), &part_id),
        );
        a.unwrap();
        b.unwrap();
        let transfers = part_transfers(&app, &order_id, &part_id).await;
        let seller_amount = 2400 - market_fee(2400);
        assert_eq!(transfers.len(), 1, "round {round}: {transfers:?}");
        assert_eq!(transfers[0]["amount"], seller_amount);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_racing_the_release_leaves_one_transfer_and_nothing_held_below_zero() {
    let (app, second, _sandbox) = two_processes().await;
    let market = market(&app).await;
    let support = staff(&app, &market.operator, "support").await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let price = 1999;
    let book = product(&app, &seller, &shop, "Book", price, 100).await;
    let pool = pool(&app);
    for round in 0..4 {
        let (order_id, part) = shipped_order(
            &app,
            &market.buyer,
            &seller,
            &book,
            2,
            &format!("refund-race-{round}"),
        )
        .await;
        let part_id = part["id"].as_str().unwrap().to_owned();
        let line_id = part["lines"][0]["id"].clone();
        let delivered = format!("/v1/orders/{order_id}/parts/{part_id}/delivered");
        let refund_body = json!({"lines": [{"line_id": line_id, "quantity": 1}]});
        let refunds = format!("/v1/orders/{order_id}/refunds");
        let refund_key = format!("r-{round}");
        let (refund, delivered_status) = tokio::join!(
            post_keyed(&app, &support, &refunds, &refund_key, &refund_body),
            post_to(&second, &app, &market.buyer, &delivered),
        );
        assert_eq!(json_of(refund, 201).await["status"], "succeeded");
        assert_eq!(delivered_status, 200);
        bazaar::orders::settlement::settle_part(&pool, app.provider.as_ref(), &part_id)
            .await
            .unwrap();
        let subtotal = 2 * price;
        let seller_amount = subtotal - market_fee(subtotal);
        let portion = proportion(price, seller_amount, subtotal);
        let transfers = part_transfers(&app, &order_id, &part_id).await;
        assert_eq!(
            transfers.len(),
            1,
            "round {round}: {transfers:?} {}",
            staff_view(&app, &order_id).await["parts"][0]
        );
        let net = transfers[0]["amount"].as_i64().unwrap()
            - transfers[0]["amount_reversed"].as_i64().unwrap();
        assert_eq!(net, seller_amount - portion, "round {round}");
        let balance = json_of(
            get_as(
                &app,
                &seller,
                &format!("/v1/shops/{}/balance", shop["id"].as_str().unwrap()),
            )
            .await,
            200,
        )
        .await;
        let usd = &balance["currencies"]["USD"];
        assert!(usd["held"]["minor"].as_i64().unwrap_or(0) == 0, "{balance}");
        assert_eq!(
            usd["owed_by_platform"]["minor"].as_i64().unwrap_or(0),
            0,
            "{balance}"
        );
    }
}
