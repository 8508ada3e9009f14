//! The money policy's edges, each computed here from the rules in docs/money.md:
//! largest-remainder ties go to the part listed first in the cart, a seller
//! who bears processing fees bears the dispute fee even in a full-amount
//! dispute, and a fee can be capped at a share of the part (a preview warns
//! when a rule would leave a seller nothing).

use crate::common;
use crate::orders_support;

use common::people::{get_as, post_as, signup, staff, Person};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::{json, Value};

fn minor(value: &Value) -> i64 {
    value["minor"]
        .as_i64()
        .unwrap_or_else(|| panic!("no minor in {value}"))
}

/// The sandbox's USD card fee on a charge: 2.9 % rounded half up, + 30.
fn card_fee(amount: i64) -> i64 {
    (amount * 290 + 5_000) / 10_000 + 30
}

/// The sandbox's USD dispute fee.
const DISPUTE_FEE: i64 = 1_500;

/// A shop rule: `percentage` %, no fixed part, `payer` bears processing fees;
/// `extra` adds terms.
async fn shop_rule(
    app: &TestApp,
    operator: &Person,
    shop: &Value,
    percentage: &str,
    payer: &str,
    extra: Value,
) -> Value {
    let mut rule = json!({"scope": {"kind": "shop", "value": shop["id"]}, "percentage": percentage,
        "fixed": {"USD": 0}, "processing_fee_payer": payer, "refund_fee_proportionally": true});
    for (key, value) in extra.as_object().unwrap() {
        rule[key] = value.clone();
    }
    post_as(app, operator, "/v1/fee_rules", &rule)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn processing_fee_ties_go_to_the_part_listed_first_in_the_cart() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let (ann, bob) = (signup(&app, "seller").await, signup(&app, "seller").await);
    let shop_a = active_shop(&app, &ann, "USD").await;
    let shop_b = active_shop(&app, &bob, "USD").await;
    // Two parts of 1,050: the card fee on 2,100 is odd, so the split ties.
    let price = 1_050;
    let fee = card_fee(2 * price);
    assert_eq!(fee, 91);
    let a = product(&app, &ann, &shop_a, "Jug", price, 50).await;
    let b = product(&app, &bob, &shop_b, "Cup", price, 50).await;
    // Six orders, the shops in alternating cart order: the first-listed part
    // pays the extra minor unit every time, whichever id sorts first.
    for round in 0..6 {
        let (first, second, first_shop, second_shop) = if round % 2 == 0 {
            (&a, &b, &shop_a, &shop_b)
        } else {
            (&b, &a, &shop_b, &shop_a)
        };
        add_to_cart(&app, &market.buyer, first, 1).await;
        add_to_cart(&app, &market.buyer, second, 1).await;
        let order = checkout_ok(
            &app,
            &market.buyer,
            &format!("tie-{round}"),
            Some("pm_card_visa"),
        )
        .await;
        assert_eq!(minor(&order["payment"]["processing_fee"]), fee);
        let parts = order["parts"].as_array().unwrap();
        assert_eq!(
            parts[0]["shop_id"], first_shop["id"],
            "round {round}: parts in cart order"
        );
        assert_eq!(parts[1]["shop_id"], second_shop["id"]);
        assert!(parts[0]["position"].as_i64() < parts[1]["position"].as_i64());
        assert_eq!(
            (
                minor(&parts[0]["processing_fee"]),
                minor(&parts[1]["processing_fee"])
            ),
            (fee - fee / 2, fee / 2),
            "round {round}: the tie's extra unit goes to the first part"
        );
        // The buyer's answer lists the parts in the same order.
        let order_id = order["id"].as_str().unwrap();
        let mine = json_of(
            get_as(&app, &market.buyer, &format!("/v1/orders/{order_id}")).await,
            200,
        )
        .await;
        assert_eq!(mine["parts"][0]["shop_id"], first_shop["id"]);
    }
}

