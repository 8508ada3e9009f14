//! CSV formula injection: text that reaches a CSV export and starts with
//! `=`, `+`, `-`, `@`, a tab or a carriage return must not open as a live
//! formula in the finance team's spreadsheet. Every export is downloaded as
//! every role allowed to read it, parsed back with a real CSV reader, and no
//! cell may start with a hostile character unless it is a (negative) integer
//! written by the server; the hostile text itself comes back behind a `'`.
//!
//! What free text reaches the exports: the buyer's email (`orders.csv`; an
//! address may start with `=`, `+` or `-`), and a ledger posting's description
//! (`statement.csv`; a finance adjustment's description is free text). The
//! other columns are ids, enums, currencies, instants, amounts, or the
//! provider's ids and codes.

use crate::common;
use crate::orders_support;

use common::people::{get_as, login_token, post_signup, staff, Person, PASSWORD};
use common::TestApp;
use orders_support::*;
use serde_json::json;

/// The starts a spreadsheet reads as a formula (OWASP, CSV injection).
const HOSTILE: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

const LINK: &str = r#"=HYPERLINK("http://evil.example/phish","Payout details")"#;

/// A text carrying `prefix` in front of a formula: for the whitespace
/// prefixes (which the API trims) the formula is still what is left.
fn hostile(prefix: char, formula: &str) -> String {
    match prefix {
        '=' => formula.to_owned(),
        _ => format!("{prefix}{formula}"),
    }
}

