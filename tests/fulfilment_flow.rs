//! After the sale, end to end against the sandbox provider under `on_delivery`:
//! one cart across three shops with shipping per shop; one part cancelled
//! before shipping (refunded with its shipping, never transferred), one
//! shipped and confirmed delivered (one transfer after delivery), one shipped
//! and counted as delivered days later on the sandbox's clock, then a return
//! of one of its lines. Every amount is computed here, from the prices and
//! the rates.

use crate::common;
use crate::orders_support;

use common::people::{get_as, post_as, signup, Person};
use common::TestApp;
use orders_support::*;
use serde_json::{json, Value};

/// Days after shipment a part nobody confirmed counts as delivered.
const RELEASE_AFTER_DAYS: i64 = 3;

fn minor(value: &Value) -> i64 {
    value["minor"]
        .as_i64()
        .unwrap_or_else(|| panic!("no minor in {value}"))
}

fn part_of<'a>(order: &'a Value, shop: &Value) -> &'a Value {
    order["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] == shop["id"])
        .expect("a part per shop")
}

/// Sum over a shop's transfers of amount − amount_reversed, and how many.
fn net_to(transfers: &[Value], shop: &Value) -> (i64, usize) {
    let to_shop: Vec<&Value> = transfers
        .iter()
        .filter(|t| t["destination"] == shop["provider_account_id"])
        .collect();
    let net = to_shop
        .iter()
        .map(|t| t["amount"].as_i64().unwrap() - t["amount_reversed"].as_i64().unwrap())
        .sum();
    (net, to_shop.len())
}