#[tokio::test]
async fn a_seller_who_bears_fees_bears_the_dispute_fee_in_a_full_dispute() {
    let app = TestApp::spawn_with(&[("BAZAAR__JOBS__WORKERS", "0")], |_| {}).await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    shop_rule(&app, &market.operator, &shop, "10", "seller", json!({})).await;
    let price = 5_000;
    let vase = product(&app, &ann, &shop, "Vase", price, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_createDispute")).await;
    let order_id = order["id"].as_str().unwrap();
    let platform_fee = price / 10;
    let held = price - platform_fee - card_fee(price);
    assert_eq!(minor(&order["parts"][0]["seller_amount"]), held);
    // The whole charge is disputed: the seller gives the 1,500 fee first, then
    // what it still held of the disputed amount; the platform bears the rest.
    let dispute = disputes_opened(&app).await.remove(0);
    let support = staff(&app, &market.operator, "support").await;
    let sync = format!("/v1/disputes/{}/sync", dispute["id"].as_str().unwrap());
    json_of(post_as(&app, &support, &sync, &json!({})).await, 200).await;
    let view = staff_view(&app, order_id).await;
    let settlement = &view["parts"][0]["settlement"];
    assert_eq!(
        (
            minor(&settlement["owed"]),
            minor(&settlement["transferred"])
        ),
        (0, 0)
    );
    let finance = staff(&app, &market.operator, "finance").await;
    let trial = json_of(
        get_as(&app, &finance, "/v1/ledger/trial-balance").await,
        200,
    )
    .await;
    assert_eq!(
        balance_in(&trial, "platform:dispute_fees"),
        0,
        "the seller bore the whole fee"
    );
    assert_eq!(
        balance_in(&trial, "platform:disputes_open"),
        price - (held - DISPUTE_FEE),
        "the platform carries the disputed amount the seller could not give"
    );
    let shop_id = shop["id"].as_str().unwrap();
    let balance = json_of(
        get_as(&app, &ann, &format!("/v1/shops/{shop_id}/balance")).await,
        200,
    )
    .await;
    assert_eq!(
        balance["currencies"]["USD"]["fees_charged"]["minor"],
        platform_fee + card_fee(price) + DISPUTE_FEE
    );
}

#[tokio::test]
async fn a_fee_capped_at_a_share_of_the_part_leaves_the_seller_the_rest() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    let shop_id = shop["id"].as_str().unwrap();
    // A minimum of 50 on a 40 item takes all of it: the preview says so.
    let rule = shop_rule(
        &app,
        &market.operator,
        &shop,
        "10",
        "platform",
        json!({"min_minor": 50}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap();
    let preview = json!({"amount_minor": 40, "currency": "USD", "shop_id": shop_id});
    let answer = json_of(
        post_as(&app, &market.operator, "/v1/fee_rules/preview", &preview).await,
        200,
    )
    .await;
    assert_eq!(minor(&answer["breakdown"]["fee"]), 40);
    assert_eq!(minor(&answer["breakdown"]["seller_share"]), 0);
    assert!(answer["breakdown"]["warnings"][0]
        .as_str()
        .unwrap()
        .contains("nothing"));
    // Capped at 50 % of the part: the fee is 20, the seller keeps 20, no warning.
    let version = json!({"percentage": "10", "fixed": {"USD": 0}, "min_minor": 50, "max_share": "50",
        "processing_fee_payer": "platform", "refund_fee_proportionally": true});
    json_of(
        post_as(
            &app,
            &market.operator,
            &format!("/v1/fee_rules/{rule_id}/versions"),
            &version,
        )
        .await,
        201,
    )
    .await;
    let answer = json_of(
        post_as(&app, &market.operator, "/v1/fee_rules/preview", &preview).await,
        200,
    )
    .await;
    assert_eq!(minor(&answer["breakdown"]["fee"]), 20);
    assert_eq!(minor(&answer["breakdown"]["seller_share"]), 20);
    assert!(answer["breakdown"].get("warnings").is_none());
    // An odd part: the cap rounds down, in the seller's favour (50 % of 61 is
    // 30.5: the fee is 30). (The provider charges at least 50.)
    let pin = product(&app, &ann, &shop, "Pin", 61, 5).await;
    add_to_cart(&app, &market.buyer, &pin, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    assert_eq!(minor(&order["parts"][0]["fee"]), 30);
    assert_eq!(minor(&order["parts"][0]["seller_amount"]), 31);

    // Bad terms are refused with the field named.
    let bad = [
        (json!({"max_share": "150"}), "max_share"),
        (json!({"max_share": "half"}), "max_share"),
        (
            json!({"kept_processing_fee_payer": "buyer"}),
            "kept_processing_fee_payer",
        ),
        // A seller cannot bear on refunds a fee the platform bore on the sale.
        (
            json!({"kept_processing_fee_payer": "seller"}),
            "kept_processing_fee_payer",
        ),
    ];
    for (extra, param) in bad {
        let mut version = json!({"percentage": "10", "fixed": {"USD": 0},
            "processing_fee_payer": "platform", "refund_fee_proportionally": true});
        for (key, value) in extra.as_object().unwrap() {
            version[key] = value.clone();
        }
        let response = post_as(
            &app,
            &market.operator,
            &format!("/v1/fee_rules/{rule_id}/versions"),
            &version,
        )
        .await;
        let error = assert_error(response, 422, "invalid_value").await;
        assert_eq!(error["param"], param, "{extra}");
    }
}

#[tokio::test]
async fn the_platform_can_bear_the_kept_processing_fee_on_refunds() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    let rule = shop_rule(
        &app,
        &market.operator,
        &shop,
        "10",
        "seller",
        json!({"kept_processing_fee_payer": "platform"}),
    )
    .await;
    assert_eq!(rule["version"]["kept_processing_fee_payer"], "platform");
    let price = 10_000;
    let chair = product(&app, &ann, &shop, "Chair", price, 5).await;
    add_to_cart(&app, &market.buyer, &chair, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap();
    let part = &order["parts"][0];
    assert_eq!(part["kept_processing_fee_payer"], "platform");
    let seller_amount = price - price / 10 - card_fee(price);
    assert_eq!(minor(&part["seller_amount"]), seller_amount);
    // A full refund takes back exactly what the seller got: the platform
    // bears the processing fee the provider keeps.
    let body = json!({"part_id": part["id"], "amount_minor": price});
    let refund = json_of(
        post_keyed(
            &app,
            &ann,
            &format!("/v1/orders/{order_id}/refunds"),
            "r",
            &body,
        )
        .await,
        201,
    )
    .await;
    assert_eq!(minor(&refund["parts"][0]["seller_portion"]), seller_amount);
    let view = staff_view(&app, order_id).await;
    assert_eq!(minor(&view["parts"][0]["settlement"]["owes_back"]), 0);
    let shop_id = shop["id"].as_str().unwrap();
    let balance = json_of(
        get_as(&app, &ann, &format!("/v1/shops/{shop_id}/balance")).await,
        200,
    )
    .await;
    assert_eq!(balance["currencies"]["USD"]["fees_kept"]["minor"], 0);
    assert!(balance["currencies"]["USD"].get("negative").is_none());
}
