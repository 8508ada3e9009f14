//! Reconciliation reports and what the ledger books that Bazaar did not ask
//! for: a refund made in the provider's dashboard.

use crate::common;
use crate::orders_support;

use common::people::{get_as, post_as, signup, staff};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::json;

#[tokio::test]
async fn a_refund_made_outside_bazaar_is_booked_against_the_platform_and_reconciles() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let vase = product(&app, &seller, &shop, "Vase", 4000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let finance = staff(&app, &market.operator, "finance").await;
    let support = staff(&app, &market.operator, "support").await;

    // Someone refunds 700 in the provider's dashboard (no metadata of ours).
    let refund = app
        .sandbox_post(
            "/v1/refunds",
            &[
                (
                    "payment_intent",
                    order["payment"]["intent_id"].as_str().unwrap(),
                ),
                ("amount", "700"),
            ],
        )
        .await;
    let refund_id = refund["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/orders/{order_id}");
    common::wait_until(|| async {
        let order = json_of(get_as(&app, &support, &path).await, 200).await;
        order["refunds"].as_array().is_some_and(|r| {
            r.iter()
                .any(|r| r["provider_refund_id"] == refund_id.as_str())
        })
    })
    .await;
    let order = json_of(get_as(&app, &support, &path).await, 200).await;
    let booked = order["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["provider_refund_id"] == refund_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(booked["status"], "succeeded");
    assert_eq!(booked["amount"]["minor"], 700, "{booked}");

    // The platform bears it; the seller keeps its share.
    let trial = json_of(
        get_as(&app, &finance, "/v1/ledger/trial-balance").await,
        200,
    )
    .await;
    assert_eq!(balance_in(&trial, "platform:refunds_borne"), 700);
    let shop_id = shop["id"].as_str().unwrap();
    assert_eq!(
        balance_in(&trial, &format!("shop:{shop_id}:transferred_in")),
        4000 - market_fee(4000)
    );
    // The transfer's funds wait on the seller's account, as at the provider.
    assert_eq!(
        balance_in(&trial, &format!("shop:{shop_id}:connected_pending")),
        4000 - market_fee(4000)
    );
    let seller_view = json_of(
        get_as(&app, &seller, &format!("/v1/shops/{shop_id}/balance")).await,
        200,
    )
    .await;
    let usd = &seller_view["currencies"]["USD"];
    assert_eq!(usd["pending"]["minor"], 4000 - market_fee(4000));
    assert_eq!(usd["fees_charged"]["minor"], market_fee(4000));

    // Reconciliation agrees with the provider, and keeps its report.
    let report = json_of(
        post_as(&app, &finance, "/v1/reconciliation/reports", &json!({})).await,
        201,
    )
    .await;
    assert_eq!(report["differences"], json!([]), "{report}");
    assert_eq!(report["accounts_checked"], 2);
    assert!(report["transactions_checked"].as_i64().unwrap() >= 4);
    let id = report["id"].as_str().unwrap();
    let stored = json_of(
        get_as(&app, &finance, &format!("/v1/reconciliation/reports/{id}")).await,
        200,
    )
    .await;
    assert_eq!(stored["id"], id);
    let list = json_of(
        get_as(&app, &finance, "/v1/reconciliation/reports?limit=5").await,
        200,
    )
    .await;
    assert_eq!(list["data"][0]["id"], id);
    assert_eq!(list["data"][0]["differences"], 0);
    let audited = common::people::audit_rows(&app, &market.operator, "reconciliation.run").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["subject"], id);

    // The platform's cash account, paged by cursor: charge, transfer, refund.
    let cash = "/v1/ledger/accounts/platform:cash:USD";
    let first = json_of(
        get_as(&app, &finance, &format!("{cash}?limit=2")).await,
        200,
    )
    .await;
    assert_eq!(first["postings"].as_array().unwrap().len(), 2);
    assert_eq!(first["has_more"], true);
    let cursor = first["postings"][1]["id"].as_str().unwrap();
    let rest = json_of(
        get_as(
            &app,
            &finance,
            &format!("{cash}?limit=2&starting_after={cursor}"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(rest["has_more"], false);
    let mut seen: Vec<&str> = first["postings"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["postings"].as_array().unwrap())
        .map(|p| p["provider_ref"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    let transfer = transfers_of(&app, &order_id).await[0]["id"].clone();
    let mut want = vec![
        refund_id.as_str(),
        order["payment"]["charge_id"].as_str().unwrap(),
        transfer.as_str().unwrap(),
    ];
    want.sort_unstable();
    assert_eq!(seen, want);
    assert_error(
        get_as(&app, &finance, &format!("{cash}?starting_after=jp_nope")).await,
        400,
        "invalid_query",
    )
    .await;

    // Only finance (and operators) read or run it.
    for person in [&seller, &market.buyer, &support] {
        assert_error(
            get_as(&app, person, "/v1/reconciliation/reports").await,
            403,
            "forbidden",
        )
        .await;
        assert_error(
            post_as(&app, person, "/v1/reconciliation/reports", &json!({})).await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_error(
        get_as(&app, &finance, "/v1/reconciliation/reports/rec_nope").await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        get_as(&app, &finance, "/v1/reconciliation/reports?limit=0").await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn before_any_run_there_is_no_latest_report() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let finance = staff(&app, &market.operator, "finance").await;
    assert_error(
        get_as(&app, &finance, "/v1/reconciliation/reports/latest").await,
        404,
        "not_found",
    )
    .await;
}
