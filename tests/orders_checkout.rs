//! Carts and checkout: what a buyer may put in a cart, every way a checkout is
//! refused (each with its code and no state changed), idempotency, declined
//! cards, expiry of unpaid orders, a provider that refuses or is down, and who
//! sees which part of an order.

use crate::common;
use crate::orders_support;

use common::people::{delete_as, get_as, pool, post_as, signup, Person};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::{json, Value};

struct Shop {
    seller: Person,
    shop: Value,
    product: String,
}

async fn shop_with_product(app: &TestApp, currency: &str, price: i64, stock: i64) -> Shop {
    let seller = signup(app, "seller").await;
    let shop = active_shop(app, &seller, currency).await;
    let product = product(app, &seller, &shop, "Thing", price, stock).await;
    Shop {
        seller,
        shop,
        product,
    }
}

async fn orders_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    let pool = pool(app);
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        bazaar::orders::schema::orders::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_cart_takes_only_buyable_products_in_stock() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let a = shop_with_product(&app, "USD", 1000, 3).await;
    let buyer = &market.buyer;
    let add = |product: &str, quantity: Value| json!({"product_id": product, "quantity": quantity});

    let unknown = post_as(
        &app,
        buyer,
        "/v1/cart/lines",
        &add("prd_00000000000000000000000000000000", json!(1)),
    )
    .await;
    assert_error(unknown, 422, "product_unavailable").await;
    for quantity in [json!(0), json!(-1), json!(1_001)] {
        let response = post_as(&app, buyer, "/v1/cart/lines", &add(&a.product, quantity)).await;
        assert_eq!(
            assert_error(response, 422, "invalid_value").await["param"],
            "quantity"
        );
    }
    let huge = post_as(
        &app,
        buyer,
        "/v1/cart/lines",
        &add(&a.product, json!(1u64 << 63)),
    )
    .await;
    assert_error(huge, 422, "invalid_value").await;
    let too_many = post_as(&app, buyer, "/v1/cart/lines", &add(&a.product, json!(4))).await;
    assert_error(too_many, 409, "out_of_stock").await;

    let cart = add_to_cart(&app, buyer, &a.product, 2).await;
    assert_eq!(cart["lines"][0]["quantity"], 2);
    let cart = add_to_cart(&app, buyer, &a.product, 1).await;
    assert_eq!(
        cart["lines"].as_array().unwrap().len(),
        1,
        "the same product raises its line"
    );
    assert_eq!(cart["lines"][0]["quantity"], 3);
    assert_eq!(cart["totals"], json!([{"minor": 3000, "currency": "USD"}]));
    let line = cart["lines"][0]["id"].as_str().unwrap().to_owned();
    let over = app
        .client
        .patch(format!("{}/v1/cart/lines/{line}", app.address))
        .header("authorization", format!("Bearer {}", buyer.token))
        .json(&json!({"quantity": 4}))
        .send()
        .await
        .unwrap();
    assert_error(over, 409, "out_of_stock").await;

    // A frozen shop's products cannot be added, and sellers cannot shop.
    let b = shop_with_product(&app, "USD", 500, 3).await;
    let freeze = format!("/v1/shops/{}/freeze", b.shop["id"].as_str().unwrap());
    json_of(
        post_as(
            &app,
            &market.operator,
            &freeze,
            &json!({"reason": "review"}),
        )
        .await,
        200,
    )
    .await;
    let frozen = post_as(&app, buyer, "/v1/cart/lines", &add(&b.product, json!(1))).await;
    assert_error(frozen, 422, "product_unavailable").await;
    let seller = post_as(
        &app,
        &a.seller,
        "/v1/cart/lines",
        &add(&a.product, json!(1)),
    )
    .await;
    assert_error(seller, 403, "forbidden").await;

    // Another buyer's line is not ours to remove.
    let other = signup(&app, "buyer").await;
    assert_error(
        delete_as(&app, &other, &format!("/v1/cart/lines/{line}")).await,
        404,
        "not_found",
    )
    .await;
    let cart = json_of(
        delete_as(&app, buyer, &format!("/v1/cart/lines/{line}")).await,
        200,
    )
    .await;
    assert!(cart["lines"].as_array().unwrap().is_empty());
    assert_eq!(
        stock_of(&app, &a.seller, &a.shop, &a.product).await,
        3,
        "a cart reserves nothing"
    );
}

