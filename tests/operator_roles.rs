//! Every staff endpoint against every role (and no credentials), over a
//! marketplace with real data, so an allowed call is held to its success
//! status and a refused one to 403 `forbidden`; then every state-changing
//! call that went through has its audit row, naming who did it, with the
//! state before and after.

use crate::common;
use crate::orders_support;

use common::people::{bearer, everyone, get_as, signup, Person};
use common::TestApp;
use orders_support::*;
use serde_json::{json, Value};

/// Who is asked, in this order: buyer (the order's), seller (the shop's),
/// finance, support, operator. The last status is for no credentials.
type Expect = [u16; 5];

const FORBIDDEN: u16 = 403;

struct Call {
    method: &'static str,
    path: String,
    body: Option<Value>,
    expect: Expect,
    /// The audit action a successful call by staff writes (a state change).
    audited: Option<&'static str>,
}

fn get(path: impl Into<String>, expect: Expect) -> Call {
    Call {
        method: "GET",
        path: path.into(),
        body: None,
        expect,
        audited: None,
    }
}

fn post(
    path: impl Into<String>,
    body: Value,
    expect: Expect,
    audited: Option<&'static str>,
) -> Call {
    Call {
        method: "POST",
        path: path.into(),
        body: Some(body),
        expect,
        audited,
    }
}

