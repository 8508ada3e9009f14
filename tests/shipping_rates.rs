//! Shipping rates per shop, priced at checkout: a seller replaces its shop's
//! rates and returns policy as a whole (every refusal writing nothing), only
//! its seller and operators may, the cart quotes shipping by country, and
//! checkout prices each part's shipping by its shop's rates — per unit, free
//! above a threshold, `*` for other countries, refused where no rate covers
//! the country — with the platform fee on shipping only when the fee rule
//! says so and the rule's release policy frozen on the part. Every expected
//! amount is computed here from the rates, never read from the code under test.

use crate::common;
use crate::orders_support;
use crate::web_support;

use common::people::{audit_rows, get_as, get_with_token, pool, post_as, signup, staff, Person};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::{json, Value};
use web_support::Browser;

/// `PUT /v1/shops/{shop}/shipping` as `person`.
async fn put_shipping(
    app: &TestApp,
    person: &Person,
    shop: &Value,
    body: &Value,
) -> reqwest::Response {
    app.client
        .put(format!("{}{}", app.address, shipping_path(shop)))
        .header("authorization", format!("Bearer {}", person.token))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

fn shipping_path(shop: &Value) -> String {
    format!("/v1/shops/{}/shipping", shop["id"].as_str().unwrap())
}

/// A rate as a request writes it.
fn rate(
    destination: &str,
    currency: &str,
    first: i64,
    more: i64,
    free_above: Option<i64>,
    handling_days: i64,
) -> Value {
    let mut rate = json!({
        "destination": destination,
        "currency": currency,
        "first_item_minor": first,
        "additional_item_minor": more,
        "handling_days": handling_days,
    });
    if let Some(free) = free_above {
        rate["free_above_minor"] = json!(free);
    }
    rate
}

fn shipping_body(rates: Vec<Value>) -> Value {
    json!({"rates": rates, "returns": {"window_days": 30, "refunds_shipping": false}})
}

/// Sets the shop's rates as its seller, asserting success.
async fn set_rates(app: &TestApp, seller: &Person, shop: &Value, rates: Vec<Value>) -> Value {
    json_of(
        put_shipping(app, seller, shop, &shipping_body(rates)).await,
        200,
    )
    .await
}

/// The shop's shipping as its seller reads it.
async fn shipping_of(app: &TestApp, seller: &Person, shop: &Value) -> Value {
    json_of(get_as(app, seller, &shipping_path(shop)).await, 200).await
}

/// The address of `shipping()` in another country.
fn shipping_to(country: &str) -> Value {
    let mut address = shipping();
    address["country"] = json!(country);
    address
}

/// Checks out to `country`, asserting 201; returns the staff view.
async fn checkout_to(
    app: &TestApp,
    buyer: &Person,
    country: &str,
    expected_total: Option<i64>,
) -> Value {
    let mut body = json!({"shipping": shipping_to(country)});
    if let Some(total) = expected_total {
        body["expected_total_minor"] = json!(total);
    }
    let key = uuid::Uuid::new_v4().to_string();
    let answer = json_of(
        post_keyed(app, buyer, "/v1/checkout", &key, &body).await,
        201,
    )
    .await;
    staff_view(app, answer["id"].as_str().unwrap()).await
}

/// What each stored part of `order_id` froze at checkout: (shop id,
/// shipping, handling days, release policy, release after days).
async fn frozen_terms(app: &TestApp, order_id: &str) -> Vec<(String, i64, i32, String, i32)> {
    use bazaar::orders::schema::order_parts as p;
    use diesel::prelude::*;
    let (pool, order_id) = (pool(app), order_id.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        p::table
            .filter(p::order_id.eq(order_id))
            .order(p::position.asc())
            .select((
                p::shop_id,
                p::shipping_minor,
                p::handling_days,
                p::release_policy,
                p::release_after_days,
            ))
            .load(&mut conn)
            .unwrap()
    })
    .await
    .unwrap()
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

fn usd(minor: i64) -> Value {
    json!({"minor": minor, "currency": "USD"})
}

fn shop_id(shop: &Value) -> &str {
    shop["id"].as_str().unwrap()
}

#[tokio::test]
async fn a_seller_replaces_its_rates_whole_and_every_refusal_writes_nothing() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;

    // Nothing set: no rates (no shipping charged, ships everywhere) and the
    // default returns policy.
    let empty = shipping_of(&app, &seller, &shop).await;
    assert_eq!(empty["shop_id"], shop["id"]);
    assert_eq!(empty["rates"], json!([]));
    assert_eq!(
        empty["returns"],
        json!({"window_days": 30, "refunds_shipping": false})
    );
    assert_eq!(empty["handling_days_without_rates"], 3);

    let body = json!({
        "rates": [
            rate("fr", "eur", 900, 200, Some(10_000), 4),
            rate("*", "USD", 2500, 500, None, 7),
            rate("US", "usd", 500, 150, Some(5_000), 2),
        ],
        "returns": {"window_days": 14, "refunds_shipping": true},
    });
    let stored = json_of(put_shipping(&app, &seller, &shop, &body).await, 200).await;
    let expected_rates = json!([
        {"destination": "*", "first_item": {"minor": 2500, "currency": "USD"}, "additional_item": {"minor": 500, "currency": "USD"}, "free_above": null, "handling_days": 7},
        {"destination": "FR", "first_item": {"minor": 900, "currency": "EUR"}, "additional_item": {"minor": 200, "currency": "EUR"}, "free_above": {"minor": 10000, "currency": "EUR"}, "handling_days": 4},
        {"destination": "US", "first_item": {"minor": 500, "currency": "USD"}, "additional_item": {"minor": 150, "currency": "USD"}, "free_above": {"minor": 5000, "currency": "USD"}, "handling_days": 2},
    ]);
    assert_eq!(stored["rates"], expected_rates);
    assert_eq!(
        stored["returns"],
        json!({"window_days": 14, "refunds_shipping": true})
    );
    let read = shipping_of(&app, &seller, &shop).await;
    assert_eq!(read, stored);
    // Anyone may read a selling shop's shipping.
    let public = json_of(
        app.get(&format!("/v1/shop_profiles/{}/shipping", shop_id(&shop)))
            .await,
        200,
    )
    .await;
    assert_eq!(public, stored);

    let audited = audit_rows(&app, &market.operator, "shop.shipping").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["subject"], shop["id"]);
    assert_eq!(audited[0]["actor_user_id"], seller.user_id.as_str());
    assert_eq!(audited[0]["before"]["rates"], json!([]));
    // Each rate kept compact: [destination, currency, first, additional,
    // free above, handling days].
    assert_eq!(
        audited[0]["after"]["rates"],
        json!([
            ["*", "USD", 2500, 500, null, 7],
            ["FR", "EUR", 900, 200, 10000, 4],
            ["US", "USD", 500, 150, 5000, 2]
        ])
    );
    assert_eq!(audited[0]["after"]["returns"], stored["returns"]);

    // Each refusal names its field and leaves the stored set as it was.
    let good = || rate("DE", "EUR", 800, 100, None, 3);
    let with = |change: fn(&mut Value)| {
        let mut bad = good();
        change(&mut bad);
        json!({"rates": [good_rate_us(), bad], "returns": {"window_days": 30, "refunds_shipping": false}})
    };
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            with(|r| r["destination"] = json!("DEU")),
            422,
            "invalid_value",
            "rates[1].destination",
        ),
        (
            with(|r| r["destination"] = json!("")),
            422,
            "invalid_value",
            "rates[1].destination",
        ),
        (
            with(|r| r["currency"] = json!("EURO")),
            422,
            "invalid_value",
            "rates[1].currency",
        ),
        (
            with(|r| r["currency"] = json!("XYZ")),
            422,
            "invalid_value",
            "rates[1].currency",
        ),
        (
            with(|r| r["first_item_minor"] = json!(-1)),
            422,
            "invalid_value",
            "rates[1].first_item_minor",
        ),
        (
            with(|r| r["first_item_minor"] = json!(100_000_001)),
            422,
            "invalid_value",
            "rates[1].first_item_minor",
        ),
        (
            with(|r| r["additional_item_minor"] = json!(-1)),
            422,
            "invalid_value",
            "rates[1].additional_item_minor",
        ),
        (
            with(|r| r["free_above_minor"] = json!(0)),
            422,
            "invalid_value",
            "rates[1].free_above_minor",
        ),
        (
            with(|r| r["handling_days"] = json!(61)),
            422,
            "invalid_value",
            "rates[1].handling_days",
        ),
        (
            with(|r| r["handling_days"] = json!(-1)),
            422,
            "invalid_value",
            "rates[1].handling_days",
        ),
        (
            with(|r| r["handling_days"] = json!("2")),
            422,
            "invalid_type",
            "rates[1].handling_days",
        ),
        (
            with(|r| r["express"] = json!(true)),
            422,
            "unknown_field",
            "rates[1].express",
        ),
        (
            json!({"rates": [good(), good_rate_us(), rate("de", "eur", 1, 1, None, 1)], "returns": {"window_days": 30, "refunds_shipping": false}}),
            422,
            "invalid_value",
            "rates[2].destination",
        ),
        (
            json!({"rates": [good()], "returns": {"window_days": 366, "refunds_shipping": false}}),
            422,
            "invalid_value",
            "returns.window_days",
        ),
        (json!({"rates": [good()]}), 422, "missing_field", "returns"),
    ];
    for (body, status, code, param) in cases {
        let error = assert_error(
            put_shipping(&app, &seller, &shop, &body).await,
            status,
            code,
        )
        .await;
        assert_eq!(error["param"], param, "{body}");
        assert_eq!(
            shipping_of(&app, &seller, &shop).await,
            stored,
            "nothing written for {body}"
        );
    }
    // At most 250 rates.
    let many: Vec<Value> = (0..251)
        .map(|i| {
            let code: String = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8]
                .iter()
                .map(|b| *b as char)
                .collect();
            rate(&code, "USD", 100, 0, None, 1)
        })
        .collect();
    let error = assert_error(
        put_shipping(&app, &seller, &shop, &shipping_body(many.clone())).await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "rates");
    assert_eq!(shipping_of(&app, &seller, &shop).await, stored);
    let full = set_rates(&app, &seller, &shop, many[..250].to_vec()).await;
    assert_eq!(full["rates"].as_array().unwrap().len(), 250);
    assert_eq!(
        audit_rows(&app, &market.operator, "shop.shipping")
            .await
            .len(),
        2
    );

    // An empty set removes every rate: the shop charges no shipping again.
    let cleared = set_rates(&app, &seller, &shop, vec![]).await;
    assert_eq!(cleared["rates"], json!([]));
    assert_eq!(
        cleared["returns"],
        json!({"window_days": 30, "refunds_shipping": false})
    );
}

