//! Helpers for the orders tests: a marketplace set up through the API (an
//! operator with a fee rule, sellers with shops onboarded on the sandbox,
//! products), buyers with carts, and reads of what the sandbox provider holds.

#![allow(dead_code)] // each orders test binary uses a different part

use serde_json::{json, Value};

use crate::common::people::{get_as, operator, pool, post_as, signup, Person};
use crate::common::{TestApp, SANDBOX_KEY};

/// `POST path` as `person` with an `Idempotency-Key`.
pub async fn post_keyed(
    app: &TestApp,
    person: &Person,
    path: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.address))
        .header("authorization", format!("Bearer {}", person.token))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// A response's JSON body after checking its status.
pub async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(actual, status, "unexpected status; body: {body}");
    body
}

/// A shipping address.
pub fn shipping() -> Value {
    json!({"name": "Ann Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"})
}

/// The checkout body, paying at once with `payment_method` when given.
pub fn checkout_body(payment_method: Option<&str>) -> Value {
    let mut body = json!({"shipping": shipping()});
    if let Some(pm) = payment_method {
        body["payment_method"] = json!(pm);
    }
    body
}

/// Checks out the buyer's cart under `key`, paying at once with
/// `payment_method` when given; asserts 201 and returns the order.
pub async fn checkout_ok(
    app: &TestApp,
    buyer: &Person,
    key: &str,
    payment_method: Option<&str>,
) -> Value {
    let answer = json_of(
        post_keyed(
            app,
            buyer,
            "/v1/checkout",
            key,
            &checkout_body(payment_method),
        )
        .await,
        201,
    )
    .await;
    staff_view(app, answer["id"].as_str().expect("order id")).await
}

/// The whole order as staff see it (the buyer's answer leaves out the
/// sellers' money), read through the domain function the API uses.
pub async fn staff_view(app: &TestApp, order_id: &str) -> Value {
    let view = bazaar::orders::checkout::view(&pool(app), order_id)
        .await
        .expect("order view");
    serde_json::to_value(view).expect("order view serializes")
}

/// A platform-wide fee rule, created by `operator`.
pub async fn platform_rule(
    app: &TestApp,
    operator: &Person,
    percentage: &str,
    fixed_usd: i64,
    payer: &str,
    proportional: bool,
) {
    let body = json!({
        "scope": {"kind": "platform"},
        "percentage": percentage,
        "fixed": {"USD": fixed_usd, "EUR": fixed_usd},
        "processing_fee_payer": payer,
        "refund_fee_proportionally": proportional,
    });
    json_of(post_as(app, operator, "/v1/fee_rules", &body).await, 201).await;
}

/// A seller's shop, onboarded through the sandbox until it can sell.
pub async fn active_shop(app: &TestApp, seller: &Person, currency: &str) -> Value {
    let slug = format!("shop-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let body = json!({"name": format!("Shop {slug}"), "slug": slug, "country": "US", "default_currency": currency, "support_email": "help@shop.example"});
    let shop = json_of(post_as(app, seller, "/v1/shops", &body).await, 201).await;
    let account = shop["provider_account_id"]
        .as_str()
        .expect("account created")
        .to_owned();
    app.sandbox_post(
        &format!("/v1/test_helpers/accounts/{account}/complete_onboarding"),
        &[],
    )
    .await;
    let id = shop["id"].as_str().unwrap();
    let shop = json_of(
        post_as(app, seller, &format!("/v1/shops/{id}/sync"), &json!({})).await,
        200,
    )
    .await;
    assert_eq!(shop["status"], "active");
    shop
}

/// A product of `shop`; returns its id.
pub async fn product(
    app: &TestApp,
    seller: &Person,
    shop: &Value,
    title: &str,
    price_minor: i64,
    stock: i64,
) -> String {
    let body = json!({
        "sku": format!("SKU-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        "title": title,
        "description": format!("{title}, made by hand."),
        "price_minor": price_minor,
        "currency": shop["default_currency"],
        "stock": stock,
        "category": "home-kitchen",
        "images": [{"url": "https://img.example.com/p.jpg", "alt": title}],
    });
    let path = format!("/v1/shops/{}/products", shop["id"].as_str().unwrap());
    let product = json_of(post_as(app, seller, &path, &body).await, 201).await;
    product["id"].as_str().unwrap().to_owned()
}

/// Adds units to the buyer's cart, asserting success.
pub async fn add_to_cart(app: &TestApp, buyer: &Person, product_id: &str, quantity: i64) -> Value {
    let body = json!({"product_id": product_id, "quantity": quantity});
    json_of(post_as(app, buyer, "/v1/cart/lines", &body).await, 200).await
}

/// A product's stock as the API reports it to its seller.
pub async fn stock_of(app: &TestApp, seller: &Person, shop: &Value, product_id: &str) -> i64 {
    let path = format!(
        "/v1/shops/{}/products?limit=100",
        shop["id"].as_str().unwrap()
    );
    let page = json_of(get_as(app, seller, &path).await, 200).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == product_id)
        .expect("product listed")["stock"]
        .as_i64()
        .unwrap()
}

/// `GET path` at the in-process sandbox with the platform key.
pub async fn sandbox_get(app: &TestApp, path: &str) -> Value {
    let base = app.sandbox_url.as_deref().expect("in-process sandbox");
    let response = app
        .client
        .get(format!("{base}{path}"))
        .bearer_auth(SANDBOX_KEY)
        .send()
        .await
        .expect("request sent");
    json_of(response, 200).await
}

/// The transfers the provider holds for an order (its transfer group).
pub async fn transfers_of(app: &TestApp, order_id: &str) -> Vec<Value> {
    let page = sandbox_get(
        app,
        &format!("/v1/transfers?transfer_group={order_id}&limit=100"),
    )
    .await;
    page["data"].as_array().unwrap().clone()
}

/// The ids of disputes the provider opened (newest first).
pub async fn disputes_opened(app: &TestApp) -> Vec<Value> {
    let page = sandbox_get(app, "/v1/events?type=charge.dispute.created&limit=100").await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["object"].clone())
        .collect()
}

