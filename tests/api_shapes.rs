//! One money shape, one time shape and objects rather than positional arrays
//! in every answer of the API: amounts are `{"minor", "currency"}`, instants
//! RFC 3339 strings in our clock. Checked twice: in what `/openapi.json`
//! promises for every response, and in real answers about payouts, an
//! onboarding link and the trial balance.

use crate::common;
use crate::orders_support;

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use common::people::{get_as, post_as, signup, staff};
use common::TestApp;
use orders_support::*;
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Properties whose names read like instants but are not: (schema, property, what it is).
const NOT_INSTANTS: &[(&str, &str, &str)] = &[(
    "ImportReport",
    "created",
    "how many products an import created",
)];

/// `*_minor` properties that are not an amount of one currency: (schema,
/// property, what it is).
const NOT_MONEY: &[(&str, &str, &str)] = &[
    (
        "FeeTerms",
        "min_minor",
        "a bound in the minor units of whichever currency a part is in",
    ),
    (
        "FeeTerms",
        "max_minor",
        "a bound in the minor units of whichever currency a part is in",
    ),
];

/// Names of instants that must be RFC 3339 strings, never numbers.
fn names_an_instant(property: &str) -> bool {
    ["_at", "_date", "_by"]
        .iter()
        .any(|suffix| property.ends_with(suffix))
        || matches!(property, "created" | "expires")
}

/// Whether a schema admits a JSON number (directly or through a `oneOf`,
/// `anyOf` or `allOf` member).
fn admits_a_number(schema: &Value) -> bool {
    let numeric = |t: &Value| matches!(t.as_str(), Some("integer" | "number"));
    let by_type = match &schema["type"] {
        Value::Array(types) => types.iter().any(numeric),
        t => numeric(t),
    };
    by_type
        || ["oneOf", "anyOf", "allOf"].iter().any(|key| {
            schema[key]
                .as_array()
                .is_some_and(|members| members.iter().any(admits_a_number))
        })
}

fn is_array(schema: &Value) -> bool {
    match &schema["type"] {
        Value::Array(types) => types.iter().any(|t| t == "array"),
        t => t == "array",
    }
}

/// What a schema, reached as `at`, breaks: a `*_minor` property, an instant as
/// a number, a tuple. Queues the components it refers to.
fn offences(schema: &Value, at: &str, queue: &mut VecDeque<String>, found: &mut Vec<String>) {
    match schema {
        Value::Array(items) => {
            for item in items {
                offences(item, at, queue, found);
            }
        }
        Value::Object(fields) => {
            if let Some(name) = fields
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                queue.push_back(name.to_owned());
            }
            if fields.contains_key("prefixItems") {
                found.push(format!("{at}: prefixItems (a positional tuple)"));
            }
            if is_array(schema) && fields.get("items").is_some_and(is_array) {
                found.push(format!("{at}: an array of arrays (positional tuples)"));
            }
            if let Some(properties) = fields.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    let not_money = NOT_MONEY
                        .iter()
                        .any(|(schema, property, _)| *schema == at && property == name);
                    if name.ends_with("_minor") && !not_money {
                        found.push(format!("{at}.{name}: an amount not shaped as Money"));
                    }
                    let exempt = NOT_INSTANTS
                        .iter()
                        .any(|(schema, property, _)| *schema == at && property == name);
                    if names_an_instant(name) && admits_a_number(property) && !exempt {
                        found.push(format!("{at}.{name}: an instant as a number"));
                    }
                    offences(property, &format!("{at}.{name}"), queue, found);
                }
            }
            for (key, value) in fields {
                if !matches!(key.as_str(), "properties" | "example" | "examples") {
                    offences(value, at, queue, found);
                }
            }
        }
        _ => {}
    }
}