fn good_rate_us() -> Value {
    rate("US", "USD", 500, 100, None, 2)
}

#[tokio::test]
async fn only_the_shops_seller_and_operators_change_its_shipping() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let before = set_rates(&app, &seller, &shop, vec![good_rate_us()]).await;
    let other_seller = signup(&app, "seller").await;
    let support = staff(&app, &market.operator, "support").await;
    let change = shipping_body(vec![rate("*", "USD", 1, 1, None, 1)]);

    // Another seller's shop does not exist for this one; buyers may not ask.
    assert_error(
        get_as(&app, &other_seller, &shipping_path(&shop)).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        put_shipping(&app, &other_seller, &shop, &change).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        get_as(&app, &market.buyer, &shipping_path(&shop)).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        put_shipping(&app, &market.buyer, &shop, &change).await,
        403,
        "forbidden",
    )
    .await;
    // Support reads, and may not write.
    assert_eq!(
        json_of(get_as(&app, &support, &shipping_path(&shop)).await, 200).await,
        before
    );
    assert_error(
        put_shipping(&app, &support, &shop, &change).await,
        403,
        "forbidden",
    )
    .await;
    // No shop by that id: 404 for everyone.
    let unknown = json!({"id": "shp_00000000000000000000000000000000"});
    assert_error(
        put_shipping(&app, &market.operator, &unknown, &change).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/v1/shop_profiles/shp_00000000000000000000000000000000/shipping")
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        shipping_of(&app, &seller, &shop).await,
        before,
        "nothing written"
    );

    // The seller's API key works as its session does.
    let created = json_of(
        post_as(
            &app,
            &seller,
            "/v1/api_keys",
            &json!({"name": "rates sync"}),
        )
        .await,
        201,
    )
    .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let by_key = Person {
        token: key.clone(),
        ..seller.clone()
    };
    let keyed = shipping_body(vec![rate("US", "USD", 600, 100, None, 2)]);
    let stored = json_of(put_shipping(&app, &by_key, &shop, &keyed).await, 200).await;
    assert_eq!(
        stored["rates"][0]["first_item"],
        json!({"minor": 600, "currency": "USD"})
    );
    assert_eq!(
        json_of(get_with_token(&app, &key, &shipping_path(&shop)).await, 200).await,
        stored
    );

    // An operator may change any shop's, audited as the operator.
    let by_operator = json_of(
        put_shipping(&app, &market.operator, &shop, &change).await,
        200,
    )
    .await;
    assert_eq!(by_operator["rates"][0]["destination"], "*");
    let audited = audit_rows(&app, &market.operator, "shop.shipping").await;
    assert_eq!(
        audited.len(),
        3,
        "the seller's, the key's and the operator's"
    );
    assert_eq!(
        audited[0]["actor_user_id"],
        market.operator.user_id.as_str(),
        "newest first"
    );
    assert_eq!(shipping_of(&app, &seller, &shop).await, by_operator);
}