#[tokio::test]
async fn a_checkout_that_cannot_be_made_is_refused_with_nothing_changed() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let buyer = &market.buyer;
    let usd = shop_with_product(&app, "USD", 1000, 5).await;
    let eur = shop_with_product(&app, "EUR", 900, 5).await;
    let body = checkout_body(Some("pm_card_visa"));

    let empty = post_keyed(&app, buyer, "/v1/checkout", "k0", &body).await;
    assert_error(empty, 422, "cart_empty").await;
    // No Idempotency-Key header at all.
    let response = post_as(&app, buyer, "/v1/checkout", &body).await;
    assert_error(response, 400, "idempotency_key_required").await;

    add_to_cart(&app, buyer, &usd.product, 2).await;
    add_to_cart(&app, buyer, &eur.product, 1).await;
    let mixed = assert_error(
        post_keyed(&app, buyer, "/v1/checkout", "k1", &body).await,
        422,
        "mixed_currencies",
    )
    .await;
    let message = mixed["message"].as_str().unwrap();
    assert!(
        message.contains("EUR: `Thing`") && message.contains("USD: `Thing`"),
        "{message}"
    );
    let cart = json_of(get_as(&app, buyer, "/v1/cart").await, 200).await;
    let eur_line = cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["unit_price"]["currency"] == "EUR")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    json_of(
        delete_as(&app, buyer, &format!("/v1/cart/lines/{eur_line}")).await,
        200,
    )
    .await;

    // Bad shipping names the field.
    let mut bad = body.clone();
    bad["shipping"]["country"] = json!("USA");
    let error = assert_error(
        post_keyed(&app, buyer, "/v1/checkout", "k2", &bad).await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "shipping.country");
    let mut unknown = body.clone();
    unknown["coupon"] = json!("FREE");
    assert_error(
        post_keyed(&app, buyer, "/v1/checkout", "k2", &unknown).await,
        422,
        "unknown_field",
    )
    .await;

    // The shop is frozen between cart and checkout.
    let freeze = format!("/v1/shops/{}/freeze", usd.shop["id"].as_str().unwrap());
    json_of(
        post_as(
            &app,
            &market.operator,
            &freeze,
            &json!({"reason": "review"}),
        )
        .await,
        200,
    )
    .await;
    assert_error(
        post_keyed(&app, buyer, "/v1/checkout", "k3", &body).await,
        422,
        "product_unavailable",
    )
    .await;
    let unfreeze = format!("/v1/shops/{}/unfreeze", usd.shop["id"].as_str().unwrap());
    json_of(
        post_as(&app, &market.operator, &unfreeze, &json!({})).await,
        200,
    )
    .await;

    // Someone else bought the stock meanwhile.
    let rival = signup(&app, "buyer").await;
    add_to_cart(&app, &rival, &usd.product, 4).await;
    json_of(
        post_keyed(&app, &rival, "/v1/checkout", "r", &body).await,
        201,
    )
    .await;
    assert_error(
        post_keyed(&app, buyer, "/v1/checkout", "k4", &body).await,
        409,
        "out_of_stock",
    )
    .await;
    assert_eq!(orders_count(&app).await, 1, "only the rival's order exists");
    assert_eq!(
        stock_of(&app, &usd.seller, &usd.shop, &usd.product).await,
        1
    );
    assert_eq!(
        json_of(get_as(&app, buyer, "/v1/cart").await, 200).await["lines"][0]["quantity"],
        2,
        "cart kept"
    );

    // A key used once answers the same order; another body under it is a 409.
    json_of(delete_as(&app, buyer, "/v1/cart").await, 200).await;
    add_to_cart(&app, buyer, &usd.product, 1).await;
    let first = json_of(
        post_keyed(&app, buyer, "/v1/checkout", "k5", &body).await,
        201,
    )
    .await;
    let replay = json_of(
        post_keyed(&app, buyer, "/v1/checkout", "k5", &body).await,
        201,
    )
    .await;
    assert_eq!(first["id"], replay["id"]);
    let other_body = checkout_body(Some("pm_card_mastercard"));
    assert_error(
        post_keyed(&app, buyer, "/v1/checkout", "k5", &other_body).await,
        409,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(orders_count(&app).await, 2);
    assert_eq!(
        stock_of(&app, &usd.seller, &usd.shop, &usd.product).await,
        0
    );
}