/// Every offence in the schemas any response of the document can answer with.
fn response_offences(document: &Value) -> Vec<String> {
    let mut queue = VecDeque::new();
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(responses) = item[method]["responses"].as_object() else {
                continue;
            };
            for (status, response) in responses {
                let response = match response["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/responses/"))
                {
                    Some(name) => &document["components"]["responses"][name],
                    None => response,
                };
                let at = format!("{} {path} {status}", method.to_uppercase());
                offences(&response["content"], &at, &mut queue, &mut found);
            }
        }
    }
    let mut seen = BTreeSet::new();
    while let Some(name) = queue.pop_front() {
        if seen.insert(name.clone()) {
            let schema = &document["components"]["schemas"][&name];
            assert!(!schema.is_null(), "a $ref to a missing schema {name}");
            offences(schema, &name, &mut queue, &mut found);
        }
    }
    found.sort();
    found.dedup();
    found
}

#[tokio::test]
async fn the_document_promises_money_objects_and_rfc3339_instants_in_every_response() {
    let app = TestApp::spawn().await;
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let found = response_offences(&document);
    assert!(
        found.is_empty(),
        "{} offences:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_check_sees_each_offence() {
    let document = json!({
        "paths": {"/v1/x": {"get": {"responses": {"200": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/X"}}}}}}}},
        "components": {"schemas": {
            "X": {"type": "object", "properties": {
                "amount_minor": {"type": "integer"},
                "arrival_date": {"type": ["integer", "null"]},
                "expires_at": {"oneOf": [{"type": "null"}, {"type": "integer"}]},
                "pairs": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                "inner": {"$ref": "#/components/schemas/Y"}}},
            "Y": {"type": "object", "additionalProperties": {"type": "array", "prefixItems": []}},
        }},
    });
    let found = response_offences(&document);
    assert_eq!(found.len(), 5, "{found:#?}");
}

fn rfc3339(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn usd(minor: i64) -> Value {
    json!({"minor": minor, "currency": "USD"})
}

/// A payout as the API shows it: its amount as Money, its arrival date in
/// RFC 3339, its history as objects.
fn assert_payout_shape(payout: &Value, amount: i64, last_status: &str) {
    assert_eq!(payout["amount"], usd(amount), "{payout}");
    assert!(payout.get("amount_minor").is_none(), "{payout}");
    assert!(payout.get("currency").is_none(), "{payout}");
    rfc3339(&payout["arrival_date"]);
    let history = payout["history"].as_array().unwrap();
    assert!(!history.is_empty(), "{payout}");
    for seen in history {
        let keys: BTreeSet<&str> = seen
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["at", "status"]), "{payout}");
        rfc3339(&seen["at"]);
    }
    assert_eq!(history.last().unwrap()["status"], last_status, "{payout}");
}

#[tokio::test]
async fn payouts_links_and_the_trial_balance_answer_in_the_shared_shapes() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    // The sandbox's clock moves four days ahead of ours.
    let TwoPayouts {
        ann,
        shop_a,
        paid,
        failed,
        ..
    } = a_vase_and_a_bowl_paid_out(&app, &market).await;
    let (share_a, share_b) = (3000 - market_fee(3000), 2000 - market_fee(2000));
    assert_payout_shape(&paid, share_a, "paid");
    assert_payout_shape(&failed, share_b, "failed");

    // Staff's list, and the paid one's lines: every amount Money.
    let support = staff(&app, &market.operator, "support").await;
    let all = json_of(get_as(&app, &support, "/v1/payouts").await, 200).await;
    let listed = all["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{all}");
    assert_payout_shape(&listed[0], share_b, "failed");
    assert_payout_shape(&listed[1], share_a, "paid");
    let payout_id = paid["id"].as_str().unwrap();
    // A paid payout's lines are matched just after its status is recorded.
    let mut lines = Vec::new();
    for _ in 0..200 {
        let list = payouts_of(&app, &ann, &shop_a).await;
        lines = list[0]["lines"].as_array().cloned().unwrap_or_default();
        if !lines.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut net = 0;
    for line in &lines {
        for field in ["amount", "fee", "net", "ledger"] {
            assert_eq!(line[field]["currency"], "USD", "{line}");
            assert!(line.get(format!("{field}_minor")).is_none(), "{line}");
        }
        assert_eq!(line["ledger"], line["net"], "{line}");
        net += line["net"]["minor"].as_i64().unwrap();
    }
    assert_eq!(net, share_a, "{lines:?}");

    // One payout: its statement.
    let statement = json_of(
        get_as(
            &app,
            &ann,
            &format!(
                "/v1/shops/{}/payouts/{payout_id}/statement",
                shop_a["id"].as_str().unwrap()
            ),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(statement["payout"]["amount"], usd(share_a), "{statement}");
    rfc3339(&statement["payout"]["arrival_date"]);
    assert_eq!(statement["total"], usd(share_a), "{statement}");
    let part = &statement["lines"][0]["part"];
    assert_eq!(part["subtotal"], usd(3000), "{statement}");
    assert_eq!(part["platform_fee"], usd(market_fee(3000)), "{statement}");
    assert_eq!(part["seller_amount"], usd(share_a), "{statement}");

    // An onboarding link expires in our clock, not the sandbox's four days on.
    let carl = signup(&app, "seller").await;
    let body = json!({"name": "Kiln", "slug": format!("kiln-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]), "country": "US", "default_currency": "USD", "support_email": "k@kiln.example"});
    let shop = json_of(post_as(&app, &carl, "/v1/shops", &body).await, 201).await;
    let asked_at = Utc::now();
    let link = json_of(
        post_as(
            &app,
            &carl,
            &format!("/v1/shops/{}/onboarding_link", shop["id"].as_str().unwrap()),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    let expires_at = rfc3339(&link["expires_at"]);
    let lifetime = expires_at - asked_at;
    assert!(
        lifetime > chrono::Duration::zero() && lifetime <= chrono::Duration::minutes(10),
        "a link asked for at {asked_at} expires at {expires_at}"
    );

    // The paid-out shop's balance: every figure Money, the paid-out share
    // computed here.
    let balance = json_of(
        get_as(
            &app,
            &ann,
            &format!("/v1/shops/{}/balance", shop_a["id"].as_str().unwrap()),
        )
        .await,
        200,
    )
    .await;
    let figures = balance["currencies"]["USD"].as_object().unwrap();
    assert!(figures.len() >= 5, "{balance}");
    for (name, figure) in figures {
        assert_eq!(figure["currency"], "USD", "{name}: {balance}");
        assert!(figure["minor"].is_i64(), "{name}: {balance}");
    }
    assert_eq!(figures["paid_out"], usd(share_a), "{balance}");
    assert_eq!(figures["fees_charged"], usd(market_fee(3000)), "{balance}");

    // The trial balance: per currency, named debits and credits as Money.
    let finance = staff(&app, &market.operator, "finance").await;
    let trial = json_of(
        get_as(&app, &finance, "/v1/ledger/trial-balance").await,
        200,
    )
    .await;
    let totals = trial["totals"].as_object().unwrap();
    assert_eq!(totals.keys().collect::<Vec<_>>(), ["USD"], "{trial}");
    let usd_totals = &totals["USD"];
    let keys: BTreeSet<&str> = usd_totals
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["credits", "debits"]), "{trial}");
    assert_eq!(usd_totals["debits"], usd_totals["credits"], "{trial}");
    assert_eq!(usd_totals["debits"]["currency"], "USD", "{trial}");
    // Every posting's debit side, summed here from the accounts.
    let debits: i64 = trial["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["debits"]["minor"].as_i64().unwrap())
        .sum();
    assert_eq!(usd_totals["debits"]["minor"], debits, "{trial}");
    assert!(debits >= 5000, "at least the buyer's payment: {trial}");
}
