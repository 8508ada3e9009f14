//! Finance's manual entries: balanced, once per idempotency key, audited,
//! refused whole on any bad line, never on accounts that mirror the provider.

use crate::common;
use crate::orders_support;

use common::people::{audit_rows, get_as, operator, signup, staff, Person};
use common::{assert_error, TestApp};
use orders_support::*;
use serde_json::{json, Value};

async fn adjust(app: &TestApp, who: &Person, key: &str, body: &Value) -> reqwest::Response {
    post_keyed(app, who, "/v1/ledger/adjustments", key, body).await
}

fn goodwill(debit: &str, credit: &str, amount: i64) -> Value {
    json!({
        "description": "Goodwill credit, ticket 4411",
        "currency": "USD",
        "postings": [
            {"account": debit, "debit_minor": amount},
            {"account": credit, "credit_minor": amount},
        ],
    })
}

async fn trial(app: &TestApp, who: &Person) -> Value {
    json_of(get_as(app, who, "/v1/ledger/trial-balance").await, 200).await
}

#[tokio::test]
async fn an_adjustment_posts_once_per_key_balances_and_is_audited() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let finance = staff(&app, &operator, "finance").await;
    let body = goodwill("platform:adjustments", "platform:fee_revenue", 1234);

    let first = json_of(adjust(&app, &finance, "adj-1", &body).await, 201).await;
    assert_eq!(first["created"], true);
    assert_eq!(first["cause"], "adjustment:adj-1");
    let postings = first["postings"].as_array().unwrap();
    assert_eq!(postings.len(), 2);
    assert_eq!(postings[0]["account_id"], "platform:adjustments:USD");
    assert_eq!(postings[0]["debit"]["minor"], 1234);
    assert_eq!(postings[1]["account_id"], "platform:fee_revenue:USD");
    assert_eq!(postings[1]["credit"]["minor"], 1234);
    assert_eq!(postings[0]["description"], "Goodwill credit, ticket 4411");

    // A retry: the same entry, nothing new.
    let again = json_of(adjust(&app, &finance, "adj-1", &body).await, 200).await;
    assert_eq!(again["created"], false);
    assert_eq!(again["entry_id"], first["entry_id"]);
    // The same key with other lines is refused.
    let other = goodwill("platform:adjustments", "platform:fee_revenue", 999);
    assert_error(
        adjust(&app, &finance, "adj-1", &other).await,
        409,
        "idempotency_key_reused",
    )
    .await;

    let books = trial(&app, &finance).await;
    assert_eq!(balance_in(&books, "platform:adjustments"), 1234);
    assert_eq!(balance_in(&books, "platform:fee_revenue"), 1234);
    assert_eq!(
        books["totals"]["USD"]["debits"],
        books["totals"]["USD"]["credits"]
    );

    // The P&L counts it: fee revenue up 1234, adjustments down 1234.
    let pnl = json_of(get_as(&app, &finance, "/v1/reports/pnl").await, 200).await;
    let total = pnl["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["period"] == "total")
        .unwrap()["currencies"][0]
        .clone();
    assert_eq!(total["fees_earned"], 1234);
    assert_eq!(total["adjustments"], -1234);
    assert_eq!(total["net"], 0);

    let rows = audit_rows(&app, &operator, "ledger.adjustment").await;
    assert_eq!(rows.len(), 1, "one audit row, none for the retry");
    assert_eq!(rows[0]["actor_user_id"], finance.user_id.as_str());
    assert_eq!(rows[0]["subject"], first["entry_id"]);
    assert_eq!(rows[0]["after"]["postings"][0]["debit_minor"], 1234);
}

