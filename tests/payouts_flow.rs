//! Payouts of connected accounts, tracked from the sandbox's own `payout.*`
//! events: one paid to the bank, one failing on a closed account (the money
//! back on the seller's balance, the failure and what to do shown first to
//! staff), and the sellers' balances in the ledger.

use crate::common;
use crate::orders_support;

use common::people::{get_as, Person};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::Value;

async fn paid_order(app: &TestApp, buyer: &Person, product: &str, key: &str) -> Value {
    add_to_cart(app, buyer, product, 1).await;
    let order = checkout_ok(app, buyer, key, Some("pm_card_visa")).await;
    let view = staff_view(app, order["id"].as_str().unwrap()).await;
    assert_eq!(view["parts"][0]["settlement"]["status"], "settled");
    order
}

#[tokio::test]
async fn payouts_are_tracked_from_events_and_a_failed_one_puts_the_money_back() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    // Bob's bank account is one the provider cannot pay into.
    let (ann, shop_a, bob, shop_b) = a_seller_and_one_with_a_closed_bank(&app).await;
    let vase = product(&app, &ann, &shop_a, "Vase", 3000, 5).await;
    let bowl = product(&app, &bob, &shop_b, "Bowl", 2000, 5).await;
    let vase_order = paid_order(&app, &market.buyer, &vase, "a").await;
    paid_order(&app, &market.buyer, &bowl, "b").await;
    let (share_a, share_b) = (3000 - market_fee(3000), 2000 - market_fee(2000));

    // Four days later: funds available after two, paid out daily, one day in transit.
    let (paid, failed) = four_days_of_payouts(&app, (&ann, &shop_a), (&bob, &shop_b)).await;
    let (paid, failed) = (&paid, &failed);
    assert_eq!(paid["amount"]["minor"], share_a);
    assert!(paid["action"].is_null());
    assert_eq!(failed["amount"]["minor"], share_b);
    assert_eq!(failed["failure_code"], "no_account");
    assert!(failed["action"].as_str().unwrap().contains("bank account"));

    // The sellers' balances, from the ledger.
    let balance = |seller: &Person, shop: &Value| {
        let path = format!("/v1/shops/{}/balance", shop["id"].as_str().unwrap());
        let (app, seller) = (&app, seller.clone());
        async move { json_of(get_as(app, &seller, &path).await, 200).await["currencies"]["USD"].clone() }
    };
    // The funds' `balance.available` event may be processed after the payout's.
    common::wait_until(|| async {
        balance(&ann, &shop_a).await["pending"]["minor"] == 0
            && balance(&bob, &shop_b).await["pending"]["minor"] == 0
    })
    .await;
    let a = balance(&ann, &shop_a).await;
    assert_eq!(
        (
            a["paid_out"]["minor"].as_i64(),
            a["in_transit"]["minor"].as_i64(),
            a["available"]["minor"].as_i64()
        ),
        (Some(share_a), Some(0), Some(0))
    );
    assert_eq!(a["owed_by_platform"]["minor"], 0);
    assert_eq!(a["fees_charged"]["minor"], market_fee(3000));
    let b = balance(&bob, &shop_b).await;
    assert_eq!(
        (
            b["paid_out"]["minor"].as_i64().unwrap_or(0),
            b["in_transit"]["minor"].as_i64(),
            b["available"]["minor"].as_i64()
        ),
        (0, Some(0), Some(share_b))
    );

    // Staff see failed payouts first; sellers only their own.
    let support = common::people::staff(&app, &market.operator, "support").await;
    let all = json_of(get_as(&app, &support, "/v1/payouts").await, 200).await;
    assert_eq!(all["data"][0]["status"], "failed");
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    // A page of one still shows the failed one, whichever was created last.
    let first = json_of(get_as(&app, &support, "/v1/payouts?limit=1").await, 200).await;
    assert_eq!(first["data"][0]["status"], "failed", "{first}");
    let path = format!("/v1/shops/{}/payouts", shop_a["id"].as_str().unwrap());
    assert_error(get_as(&app, &bob, &path).await, 404, "not_found").await;
    assert_error(
        get_as(&app, &support, "/v1/payouts?status=lost").await,
        400,
        "invalid_query",
    )
    .await;
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

    // Ann refunds the vase after its money went to her bank: the reversal takes
    // it from her connected account, which goes below zero. Her balance says
    // so and why, and finance sees her shop among those in the red.
    let in_the_red = json_of(
        get_as(&app, &finance, "/v1/reports/shops_in_the_red").await,
        200,
    )
    .await;
    assert_eq!(in_the_red["data"], serde_json::json!([]));
    let order_id = vase_order["id"].as_str().unwrap();
    let body = serde_json::json!({"part_id": vase_order["parts"][0]["id"], "amount_minor": 3000});
    json_of(
        post_keyed(
            &app,
            &ann,
            &format!("/v1/orders/{order_id}/refunds"),
            "late",
            &body,
        )
        .await,
        201,
    )
    .await;
    let a = balance(&ann, &shop_a).await;
    assert_eq!(a["available"]["minor"], -share_a);
    assert_eq!(a["paid_out"]["minor"], share_a);
    assert_eq!(a["negative"]["owes"]["minor"], share_a);
    assert_eq!(
        a["negative"]["reasons"],
        serde_json::json!(["refund_after_payout"])
    );
    // The platform fee went back to the buyer with the rest: none kept.
    assert_eq!(a["fees_charged"]["minor"], market_fee(3000));
    assert_eq!(a["fees_refunded"]["minor"], market_fee(3000));
    assert_eq!(a["fees_kept"]["minor"], 0);
    let in_the_red = json_of(
        get_as(&app, &finance, "/v1/reports/shops_in_the_red").await,
        200,
    )
    .await;
    let rows = in_the_red["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{in_the_red}");
    assert_eq!(rows[0]["shop_id"], shop_a["id"]);
    assert_eq!(
        rows[0]["owes"],
        serde_json::json!({"minor": share_a, "currency": "USD"})
    );
    assert_eq!(
        rows[0]["on_connected_account"],
        serde_json::json!({"minor": -share_a, "currency": "USD"})
    );
    assert_eq!(
        rows[0]["reasons"],
        serde_json::json!(["refund_after_payout"])
    );
}