/// Two shops selling in dollars, with their products.
struct TwoShops {
    ann: Person,
    shop_a: Value,
    mug: String,
    bob: Person,
    shop_b: Value,
    lamp: String,
}

async fn two_shops(app: &TestApp) -> TwoShops {
    let (ann, bob) = (signup(app, "seller").await, signup(app, "seller").await);
    let shop_a = active_shop(app, &ann, "USD").await;
    let shop_b = active_shop(app, &bob, "USD").await;
    let mug = product(app, &ann, &shop_a, "Stoneware Mug", 1250, 100).await;
    let lamp = product(app, &bob, &shop_b, "Brass Lamp", 899, 100).await;
    TwoShops {
        ann,
        shop_a,
        mug,
        bob,
        shop_b,
        lamp,
    }
}

#[tokio::test]
async fn checkout_prices_each_parts_shipping_by_its_shops_rates() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let s = two_shops(&app).await;
    // Ann: to the US 5.00 + 1.50 a unit after the first, free from 100.00 of
    // items; anywhere else 20.00 + 5.00 a unit after the first.
    set_rates(
        &app,
        &s.ann,
        &s.shop_a,
        vec![
            rate("US", "USD", 500, 150, Some(10_000), 2),
            rate("*", "USD", 2000, 500, None, 7),
        ],
    )
    .await;
    // Bob: to the US 7.00 flat, to Germany 9.00 flat; nowhere else.
    set_rates(
        &app,
        &s.bob,
        &s.shop_b,
        vec![
            rate("US", "USD", 700, 0, None, 1),
            rate("DE", "USD", 900, 0, None, 5),
        ],
    )
    .await;

    // 3 mugs and a lamp to the US.
    let buyer = &market.buyer;
    add_to_cart(&app, buyer, &s.mug, 3).await;
    add_to_cart(&app, buyer, &s.lamp, 1).await;
    let (mugs, lamp) = (3 * 1250, 899);
    let (mugs_shipping, lamp_shipping) = (500 + 2 * 150, 700);
    let quoted = json_of(get_as(&app, buyer, "/v1/cart?country=us").await, 200).await;
    let shipping = &quoted["shipping"];
    assert_eq!(shipping["country"], "US");
    assert_eq!(shipping["ships"], true);
    assert_eq!(shipping["shops"][0]["shop_id"], s.shop_a["id"]);
    assert_eq!(shipping["shops"][0]["items"], usd(mugs));
    assert_eq!(shipping["shops"][0]["shipping"], usd(mugs_shipping));
    assert_eq!(shipping["shops"][0]["total"], usd(mugs + mugs_shipping));
    assert_eq!(shipping["shops"][0]["handling_days"], 2);
    assert_eq!(shipping["shops"][1]["shipping"], usd(lamp_shipping));
    assert_eq!(
        shipping["totals"],
        json!([usd(mugs + mugs_shipping + lamp + lamp_shipping)])
    );
    assert_eq!(
        quoted["totals"],
        json!([usd(mugs + lamp)]),
        "items alone, as before"
    );
    let plain = json_of(get_as(&app, buyer, "/v1/cart").await, 200).await;
    assert!(plain.get("shipping").is_none(), "no country, no quote");
    assert_error(
        get_as(&app, buyer, "/v1/cart?country=USA").await,
        400,
        "invalid_query",
    )
    .await;

    let total = mugs + mugs_shipping + lamp + lamp_shipping;
    let order = checkout_to(&app, buyer, "US", Some(total)).await;
    assert_eq!(order["total"], usd(total));
    let (a, b) = (&order["parts"][0], &order["parts"][1]);
    assert_eq!(a["shop_id"], s.shop_a["id"]);
    assert_eq!(a["items"], usd(mugs));
    assert_eq!(a["shipping"], usd(mugs_shipping));
    assert_eq!(a["subtotal"], usd(mugs + mugs_shipping));
    // The market's rule does not take its fee on shipping.
    assert_eq!(a["fee"], usd(market_fee(mugs)));
    assert_eq!(b["items"], usd(lamp));
    assert_eq!(b["shipping"], usd(lamp_shipping));
    assert_eq!(b["subtotal"], usd(lamp + lamp_shipping));
    assert_eq!(b["fee"], usd(market_fee(lamp)));
    let frozen = frozen_terms(&app, order["id"].as_str().unwrap()).await;
    assert_eq!((frozen[0].1, frozen[0].2), (mugs_shipping, 2));
    assert_eq!((frozen[1].1, frozen[1].2), (lamp_shipping, 1));
    let intent = sandbox_get(
        &app,
        &format!(
            "/v1/payment_intents/{}",
            order["payment"]["intent_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(intent["amount"], total, "the buyer pays items and shipping");

    // 8 mugs to the US reach the free threshold (8 × 12.50 = 100.00).
    let second = signup(&app, "buyer").await;
    add_to_cart(&app, &second, &s.mug, 8).await;
    let free = checkout_to(&app, &second, "US", Some(8 * 1250)).await;
    assert_eq!(free["parts"][0]["shipping"], usd(0));
    assert_eq!(free["parts"][0]["subtotal"], usd(8 * 1250));

    // To France Ann's `*` rate applies (its own threshold: none); Bob has no
    // rate there, so Bob's lamp cannot come.
    let third = signup(&app, "buyer").await;
    add_to_cart(&app, &third, &s.mug, 8).await;
    let elsewhere = 2000 + 7 * 500;
    let quoted = json_of(get_as(&app, &third, "/v1/cart?country=FR").await, 200).await;
    assert_eq!(quoted["shipping"]["shops"][0]["shipping"], usd(elsewhere));
    assert_eq!(quoted["shipping"]["shops"][0]["handling_days"], 7);
    let fallback = checkout_to(&app, &third, "FR", Some(8 * 1250 + elsewhere)).await;
    assert_eq!(fallback["parts"][0]["shipping"], usd(elsewhere));
    let frozen = frozen_terms(&app, fallback["id"].as_str().unwrap()).await;
    assert_eq!((frozen[0].1, frozen[0].2), (elsewhere, 7));

    // Paid: the seller's share carries the shipping (the platform bears the
    // processing fee under the market's rule), transferred with the items.
    let fourth = signup(&app, "buyer").await;
    add_to_cart(&app, &fourth, &s.mug, 2).await;
    add_to_cart(&app, &fourth, &s.lamp, 2).await;
    let body = json!({"shipping": shipping_to("DE"), "payment_method": "pm_card_visa"});
    let key = uuid::Uuid::new_v4().to_string();
    let answer = json_of(
        post_keyed(&app, &fourth, "/v1/checkout", &key, &body).await,
        201,
    )
    .await;
    assert_eq!(answer["status"], "paid");
    // The buyer sees items and shipping per part, never the fee.
    assert_eq!(answer["parts"][0]["shipping"], usd(2000 + 500));
    assert_eq!(answer["parts"][1]["shipping"], usd(900));
    assert!(answer["parts"][0].get("fee").is_none());
    let paid = staff_view(&app, answer["id"].as_str().unwrap()).await;
    for (part, items, shipping) in [
        (&paid["parts"][0], 2 * 1250, 2500),
        (&paid["parts"][1], 2 * 899, 900),
    ] {
        let subtotal = items + shipping;
        assert_eq!(part["subtotal"], usd(subtotal));
        assert_eq!(part["fee"], usd(market_fee(items)));
        assert_eq!(part["seller_amount"], usd(subtotal - market_fee(items)));
    }
    // The seller's own view shows its part's shipping.
    let seller_orders = json_of(
        get_as(
            &app,
            &s.bob,
            &format!("/v1/shops/{}/orders", shop_id(&s.shop_b)),
        )
        .await,
        200,
    )
    .await;
    let newest = &seller_orders["data"][0]["part"];
    assert_eq!(newest["items"], usd(2 * 899));
    assert_eq!(newest["shipping"], usd(900));
}

#[tokio::test]
async fn a_country_no_rate_covers_refuses_the_checkout_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let s = two_shops(&app).await;
    // Ann ships to France in dollars, and to the US only in euros; Bob has no
    // rates at all (ships everywhere, for nothing).
    set_rates(
        &app,
        &s.ann,
        &s.shop_a,
        vec![
            rate("FR", "USD", 1200, 0, None, 3),
            rate("US", "EUR", 500, 0, None, 3),
        ],
    )
    .await;
    let buyer = &market.buyer;
    add_to_cart(&app, buyer, &s.lamp, 1).await;
    let cart = add_to_cart(&app, buyer, &s.mug, 2).await;
    let mug_line = cart["lines"][1]["id"].as_str().unwrap().to_owned();
    let lamp_line = cart["lines"][0]["id"].as_str().unwrap().to_owned();

    let quoted = json_of(get_as(&app, buyer, "/v1/cart?country=US").await, 200).await;
    let shipping = &quoted["shipping"];
    assert_eq!(shipping["ships"], false);
    assert_eq!(shipping["totals"], json!([]));
    assert_eq!(shipping["shops"][0]["shop_id"], s.shop_b["id"]);
    assert_eq!(shipping["shops"][0]["shipping"], usd(0));
    assert!(shipping["shops"][0].get("cannot_ship").is_none());
    assert_eq!(shipping["shops"][1]["shop_id"], s.shop_a["id"]);
    assert_eq!(shipping["shops"][1]["cannot_ship"], "US");
    assert_eq!(shipping["shops"][1]["shipping"], Value::Null);
    assert_eq!(shipping["shops"][1]["items"], usd(2 * 1250));

    let body = json!({"shipping": shipping_to("US"), "payment_method": "pm_card_visa"});
    let refused = assert_error(
        post_keyed(&app, buyer, "/v1/checkout", "no-ship-1", &body).await,
        422,
        "cannot_ship_to",
    )
    .await;
    assert_eq!(refused["param"], "shipping.country");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("US"), "{message}");
    assert!(
        message.contains(&format!("`Stoneware Mug` (cart line {mug_line})")),
        "{message}"
    );
    assert!(!message.contains(&lamp_line), "Bob's lamp ships: {message}");
    assert_eq!(orders_count(&app).await, 0);
    assert_eq!(stock_of(&app, &s.ann, &s.shop_a, &s.mug).await, 100);
    assert_eq!(stock_of(&app, &s.bob, &s.shop_b, &s.lamp).await, 100);
    let after = json_of(get_as(&app, buyer, "/v1/cart").await, 200).await;
    assert_eq!(after, cart, "the cart is as it was");

    // To France both ship: Ann's rate, Bob for nothing (3 days' handling).
    let order = checkout_to(&app, buyer, "FR", Some(899 + 2 * 1250 + 1200)).await;
    assert_eq!(order["parts"][0]["shipping"], usd(0));
    assert_eq!(order["parts"][1]["shipping"], usd(1200));
    let frozen = frozen_terms(&app, order["id"].as_str().unwrap()).await;
    assert_eq!((frozen[0].1, frozen[0].2), (0, 3), "no rates: free, 3 days");
    assert_eq!((frozen[1].1, frozen[1].2), (1200, 3));
    assert_eq!(stock_of(&app, &s.ann, &s.shop_a, &s.mug).await, 98);
}