#[tokio::test]
async fn a_bad_adjustment_is_refused_whole_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let finance = staff(&app, &operator, "finance").await;
    let fee = "platform:fee_revenue";
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"description": "x", "currency": "USD", "postings": [
                {"account": "platform:adjustments", "debit_minor": 100},
                {"account": fee, "credit_minor": 99}]}),
            "unbalanced_entry",
            "postings",
        ),
        (
            goodwill("platform:cash", fee, 100),
            "unknown_account",
            "postings[0].account",
        ),
        (
            goodwill("platform:adjustments", "shop:shp_nobody:payable", 100),
            "unknown_account",
            "postings[1].account",
        ),
        (
            goodwill("platform:adjustments", "shop:shp_x:connected_balance", 100),
            "unknown_account",
            "postings[1].account",
        ),
        (
            json!({"description": "x", "currency": "USD", "postings": [
                {"account": "platform:adjustments", "debit_minor": 100, "credit_minor": 100},
                {"account": fee, "credit_minor": 0}]}),
            "invalid_amount",
            "postings[0]",
        ),
        (
            goodwill("platform:adjustments", fee, 1_000_000_000_001),
            "invalid_amount",
            "postings[0]",
        ),
        (
            goodwill("platform:adjustments", fee, -5),
            "invalid_amount",
            "postings[0]",
        ),
        (
            json!({"description": "x", "currency": "USD", "postings": [
                {"account": fee, "credit_minor": 100}]}),
            "invalid_postings",
            "postings",
        ),
        (
            json!({"description": "\u{7}", "currency": "USD", "postings": []}),
            "invalid_description",
            "description",
        ),
        (
            json!({"description": "x", "currency": "XXZ", "postings": []}),
            "invalid_currency",
            "currency",
        ),
    ];
    for (i, (body, code, param)) in cases.into_iter().enumerate() {
        let error = assert_error(
            adjust(&app, &finance, &format!("bad-{i}"), &body).await,
            422,
            code,
        )
        .await;
        assert_eq!(error["param"], param, "{body}");
    }
    // 50 lines of the largest amount each cannot overflow the sums.
    let mut lines: Vec<Value> = (0..25)
        .map(|_| json!({"account": "platform:adjustments", "debit_minor": 1_000_000_000_000i64}))
        .collect();
    lines.extend((0..25).map(|_| json!({"account": fee, "credit_minor": 1_000_000_000_000i64})));
    let big = json!({"description": "largest", "currency": "USD", "postings": lines});
    json_of(adjust(&app, &finance, "big", &big).await, 201).await;
    let books = trial(&app, &finance).await;
    assert_eq!(balance_in(&books, fee), 25_000_000_000_000);

    // No key, a buyer, a seller: refused before anything is read.
    let body = goodwill("platform:adjustments", fee, 100);
    let response = app
        .client
        .post(format!("{}/v1/ledger/adjustments", app.address))
        .header("authorization", format!("Bearer {}", finance.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "idempotency_key_required").await;
    for role in ["buyer", "seller"] {
        let person = signup(&app, role).await;
        assert_error(adjust(&app, &person, "k", &body).await, 403, "forbidden").await;
    }
    // Only the one good adjustment is in the books.
    let books = trial(&app, &finance).await;
    assert_eq!(balance_in(&books, fee), 25_000_000_000_000);
    assert_eq!(balance_in(&books, "platform:cash"), 0);
}

#[tokio::test]
async fn a_shop_payable_is_adjustable_once_the_ledger_knows_it() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let vase = product(&app, &seller, &shop, "Vase", 4000, 5).await;
    let finance = staff(&app, &market.operator, "finance").await;
    let payable = format!("shop:{}:payable", shop["id"].as_str().unwrap());
    let body = goodwill("platform:adjustments", &payable, 500);
    // No money has moved for the shop yet.
    assert_error(
        adjust(&app, &finance, "early", &body).await,
        422,
        "unknown_account",
    )
    .await;

    add_to_cart(&app, &market.buyer, &vase, 1).await;
    checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    common::wait_until(|| async {
        let books = trial(&app, &finance).await;
        balance_in(&books, "platform:fee_revenue") == market_fee(4000)
    })
    .await;
    let before = balance_in(&trial(&app, &finance).await, &payable);
    json_of(adjust(&app, &finance, "later", &body).await, 201).await;
    let books = trial(&app, &finance).await;
    assert_eq!(balance_in(&books, &payable), before + 500);
    assert_eq!(balance_in(&books, "platform:adjustments"), 500);
}