async fn send(app: &TestApp, who: Option<&Person>, call: &Call) -> (u16, Value) {
    let url = format!("{}{}", app.address, call.path);
    let mut request = match call.method {
        "GET" => app.client.get(url),
        _ => app.client.post(url),
    };
    if let Some(person) = who {
        request = request.header("authorization", bearer(&person.token));
    }
    if let Some(body) = &call.body {
        request = request
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// Every audit row, newest first, page by page.
async fn whole_audit_log(app: &TestApp, operator: &Person) -> Vec<Value> {
    let (mut rows, mut path) = (Vec::new(), "/v1/audit_log?limit=100".to_owned());
    loop {
        let page = json_of(get_as(app, operator, &path).await, 200).await;
        rows.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_before"].as_str() {
            Some(cursor) => path = format!("/v1/audit_log?limit=100&before={cursor}"),
            None => return rows,
        }
    }
}

#[tokio::test]
async fn every_staff_endpoint_admits_exactly_its_roles_and_audits_every_change() {
    let app = TestApp::spawn().await;
    let people = everyone(&app).await;
    let [_, _, finance, support, operator] = &people[..] else {
        unreachable!()
    };
    platform_rule(&app, operator, "10.5", 30, "platform", true).await;
    // The buyer and seller of the matrix are the ones of this order.
    let (buyer, seller) = (signup(&app, "buyer").await, signup(&app, "seller").await);
    let shop = active_shop(&app, &seller, "USD").await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let vase = product(&app, &seller, &shop, "Vase", 3000, 10).await;
    add_to_cart(&app, &buyer, &vase, 2).await;
    let order = checkout_ok(&app, &buyer, "k", Some("pm_card_visa")).await;
    assert_eq!(order["status"], "paid");
    let order_id = order["id"].as_str().unwrap().to_owned();
    let part_id = order["parts"][0]["id"].as_str().unwrap().to_owned();
    let category_rule = json_of(
        common::people::post_as(
            &app,
            operator,
            "/v1/fee_rules",
            &json!({"scope": {"kind": "category", "value": "home-kitchen"}, "percentage": "8",
                    "fixed": {"USD": 10}, "processing_fee_payer": "platform", "refund_fee_proportionally": true}),
        )
        .await,
        201,
    )
    .await;
    let rule_id = category_rule["id"].as_str().unwrap().to_owned();
    let accounts = json_of(get_as(&app, finance, "/v1/ledger/accounts").await, 200).await;
    let account_id = accounts["data"][0]["id"].as_str().unwrap().to_owned();
    let someone = signup(&app, "buyer").await;
    let refund =
        |amount: i64| json!({"part_id": part_id, "amount_minor": amount, "reason": "goodwill"});

    let f = FORBIDDEN;
    let calls = vec![
        // Fee rules.
        get("/v1/fee_rules", [f, f, 200, f, 200]),
        get(format!("/v1/fee_rules/{rule_id}"), [f, f, 200, f, 200]),
        post(
            "/v1/fee_rules/preview",
            json!({"amount_minor": 10_000, "currency": "USD", "shop_id": shop_id}),
            [f, f, 200, f, 200],
            None,
        ),
        post(
            "/v1/fee_rules",
            json!({"scope": {"kind": "shop", "value": shop_id}, "percentage": "9", "fixed": {"USD": 5},
                   "processing_fee_payer": "platform", "refund_fee_proportionally": true}),
            [f, f, f, f, 201],
            Some("fee_rule.create"),
        ),
        post(
            format!("/v1/fee_rules/{rule_id}/versions"),
            json!({"percentage": "7", "fixed": {"USD": 10}, "processing_fee_payer": "platform",
                   "refund_fee_proportionally": true}),
            [f, f, f, f, 201],
            Some("fee_rule.version"),
        ),
        post(
            format!("/v1/fee_rules/{rule_id}/retire"),
            json!({}),
            [f, f, f, f, 200],
            Some("fee_rule.retire"),
        ),
        // Shops.
        get("/v1/shops", [f, 200, 200, 200, 200]),
        get(format!("/v1/shops/{shop_id}"), [f, 200, 200, 200, 200]),
        post(
            format!("/v1/shops/{shop_id}/sync"),
            json!({}),
            [f, 200, f, 200, 200],
            Some("shop.sync"),
        ),
        post(
            format!("/v1/shops/{shop_id}/freeze"),
            json!({"reason": "document review"}),
            [f, f, f, f, 200],
            Some("shop.freeze"),
        ),
        post(
            format!("/v1/shops/{shop_id}/unfreeze"),
            json!({}),
            [f, f, f, f, 200],
            Some("shop.unfreeze"),
        ),
        // Orders.
        get("/v1/orders", [200, f, 200, 200, 200]),
        get(
            "/v1/orders?buyer_email=nobody%40example.com",
            [200, f, 200, 200, 200],
        ),
        get(format!("/v1/orders/{order_id}"), [200, f, 200, 200, 200]),
        get(
            format!("/v1/shops/{shop_id}/orders"),
            [f, 200, 200, 200, 200],
        ),
        get(
            format!("/v1/orders/{order_id}/ledger"),
            [f, f, 200, 200, 200],
        ),
        post(
            format!("/v1/orders/{order_id}/sync"),
            json!({}),
            [200, f, f, 200, 200],
            Some("order.sync"),
        ),
        post(
            format!("/v1/orders/{order_id}/refunds"),
            refund(100),
            [f, 201, f, 201, 201],
            Some("order.refund"),
        ),
        post(
            "/v1/disputes/dp_unknown/sync",
            json!({}),
            [f, f, f, 404, 404],
            None,
        ),
        // Payouts, statements and balances.
        get("/v1/payouts", [f, f, 200, 200, 200]),
        get(
            format!("/v1/shops/{shop_id}/payouts"),
            [f, 200, 200, 200, 200],
        ),
        get(
            format!("/v1/shops/{shop_id}/balance"),
            [f, 200, 200, 200, 200],
        ),
        get(
            format!("/v1/shops/{shop_id}/payouts/po_unknown/statement"),
            [f, 404, 404, 404, 404],
        ),
        get(
            format!("/v1/shops/{shop_id}/statement?from=2026-01-01T00:00:00Z"),
            [f, 200, 200, 200, 200],
        ),
        // Money views.
        get("/v1/ledger/accounts", [f, f, 200, f, 200]),
        get(
            format!("/v1/ledger/accounts/{account_id}"),
            [f, f, 200, f, 200],
        ),
        get("/v1/ledger/entries/le_unknown", [f, f, 404, f, 404]),
        get("/v1/ledger/trial-balance", [f, f, 200, f, 200]),
        get("/v1/reports/pnl", [f, f, 200, f, 200]),
        get("/v1/reports/fee-revenue", [f, f, 200, f, 200]),
        post(
            "/v1/reconciliation/reports",
            json!({}),
            [f, f, 201, f, 201],
            Some("reconciliation.run"),
        ),
        get("/v1/reconciliation/reports", [f, f, 200, f, 200]),
        get("/v1/reconciliation/reports/rr_unknown", [f, f, 404, f, 404]),
        // Exports.
        get("/v1/exports/orders.csv", [f, f, 200, 200, 200]),
        get("/v1/exports/fees.csv", [f, f, 200, f, 200]),
        get("/v1/exports/payouts.csv", [f, f, 200, 200, 200]),
        get(
            format!("/v1/shops/{shop_id}/statement.csv?from=2026-01-01T00:00:00Z"),
            [f, 200, 200, 200, 200],
        ),
        // Jobs, people, the audit log, emails.
        get("/v1/jobs", [f, f, 200, f, 200]),
        post("/v1/jobs/replay", json!({}), [f, f, f, f, 200], None),
        post(
            "/v1/jobs/job_unknown/replay",
            json!({}),
            [f, f, f, f, 404],
            None,
        ),
        get(
            format!("/v1/users?email={}", someone.email.replace('@', "%40")),
            [f, f, f, 200, 200],
        ),
        post(
            format!("/v1/users/{}/role", someone.user_id),
            json!({"role": "seller"}),
            [f, f, f, f, 200],
            Some("user.role_change"),
        ),
        get("/v1/audit_log", [f, f, f, f, 200]),
        get("/v1/emails", [f, f, f, 200, 200]),
    ];

    // Only rows the matrix writes are compared: the set-up's are set aside.
    let before_matrix: std::collections::BTreeSet<String> = whole_audit_log(&app, operator)
        .await
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect();
    let askers = [&buyer, &seller, finance, support, operator];
    let mut changes: Vec<(&'static str, String)> = Vec::new();
    for call in &calls {
        let (status, body) = send(&app, None, call).await;
        assert_eq!(
            status, 401,
            "{} {} without credentials: {body}",
            call.method, call.path
        );
        for (who, expected) in askers.iter().zip(call.expect) {
            let (status, body) = send(&app, Some(who), call).await;
            assert_eq!(
                status, expected,
                "{} {} as {}: {body}",
                call.method, call.path, who.role
            );
            if status == FORBIDDEN {
                assert_eq!(body["error"]["code"], "forbidden", "{body}");
            }
            // Staff actions are audited; a refund is audited whoever makes it
            // (a seller refunding its own order too).
            let staff = matches!(who.role.as_str(), "finance" | "support" | "operator");
            if let Some(action) = call
                .audited
                .filter(|a| status < 300 && (staff || *a == "order.refund"))
            {
                changes.push((action, who.user_id.clone()));
            }
        }
    }

    // Each change has its own row, by its actor, with before and after.
    let mut by_action: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (action, actor) in &changes {
        by_action.entry(action).or_default().push(actor.clone());
    }
    let log = whole_audit_log(&app, operator).await;
    for (action, actors) in by_action {
        let rows: Vec<Value> = log
            .iter()
            .filter(|row| row["action"] == *action)
            .filter(|row| !before_matrix.contains(row["id"].as_str().unwrap()))
            .cloned()
            .collect();
        let mut logged: Vec<String> = rows
            .iter()
            .map(|r| r["actor_user_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let mut expected = actors.clone();
        expected.sort();
        logged.sort();
        assert_eq!(logged, expected, "{action} rows: {rows:?}");
        for row in &rows {
            assert!(!row["after"].is_null(), "{row}");
        }
    }
}