#[tokio::test]
async fn the_fee_takes_shipping_only_when_the_rule_says_so_and_the_release_policy_is_frozen() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let s = two_shops(&app).await;
    let operator = &market.operator;
    let rule_for = |shop: &Value, extra: Value| {
        let mut body = json!({
            "scope": {"kind": "shop", "value": shop["id"]},
            "percentage": "10",
            "fixed": {"USD": 0},
            "processing_fee_payer": "platform",
            "refund_fee_proportionally": true,
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    // Refused terms.
    for (extra, param) in [
        (json!({"release_policy": "later"}), "release_policy"),
        (json!({"release_after_days": 0}), "release_after_days"),
        (json!({"release_after_days": 91}), "release_after_days"),
    ] {
        let error = assert_error(
            post_as(&app, operator, "/v1/fee_rules", &rule_for(&s.shop_a, extra)).await,
            422,
            "invalid_value",
        )
        .await;
        assert_eq!(error["param"], param);
    }
    assert_error(
        post_as(
            &app,
            operator,
            "/v1/fee_rules",
            &rule_for(&s.shop_a, json!({"fee_on_shipping": "yes"})),
        )
        .await,
        422,
        "invalid_type",
    )
    .await;
    // Ann's rule: 10 % on items and shipping, released on delivery, 21 days.
    let terms =
        json!({"fee_on_shipping": true, "release_policy": "on_delivery", "release_after_days": 21});
    let created = json_of(
        post_as(&app, operator, "/v1/fee_rules", &rule_for(&s.shop_a, terms)).await,
        201,
    )
    .await;
    assert_eq!(created["version"]["fee_on_shipping"], true);
    assert_eq!(created["version"]["release_policy"], "on_delivery");
    assert_eq!(created["version"]["release_after_days"], 21);
    let rule_id = created["id"].as_str().unwrap();
    let rule = json_of(
        get_as(&app, operator, &format!("/v1/fee_rules/{rule_id}")).await,
        200,
    )
    .await;
    assert_eq!(rule["versions"][0]["fee_on_shipping"], true);
    assert_eq!(rule["versions"][0]["release_policy"], "on_delivery");
    let preview = json_of(
        post_as(
            &app,
            operator,
            "/v1/fee_rules/preview",
            &json!({"amount_minor": 6000, "currency": "USD", "shop_id": s.shop_a["id"]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(preview["fee_on_shipping"], true);
    assert_eq!(preview["release_policy"], "on_delivery");
    assert_eq!(preview["release_after_days"], 21);
    assert_eq!(preview["breakdown"]["fee"], usd(600));
    // The platform rule set none of them.
    let platform = json_of(
        post_as(
            &app,
            operator,
            "/v1/fee_rules/preview",
            &json!({"amount_minor": 6000, "currency": "USD", "shop_id": s.shop_b["id"]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(platform["fee_on_shipping"], false);
    assert_eq!(platform["release_policy"], Value::Null);
    assert_eq!(platform["release_after_days"], Value::Null);

    // Both shops ship to the US for 10.00 flat.
    for (seller, shop) in [(&s.ann, &s.shop_a), (&s.bob, &s.shop_b)] {
        set_rates(
            &app,
            seller,
            shop,
            vec![rate("US", "USD", 1000, 0, None, 2)],
        )
        .await;
    }
    let buyer = &market.buyer;
    add_to_cart(&app, buyer, &s.mug, 4).await; // 50.00
    add_to_cart(&app, buyer, &s.lamp, 5).await; // 44.95
    let (mugs, lamps, shipping) = (4 * 1250, 5 * 899, 1000);
    let order = checkout_to(&app, buyer, "US", Some(mugs + lamps + 2 * shipping)).await;
    let (a, b) = (&order["parts"][0], &order["parts"][1]);
    // Ann: 10 % of items and shipping (60.00); Bob: the market's fee on the
    // items alone.
    assert_eq!(a["fee"], usd((mugs + shipping) / 10));
    assert_eq!(a["subtotal"], usd(mugs + shipping));
    assert_eq!(b["fee"], usd(market_fee(lamps)));
    assert_eq!(b["subtotal"], usd(lamps + shipping));
    let frozen = frozen_terms(&app, order["id"].as_str().unwrap()).await;
    assert_eq!((frozen[0].3.as_str(), frozen[0].4), ("on_delivery", 21));
    let defaults = &app.settings.orders;
    assert_eq!(
        (frozen[1].3.as_str(), frozen[1].4),
        (defaults.release.as_str(), defaults.release_after_days),
        "no term: the settings"
    );

    // A new version without the terms: later parts are priced without them;
    // this order's parts keep what they froze.
    let version = json_of(
        post_as(
            &app,
            operator,
            &format!("/v1/fee_rules/{rule_id}/versions"),
            &json!({"percentage": "10", "fixed": {"USD": 0}, "processing_fee_payer": "platform", "refund_fee_proportionally": true}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(version["fee_on_shipping"], false);
    assert_eq!(version["release_policy"], Value::Null);
    let second = signup(&app, "buyer").await;
    add_to_cart(&app, &second, &s.mug, 4).await;
    let later = checkout_to(&app, &second, "US", Some(mugs + shipping)).await;
    assert_eq!(
        later["parts"][0]["fee"],
        usd(mugs / 10),
        "on the items only now"
    );
    let frozen_later = frozen_terms(&app, later["id"].as_str().unwrap()).await;
    assert_eq!(frozen_later[0].3, defaults.release.as_str());
    assert_eq!(
        frozen_terms(&app, order["id"].as_str().unwrap()).await,
        frozen
    );
}

#[tokio::test]
async fn the_expected_total_includes_shipping() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let s = two_shops(&app).await;
    set_rates(
        &app,
        &s.bob,
        &s.shop_b,
        vec![rate("US", "USD", 400, 100, None, 2)],
    )
    .await;
    let buyer = &market.buyer;
    add_to_cart(&app, buyer, &s.mug, 2).await;
    let cart = add_to_cart(&app, buyer, &s.lamp, 3).await;
    let items = 2 * 1250 + 3 * 899;
    let shipping = 400 + 2 * 100;

    // The items alone are not what the buyer would pay.
    let body = json!({"shipping": shipping_to("US"), "expected_total_minor": items});
    let refused = assert_error(
        post_keyed(&app, buyer, "/v1/checkout", "expected-1", &body).await,
        409,
        "price_changed",
    )
    .await;
    let total = items + shipping;
    let shown = format!("{}.{:02}", total / 100, total % 100);
    assert!(
        refused["message"].as_str().unwrap().contains(&shown),
        "{refused}"
    );
    assert_eq!(orders_count(&app).await, 0);
    assert_eq!(
        json_of(get_as(&app, buyer, "/v1/cart").await, 200).await,
        cart
    );

    let order = checkout_to(&app, buyer, "US", Some(total)).await;
    assert_eq!(order["total"], usd(total));
    // Ann set no rates: no shipping on her part.
    assert_eq!(order["parts"][0]["shipping"], usd(0));
    assert_eq!(order["parts"][0]["items"], usd(2 * 1250));
    assert_eq!(order["parts"][1]["shipping"], usd(shipping));
}

#[tokio::test]
async fn the_pages_show_shipping_before_payment() {
    let app = TestApp::spawn().await;
    market(&app).await;
    let s = two_shops(&app).await;
    // Ann: 5.00 to the US, 15.00 to France, nowhere else; Bob sets no rates.
    set_rates(
        &app,
        &s.ann,
        &s.shop_a,
        vec![
            rate("US", "USD", 500, 0, None, 2),
            rate("FR", "USD", 1500, 0, None, 4),
        ],
    )
    .await;
    let ann_name = s.shop_a["name"].as_str().unwrap();
    let bob_name = s.shop_b["name"].as_str().unwrap();
    let mut browser = Browser::new(&app);
    browser.sign_up("/").await;
    for product in [&s.mug, &s.lamp] {
        let added = browser
            .submit(
                "/cart",
                "/cart",
                &[("product_id", product), ("quantity", "1")],
            )
            .await;
        assert_eq!(added.status, 303);
    }
    let items = 1250 + 899;

    // The cart page asks for a country (a labelled select in a GET form) and
    // then shows each shop's shipping there and the total with it.
    let cart = browser.get("/cart").await;
    assert!(cart.shows("<label for=\"ship-country\">"));
    assert!(!cart.shows("Shipping to"), "no country chosen, no quote");
    let to_france = browser.get("/cart?country=FR").await;
    assert_eq!(to_france.status, 200);
    assert!(
        to_france.shows("Shipping to France: <strong>$15.00</strong>"),
        "{}",
        to_france.body
    );
    assert!(
        to_france.shows("Shipping to France: <strong>Free</strong>"),
        "Bob has no rates"
    );
    assert_eq!(
        to_france.text_of("<p class=\"total grand\""),
        format!(
            "Total with shipping to France: ${}.{:02}",
            (items + 1500) / 100,
            (items + 1500) % 100
        )
    );
    assert!(to_france.shows("<option value=\"FR\" selected>"));
    assert!(to_france.shows("href=\"/checkout?country=FR\""));
    let to_germany = browser.get("/cart?country=DE").await;
    assert!(to_germany.shows(&format!("{ann_name} does not ship to Germany.")));
    assert!(!to_germany.shows(&format!("{bob_name} does not ship")));

    // Checkout from the cart's link: France's shipping, and the total the
    // buyer agrees to includes it.
    let form = browser.get("/checkout?country=FR").await;
    assert_eq!(form.input("expected_total"), (items + 1500).to_string());
    assert_eq!(form.input("quoted_country"), "FR");
    assert!(form.shows("Shipping to France: $15.00"));
    let address = |form: &web_support::Page, country: &'static str| -> Vec<(String, String)> {
        [
            ("csrf_token", form.input("csrf_token")),
            ("idempotency_key", form.input("idempotency_key")),
            ("expected_total", form.input("expected_total")),
            ("quoted_country", form.input("quoted_country")),
            ("name", "Ann Buyer".into()),
            ("line1", "1 Main St".into()),
            ("line2", String::new()),
            ("city", "Springfield".into()),
            ("postal_code", "12345".into()),
            ("country", country.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    async fn post(browser: &mut Browser<'_>, fields: &[(String, String)]) -> web_support::Page {
        let borrowed: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        browser.post("/checkout", &borrowed).await
    }

    // Another country than the one shown: its shipping is shown first,
    // nothing is ordered.
    let requoted = post(&mut browser, &address(&form, "US")).await;
    assert_eq!(requoted.status, 200, "{}", requoted.body);
    assert!(requoted.shows("Shipping is now to United States"));
    assert!(requoted.shows("Shipping to United States: $5.00"));
    assert_eq!(requoted.input("expected_total"), (items + 500).to_string());
    assert_eq!(requoted.input("quoted_country"), "US");
    assert_eq!(orders_count(&app).await, 0);

    // Germany: Ann cannot ship there; the country field says so.
    let germany = browser.get("/checkout?country=DE").await;
    assert!(germany.shows(&format!("{ann_name} cannot ship to Germany")));
    let refused = post(&mut browser, &address(&germany, "DE")).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("href=\"#country\""), "{}", refused.body);
    assert!(refused.shows("aria-describedby=\"country-hint country-error\""));
    assert_eq!(orders_count(&app).await, 0);

    // Confirmed for the US: the order, and its page shows each part's shipping.
    let placed = post(&mut browser, &address(&requoted, "US")).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let order_id = placed
        .location()
        .strip_prefix("/orders/")
        .and_then(|rest| rest.strip_suffix("/pay"))
        .unwrap()
        .to_owned();
    let order = staff_view(&app, &order_id).await;
    assert_eq!(order["total"], usd(items + 500));
    let page = browser.get(&format!("/orders/{order_id}")).await;
    assert!(
        page.shows("Items $12.50 · Shipping $5.00 · Subtotal $17.50"),
        "{}",
        page.body
    );
    assert!(page.shows("Items $8.99 · Shipping Free · Subtotal $8.99"));
}
