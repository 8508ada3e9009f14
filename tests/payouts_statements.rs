//! Seller statements: a payout's lines with the order parts, fees and
//! take-backs behind them, summing to the payout to the minor unit; a
//! running statement for a period; both as CSV that parses back to the same
//! numbers; and the operators' payouts export.

use crate::common;
use crate::orders_support;

use std::collections::BTreeMap;
use std::time::Duration;

use common::people::{get_as, signup, staff, Person};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::{json, Value};

async fn csv_of(app: &TestApp, person: &Person, path: &str) -> Vec<BTreeMap<String, String>> {
    let response = get_as(app, person, path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    assert!(body.ends_with("\r\n"), "RFC 4180 line ends");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .zip(r.iter())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn number(row: &BTreeMap<String, String>, column: &str) -> i64 {
    row[column].parse().unwrap_or(0)
}

#[tokio::test]
async fn statements_add_up_to_each_payout_and_their_csv_parses_back() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let (ann, bob) = (signup(&app, "seller").await, signup(&app, "seller").await);
    let shop = active_shop(&app, &ann, "USD").await;
    let other = active_shop(&app, &bob, "USD").await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let vase = product(&app, &ann, &shop, "Vase", 3000, 10).await;
    let cup = product(&app, &ann, &shop, "Cup", 1250, 10).await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);

    add_to_cart(&app, &market.buyer, &vase, 2).await;
    let first = checkout_ok(&app, &market.buyer, "one", Some("pm_card_visa")).await;
    add_to_cart(&app, &market.buyer, &cup, 1).await;
    let second = checkout_ok(&app, &market.buyer, "two", Some("pm_card_visa")).await;
    // One vase comes back: the seller gives back its portion by reversal.
    let support = staff(&app, &market.operator, "support").await;
    let line = &first["parts"][0]["lines"][0];
    let path = format!("/v1/orders/{}/refunds", first["id"].as_str().unwrap());
    let body = json!({"lines": [{"line_id": line["id"], "quantity": 1}], "restock": true});
    json_of(post_keyed(&app, &support, &path, "r1", &body).await, 201).await;
    let portion = proportion(3000, 6000 - market_fee(6000), 6000);
    let owed = (6000 - market_fee(6000)) + (1250 - market_fee(1250)) - portion;

    // Paid out four days later.
    app.sandbox_post("/v1/test_helpers/advance_clock", &[("seconds", "345600")])
        .await;
    // Usually one payout; two when the funds of the two orders become
    // available on either side of a payout day. Either way they add up.
    let payouts_path = format!("/v1/shops/{shop_id}/payouts");
    let mut payouts = Vec::new();
    for _ in 0..200 {
        let list = json_of(get_as(&app, &ann, &payouts_path).await, 200).await;
        payouts = list["data"].as_array().unwrap().clone();
        let paid: i64 = payouts
            .iter()
            .filter(|p| p["status"] == "paid")
            .map(|p| p["amount"]["minor"].as_i64().unwrap())
            .sum();
        if paid == owed && payouts.iter().all(|p| p["status"] == "paid") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paid: i64 = payouts
        .iter()
        .map(|p| p["amount"]["minor"].as_i64().unwrap())
        .sum();
    assert_eq!(paid, owed, "{payouts:?}");
    assert!(payouts.iter().all(|p| p["status"] == "paid"), "{payouts:?}");

    // Each payout's statement sums to it; together: two transfers and a reversal.
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    for payout in &payouts {
        let payout_id = payout["id"].as_str().unwrap();
        let statement_path = format!("/v1/shops/{shop_id}/payouts/{payout_id}/statement");
        let statement = json_of(get_as(&app, &ann, &statement_path).await, 200).await;
        assert_eq!(statement["total"], payout["amount"]);
        let of_payout = statement["lines"].as_array().unwrap().clone();
        let net: i64 = of_payout
            .iter()
            .map(|l| l["net"]["minor"].as_i64().unwrap())
            .sum();
        assert_eq!(net, payout["amount"]["minor"].as_i64().unwrap());
        lines.extend(of_payout);
        // As CSV: the same lines, the same sum.
        let csv = csv_of(&app, &ann, &format!("{statement_path}.csv")).await;
        assert_eq!(
            csv.iter().map(|r| number(r, "net_minor")).sum::<i64>(),
            payout["amount"]["minor"].as_i64().unwrap()
        );
        rows.extend(csv);
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    for l in &lines {
        assert_eq!(l["matched"], true, "{l}");
        let part = &l["part"];
        let subtotal = part["subtotal"]["minor"].as_i64().unwrap();
        assert_eq!(part["platform_fee"]["minor"], market_fee(subtotal));
        assert_eq!(
            part["seller_amount"]["minor"],
            subtotal - market_fee(subtotal)
        );
        assert_eq!(part["processing_fee"]["minor"], 0, "the platform bears it");
        match part["movement"].as_str().unwrap() {
            "transfer" => assert_eq!(l["net"]["minor"], subtotal - market_fee(subtotal)),
            "reversal" => {
                assert_eq!(l["net"]["minor"], -portion);
                assert_eq!(part["order_id"], first["id"]);
                assert_eq!(part["taken_back"][0]["cause_kind"], "refund");
                assert_eq!(part["taken_back"][0]["seller"]["minor"], portion);
            }
            other => panic!("unexpected movement {other}"),
        }
    }
    let orders: Vec<&Value> = lines.iter().map(|l| &l["part"]["order_id"]).collect();
    assert!(orders.contains(&&second["id"]));
    assert_eq!(rows.len(), 3);
    let taken: i64 = rows.iter().map(|r| number(r, "taken_back_minor")).sum();
    assert_eq!(
        taken,
        2 * portion,
        "both lines of the refunded part show it"
    );
    let payout_id = payouts[0]["id"].as_str().unwrap().to_owned();
    let statement_path = format!("/v1/shops/{shop_id}/payouts/{payout_id}/statement");

    // Staff read any seller's; another seller reads none; a buyer nothing.
    let finance = staff(&app, &market.operator, "finance").await;
    json_of(get_as(&app, &finance, &statement_path).await, 200).await;
    assert_error(get_as(&app, &bob, &statement_path).await, 404, "not_found").await;
    let wrong_shop = format!(
        "/v1/shops/{}/payouts/{payout_id}/statement",
        other["id"].as_str().unwrap()
    );
    assert_error(get_as(&app, &bob, &wrong_shop).await, 404, "not_found").await;
    assert_error(
        get_as(&app, &market.buyer, &statement_path).await,
        403,
        "forbidden",
    )
    .await;

    // The running statement since before the first order: opening zero,
    // closing = the balances, postings = the difference, per account.
    let from = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let period = json_of(
        get_as(
            &app,
            &ann,
            &format!("/v1/shops/{shop_id}/statement?from={from}"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(period["has_more"], false);
    for account in period["opening"].as_array().unwrap() {
        assert_eq!(account["balance"]["minor"], 0, "{account}");
    }
    let mut moved: BTreeMap<String, i64> = BTreeMap::new();
    for p in period["postings"].as_array().unwrap() {
        *moved
            .entry(p["account_code"].as_str().unwrap().to_owned())
            .or_default() +=
            p["debit"]["minor"].as_i64().unwrap() - p["credit"]["minor"].as_i64().unwrap();
    }
    for account in period["closing"].as_array().unwrap() {
        let code = account["code"].as_str().unwrap();
        let signed = if account["normal_side"] == "debit" {
            moved[code]
        } else {
            -moved[code]
        };
        assert_eq!(account["balance"]["minor"], signed, "{code}");
    }
    let paid_out = period["closing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == format!("shop:{shop_id}:paid_out"))
        .unwrap()["balance"]["minor"]
        .clone();
    assert_eq!(paid_out, owed);
    let rows = csv_of(
        &app,
        &ann,
        &format!("/v1/shops/{shop_id}/statement.csv?from={from}"),
    )
    .await;
    assert_eq!(rows.len(), period["postings"].as_array().unwrap().len());
    let mut from_csv: BTreeMap<String, i64> = BTreeMap::new();
    for r in &rows {
        *from_csv.entry(r["account"].clone()).or_default() +=
            number(r, "debit_minor") - number(r, "credit_minor");
    }
    assert_eq!(from_csv, moved);
    for bad in [
        "from=yesterday",
        "from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z",
        "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "since=2026-01-01T00:00:00Z",
    ] {
        let path = format!("/v1/shops/{shop_id}/statement?{bad}");
        let response = get_as(&app, &ann, &path).await;
        assert_eq!(response.status(), 400, "{bad}");
    }

    // Operators' export of payouts parses back to the list's numbers.
    let listed = json_of(get_as(&app, &finance, "/v1/payouts").await, 200).await;
    let rows = csv_of(&app, &finance, "/v1/exports/payouts.csv").await;
    assert_eq!(rows.len(), listed["data"].as_array().unwrap().len());
    for p in listed["data"].as_array().unwrap() {
        let row = rows.iter().find(|r| r["payout_id"] == p["id"]).unwrap();
        assert_eq!(
            number(row, "amount_minor"),
            p["amount"]["minor"].as_i64().unwrap()
        );
        assert_eq!(row["status"], p["status"].as_str().unwrap());
    }
    assert_error(
        get_as(&app, &ann, "/v1/exports/payouts.csv").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        get_as(&app, &finance, "/v1/exports/payouts.csv?status=lost").await,
        400,
        "invalid_query",
    )
    .await;
}
