//! The API contract: `GET /openapi.json` describes exactly the routes the
//! server mounts, each with its roles, security and error answers; and the
//! regressions schemathesis (`.ci/schemathesis`) found stay fixed.

use crate::common;

use std::collections::BTreeSet;

use common::people::{get_as, operator, post_as, signup};
use common::{assert_error, TestApp};
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.expect("the document is JSON")
}

/// Every (METHOD, path) the document describes.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |method| {
                item.get(*method)
                    .map(|operation| (method.to_uppercase(), path.clone(), operation))
            })
        })
        .collect()
}

#[tokio::test]
async fn the_document_describes_every_mounted_route_and_nothing_else() {
    let app = TestApp::spawn().await;
    let document = document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    let mounted: BTreeSet<(String, String)> = bazaar::app::route_table()
        .operations
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();
    let described = documented(&document);
    let undocumented: Vec<_> = mounted.difference(&described).collect();
    let not_mounted: Vec<_> = described.difference(&mounted).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not in /openapi.json: {undocumented:?}"
    );
    assert!(
        not_mounted.is_empty(),
        "in /openapi.json but not mounted: {not_mounted:?}"
    );
    assert!(mounted.len() >= 63, "only {} operations", mounted.len());
}

/// The route table is what the server answers: each documented method is
/// routed (never 405 or `route_not_found`), every other method on the same
/// path is 405. Anonymous requests, so nothing is done on the way.
#[tokio::test]
async fn the_server_answers_exactly_the_documented_methods() {
    let app = TestApp::spawn().await;
    let document = document(&app).await;
    let described = documented(&document);
    let paths: BTreeSet<&String> = described.iter().map(|(_, path)| path).collect();
    for path in paths {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS {
            let method = method.to_uppercase();
            let response = app
                .client
                .request(
                    method.parse().unwrap(),
                    format!("{}{concrete}", app.address),
                )
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if described.contains(&(method.clone(), path.clone())) {
                assert!(
                    status != 405 && !body.contains("route_not_found"),
                    "{method} {concrete}: {status} {body}"
                );
            } else {
                assert_eq!(status, 405, "{method} {concrete}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn every_operation_states_its_roles_security_and_errors() {
    let app = TestApp::spawn().await;
    let document = document(&app).await;
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert!(document["components"]["schemas"]["ErrorBody"].is_object());
    let known_roles = [
        "anyone", "buyer", "seller", "operator", "finance", "support",
    ];
    for (method, path, operation) in operations(&document) {
        let at = format!("{method} {path}");
        let roles: Vec<&str> = operation["x-roles"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: no x-roles"))
            .iter()
            .map(|role| role.as_str().unwrap())
            .collect();
        assert!(!roles.is_empty(), "{at}: empty x-roles");
        assert!(
            roles.iter().all(|role| known_roles.contains(role)),
            "{at}: {roles:?}"
        );
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{at}: no success answer"
        );
        for status in ["500", "503"] {
            assert!(responses.contains_key(status), "{at}: no {status}");
        }
        if roles.contains(&"anyone") {
            assert!(
                operation.get("security").is_none(),
                "{at}: public but secured"
            );
        } else {
            assert!(
                roles.contains(&"operator"),
                "{at}: operators pass everywhere"
            );
            let security = operation["security"].as_array().expect("security");
            assert_eq!(security.len(), 2, "{at}: session or API key");
            assert!(
                responses.contains_key("401") && responses.contains_key("403"),
                "{at}"
            );
        }
        let json_body = operation["requestBody"]["content"]["application/json"].is_object();
        if json_body && !path.starts_with("/webhooks/") {
            for status in ["400", "413", "415", "422"] {
                assert!(responses.contains_key(status), "{at}: no {status}");
            }
        }
    }
    // The shared answers are references to components that exist.
    let shared = document["components"]["responses"].as_object().unwrap();
    for name in [
        "BadRequest",
        "Unauthenticated",
        "Forbidden",
        "NotFound",
        "Unprocessable",
    ] {
        assert!(shared.contains_key(name), "no shared response {name}");
    }
}

#[tokio::test]
async fn exports_are_csv_and_webhooks_take_a_signature_header() {
    let app = TestApp::spawn().await;
    let document = document(&app).await;
    for path in [
        "/v1/exports/orders.csv",
        "/v1/exports/fees.csv",
        "/v1/exports/payouts.csv",
        "/v1/shops/{id}/statement.csv",
        "/v1/shops/{id}/payouts/{payout_id}/statement.csv",
    ] {
        let ok = &document["paths"][path]["get"]["responses"]["200"]["content"];
        assert!(ok["text/csv"].is_object(), "{path}: {ok}");
    }
    for path in ["/webhooks/stripe", "/webhooks/stripe/connect"] {
        let parameters = document["paths"][path]["post"]["parameters"]
            .as_array()
            .expect("parameters");
        assert!(
            parameters
                .iter()
                .any(|p| p["name"] == "Stripe-Signature" && p["in"] == "header"),
            "{path}"
        );
    }
}

/// An instant in an answer is RFC 3339 with an offset (`…Z`), as the
/// document's `date-time` says.
fn assert_rfc3339(value: &Value, at: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{at}: {value} is not a string"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "{at}: {text} is not RFC 3339"
    );
}

/// schemathesis finding 1: shops, fee rules, jobs, ledger postings, payouts,
/// statements and reconciliation reports wrote their instants as serde's
/// offset-less `2026-12-02T17:43:45.308086`, which is not a `date-time`.
#[tokio::test]
async fn every_instant_in_an_answer_is_rfc3339() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let ops = operator(&app).await;
    let shop: Value = post_as(
        &app,
        &seller,
        "/v1/shops",
        &json!({"name": "Clock Shop", "slug": "clock-shop", "country": "US",
                "default_currency": "USD", "support_email": "help@clock.example"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_rfc3339(&shop["created_at"], "shop.created_at");
    let id = shop["id"].as_str().unwrap();
    let statement: Value = get_as(&app, &seller, &format!("/v1/shops/{id}/statement"))
        .await
        .json()
        .await
        .unwrap();
    assert_rfc3339(&statement["from"], "statement.from");
    assert_rfc3339(&statement["to"], "statement.to");
    let rule = post_as(
        &app,
        &ops,
        "/v1/fee_rules",
        &json!({"scope": {"kind": "shop", "value": id}, "percentage": "5", "fixed": {"USD": 30},
                "processing_fee_payer": "platform", "refund_fee_proportionally": true}),
    )
    .await;
    let status = rule.status();
    let rule: Value = rule.json().await.unwrap();
    assert_eq!(status, 201, "{rule}");
    assert_rfc3339(&rule["created_at"], "rule.created_at");
    assert_rfc3339(&rule["version"]["effective_from"], "version.effective_from");
    let report = post_as(&app, &ops, "/v1/reconciliation/reports", &json!({})).await;
    assert_eq!(report.status(), 201);
    let report: Value = report.json().await.unwrap();
    assert_rfc3339(&report["started_at"], "report.started_at");
    assert_rfc3339(&report["finished_at"], "report.finished_at");
    let listed: Value = get_as(&app, &ops, "/v1/reconciliation/reports")
        .await
        .json()
        .await
        .unwrap();
    assert_rfc3339(&listed["data"][0]["started_at"], "summary.started_at");
}

/// schemathesis finding 2: a freeze reason of control characters only
/// (`"\u009c"`) was accepted and stored, and shown blank in the audit log.
#[tokio::test]
async fn a_freeze_reason_of_control_characters_is_refused() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let ops = operator(&app).await;
    let shop: Value = post_as(
        &app,
        &seller,
        "/v1/shops",
        &json!({"name": "Quiet Shop", "slug": "quiet-shop", "country": "US",
                "default_currency": "USD", "support_email": "help@quiet.example"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let freeze = format!("/v1/shops/{}/freeze", shop["id"].as_str().unwrap());
    for reason in ["\u{9c}", "fraud\u{0}review", "\t"] {
        let response = post_as(&app, &ops, &freeze, &json!({ "reason": reason })).await;
        let error = assert_error(response, 422, "invalid_value").await;
        assert_eq!(error["param"], "reason", "{reason:?}");
    }
    let response = post_as(&app, &ops, &freeze, &json!({"reason": "chargeback review"})).await;
    assert_eq!(response.status(), 200);
    let frozen: Value = response.json().await.unwrap();
    assert_eq!(frozen["frozen_reason"], "chargeback review");
}
