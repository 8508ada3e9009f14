//! What staff read across the marketplace: order search, an order's ledger
//! entries and P&L, the platform's P&L per day, fee revenue by shop and
//! category, and the orders and fees exports — checked against numbers
//! computed here, for allowed and forbidden roles.

use crate::common;
use crate::orders_support;

use std::collections::BTreeMap;

use common::people::{get_as, signup, staff, Person};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::{json, Value};

/// The sandbox's card fee: 2.9 % (half up) + 30.
fn card_fee(amount: i64) -> i64 {
    (amount * 290 + 5_000) / 10_000 + 30
}

async fn csv_rows(app: &TestApp, person: &Person, path: &str) -> Vec<BTreeMap<String, String>> {
    let response = get_as(app, person, path).await;
    assert_eq!(response.status(), 200, "{path}");
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .zip(r.unwrap().iter())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn total_of(periods: &Value, currency: &str) -> Value {
    periods["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["period"] == "total")
        .unwrap()["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == currency)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn staff_search_orders_and_read_the_money_views_and_exports() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let other_buyer = signup(&app, "buyer").await;
    let (ann, bob) = (signup(&app, "seller").await, signup(&app, "seller").await);
    let shop_a = active_shop(&app, &ann, "USD").await;
    let shop_b = active_shop(&app, &bob, "USD").await;
    let mug = product(&app, &ann, &shop_a, "Mug", 1250, 10).await;
    let book = product(&app, &bob, &shop_b, "Book", 1999, 10).await;

    // Two orders of the market's buyer (one of both shops), one of another.
    add_to_cart(&app, &market.buyer, &mug, 2).await;
    add_to_cart(&app, &market.buyer, &book, 1).await;
    let both = checkout_ok(&app, &market.buyer, "o1", Some("pm_card_visa")).await;
    add_to_cart(&app, &market.buyer, &mug, 1).await;
    let mug_only = checkout_ok(&app, &market.buyer, "o2", Some("pm_card_visa")).await;
    add_to_cart(&app, &other_buyer, &book, 1).await;
    let theirs = checkout_ok(&app, &other_buyer, "o3", Some("pm_card_visa")).await;
    let support = staff(&app, &market.operator, "support").await;
    let finance = staff(&app, &market.operator, "finance").await;
    // A refund of one mug of the first order.
    let mug_part = both["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["shop_id"] == shop_a["id"])
        .unwrap()
        .clone();
    let body = json!({"lines": [{"line_id": mug_part["lines"][0]["id"], "quantity": 1}], "restock": false});
    let path = format!("/v1/orders/{}/refunds", both["id"].as_str().unwrap());
    json_of(post_keyed(&app, &support, &path, "r", &body).await, 201).await;
    let refund_seller = proportion(1250, 2500 - market_fee(2500), 2500);
    // The refund is in the audit log: who, on which order, before and after.
    let audited = common::people::audit_rows(&app, &market.operator, "order.refund").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["actor_user_id"], support.user_id.as_str());
    assert_eq!(audited[0]["subject"], both["id"]);
    assert_eq!(audited[0]["before"]["refunded_minor"], 0);
    assert_eq!(audited[0]["after"]["refunded_minor"], 1250);

    // Search.
    let ids = |list: &Value| -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let email = market.buyer.email.to_uppercase();
    let by_email = json_of(
        get_as(&app, &support, &format!("/v1/orders?buyer_email={email}")).await,
        200,
    )
    .await;
    assert_eq!(
        ids(&by_email),
        vec![
            mug_only["id"].as_str().unwrap(),
            both["id"].as_str().unwrap()
        ]
    );
    let shop_b_id = shop_b["id"].as_str().unwrap();
    let by_shop = json_of(
        get_as(&app, &support, &format!("/v1/orders?shop_id={shop_b_id}")).await,
        200,
    )
    .await;
    assert_eq!(
        ids(&by_shop),
        vec![theirs["id"].as_str().unwrap(), both["id"].as_str().unwrap()]
    );
    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let none = json_of(
        get_as(
            &app,
            &support,
            &format!("/v1/orders?created_after={future}"),
        )
        .await,
        200,
    )
    .await;
    assert!(ids(&none).is_empty());
    // A buyer's filters only narrow the buyer's own orders.
    let own = json_of(
        get_as(
            &app,
            &other_buyer,
            &format!("/v1/orders?buyer_email={}", market.buyer.email),
        )
        .await,
        200,
    )
    .await;
    assert!(ids(&own).is_empty());
    assert_error(
        get_as(&app, &support, "/v1/orders?created_after=soon").await,
        400,
        "invalid_query",
    )
    .await;

    // An order's ledger entries and its P&L.
    let gross = 2 * 1250 + 1999;
    let (fee_a, fee_b) = (market_fee(2500), market_fee(1999));
    let path = format!("/v1/orders/{}/ledger", both["id"].as_str().unwrap());
    let ledger = json_of(get_as(&app, &finance, &path).await, 200).await;
    let causes: Vec<&str> = ledger["postings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["cause"].as_str().unwrap())
        .collect();
    for prefix in ["charge:", "allocation:", "movement:", "refund:"] {
        assert!(
            causes.iter().any(|c| c.starts_with(prefix)),
            "{prefix} {causes:?}"
        );
    }
    let pnl = &ledger["pnl"][0];
    assert_eq!(pnl["fees_earned"], fee_a + fee_b);
    assert_eq!(pnl["processing_fees"], card_fee(gross));
    assert_eq!(pnl["refunds_borne"], 1250 - refund_seller);
    assert_eq!(
        pnl["net"],
        fee_a + fee_b - card_fee(gross) - (1250 - refund_seller)
    );
    assert_error(get_as(&app, &ann, &path).await, 403, "forbidden").await;

    // The platform's P&L for the period: every order.
    let periods = json_of(get_as(&app, &finance, "/v1/reports/pnl").await, 200).await;
    let total = total_of(&periods, "USD");
    let fees = fee_a + fee_b + market_fee(1250) + market_fee(1999);
    let card = card_fee(gross) + card_fee(1250) + card_fee(1999);
    assert_eq!(total["fees_earned"], fees);
    assert_eq!(total["processing_fees"], card);
    assert_eq!(total["net"], fees - card - (1250 - refund_seller));
    assert_eq!(
        periods["periods"].as_array().unwrap().len(),
        2,
        "today and total"
    );
    assert_error(
        get_as(&app, &support, "/v1/reports/pnl").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        get_as(
            &app,
            &finance,
            "/v1/reports/pnl?from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z",
        )
        .await,
        400,
        "invalid_query",
    )
    .await;

    // Fee revenue by shop and by category.
    let revenue = json_of(get_as(&app, &finance, "/v1/reports/fee-revenue").await, 200).await;
    let of_shop = |shop: &Value| {
        revenue["by_shop"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == shop["id"])
            .unwrap()["fees"]["minor"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(of_shop(&shop_a), fee_a + market_fee(1250));
    assert_eq!(of_shop(&shop_b), fee_b + market_fee(1999));
    assert_eq!(revenue["by_category"][0]["key"], "home-kitchen");
    assert_eq!(revenue["by_category"][0]["fees"]["minor"], fees);
    assert_eq!(revenue["by_category"][0]["parts"], 4);

    // Exports parse back to the same numbers.
    let orders = csv_rows(&app, &support, "/v1/exports/orders.csv").await;
    assert_eq!(orders.len(), 3);
    let totals: i64 = orders
        .iter()
        .map(|r| r["total_minor"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(totals, gross + 1250 + 1999);
    let refunded: i64 = orders
        .iter()
        .map(|r| r["refunded_minor"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(refunded, 1250);
    let paid = csv_rows(&app, &support, "/v1/exports/orders.csv?status=paid").await;
    assert_eq!(paid.len(), 3);
    let fee_rows = csv_rows(&app, &finance, "/v1/exports/fees.csv").await;
    assert_eq!(fee_rows.len(), 4, "one row per part");
    let exported: i64 = fee_rows
        .iter()
        .map(|r| r["platform_fee_minor"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(exported, fees);
    for r in &fee_rows {
        let subtotal: i64 = r["subtotal_minor"].parse().unwrap();
        let seller: i64 = r["seller_amount_minor"].parse().unwrap();
        assert_eq!(seller, subtotal - market_fee(subtotal));
    }
    assert_error(
        get_as(&app, &support, "/v1/exports/fees.csv").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        get_as(&app, &ann, "/v1/exports/orders.csv").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        get_as(&app, &support, "/v1/exports/orders.csv?status=lost").await,
        400,
        "invalid_query",
    )
    .await;
}