#[tokio::test]
async fn a_declined_card_leaves_the_order_unpaid_until_it_expires() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let a = shop_with_product(&app, "USD", 1000, 5).await;
    add_to_cart(&app, &market.buyer, &a.product, 2).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_chargeDeclined")).await;
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(order["payment"]["status"], "requires_payment_method");
    assert_eq!(order["payment"]["last_error"], "generic_decline");
    assert!(
        order["payment"]["client_secret"].is_string(),
        "the buyer may try another card"
    );
    assert_eq!(
        stock_of(&app, &a.seller, &a.shop, &a.product).await,
        3,
        "reserved meanwhile"
    );
    let order_id = order["id"].as_str().unwrap().to_owned();

    // Not yet due: nothing happens.
    sweep(&app, 0).await;
    let order = json_of(
        get_as(&app, &market.operator, &format!("/v1/orders/{order_id}")).await,
        200,
    )
    .await;
    assert_eq!(order["status"], "awaiting_payment");
    // Past the 30 minutes: expired, stock back, PaymentIntent cancelled, no transfer.
    sweep(&app, 31 * 60).await;
    let order = json_of(
        get_as(&app, &market.operator, &format!("/v1/orders/{order_id}")).await,
        200,
    )
    .await;
    assert_eq!(order["status"], "expired");
    assert_eq!(stock_of(&app, &a.seller, &a.shop, &a.product).await, 5);
    let intent = sandbox_get(
        &app,
        &format!(
            "/v1/payment_intents/{}",
            order["payment"]["intent_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(intent["status"], "canceled");
    assert!(transfers_of(&app, &order_id).await.is_empty());
    // A refund of an unpaid order is refused.
    let support = common::people::staff(&app, &market.operator, "support").await;
    let body = json!({"part_id": order["parts"][0]["id"], "amount_minor": 100});
    let response = post_keyed(
        &app,
        &support,
        &format!("/v1/orders/{order_id}/refunds"),
        "r",
        &body,
    )
    .await;
    assert_error(response, 409, "order_not_paid").await;
    sweep(&app, 31 * 60).await;
    assert_eq!(
        stock_of(&app, &a.seller, &a.shop, &a.product).await,
        5,
        "released once"
    );
}

#[tokio::test]
async fn a_provider_that_refuses_the_payment_leaves_no_order_behind() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    // 40 cents is below the provider's USD minimum charge (50).
    let a = shop_with_product(&app, "USD", 40, 5).await;
    add_to_cart(&app, &market.buyer, &a.product, 1).await;
    let response = post_keyed(
        &app,
        &market.buyer,
        "/v1/checkout",
        "k",
        &checkout_body(Some("pm_card_visa")),
    )
    .await;
    let error = assert_error(response, 422, "provider_rejected").await;
    assert_eq!(error["param"], "amount");
    assert_eq!(stock_of(&app, &a.seller, &a.shop, &a.product).await, 5);
    let cart = json_of(get_as(&app, &market.buyer, "/v1/cart").await, 200).await;
    assert_eq!(
        cart["lines"][0]["quantity"], 1,
        "the lines are back in the cart"
    );
    let orders = json_of(get_as(&app, &market.buyer, "/v1/orders").await, 200).await;
    assert_eq!(orders["data"][0]["status"], "canceled");
    assert_eq!(orders["data"][0]["cancel_reason"], "provider_rejected");
    // The key is free again: the buyer fixes the cart and retries with it.
    add_to_cart(&app, &market.buyer, &a.product, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(minor_total(&order), 80);
}

fn minor_total(order: &Value) -> i64 {
    order["total"]["minor"].as_i64().unwrap()
}

#[tokio::test]
async fn sellers_see_only_their_part_and_buyers_only_their_orders() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let a = shop_with_product(&app, "USD", 1000, 5).await;
    let b = shop_with_product(&app, "USD", 2000, 5).await;
    add_to_cart(&app, &market.buyer, &a.product, 1).await;
    add_to_cart(&app, &market.buyer, &b.product, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap();

    let path = format!("/v1/shops/{}/orders", a.shop["id"].as_str().unwrap());
    let seen = json_of(get_as(&app, &a.seller, &path).await, 200).await;
    let data = seen["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    let view = &data[0];
    assert_eq!(view["order_id"], order_id);
    assert_eq!(view["shipping"]["name"], "Ann Buyer");
    assert_eq!(view["part"]["lines"].as_array().unwrap().len(), 1);
    assert_eq!(view["part"]["lines"][0]["product_id"], a.product.as_str());
    let text = view.to_string();
    for secret in [
        "client_secret",
        "pi_",
        "buyer_email",
        &market.buyer.email,
        b.product.as_str(),
    ] {
        assert!(
            !text.contains(secret),
            "a seller's view must not contain {secret}: {text}"
        );
    }
    // Not another seller's shop, not the buyer's whole order.
    assert_error(get_as(&app, &b.seller, &path).await, 404, "not_found").await;
    assert_error(
        get_as(&app, &a.seller, &format!("/v1/orders/{order_id}")).await,
        403,
        "forbidden",
    )
    .await;
    let stranger = signup(&app, "buyer").await;
    assert_error(
        get_as(&app, &stranger, &format!("/v1/orders/{order_id}")).await,
        404,
        "not_found",
    )
    .await;
    assert!(
        json_of(get_as(&app, &stranger, "/v1/orders").await, 200).await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let mine = json_of(get_as(&app, &market.buyer, "/v1/orders").await, 200).await;
    assert_eq!(mine["data"][0]["id"], order_id);
    let finance = common::people::staff(&app, &market.operator, "finance").await;
    let all = json_of(get_as(&app, &finance, "/v1/orders?status=paid").await, 200).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    assert_error(
        get_as(&app, &finance, "/v1/orders?status=lost").await,
        400,
        "invalid_query",
    )
    .await;
    // A seller may refund only its own part; a buyer may not refund.
    let part_b = order["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] == b.shop["id"])
        .unwrap();
    let body = json!({"part_id": part_b["id"], "amount_minor": 100});
    let response = post_keyed(
        &app,
        &a.seller,
        &format!("/v1/orders/{order_id}/refunds"),
        "r",
        &body,
    )
    .await;
    assert_error(response, 422, "unknown_part").await;
    let response = post_keyed(
        &app,
        &market.buyer,
        &format!("/v1/orders/{order_id}/refunds"),
        "r",
        &body,
    )
    .await;
    assert_error(response, 403, "forbidden").await;
    let response = post_keyed(
        &app,
        &stranger,
        &format!("/v1/orders/{order_id}/refunds"),
        "r",
        &body,
    )
    .await;
    assert_error(response, 403, "forbidden").await;
}

#[tokio::test]
async fn a_total_that_changed_since_the_buyer_saw_it_orders_nothing() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let lamp = product(&app, &seller, &shop, "Lamp", 4000, 3).await;
    add_to_cart(&app, &market.buyer, &lamp, 2).await;
    let raised = app
        .client
        .patch(format!("{}/v1/products/{lamp}", app.address))
        .bearer_auth(&seller.token)
        .json(&json!({"price_minor": 4500}))
        .send()
        .await
        .unwrap();
    assert_eq!(raised.status(), 200);
    // The buyer saw 2 × 40.00.
    let mut body = checkout_body(Some("pm_card_visa"));
    body["expected_total_minor"] = json!(8000);
    let refused = post_keyed(&app, &market.buyer, "/v1/checkout", "seen", &body).await;
    let error = assert_error(refused, 409, "price_changed").await;
    assert!(
        error["message"].as_str().unwrap().contains("90.00"),
        "{error}"
    );
    // Nothing changed: the cart is whole, the stock untouched, no order.
    let cart = json_of(get_as(&app, &market.buyer, "/v1/cart").await, 200).await;
    assert_eq!(cart["lines"][0]["quantity"], 2);
    assert_eq!(stock_of(&app, &seller, &shop, &lamp).await, 3);
    assert_eq!(orders_count(&app).await, 0);
    // The total as it is now (the issue's name for the field works too).
    let mut body = checkout_body(Some("pm_card_visa"));
    body["expected_total"] = json!(9000);
    let order = json_of(
        post_keyed(&app, &market.buyer, "/v1/checkout", "now", &body).await,
        201,
    )
    .await;
    assert_eq!(order["total"]["minor"], 9000);
}

/// Rewrites which PaymentIntent an order's row names. `None` (and no client
/// secret) is what a checkout that died after the provider made the intent,
/// before it was recorded, leaves; another id, an intent the provider lost.
async fn set_recorded_intent(app: &TestApp, order_id: &str, intent: Option<&str>) {
    use bazaar::orders::schema::orders;
    use diesel::prelude::*;
    let (pool, id, intent) = (pool(app), order_id.to_owned(), intent.map(str::to_owned));
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let row = orders::table.find(&id);
        diesel::update(row)
            .set(orders::payment_intent_id.eq(&intent))
            .execute(&mut conn)
            .unwrap();
        if intent.is_none() {
            diesel::update(row)
                .set((
                    orders::client_secret.eq(None::<String>),
                    orders::payment_status.eq(None::<String>),
                ))
                .execute(&mut conn)
                .unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_retry_finishes_a_checkout_that_died_before_recording_its_payment_intent() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let a = shop_with_product(&app, "USD", 1250, 5).await;
    let buyer = &market.buyer;
    add_to_cart(&app, buyer, &a.product, 2).await;
    let body = checkout_body(None);
    let first = json_of(
        post_keyed(&app, buyer, "/v1/checkout", "died", &body).await,
        201,
    )
    .await;
    let order_id = first["id"].as_str().unwrap().to_owned();
    let intent = staff_view(&app, &order_id).await["payment"]["intent_id"].clone();
    assert!(intent.is_string(), "{first}");
    set_recorded_intent(&app, &order_id, None).await;
    let unpayable = staff_view(&app, &order_id).await;
    assert_eq!(unpayable["payment"]["client_secret"], Value::Null);

    // The buyer's retry, same key and body: the same order, payable again,
    // with the intent the provider made the first time (same idempotency key).
    let response = post_keyed(&app, buyer, "/v1/checkout", "died", &body).await;
    assert_eq!(
        response.headers()["idempotent-replayed"],
        "true",
        "a replay of the first request"
    );
    let retried = json_of(response, 201).await;
    assert_eq!(retried["id"], order_id);
    assert_eq!(retried["status"], "awaiting_payment");
    assert_eq!(
        retried["payment"]["client_secret"],
        first["payment"]["client_secret"]
    );
    let recorded = staff_view(&app, &order_id).await;
    assert_eq!(recorded["payment"]["intent_id"], intent);
    let expected_total = 2 * 1250;
    assert_eq!(recorded["total"]["minor"], expected_total, "{recorded}");
    let at_provider = sandbox_get(
        &app,
        &format!("/v1/payment_intents/{}", intent.as_str().unwrap()),
    )
    .await;
    assert_eq!(at_provider["amount"], expected_total);
    assert_eq!(at_provider["metadata"]["order_id"], order_id);
    // Only one order, its stock held once.
    assert_eq!(orders_count(&app).await, 1);
    assert_eq!(stock_of(&app, &a.seller, &a.shop, &a.product).await, 3);
    // Another retry finds the intent recorded and changes nothing.
    let again = json_of(
        post_keyed(&app, buyer, "/v1/checkout", "died", &body).await,
        201,
    )
    .await;
    assert_eq!(
        again["payment"]["client_secret"],
        first["payment"]["client_secret"]
    );
}

/// Waits until every webhook received is processed and none has come for
/// half a second.
async fn webhooks_quiet(app: &TestApp) {
    #[derive(diesel::QueryableByName)]
    struct Seen {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        received: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        open: i64,
    }
    let mut last = -1;
    let mut quiet = 0;
    for _ in 0..300 {
        let pool = pool(app);
        let seen = tokio::task::spawn_blocking(move || {
            use diesel::RunQueryDsl;
            let mut conn = pool.get().unwrap();
            diesel::sql_query(
                "SELECT COUNT(*) AS received, \
                 COUNT(*) - COUNT(processed_at) AS open FROM webhook_events",
            )
            .get_result::<Seen>(&mut conn)
            .unwrap()
        })
        .await
        .unwrap();
        quiet = if seen.open == 0 && seen.received == last {
            quiet + 1
        } else {
            0
        };
        if quiet == 5 {
            return;
        }
        last = seen.received;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("webhooks kept coming for 30 s");
}

#[tokio::test]
async fn the_sweep_or_a_payment_finishes_a_checkout_that_died_before_recording_its_intent() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let a = shop_with_product(&app, "USD", 700, 10).await;
    let buyer = &market.buyer;
    // What a checkout that died after the provider made its intent leaves:
    // an order awaiting payment with no intent recorded.
    let mut died = Vec::new();
    for (key, method) in [
        ("swept", None),
        ("declined", Some("pm_card_chargeDeclined")),
        ("paid-later", None),
    ] {
        add_to_cart(&app, buyer, &a.product, 1).await;
        let order = checkout_ok(&app, buyer, key, method).await;
        let order_id = order["id"].as_str().unwrap().to_owned();
        let intent = staff_view(&app, &order_id).await["payment"]["intent_id"].clone();
        assert!(intent.is_string(), "{order}");
        died.push((order_id, intent));
    }
    // The provider's webhooks about these intents are in first: one coming
    // after the crash would record the intent itself (from its metadata).
    webhooks_quiet(&app).await;
    for (order_id, _) in &died {
        set_recorded_intent(&app, order_id, None).await;
    }
    // A checkout may still be under way for a minute: the sweep leaves it.
    let report = sweep(&app, 0).await;
    assert_eq!(report.checkouts_finished, 0, "{report:?}");
    assert_eq!(
        staff_view(&app, &died[0].0).await["payment"]["intent_id"],
        Value::Null
    );
    // Then it finishes the first two with the checkout's own request (its
    // key and payment method), so the provider answers with the intent it
    // made — a declined card's too, which a request without the payment
    // method would have been refused for. The third is paid by its buyer
    // before any sweep.
    let (paid_later, paid_later_intent) = died.pop().unwrap();
    let pay = json!({"payment_method": "pm_card_visa"});
    let path = format!("/v1/orders/{paid_later}/pay");
    let paid = json_of(post_keyed(&app, buyer, &path, "first-try", &pay).await, 200).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(
        staff_view(&app, &paid_later).await["payment"]["intent_id"],
        paid_later_intent
    );
    let report = sweep(&app, 61).await;
    assert_eq!(report.checkouts_finished, 2, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    for (order_id, intent) in &died {
        let order = staff_view(&app, order_id).await;
        assert_eq!(order["status"], "awaiting_payment", "{order}");
        assert_eq!(order["payment"]["intent_id"], *intent, "{order}");
        assert!(order["payment"]["client_secret"].is_string(), "{order}");
    }
    let declined = staff_view(&app, &died[1].0).await;
    assert_eq!(declined["payment"]["last_error"], "generic_decline");
    // The swept order is payable again, and paid once.
    let path = format!("/v1/orders/{}/pay", died[0].0);
    let paid = json_of(
        post_keyed(&app, buyer, &path, "after-sweep", &pay).await,
        200,
    )
    .await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(orders_count(&app).await, 3);
    assert_eq!(stock_of(&app, &a.seller, &a.shop, &a.product).await, 7);
}

#[tokio::test]
async fn an_unpaid_order_whose_intent_the_provider_forgot_expires_and_frees_its_stock() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let a = shop_with_product(&app, "USD", 800, 4).await;
    add_to_cart(&app, &market.buyer, &a.product, 3).await;
    let order = checkout_ok(&app, &market.buyer, "forgot", None).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(stock_of(&app, &a.seller, &a.shop, &a.product).await, 1);
    // The provider lost the intent (a crash of a provider that had not
    // written it yet): the order names one the provider never heard of.
    set_recorded_intent(&app, &order_id, Some("pi_unknownToTheProvider")).await;

    sweep(&app, 0).await;
    assert_eq!(
        staff_view(&app, &order_id).await["status"],
        "awaiting_payment"
    );
    // Past its expiry the sweep cannot cancel the intent (404 at the
    // provider) and expires the order anyway, saying why.
    let report = sweep(&app, 31 * 60).await;
    let expired = staff_view(&app, &order_id).await;
    assert_eq!(expired["status"], "expired", "{expired} {report:?}");
    assert_eq!(expired["cancel_reason"], "payment_intent_unknown");
    assert_eq!(stock_of(&app, &a.seller, &a.shop, &a.product).await, 4);
    assert!(transfers_of(&app, &order_id).await.is_empty());
}