/// Runs one pass of the orders sweep as of `seconds_ahead` from now.
pub async fn sweep(app: &TestApp, seconds_ahead: i64) -> bazaar::orders::sweeper::SweepReport {
    let pool = pool(app);
    let now = bazaar::db::now() + chrono::Duration::seconds(seconds_ahead);
    bazaar::orders::sweeper::sweep_once(&pool, app.provider.as_ref(), now).await
}

/// Everyone a marketplace story needs.
pub struct Market {
    pub operator: Person,
    pub buyer: Person,
}

/// An operator with a platform fee rule (10.5 % + 30, platform bears the
/// processing fee, fee refunded proportionally) and a buyer.
pub async fn market(app: &TestApp) -> Market {
    let operator = operator(app).await;
    platform_rule(app, &operator, "10.5", 30, "platform", true).await;
    let buyer = signup(app, "buyer").await;
    Market { operator, buyer }
}

/// The platform fee under the market's rule, computed here: 10.5 % rounded
/// half-even at the cent, plus 30.
pub fn market_fee(subtotal: i64) -> i64 {
    let scaled = subtotal * 105; // thousandths of a cent… of the subtotal × 10.5 %
    let (quotient, remainder) = (scaled / 1000, scaled % 1000);
    let rounded = match remainder.cmp(&500) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + (quotient % 2),
    };
    rounded + 30
}

/// `part × numerator / denominator` rounded half up: the seller's portion of a
/// refund under proportional fee refunds.
pub fn proportion(part: i64, numerator: i64, denominator: i64) -> i64 {
    (2 * part * numerator + denominator) / (2 * denominator)
}

/// An account's balance in a trial balance answer (0 when the account has none).
pub fn balance_in(trial: &Value, code: &str) -> i64 {
    trial["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == code)
        .map_or(0, |a| a["balance"]["minor"].as_i64().unwrap())
}

/// A shop's payouts as its seller reads them (failed first, then newest).
pub async fn payouts_of(app: &TestApp, seller: &Person, shop: &Value) -> Vec<Value> {
    let path = format!("/v1/shops/{}/payouts", shop["id"].as_str().unwrap());
    json_of(get_as(app, seller, &path).await, 200).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// Moves the sandbox's clock four days (funds available after two, paid out
/// daily, one day in transit) and waits until the first shop's first payout
/// is paid and the second's failed; returns both.
pub async fn four_days_of_payouts(
    app: &TestApp,
    paid: (&Person, &Value),
    failed: (&Person, &Value),
) -> (Value, Value) {
    app.sandbox_post("/v1/test_helpers/advance_clock", &[("seconds", "345600")])
        .await;
    let mut seen = (Vec::new(), Vec::new());
    for _ in 0..300 {
        seen = (
            payouts_of(app, paid.0, paid.1).await,
            payouts_of(app, failed.0, failed.1).await,
        );
        let first_is =
            |list: &[Value], status: &str| list.first().is_some_and(|p| p["status"] == status);
        if first_is(&seen.0, "paid") && first_is(&seen.1, "failed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.0.first().map(|p| &p["status"]),
        Some(&serde_json::json!("paid")),
        "{seen:?}"
    );
    assert_eq!(
        seen.1.first().map(|p| &p["status"]),
        Some(&serde_json::json!("failed")),
        "{seen:?}"
    );
    (seen.0[0].clone(), seen.1[0].clone())
}

/// Two shops four provider days after one cart bought a vase (30.00 USD) from
/// the first and a bowl (20.00 USD) from the second, whose bank cannot be
/// paid: the first's payout paid, the second's failed.
pub struct TwoPayouts {
    pub ann: Person,
    pub shop_a: Value,
    pub bob: Person,
    pub shop_b: Value,
    pub paid: Value,
    pub failed: Value,
}

/// The sale and the four days [`TwoPayouts`] describes, the market's buyer paying.
pub async fn a_vase_and_a_bowl_paid_out(app: &TestApp, market: &Market) -> TwoPayouts {
    let (ann, shop_a, bob, shop_b) = a_seller_and_one_with_a_closed_bank(app).await;
    let vase = product(app, &ann, &shop_a, "Vase", 3000, 5).await;
    let bowl = product(app, &bob, &shop_b, "Bowl", 2000, 5).await;
    add_to_cart(app, &market.buyer, &vase, 1).await;
    add_to_cart(app, &market.buyer, &bowl, 1).await;
    checkout_ok(app, &market.buyer, "one", Some("pm_card_visa")).await;
    let (paid, failed) = four_days_of_payouts(app, (&ann, &shop_a), (&bob, &shop_b)).await;
    TwoPayouts {
        ann,
        shop_a,
        bob,
        shop_b,
        paid,
        failed,
    }
}

/// Two sellers with active USD shops; the second's bank account is one the
/// provider cannot pay into, so its payouts fail (`no_account`).
pub async fn a_seller_and_one_with_a_closed_bank(app: &TestApp) -> (Person, Value, Person, Value) {
    let (ann, bob) = (signup(app, "seller").await, signup(app, "seller").await);
    let shop_a = active_shop(app, &ann, "USD").await;
    let shop_b = active_shop(app, &bob, "USD").await;
    let bob_account = shop_b["provider_account_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/test_helpers/accounts/{bob_account}/external_account"),
        &[("account_number", "000111111116")],
    )
    .await;
    (ann, shop_a, bob, shop_b)
}