/// A shop's US rate: `first` for the first unit, `additional` for each other.
async fn us_rate(app: &TestApp, seller: &Person, shop: &Value, first: i64, additional: i64) {
    let body = json!({
        "rates": [{"destination": "US", "currency": "USD", "first_item_minor": first, "additional_item_minor": additional, "handling_days": 2}],
        "returns": {"window_days": 30, "refunds_shipping": false},
    });
    let path = format!("/v1/shops/{}/shipping", shop["id"].as_str().unwrap());
    let response = app
        .client
        .put(format!("{}{path}", app.address))
        .header("authorization", format!("Bearer {}", seller.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    json_of(response, 200).await;
}

async fn held_of(app: &TestApp, seller: &Person, shop: &Value) -> i64 {
    let path = format!("/v1/shops/{}/balance", shop["id"].as_str().unwrap());
    let balance = json_of(get_as(app, seller, &path).await, 200).await;
    balance["currencies"]["USD"]["held"]["minor"]
        .as_i64()
        .unwrap_or(0)
}

/// One pass of both sweeps as of `seconds_ahead` of the wall clock (where
/// the test moved the sandbox's clock).
async fn sweep_at(app: &TestApp, seconds_ahead: i64) {
    let pool = common::people::pool(app);
    let now = bazaar::db::now() + chrono::Duration::seconds(seconds_ahead);
    let report = bazaar::fulfilment::sweep::sweep_once(&pool, app.provider.as_ref(), now).await;
    assert_eq!(report.errors, 0, "{report:?}");
    sweep(app, seconds_ahead).await;
}

#[tokio::test]
async fn three_shops_under_on_delivery_cancel_deliver_auto_release_and_return() {
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__ORDERS__RELEASE", "on_delivery"),
            (
                "BAZAAR__ORDERS__RELEASE_AFTER_DAYS",
                &RELEASE_AFTER_DAYS.to_string(),
            ),
        ],
        |_| {},
    )
    .await;
    let market = market(&app).await;
    let (ann, bob, cat) = (
        signup(&app, "seller").await,
        signup(&app, "seller").await,
        signup(&app, "seller").await,
    );
    let shop_a = active_shop(&app, &ann, "USD").await;
    let shop_b = active_shop(&app, &bob, "USD").await;
    let shop_c = active_shop(&app, &cat, "USD").await;
    us_rate(&app, &ann, &shop_a, 500, 100).await;
    us_rate(&app, &bob, &shop_b, 700, 0).await;
    us_rate(&app, &cat, &shop_c, 400, 50).await;
    let mug = product(&app, &ann, &shop_a, "Blue Mug", 1250, 10).await;
    let book = product(&app, &bob, &shop_b, "Field Guide", 1999, 10).await;
    let lamp = product(&app, &cat, &shop_c, "Desk Lamp", 4500, 10).await;
    let candle = product(&app, &cat, &shop_c, "Candle", 799, 10).await;
    add_to_cart(&app, &market.buyer, &mug, 2).await;
    add_to_cart(&app, &market.buyer, &book, 1).await;
    add_to_cart(&app, &market.buyer, &lamp, 1).await;
    add_to_cart(&app, &market.buyer, &candle, 3).await;

    // Items, shipping per shop from its rate, fees on the items only.
    let (items_a, items_b, items_c) = (2 * 1250, 1999, 4500 + 3 * 799);
    let (ship_a, ship_b, ship_c) = (500 + 100, 700, 400 + 3 * 50);
    let (sub_a, sub_b, sub_c) = (items_a + ship_a, items_b + ship_b, items_c + ship_c);
    let (fee_a, fee_b, fee_c) = (
        market_fee(items_a),
        market_fee(items_b),
        market_fee(items_c),
    );
    let total = sub_a + sub_b + sub_c;
    let order = checkout_ok(&app, &market.buyer, "order-1", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(order["status"], "paid");
    assert_eq!(minor(&order["total"]), total);
    for (shop, sub, fee, shipping) in [
        (&shop_a, sub_a, fee_a, ship_a),
        (&shop_b, sub_b, fee_b, ship_b),
        (&shop_c, sub_c, fee_c, ship_c),
    ] {
        let part = part_of(&order, shop);
        assert_eq!(minor(&part["subtotal"]), sub);
        assert_eq!(minor(&part["shipping"]), shipping);
        assert_eq!(minor(&part["fee"]), fee);
        assert_eq!(minor(&part["seller_amount"]), sub - fee);
        assert_eq!(part["fulfilment"]["status"], "unfulfilled");
        assert_eq!(part["fulfilment"]["release_policy"], "on_delivery");
        assert!(part["fulfilment"]["released_at"].is_null());
        assert!(part["fulfilment"]["ship_by"].is_string());
        assert_eq!(part["settlement"]["status"], "awaiting_release");
        assert_eq!(minor(&part["settlement"]["transferred"]), 0);
    }
    // Nothing left the platform: every share is held, and shown as held.
    assert!(transfers_of(&app, &order_id).await.is_empty());
    assert_eq!(held_of(&app, &ann, &shop_a).await, sub_a - fee_a);
    assert_eq!(held_of(&app, &bob, &shop_b).await, sub_b - fee_b);
    assert_eq!(held_of(&app, &cat, &shop_c).await, sub_c - fee_c);
    let part_path = |shop: &Value, what: &str| {
        format!(
            "/v1/orders/{order_id}/parts/{}/{what}",
            part_of(&order, shop)["id"].as_str().unwrap()
        )
    };

    // Bob cannot ship the book: he cancels; the buyer gets the book and its
    // shipping back, the book goes back on the shelf, nothing is ever sent.
    let refund = json_of(
        post_as(
            &app,
            &bob,
            &part_path(&shop_b, "cancel"),
            &json!({"reason": "out of stock"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(refund["status"], "succeeded");
    assert_eq!(minor(&refund["amount"]), items_b + ship_b);
    assert_eq!(stock_of(&app, &bob, &shop_b, &book).await, 10);
    // The sweep refunds a cancelled part whose refund was never reserved; when
    // it does so between the cancel's two steps, the cancel's refund step finds
    // nothing left and answers the refund already made under the part's key.
    let again = bazaar::fulfilment::cancel::refund_canceled_part(
        &common::people::pool(&app),
        app.provider.as_ref(),
        &order_id,
        part_of(&order, &shop_b)["id"].as_str().unwrap(),
        bazaar::orders::refunds::Refunder {
            user_id: "sweep".into(),
            shops: None,
            context: Default::default(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        again.map(|r| r.id),
        refund["id"].as_str().map(str::to_owned),
        "the part's one refund"
    );
    // Cancelling twice or shipping a cancelled part: refused, nothing written.
    common::assert_error(
        post_as(
            &app,
            &bob,
            &part_path(&shop_b, "cancel"),
            &json!({"reason": "again"}),
        )
        .await,
        409,
        "already_canceled",
    )
    .await;
    common::assert_error(
        post_as(
            &app,
            &bob,
            &part_path(&shop_b, "shipments"),
            &json!({"carrier": "UPS", "tracking_number": "1Z1"}),
        )
        .await,
        409,
        "part_canceled",
    )
    .await;

    // Delivering before shipping is refused; Ann ships both mugs and the
    // buyer says they arrived: one transfer of Ann's whole share.
    common::assert_error(
        post_as(
            &app,
            &market.buyer,
            &part_path(&shop_a, "delivered"),
            &json!({}),
        )
        .await,
        409,
        "not_shipped",
    )
    .await;
    let bad_url =
        json!({"carrier": "UPS", "tracking_number": "1Z2", "tracking_url": "javascript:alert(1)"});
    common::assert_error(
        post_as(&app, &ann, &part_path(&shop_a, "shipments"), &bad_url).await,
        422,
        "invalid_tracking_url",
    )
    .await;
    let shipment = json_of(
        post_as(
            &app,
            &ann,
            &part_path(&shop_a, "shipments"),
            &json!({"carrier": "UPS", "tracking_number": "1Z2", "tracking_url": "https://ups.example/track/1Z2"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(shipment["status"], "shipped");
    assert_eq!(shipment["lines"][0]["quantity"], 2);
    common::assert_error(
        post_as(
            &app,
            &ann,
            &part_path(&shop_a, "shipments"),
            &json!({"carrier": "UPS", "tracking_number": "1Z3"}),
        )
        .await,
        409,
        "already_shipped",
    )
    .await;
    // Shipped is not enough under on_delivery.
    assert!(transfers_of(&app, &order_id).await.is_empty());
    json_of(
        post_as(
            &app,
            &market.buyer,
            &part_path(&shop_a, "delivered"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    let transfers = transfers_of(&app, &order_id).await;
    assert_eq!(net_to(&transfers, &shop_a), (sub_a - fee_a, 1));
    assert_eq!(held_of(&app, &ann, &shop_a).await, 0);

    // Cat's fulfilment service ships everything with Cat's API key; nobody
    // confirms. Days pass on the sandbox's clock: the part counts as
    // delivered and is released.
    let key = json_of(
        post_as(&app, &cat, "/v1/api_keys", &json!({"name": "warehouse"})).await,
        201,
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let warehouse = Person {
        token: key,
        ..cat.clone()
    };
    json_of(
        post_as(
            &app,
            &warehouse,
            &part_path(&shop_c, "shipments"),
            &json!({"carrier": "USPS", "tracking_number": "94001"}),
        )
        .await,
        201,
    )
    .await;
    sweep_at(&app, 3600).await;
    assert_eq!(
        net_to(&transfers_of(&app, &order_id).await, &shop_c),
        (0, 0)
    );
    let ahead = RELEASE_AFTER_DAYS * 86_400 + 3600;
    app.sandbox_post(
        "/v1/test_helpers/advance_clock",
        &[("seconds", &ahead.to_string())],
    )
    .await;
    sweep_at(&app, ahead).await;
    let order = staff_view(&app, &order_id).await;
    let part_c = part_of(&order, &shop_c);
    assert_eq!(part_c["fulfilment"]["status"], "delivered");
    assert_eq!(part_c["fulfilment"]["delivered_by"], "automatic");
    assert!(part_c["fulfilment"]["released_at"].is_string());
    let transfers = transfers_of(&app, &order_id).await;
    assert_eq!(net_to(&transfers, &shop_c), (sub_c - fee_c, 1));
    assert_eq!(net_to(&transfers, &shop_b), (0, 0), "never sent");
    assert_eq!(held_of(&app, &cat, &shop_c).await, 0);
    // Another sweep moves nothing more.
    sweep_at(&app, ahead).await;
    assert_eq!(transfers_of(&app, &order_id).await.len(), 2);

    // The buyer returns one candle; Cat approves, the buyer sends it back,
    // Cat receives it: 799 refunded (the shop keeps shipping on returns),
    // and exactly Cat's share of it reversed.
    let candle_line = part_c["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_id"] == candle.as_str())
        .unwrap()["id"]
        .clone();
    let requested = json_of(
        post_keyed(
            &app,
            &market.buyer,
            &format!("/v1/orders/{order_id}/returns"),
            "return-1",
            &json!({"lines": [{"line_id": candle_line, "quantity": 1}], "reason": "cracked"}),
        )
        .await,
        201,
    )
    .await;
    let return_id = requested["id"].as_str().unwrap().to_owned();
    json_of(
        post_as(
            &app,
            &cat,
            &format!("/v1/returns/{return_id}/approve"),
            &json!({"return_address": "Cat's, 2 Side St, Springfield"}),
        )
        .await,
        200,
    )
    .await;
    json_of(
        post_as(
            &app,
            &market.buyer,
            &format!("/v1/returns/{return_id}/tracking"),
            &json!({"carrier": "USPS", "tracking_number": "RET1"}),
        )
        .await,
        200,
    )
    .await;
    json_of(
        post_as(
            &app,
            &cat,
            &format!("/v1/returns/{return_id}/receive"),
            &json!({"restock": true}),
        )
        .await,
        200,
    )
    .await;
    let seller_portion = proportion(799, sub_c - fee_c, sub_c);
    let transfers = transfers_of(&app, &order_id).await;
    assert_eq!(
        net_to(&transfers, &shop_c),
        (sub_c - fee_c - seller_portion, 1)
    );
    let order = staff_view(&app, &order_id).await;
    assert_eq!(minor(&order["refunded"]), items_b + ship_b + 799);

    // The books: debits = credits, nothing payable left to any seller, and
    // the provider agrees with every line.
    let finance = common::people::staff(&app, &market.operator, "finance").await;
    let trial = json_of(
        get_as(&app, &finance, "/v1/ledger/trial-balance").await,
        200,
    )
    .await;
    assert_eq!(
        trial["totals"]["USD"]["debits"],
        trial["totals"]["USD"]["credits"]
    );
    for shop in [&shop_a, &shop_b, &shop_c] {
        let code = format!("shop:{}:payable", shop["id"].as_str().unwrap());
        assert_eq!(balance_in(&trial, &code), 0, "{code}");
    }
    // Moving the clock made Cat's funds available at the provider; its
    // events reach the ledger through the job queue.
    let mut report = Value::Null;
    for _ in 0..100 {
        report = json_of(
            post_as(&app, &finance, "/v1/reconciliation/reports", &json!({})).await,
            201,
        )
        .await;
        if report["differences"] == json!([]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(report["differences"], json!([]), "{report}");
}

#[tokio::test]
async fn a_late_part_is_reported_and_its_buyer_may_cancel_it() {
    let app = TestApp::spawn_with(&[("BAZAAR__ORDERS__RELEASE", "on_delivery")], |_| {}).await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    us_rate(&app, &ann, &shop, 500, 100).await;
    let mug = product(&app, &ann, &shop, "Mug", 1250, 10).await;
    add_to_cart(&app, &market.buyer, &mug, 2).await;
    let order = checkout_ok(&app, &market.buyer, "late-1", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap();
    let part_id = order["parts"][0]["id"].as_str().unwrap();
    let cancel = format!("/v1/orders/{order_id}/parts/{part_id}/cancel");
    let body = json!({"reason": "never shipped"});

    // Within the two handling days the buyer waits; nothing is written.
    common::assert_error(
        post_as(&app, &market.buyer, &cancel, &body).await,
        409,
        "not_late",
    )
    .await;
    let support = common::people::staff(&app, &market.operator, "support").await;
    let late = json_of(get_as(&app, &support, "/v1/reports/late_parts").await, 200).await;
    assert_eq!(late["data"], json!([]));

    // Three days on: the sweep finds it late, its seller hears once, the
    // report lists it, and the buyer cancels it — refunded with shipping.
    let ahead = 3 * 86_400;
    app.sandbox_post(
        "/v1/test_helpers/advance_clock",
        &[("seconds", &ahead.to_string())],
    )
    .await;
    let pool = common::people::pool(&app);
    let now = bazaar::db::now() + chrono::Duration::seconds(ahead);
    let first = bazaar::fulfilment::sweep::sweep_once(&pool, app.provider.as_ref(), now).await;
    let again = bazaar::fulfilment::sweep::sweep_once(&pool, app.provider.as_ref(), now).await;
    assert_eq!((first.parts_found_late, again.parts_found_late), (1, 0));
    let late = json_of(get_as(&app, &support, "/v1/reports/late_parts").await, 200).await;
    assert_eq!(late["data"][0]["part_id"], part_id);
    assert_eq!(
        late["data"][0]["days_late"], 1,
        "three days after payment, two to ship"
    );
    let view = staff_view(&app, order_id).await;
    assert_eq!(view["parts"][0]["fulfilment"]["late"], true);
    let refund = json_of(post_as(&app, &market.buyer, &cancel, &body).await, 200).await;
    assert_eq!(minor(&refund["amount"]), 2 * 1250 + 500 + 100);
    let view = staff_view(&app, order_id).await;
    assert_eq!(view["parts"][0]["fulfilment"]["status"], "canceled");
    assert_eq!(view["parts"][0]["settlement"]["status"], "settled");
    assert!(transfers_of(&app, order_id).await.is_empty());
    let late = json_of(get_as(&app, &support, "/v1/reports/late_parts").await, 200).await;
    assert_eq!(late["data"], json!([]));
    let audit = common::people::audit_rows(&app, &market.operator, "part.cancel").await;
    assert_eq!(audit.len(), 1);
}

#[tokio::test]
async fn on_shipment_releases_when_the_last_unit_ships() {
    let app = TestApp::spawn_with(&[("BAZAAR__ORDERS__RELEASE", "on_shipment")], |_| {}).await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    let mug = product(&app, &ann, &shop, "Mug", 1250, 10).await;
    let cup = product(&app, &ann, &shop, "Cup", 800, 10).await;
    add_to_cart(&app, &market.buyer, &mug, 2).await;
    add_to_cart(&app, &market.buyer, &cup, 1).await;
    let order = checkout_ok(&app, &market.buyer, "ship-1", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap();
    let part = &order["parts"][0];
    // A shop without rates charges no shipping.
    assert_eq!(minor(&part["shipping"]), 0);
    let subtotal = 2 * 1250 + 800;
    let shipments = format!(
        "/v1/orders/{order_id}/parts/{}/shipments",
        part["id"].as_str().unwrap()
    );
    let mug_line = part["lines"][0]["id"].clone();
    let cup_line = part["lines"][1]["id"].clone();

    // One mug first: partly shipped, nothing released.
    let first = json!({"carrier": "DHL", "tracking_number": "A1", "lines": [{"line_id": mug_line, "quantity": 1}]});
    json_of(post_as(&app, &ann, &shipments, &first).await, 201).await;
    let too_many = json!({"carrier": "DHL", "tracking_number": "A2", "lines": [{"line_id": mug_line, "quantity": 2}]});
    common::assert_error(
        post_as(&app, &ann, &shipments, &too_many).await,
        422,
        "exceeds_unshipped",
    )
    .await;
    let view = staff_view(&app, order_id).await;
    assert_eq!(
        view["parts"][0]["fulfilment"]["status"],
        "partially_shipped"
    );
    assert_eq!(view["parts"][0]["lines"][0]["shipped_quantity"], 1);
    assert!(transfers_of(&app, order_id).await.is_empty());

    // The rest: shipped, released, one transfer of the whole share.
    let rest = json!({"carrier": "DHL", "tracking_number": "A3", "lines": [{"line_id": mug_line, "quantity": 1}, {"line_id": cup_line, "quantity": 1}]});
    json_of(post_as(&app, &ann, &shipments, &rest).await, 201).await;
    let view = staff_view(&app, order_id).await;
    assert_eq!(view["parts"][0]["fulfilment"]["status"], "shipped");
    assert!(view["parts"][0]["fulfilment"]["released_at"].is_string());
    let transfers = transfers_of(&app, order_id).await;
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0]["amount"], subtotal - market_fee(subtotal));
    // The buyer sees both parcels; another buyer sees nothing.
    let listed = json_of(
        get_as(
            &app,
            &market.buyer,
            &format!("/v1/orders/{order_id}/shipments"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let stranger = signup(&app, "buyer").await;
    common::assert_error(
        get_as(&app, &stranger, &format!("/v1/orders/{order_id}/shipments")).await,
        404,
        "not_found",
    )
    .await;
}
