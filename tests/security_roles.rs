//! Authenticate, then authorise, then parse: every endpoint that takes a body
//! answers a caller without valid credentials 401 and a role it does not serve
//! 403 whatever the body, so the schema's field names are told only to callers
//! who may use it; allowed callers still get the body's 400/413/415/422.
//!
//! The endpoints come from `/openapi.json` (each operation with a request body
//! and its `x-roles`), so a new endpoint is covered the day it is documented.

use crate::common;

use common::people::{bearer, operator, signup, staff, Person};
use common::TestApp;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// An invalid body: what it is, its content type and bytes, and what an
/// allowed caller gets for it.
struct Invalid {
    name: &'static str,
    content_type: &'static str,
    bytes: Vec<u8>,
    allowed_statuses: &'static [u16],
}

fn invalid_bodies() -> Vec<Invalid> {
    // Past `server.body_bytes_max` (64 KiB by default).
    let mut large = br#"{"nonsense": ""#.to_vec();
    large.extend(std::iter::repeat_n(b'x', 70 * 1024));
    large.extend_from_slice(br#""}"#);
    vec![
        Invalid {
            name: "unknown field",
            content_type: "application/json",
            bytes: br#"{"nonsense": 1}"#.to_vec(),
            allowed_statuses: &[400, 422],
        },
        Invalid {
            name: "not JSON",
            content_type: "application/json",
            bytes: b"{nonsense".to_vec(),
            allowed_statuses: &[400],
        },
        Invalid {
            name: "not a JSON content type",
            content_type: "text/plain",
            bytes: b"nonsense".to_vec(),
            allowed_statuses: &[415],
        },
        Invalid {
            name: "too large",
            content_type: "application/json",
            bytes: large,
            allowed_statuses: &[413],
        },
    ]
}

/// Every (METHOD, path, roles, takes JSON) of an operation with a request body.
fn operations_with_body(document: &Value) -> Vec<(String, String, Vec<String>, bool)> {
    let paths = document["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            if operation.get("requestBody").is_none() {
                continue;
            }
            let roles = operation["x-roles"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path}: no x-roles"))
                .iter()
                .map(|role| role.as_str().unwrap().to_owned())
                .collect();
            let json = operation["requestBody"]["content"]
                .get("application/json")
                .is_some();
            found.push((method.to_uppercase(), path.clone(), roles, json));
        }
    }
    found
}

/// The path with each `{param}` replaced by a well-formed id that names nothing.
fn concrete(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .iter()
        .enumerate()
        .map(|(i, segment)| {
            if !segment.starts_with('{') {
                return (*segment).to_owned();
            }
            let prefix = match segments[i - 1] {
                "shops" => "shop",
                "products" => "prd",
                "orders" => "ord",
                "fee_rules" => "fr",
                "users" => "usr",
                "lines" => "cln",
                "api_keys" => "key",
                "payouts" => "po",
                "parts" => "opt",
                "returns" => "ret",
                "webhook_endpoints" => "we",
                "webhook_deliveries" => "wd",
                other => panic!("{path}: no id shape known after /{other}/"),
            };
            format!("{prefix}_00000000000000000000000000000000")
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Invalid,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method.parse().unwrap(), format!("{}{path}", app.address))
        .header("content-type", body.content_type)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .body(body.bytes.clone());
    if let Some(token) = token {
        request = request.header("authorization", bearer(token));
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// The error code of an error answer, for the failure list.
fn code(body: &Value) -> String {
    body["error"]["code"]
        .as_str()
        .map_or_else(|| body.to_string(), str::to_owned)
}

/// A session token of the right shape that no session has.
fn unknown_token(real: &str) -> String {
    let (prefix, secret) = real.split_at(real.rfind('_').expect("token prefix") + 1);
    format!("{prefix}{}", "0".repeat(secret.len()))
}

#[tokio::test]
async fn every_body_endpoint_authenticates_then_authorises_then_parses() {
    let app = TestApp::spawn().await;
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let ops = operator(&app).await;
    let people: Vec<Person> = vec![
        signup(&app, "buyer").await,
        signup(&app, "seller").await,
        staff(&app, &ops, "finance").await,
        staff(&app, &ops, "support").await,
        ops.clone(),
    ];
    let bad_token = unknown_token(&ops.token);
    let bodies = invalid_bodies();
    let operations = operations_with_body(&document);
    assert!(
        operations.len() >= 19,
        "only {} operations",
        operations.len()
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, roles, json) in &operations {
        if path.starts_with("/webhooks/") {
            continue; // signed, not bearer: see the next test
        }
        let target = concrete(path);
        let public = roles.iter().any(|role| role == "anyone");
        for body in &bodies {
            let at = format!("{method} {path} ({})", body.name);
            if public {
                let (status, answer) = send(&app, method, &target, None, body).await;
                checked += 1;
                if !body.allowed_statuses.contains(&status) {
                    failures.push(format!("{at} anonymously: {status} {}", code(&answer)));
                }
                continue;
            }
            // (a) Authentication first: no token, or one that names no session.
            for (who, token) in [("no token", None), ("unknown token", Some(&bad_token))] {
                let (status, answer) =
                    send(&app, method, &target, token.map(String::as_str), body).await;
                checked += 1;
                if status != 401 || code(&answer) != "unauthenticated" {
                    failures.push(format!("{at} with {who}: {status} {}", code(&answer)));
                }
            }
            for person in &people {
                let allowed = person.role == "operator" || roles.contains(&person.role);
                let (status, answer) = send(&app, method, &target, Some(&person.token), body).await;
                checked += 1;
                if allowed {
                    // (c) An allowed caller is told what is wrong with the body;
                    // every one of these is a JSON (or plain text) body, the
                    // wrong type for an endpoint that takes a CSV or a picture.
                    let expected: &[u16] = if *json { body.allowed_statuses } else { &[415] };
                    if !expected.contains(&status) {
                        failures.push(format!(
                            "{at} as allowed {}: {status} {}",
                            person.role,
                            code(&answer)
                        ));
                    }
                } else if status != 403 || code(&answer) != "forbidden" {
                    // (b) Authorisation before the body: every role check here is
                    // by role (`Caller::require`), none hides the endpoint as a 404.
                    failures.push(format!(
                        "{at} as {}: {status} {}",
                        person.role,
                        code(&answer)
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} answers wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Webhooks authenticate by signature: a body without one is refused before
/// it is parsed, whatever it holds.
#[tokio::test]
async fn webhooks_check_the_signature_before_the_body() {
    let app = TestApp::spawn().await;
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let webhooks: Vec<_> = operations_with_body(&document)
        .into_iter()
        .filter(|(_, path, _, _)| path.starts_with("/webhooks/"))
        .collect();
    assert_eq!(webhooks.len(), 2, "{webhooks:?}");
    for (method, path, _, _) in &webhooks {
        for body in invalid_bodies().iter().take(2) {
            let (status, answer) = send(&app, method, path, None, body).await;
            assert_eq!(
                (status, code(&answer).as_str()),
                (400, "missing_signature"),
                "{method} {path} ({}): {answer}",
                body.name
            );
        }
    }
}
