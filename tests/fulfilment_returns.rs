//! Returns, through the API: a buyer asks to send delivered units back, the
//! seller approves (or refuses), the buyer sends tracking, the seller
//! receives and the buyer is refunded once — the units at their prices, plus
//! what is left of the part's shipping when the shop's policy says so. Every
//! refused request changes nothing. Every amount is computed here.

use crate::common;
use crate::orders_support;

use common::people::{audit_rows, get_as, post_as, signup, Person};
use common::{assert_error, TestApp, SANDBOX_KEY};
use orders_support::*;
use serde_json::{json, Value};

fn minor(value: &Value) -> i64 {
    value["minor"]
        .as_i64()
        .unwrap_or_else(|| panic!("no minor in {value}"))
}

/// The shop's US rate and returns policy, set by its seller through
/// `PUT /v1/shops/{id}/shipping` — or, while that route is not mounted, by
/// writing the same rows the route writes.
async fn shipping_policy(
    app: &TestApp,
    seller: &Person,
    shop: &Value,
    (first, additional): (i64, i64),
    window_days: i32,
    refunds_shipping: bool,
) {
    let body = json!({
        "rates": [{"destination": "US", "currency": "USD", "first_item_minor": first, "additional_item_minor": additional, "handling_days": 2}],
        "returns": {"window_days": window_days, "refunds_shipping": refunds_shipping},
    });
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let response = app
        .client
        .put(format!("{}/v1/shops/{shop_id}/shipping", app.address))
        .header("authorization", format!("Bearer {}", seller.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    if response.status() != 404 {
        json_of(response, 200).await;
        return;
    }
    assert_error(response, 404, "route_not_found").await;
    let pool = common::people::pool(app);
    tokio::task::spawn_blocking(move || {
        use bazaar::shipping::schema::{shipping_rates as r, shop_return_policies as p};
        use diesel::prelude::*;
        let mut conn = pool.get().unwrap();
        let now = bazaar::db::now();
        diesel::insert_into(r::table)
            .values((
                r::id.eq(format!("shr_{}", uuid::Uuid::new_v4().simple())),
                r::shop_id.eq(&shop_id),
                r::destination.eq("US"),
                r::currency.eq("USD"),
                r::first_item_minor.eq(first),
                r::additional_item_minor.eq(additional),
                r::free_above_minor.eq(None::<i64>),
                r::handling_days.eq(2),
                r::created_at.eq(now),
                r::updated_at.eq(now),
            ))
            .execute(&mut conn)
            .unwrap();
        diesel::insert_into(p::table)
            .values((
                p::shop_id.eq(&shop_id),
                p::window_days.eq(window_days),
                p::refunds_shipping.eq(refunds_shipping),
                p::updated_at.eq(now),
            ))
            .execute(&mut conn)
            .unwrap();
    })
    .await
    .unwrap();
}

fn part_of<'a>(order: &'a Value, shop: &Value) -> &'a Value {
    order["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] == shop["id"])
        .expect("a part per shop")
}

/// The id of the order's line of `product_id`.
fn line_of(order: &Value, product_id: &str) -> String {
    order["parts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["lines"].as_array().unwrap())
        .find(|l| l["product_id"] == product_id)
        .expect("a line of the product")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The seller ships every unit of its part, and `confirmer` says it arrived.
async fn ship_and_deliver(
    app: &TestApp,
    seller: &Person,
    confirmer: &Person,
    order: &Value,
    shop: &Value,
) {
    let part = format!(
        "/v1/orders/{}/parts/{}",
        order["id"].as_str().unwrap(),
        part_of(order, shop)["id"].as_str().unwrap()
    );
    json_of(
        post_as(
            app,
            seller,
            &format!("{part}/shipments"),
            &json!({"carrier": "UPS", "tracking_number": "1Z100"}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        post_as(app, confirmer, &format!("{part}/delivered"), &json!({})).await,
        200,
    )
    .await;
}

/// `POST /v1/orders/{id}/returns` as `buyer` under `key`.
async fn ask(
    app: &TestApp,
    buyer: &Person,
    order_id: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    post_keyed(
        app,
        buyer,
        &format!("/v1/orders/{order_id}/returns"),
        key,
        body,
    )
    .await
}

/// `POST /v1/returns/{id}/{step}` as `person`.
async fn step(
    app: &TestApp,
    person: &Person,
    return_id: &str,
    step: &str,
    body: &Value,
) -> reqwest::Response {
    post_as(
        app,
        person,
        &format!("/v1/returns/{return_id}/{step}"),
        body,
    )
    .await
}

/// The order's returns as `person` reads them.
async fn returns_of(app: &TestApp, person: &Person, order_id: &str) -> Vec<Value> {
    let page = json_of(
        get_as(app, person, &format!("/v1/orders/{order_id}/returns")).await,
        200,
    )
    .await;
    page["data"].as_array().unwrap().clone()
}

/// One shop selling mugs (1250) and vases (3000), shipping 500 + 100 per
/// extra unit, with this returns policy; the buyer bought two mugs and a
/// vase, paid, and has them (the buyer confirmed delivery).
struct Sale {
    seller: Person,
    shop: Value,
    mug: String,
    order: Value,
    order_id: String,
    mug_line: String,
    vase_line: String,
}

const MUG: i64 = 1250;
const VASE: i64 = 3000;
/// Three units: 500 for the first, 100 for each of the two others.
const SHIPPING: i64 = 500 + 2 * 100;

async fn delivered_sale(
    app: &TestApp,
    market: &Market,
    window_days: i32,
    refunds_shipping: bool,
) -> Sale {
    let seller = signup(app, "seller").await;
    let shop = active_shop(app, &seller, "USD").await;
    shipping_policy(
        app,
        &seller,
        &shop,
        (500, 100),
        window_days,
        refunds_shipping,
    )
    .await;
    let mug = product(app, &seller, &shop, "Blue Mug", MUG, 10).await;
    let vase = product(app, &seller, &shop, "Tall Vase", VASE, 10).await;
    add_to_cart(app, &market.buyer, &mug, 2).await;
    add_to_cart(app, &market.buyer, &vase, 1).await;
    let key = uuid::Uuid::new_v4().to_string();
    let order = checkout_ok(app, &market.buyer, &key, Some("pm_card_visa")).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(minor(&order["total"]), 2 * MUG + VASE + SHIPPING);
    ship_and_deliver(app, &seller, &market.buyer, &order, &shop).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let order = staff_view(app, &order_id).await;
    assert_eq!(part_of(&order, &shop)["fulfilment"]["status"], "delivered");
    Sale {
        mug_line: line_of(&order, &mug),
        vase_line: line_of(&order, &vase),
        seller,
        shop,
        mug,
        order,
        order_id,
    }
}

#[tokio::test]
async fn a_return_runs_from_request_to_one_refund_with_the_shops_shipping() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let sale = delivered_sale(&app, &market, 30, true).await;
    let (buyer, seller, order_id) = (&market.buyer, &sale.seller, sale.order_id.as_str());
    assert_eq!(stock_of(&app, seller, &sale.shop, &sale.mug).await, 8);

    // The buyer asks to return one mug.
    let body =
        json!({"lines": [{"line_id": sale.mug_line, "quantity": 1}], "reason": "  chipped rim  "});
    let response = ask(&app, buyer, order_id, "return-1", &body).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let requested = json_of(response, 201).await;
    let return_id = requested["id"].as_str().unwrap().to_owned();
    assert!(return_id.starts_with("ret_"));
    assert_eq!(location, format!("/v1/returns/{return_id}"));
    assert_eq!(requested["status"], "requested");
    assert_eq!(requested["reason"], "chipped rim");
    assert_eq!(requested["order_id"], order_id);
    assert_eq!(requested["part_id"], part_of(&sale.order, &sale.shop)["id"]);
    assert_eq!(requested["lines"][0]["line_id"], sale.mug_line.as_str());
    assert_eq!(requested["lines"][0]["quantity"], 1);
    assert_eq!(minor(&requested["amount"]), MUG);
    assert!(requested["refund"].is_null());

    // The same request under the same key is the same return; another body
    // under that key is refused.
    let response = ask(&app, buyer, order_id, "return-1", &body).await;
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(response, 201).await["id"], return_id.as_str());
    let other =
        json!({"lines": [{"line_id": sale.mug_line, "quantity": 2}], "reason": "chipped rim"});
    assert_error(
        ask(&app, buyer, order_id, "return-1", &other).await,
        409,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(returns_of(&app, buyer, order_id).await.len(), 1);

    // The seller approves with a multi-line address; the buyer sends it back.
    let approved = json_of(
        step(
            &app,
            seller,
            &return_id,
            "approve",
            &json!({"return_address": "Returns desk\r\n2 Dock Rd\r\nPortland"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(approved["status"], "approved");
    assert_eq!(
        approved["return_address"],
        "Returns desk\n2 Dock Rd\nPortland"
    );
    let shipped = json_of(
        step(
            &app,
            buyer,
            &return_id,
            "tracking",
            &json!({"carrier": "USPS", "tracking_number": "RET-1", "tracking_url": "https://usps.example/t/RET-1"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(shipped["status"], "shipped_back");
    assert_eq!(shipped["carrier"], "USPS");
    assert_eq!(shipped["tracking_url"], "https://usps.example/t/RET-1");

    // Received: the mug and all of the part's shipping (the shop refunds
    // shipping on returns) come back, and the mug goes back on the shelf.
    let received = json_of(
        step(
            &app,
            seller,
            &return_id,
            "receive",
            &json!({"restock": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(received["status"], "received");
    assert_eq!(received["restock"], true);
    assert_eq!(received["refund"]["status"], "succeeded");
    assert_eq!(minor(&received["refund"]["amount"]), MUG + SHIPPING);
    let order = staff_view(&app, order_id).await;
    assert_eq!(minor(&order["refunded"]), MUG + SHIPPING);
    let refunds = order["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["id"], received["refund"]["id"]);
    assert_eq!(refunds[0]["reason"], format!("return {return_id}"));
    assert_eq!(stock_of(&app, seller, &sale.shop, &sale.mug).await, 9);
    let part = part_of(&order, &sale.shop);
    assert_eq!(minor(&part["refunded"]), MUG + SHIPPING);

    // Receiving again refunds nothing more.
    assert_error(
        step(
            &app,
            seller,
            &return_id,
            "receive",
            &json!({"restock": true}),
        )
        .await,
        409,
        "return_state",
    )
    .await;
    let order = staff_view(&app, order_id).await;
    assert_eq!(order["refunds"].as_array().unwrap().len(), 1);
    assert_eq!(minor(&order["refunded"]), MUG + SHIPPING);

    // The second mug: its shipping was refunded already, so only the mug.
    let second = json_of(
        ask(
            &app,
            buyer,
            order_id,
            "return-2",
            &json!({"lines": [{"line_id": sale.mug_line, "quantity": 1}], "reason": "matching set"}),
        )
        .await,
        201,
    )
    .await;
    let second_id = second["id"].as_str().unwrap();
    json_of(
        step(
            &app,
            seller,
            second_id,
            "approve",
            &json!({"return_address": "2 Dock Rd"}),
        )
        .await,
        200,
    )
    .await;
    // Received straight from approved (handed over, no tracking), not
    // restocked — by the seller and the operator at once: one of them wins,
    // the other is told it was received, and there is one refund.
    let no_restock = json!({"restock": false});
    let (by_seller, by_operator) = tokio::join!(
        step(&app, seller, second_id, "receive", &no_restock),
        step(&app, &market.operator, second_id, "receive", &no_restock),
    );
    let (won, lost) = if by_seller.status() == 200 {
        (by_seller, by_operator)
    } else {
        (by_operator, by_seller)
    };
    assert_error(lost, 409, "return_state").await;
    let received = json_of(won, 200).await;
    assert_eq!(
        staff_view(&app, order_id).await["refunds"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(minor(&received["refund"]["amount"]), MUG);
    assert_eq!(
        minor(&staff_view(&app, order_id).await["refunded"]),
        2 * MUG + SHIPPING
    );
    assert_eq!(stock_of(&app, seller, &sale.shop, &sale.mug).await, 9);
    // Both mugs are back: a third return of a mug asks for too much.
    let error = assert_error(
        ask(
            &app,
            buyer,
            order_id,
            "return-3",
            &json!({"lines": [{"line_id": sale.mug_line, "quantity": 1}], "reason": "again"}),
        )
        .await,
        422,
        "return_exceeds_delivered",
    )
    .await;
    assert_eq!(error["param"], "lines[0].quantity");

    // Reads: the buyer, the seller and staff see both; lists filter.
    for person in [buyer, seller, &market.operator] {
        let one = json_of(
            get_as(&app, person, &format!("/v1/returns/{return_id}")).await,
            200,
        )
        .await;
        assert_eq!(one["status"], "received");
        assert_eq!(returns_of(&app, person, order_id).await.len(), 2);
    }
    let path = format!(
        "/v1/returns?status=received&shop_id={}",
        sale.shop["id"].as_str().unwrap()
    );
    for person in [seller, &market.operator] {
        let page = json_of(get_as(&app, person, &path).await, 200).await;
        let ids: Vec<&str> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![second_id, return_id.as_str()], "newest first");
    }
    let page = json_of(
        get_as(&app, &market.operator, "/v1/returns?status=refused").await,
        200,
    )
    .await;
    assert_eq!(page["data"], json!([]));
    let page = json_of(get_as(&app, seller, "/v1/returns?limit=1").await, 200).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], second_id);
    let next = format!(
        "/v1/returns?limit=1&created_before={}",
        page["data"][0]["created_at"].as_str().unwrap()
    );
    let page = json_of(get_as(&app, seller, &next).await, 200).await;
    assert_eq!(page["data"][0]["id"], return_id.as_str());

    // Every change is in the audit log.
    for action in [
        "return.request",
        "return.approve",
        "return.tracking",
        "return.receive",
    ] {
        let rows = audit_rows(&app, &market.operator, action).await;
        assert!(
            rows.iter().any(|r| r["subject"] == return_id.as_str()),
            "{action}"
        );
    }
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let buyer = &market.buyer;
    // Two shops in one order: one takes returns for 30 days, one none.
    let (ann, bob) = (signup(&app, "seller").await, signup(&app, "seller").await);
    let shop_a = active_shop(&app, &ann, "USD").await;
    let shop_b = active_shop(&app, &bob, "USD").await;
    shipping_policy(&app, &ann, &shop_a, (500, 100), 30, false).await;
    shipping_policy(&app, &bob, &shop_b, (700, 0), 0, false).await;
    let mug = product(&app, &ann, &shop_a, "Blue Mug", MUG, 10).await;
    let book = product(&app, &bob, &shop_b, "Field Guide", 1999, 10).await;
    add_to_cart(&app, buyer, &mug, 2).await;
    add_to_cart(&app, buyer, &book, 1).await;
    let order = checkout_ok(&app, buyer, "order-1", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let (mug_line, book_line) = (line_of(&order, &mug), line_of(&order, &book));
    let one_mug = |quantity: i64| json!({"lines": [{"line_id": mug_line, "quantity": quantity}], "reason": "too small"});

    // Nothing arrived yet.
    assert_error(
        ask(&app, buyer, &order_id, "k-1", &one_mug(1)).await,
        409,
        "not_delivered",
    )
    .await;
    ship_and_deliver(&app, &ann, buyer, &order, &shop_a).await;
    ship_and_deliver(&app, &bob, &bob, &order, &shop_b).await;

    let refused = [
        // No Idempotency-Key.
        (
            None,
            one_mug(1),
            400,
            "idempotency_key_required",
            "Idempotency-Key",
        ),
        // Lines of two shops' parts.
        (
            Some("k-2"),
            json!({"lines": [{"line_id": mug_line, "quantity": 1}, {"line_id": book_line, "quantity": 1}], "reason": "both"}),
            422,
            "return_lines_span_parts",
            "lines[1].line_id",
        ),
        // A part that is not the lines'.
        (
            Some("k-3"),
            json!({"part_id": part_of(&order, &shop_b)["id"], "lines": [{"line_id": mug_line, "quantity": 1}], "reason": "x"}),
            422,
            "return_lines_span_parts",
            "lines[0].line_id",
        ),
        (
            Some("k-4"),
            json!({"lines": [{"line_id": "oln_00000000000000000000000000000000", "quantity": 1}], "reason": "x"}),
            422,
            "unknown_line",
            "lines[0].line_id",
        ),
        // More than delivered.
        (
            Some("k-5"),
            one_mug(3),
            422,
            "return_exceeds_delivered",
            "lines[0].quantity",
        ),
        (
            Some("k-6"),
            one_mug(0),
            422,
            "invalid_value",
            "lines[0].quantity",
        ),
        // Reasons: empty, a control character, a line break, too long.
        (
            Some("k-7"),
            json!({"lines": [{"line_id": mug_line, "quantity": 1}], "reason": "  "}),
            422,
            "invalid_value",
            "reason",
        ),
        (
            Some("k-8"),
            json!({"lines": [{"line_id": mug_line, "quantity": 1}], "reason": "bell\u{7}"}),
            422,
            "invalid_value",
            "reason",
        ),
        (
            Some("k-9"),
            json!({"lines": [{"line_id": mug_line, "quantity": 1}], "reason": "two\nlines"}),
            422,
            "invalid_value",
            "reason",
        ),
        (
            Some("k-10"),
            json!({"lines": [{"line_id": mug_line, "quantity": 1}], "reason": "x".repeat(501)}),
            422,
            "invalid_value",
            "reason",
        ),
    ];
    for (key, body, status, code, param) in refused {
        let path = format!("/v1/orders/{order_id}/returns");
        let response = match key {
            Some(key) => post_keyed(&app, buyer, &path, key, &body).await,
            None => post_as(&app, buyer, &path, &body).await,
        };
        let error = assert_error(response, status, code).await;
        assert_eq!(error["param"], param, "{body}");
    }
    // The shop that takes no returns.
    let one_book = json!({"lines": [{"line_id": book_line, "quantity": 1}], "reason": "read it"});
    assert_error(
        ask(&app, buyer, &order_id, "k-11", &one_book).await,
        409,
        "returns_not_accepted",
    )
    .await;
    assert!(returns_of(&app, buyer, &order_id).await.is_empty());
    assert!(audit_rows(&app, &market.operator, "return.request")
        .await
        .is_empty());

    // One mug in an open return: only one is left to ask for.
    json_of(ask(&app, buyer, &order_id, "k-12", &one_mug(1)).await, 201).await;
    assert_error(
        ask(&app, buyer, &order_id, "k-13", &one_mug(2)).await,
        422,
        "return_exceeds_delivered",
    )
    .await;

    // A bad tracking link, a bad address: refused, the return unchanged.
    let open = returns_of(&app, buyer, &order_id).await[0].clone();
    let return_id = open["id"].as_str().unwrap();
    json_of(
        step(
            &app,
            &ann,
            return_id,
            "approve",
            &json!({"return_address": "1 Dock Rd"}),
        )
        .await,
        200,
    )
    .await;
    for url in ["javascript:alert(1)", "ftp://carrier.example/1"] {
        assert_error(
            step(
                &app,
                buyer,
                return_id,
                "tracking",
                &json!({"carrier": "UPS", "tracking_number": "1", "tracking_url": url}),
            )
            .await,
            422,
            "invalid_tracking_url",
        )
        .await;
    }
    let long = format!("https://carrier.example/{}", "a".repeat(2000));
    assert_error(
        step(
            &app,
            buyer,
            return_id,
            "tracking",
            &json!({"carrier": "UPS", "tracking_number": "1", "tracking_url": long}),
        )
        .await,
        422,
        "invalid_tracking_url",
    )
    .await;
    assert_eq!(
        returns_of(&app, buyer, &order_id).await[0]["status"],
        "approved"
    );

    // Thirty days and a bit later, by the provider's clock: too late.
    app.sandbox_post(
        "/v1/test_helpers/advance_clock",
        &[("seconds", &(30 * 86_400 + 3600).to_string())],
    )
    .await;
    assert_error(
        ask(&app, buyer, &order_id, "k-14", &one_mug(1)).await,
        409,
        "return_window_closed",
    )
    .await;
    assert_eq!(returns_of(&app, buyer, &order_id).await.len(), 1);
    assert_eq!(minor(&staff_view(&app, &order_id).await["refunded"]), 0);
}

#[tokio::test]
async fn strangers_see_nothing_and_each_side_keeps_to_its_steps() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let sale = delivered_sale(&app, &market, 30, false).await;
    let (buyer, seller, order_id) = (&market.buyer, &sale.seller, sale.order_id.as_str());
    let body =
        json!({"lines": [{"line_id": sale.vase_line, "quantity": 1}], "reason": "wrong colour"});
    let requested = json_of(ask(&app, buyer, order_id, "r-1", &body).await, 201).await;
    let return_id = requested["id"].as_str().unwrap();

    // Another buyer and another seller: no such order, no such return.
    let other_buyer = signup(&app, "buyer").await;
    let other_seller = signup(&app, "seller").await;
    active_shop(&app, &other_seller, "USD").await;
    assert_error(
        ask(&app, &other_buyer, order_id, "r-2", &body).await,
        404,
        "not_found",
    )
    .await;
    for stranger in [&other_buyer, &other_seller] {
        assert_error(
            get_as(&app, stranger, &format!("/v1/returns/{return_id}")).await,
            404,
            "not_found",
        )
        .await;
        assert_error(
            get_as(&app, stranger, &format!("/v1/orders/{order_id}/returns")).await,
            404,
            "not_found",
        )
        .await;
        let page = json_of(get_as(&app, stranger, "/v1/returns").await, 200).await;
        assert_eq!(page["data"], json!([]));
    }
    let approve = json!({"return_address": "1 Dock Rd"});
    assert_error(
        step(&app, &other_seller, return_id, "approve", &approve).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        step(
            &app,
            &other_buyer,
            return_id,
            "tracking",
            &json!({"carrier": "UPS", "tracking_number": "1"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let not_theirs = format!("/v1/returns?shop_id={}", sale.shop["id"].as_str().unwrap());
    assert_error(
        get_as(&app, &other_seller, &not_theirs).await,
        404,
        "not_found",
    )
    .await;
    // Each side's steps are its own.
    assert_error(
        step(&app, buyer, return_id, "approve", &approve).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        step(
            &app,
            buyer,
            return_id,
            "receive",
            &json!({"restock": false}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        step(
            &app,
            seller,
            return_id,
            "tracking",
            &json!({"carrier": "UPS", "tracking_number": "1"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let finance = common::people::staff(&app, &market.operator, "finance").await;
    assert_error(
        step(&app, &finance, return_id, "approve", &approve).await,
        403,
        "forbidden",
    )
    .await;
    json_of(
        get_as(&app, &finance, &format!("/v1/returns/{return_id}")).await,
        200,
    )
    .await;
    let unchanged = json_of(
        get_as(&app, buyer, &format!("/v1/returns/{return_id}")).await,
        200,
    )
    .await;
    assert_eq!(unchanged["status"], "requested");
}

#[tokio::test]
async fn operators_step_in_and_the_order_of_steps_holds() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let sale = delivered_sale(&app, &market, 30, false).await;
    let (buyer, seller, ops) = (&market.buyer, &sale.seller, &market.operator);
    let order_id = sale.order_id.as_str();
    let mug = json!({"lines": [{"line_id": sale.mug_line, "quantity": 1}], "reason": "chipped"});
    let first = json_of(ask(&app, buyer, order_id, "r-1", &mug).await, 201).await;
    let first_id = first["id"].as_str().unwrap();
    let tracking = json!({"carrier": "UPS", "tracking_number": "RET-9"});

    // Out of order: tracking before approval, receiving before approval.
    let error = assert_error(
        step(&app, buyer, first_id, "tracking", &tracking).await,
        409,
        "return_state",
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("requested"));
    assert_error(
        step(&app, seller, first_id, "receive", &json!({"restock": true})).await,
        409,
        "return_state",
    )
    .await;
    // The operator refuses it; it cannot be approved afterwards.
    let refused = json_of(
        step(
            &app,
            ops,
            first_id,
            "refuse",
            &json!({"reason": "outside the photos' damage"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(refused["status"], "refused");
    assert_eq!(refused["refusal_reason"], "outside the photos' damage");
    let error = assert_error(
        step(
            &app,
            seller,
            first_id,
            "approve",
            &json!({"return_address": "1 Dock Rd"}),
        )
        .await,
        409,
        "return_state",
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("refused"));
    assert!(audit_rows(&app, ops, "return.refuse")
        .await
        .iter()
        .any(|r| r["subject"] == first_id && r["actor_user_id"] == ops.user_id.as_str()));

    // A refused return holds no units: the mug may be asked for again, and
    // the operator can take every step of it.
    let second = json_of(ask(&app, buyer, order_id, "r-2", &mug).await, 201).await;
    let second_id = second["id"].as_str().unwrap();
    json_of(
        step(
            &app,
            ops,
            second_id,
            "approve",
            &json!({"return_address": "Platform returns\n9 Hub Way"}),
        )
        .await,
        200,
    )
    .await;
    json_of(step(&app, ops, second_id, "tracking", &tracking).await, 200).await;
    let received = json_of(
        step(&app, ops, second_id, "receive", &json!({"restock": false})).await,
        200,
    )
    .await;
    // This shop keeps shipping on returns: the mug alone.
    assert_eq!(received["status"], "received");
    assert_eq!(minor(&received["refund"]["amount"]), MUG);
    for person in [ops, seller] {
        assert_error(
            step(
                &app,
                person,
                second_id,
                "receive",
                &json!({"restock": false}),
            )
            .await,
            409,
            "return_state",
        )
        .await;
    }
    let order = staff_view(&app, order_id).await;
    assert_eq!(order["refunds"].as_array().unwrap().len(), 1);
    assert_eq!(minor(&order["refunded"]), MUG);
    assert_eq!(stock_of(&app, seller, &sale.shop, &sale.mug).await, 8);
}

#[tokio::test]
async fn a_return_received_while_the_provider_is_down_is_refunded_later() {
    // Our own sandbox, so the test can stop it.
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
    let base = sandbox.base_url().to_owned();
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__PROVIDER__KIND", "stripe"),
            ("BAZAAR__PROVIDER__API_BASE", &base),
            ("BAZAAR__PROVIDER__SECRET_KEY", SANDBOX_KEY),
            ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", "whsec_unused"),
            (
                "BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS",
                "whsec_unused_connect",
            ),
            ("BAZAAR__PROVIDER__RETRY_ATTEMPTS_MAX", "2"),
        ],
        |_| {},
    )
    .await;
    let app = TestApp {
        sandbox_url: Some(base),
        ..app
    };
    let market = market(&app).await;
    let sale = delivered_sale(&app, &market, 30, true).await;
    let (buyer, seller, order_id) = (&market.buyer, &sale.seller, sale.order_id.as_str());
    let body = json!({"lines": [{"line_id": sale.vase_line, "quantity": 1}], "reason": "too tall"});
    let requested = json_of(ask(&app, buyer, order_id, "r-1", &body).await, 201).await;
    let return_id = requested["id"].as_str().unwrap();
    json_of(
        step(
            &app,
            seller,
            return_id,
            "approve",
            &json!({"return_address": "1 Dock Rd"}),
        )
        .await,
        200,
    )
    .await;
    sandbox.stop().await;

    let received = json_of(
        step(
            &app,
            seller,
            return_id,
            "receive",
            &json!({"restock": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(received["status"], "received");
    assert_eq!(received["refund"]["status"], "pending");
    assert_eq!(minor(&received["refund"]["amount"]), VASE + SHIPPING);
    assert_error(
        step(
            &app,
            seller,
            return_id,
            "receive",
            &json!({"restock": true}),
        )
        .await,
        409,
        "return_state",
    )
    .await;
    let order = staff_view(&app, order_id).await;
    assert_eq!(order["refunds"].as_array().unwrap().len(), 1);
    assert_eq!(order["refunds"][0]["status"], "pending");
    assert_eq!(minor(&order["refunded"]), VASE + SHIPPING);
}

#[tokio::test]
async fn every_return_endpoint_is_documented_with_its_roles() {
    let app = TestApp::spawn().await;
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let roles_of = |method: &str, path: &str| -> Vec<String> {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        operation["x-roles"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: no x-roles"))
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };
    let readers = ["buyer", "seller", "finance", "support", "operator"];
    for (method, path, roles) in [
        (
            "post",
            "/v1/orders/{id}/returns",
            &["buyer", "support", "operator"][..],
        ),
        ("get", "/v1/orders/{id}/returns", &readers[..]),
        ("get", "/v1/returns", &readers[..]),
        ("get", "/v1/returns/{id}", &readers[..]),
        (
            "post",
            "/v1/returns/{id}/approve",
            &["seller", "support", "operator"][..],
        ),
        (
            "post",
            "/v1/returns/{id}/refuse",
            &["seller", "support", "operator"][..],
        ),
        (
            "post",
            "/v1/returns/{id}/tracking",
            &["buyer", "support", "operator"][..],
        ),
        (
            "post",
            "/v1/returns/{id}/receive",
            &["seller", "support", "operator"][..],
        ),
    ] {
        assert_eq!(roles_of(method, path), roles, "{method} {path}");
    }
    let request = &document["paths"]["/v1/orders/{id}/returns"]["post"];
    assert!(request["responses"]["409"].is_object());
    assert!(request["responses"]["422"].is_object());
}