/// A server-written integer: an amount, possibly negative.
fn is_integer(cell: &str) -> bool {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Every record of a CSV answer (header included), read by the `csv` crate.
async fn records_of(app: &TestApp, person: &Person, path: &str) -> Vec<Vec<String>> {
    let response = get_as(app, person, path).await;
    assert_eq!(response.status(), 200, "{path} as {}", person.role);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// Checks one export: no cell opens as a formula, and returns its cells.
async fn safe_cells(app: &TestApp, person: &Person, path: &str) -> Vec<String> {
    let records = records_of(app, person, path).await;
    assert!(records.len() > 1, "{path}: a header and rows");
    let cells: Vec<String> = records.into_iter().flatten().collect();
    for cell in &cells {
        assert!(
            !cell.starts_with(HOSTILE) || is_integer(cell),
            "{path} as {}: the cell {cell:?} would open as a formula",
            person.role
        );
    }
    cells
}

#[tokio::test]
async fn every_csv_export_neutralises_formulas_in_text_cells() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let finance = staff(&app, &market.operator, "finance").await;
    let support = staff(&app, &market.operator, "support").await;
    let (ann, shop, bob, closed) = a_seller_and_one_with_a_closed_bank(&app).await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let closed_id = closed["id"].as_str().unwrap().to_owned();
    let vase = product(&app, &ann, &shop, "Vase", 3000, 50).await;
    let cup = product(&app, &bob, &closed, "Cup", 1250, 50).await;

    // Buyers whose address starts with each prefix the API lets through
    // (`@` cannot start an address; a tab or CR is trimmed off).
    let mut expected_emails = Vec::new();
    let mut first_order = None;
    for (i, prefix) in HOSTILE.into_iter().enumerate() {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let email = hostile(prefix, &format!("=cmd|'/c_calc'!a0-{tag}@evil.example"));
        let response = post_signup(&app, &email, PASSWORD, "buyer").await;
        if response.status() == 422 {
            continue; // refused: this start cannot reach an export
        }
        assert_eq!(response.status(), 202, "sign-up as {email:?}");
        let stored = email.trim().to_ascii_lowercase();
        let verified = common::people::verification_token(&app, &stored).await;
        let verified = common::people::post_verification(&app, &verified).await;
        assert_eq!(verified.status(), 200, "verification of {stored:?}");
        let buyer = Person {
            token: login_token(&app, &stored, PASSWORD, None).await,
            user_id: String::new(),
            email: stored.clone(),
            role: "buyer".into(),
            totp_secret: None,
        };
        add_to_cart(&app, &buyer, &vase, 2).await;
        add_to_cart(&app, &buyer, &cup, 1).await;
        let order = checkout_ok(&app, &buyer, &format!("o{i}"), Some("pm_card_visa")).await;
        first_order.get_or_insert(order);
        expected_emails.push(format!("'{stored}"));
    }
    assert!(
        expected_emails.len() >= 3,
        "=, + and - start an address the API accepts"
    );

    // One vase comes back: the seller's portion is taken back by a reversal,
    // a negative line on its payout statement that must stay a number.
    let first = first_order.unwrap();
    let line = &first["parts"][0]["lines"][0];
    let path = format!("/v1/orders/{}/refunds", first["id"].as_str().unwrap());
    let body = json!({"lines": [{"line_id": line["id"], "quantity": 1}], "restock": true});
    json_of(post_keyed(&app, &support, &path, "r1", &body).await, 201).await;

    // Finance adjusts each shop with a description starting with each
    // prefix, and one that reads like a negative amount: text all the same.
    let descriptions = HOSTILE
        .into_iter()
        .map(|prefix| hostile(prefix, LINK))
        .chain(["-500".to_owned()]);
    let mut expected_descriptions = Vec::new();
    for (i, description) in descriptions.enumerate() {
        for (j, id) in [&shop_id, &closed_id].into_iter().enumerate() {
            let body = json!({
                "description": description,
                "currency": "USD",
                "postings": [
                    {"account": "platform:adjustments", "debit_minor": 1},
                    {"account": format!("shop:{id}:payable"), "credit_minor": 1},
                ],
            });
            let response = post_keyed(
                &app,
                &finance,
                "/v1/ledger/adjustments",
                &format!("adj-{i}-{j}"),
                &body,
            )
            .await;
            if response.status() == 422 {
                continue; // refused: this start cannot reach an export
            }
            json_of(response, 201).await;
        }
        expected_descriptions.push(format!("'{}", description.trim()));
    }

    let (paid, failed) = four_days_of_payouts(&app, (&ann, &shop), (&bob, &closed)).await;
    let operator = &market.operator;

    // orders.csv: finance, support, operator.
    for person in [&finance, &support, operator] {
        let cells = safe_cells(&app, person, "/v1/exports/orders.csv").await;
        for expected in &expected_emails {
            assert!(
                cells.contains(expected),
                "orders.csv as {}: {expected:?} neutralised",
                person.role
            );
        }
    }
    // fees.csv: finance, operator.
    for person in [&finance, operator] {
        safe_cells(&app, person, "/v1/exports/fees.csv").await;
    }
    // payouts.csv: finance, support, operator (a failed payout has a code).
    for person in [&finance, &support, operator] {
        let cells = safe_cells(&app, person, "/v1/exports/payouts.csv").await;
        assert!(cells.iter().any(|c| c == failed["id"].as_str().unwrap()));
    }
    // The period statements: the shop's seller, finance, support, operator.
    let mut negatives = 0;
    for (seller, id) in [(&ann, &shop_id), (&bob, &closed_id)] {
        let path = format!("/v1/shops/{id}/statement.csv");
        for person in [seller, &finance, &support, operator] {
            let cells = safe_cells(&app, person, &path).await;
            for expected in &expected_descriptions {
                assert!(
                    cells.contains(expected),
                    "{path} as {}: {expected:?} neutralised",
                    person.role
                );
            }
            assert!(cells.iter().any(|c| c == &format!("'{LINK}")));
        }
    }
    // The payout statements (every payout of each shop): the shop's seller,
    // finance, support, operator.
    assert_eq!(
        (paid["status"].as_str(), failed["status"].as_str()),
        (Some("paid"), Some("failed"))
    );
    for (seller, shop) in [(&ann, &shop), (&bob, &closed)] {
        for payout in payouts_of(&app, seller, shop).await {
            let path = format!(
                "/v1/shops/{}/payouts/{}/statement.csv",
                shop["id"].as_str().unwrap(),
                payout["id"].as_str().unwrap()
            );
            for person in [seller, &finance, &support, operator] {
                let cells = safe_cells(&app, person, &path).await;
                negatives += cells
                    .iter()
                    .filter(|c| c.starts_with('-') && is_integer(c))
                    .count();
            }
        }
    }
    assert!(
        negatives > 0,
        "a negative amount is written as a plain number"
    );
}
