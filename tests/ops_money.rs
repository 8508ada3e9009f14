//! The console's money pages: finance reads the books (accounts, an
//! account, an entry, the trial balance, P&L and fee revenue with their
//! charts, the CSV downloads) and posts an adjustment through the form,
//! once however often it is sent; support sees every shop's payouts (a
//! failed one first, with what its seller must do) but none of the books;
//! buyers and sellers find no console; a reconciliation run from its page
//! is clean on a quiet marketplace. Every amount is computed here.

use crate::common;
use crate::orders_support;
use crate::web_support;

use std::collections::BTreeMap;

use bazaar::money::{Currency, Money};
use bazaar::web::format;
use common::people::{audit_rows, get_as, signup, staff, Person};
use common::TestApp;
use orders_support::*;
use serde_json::Value;
use web_support::{console, signed_in, Browser, Page};

fn usd(minor: i64) -> String {
    format::price(Money::new(minor, Currency::parse("USD").unwrap()))
}

/// The sandbox's card fee: 2.9 % (half up) + 30.
fn card_fee(amount: i64) -> i64 {
    (amount * 290 + 5_000) / 10_000 + 30
}

/// The text of every element whose opening tag carries `marker`.
fn texts_of(page: &Page, marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = page.body.as_str();
    while let Some(at) = rest.find(marker) {
        let start = rest[..at].rfind('<').unwrap();
        let tag = rest[start + 1..]
            .split([' ', '>'])
            .next()
            .unwrap()
            .to_owned();
        let open_end = rest[at..].find('>').unwrap() + at + 1;
        let close = rest[open_end..].find(&format!("</{tag}>")).unwrap() + open_end;
        out.push(web_support::strip_tags(&rest[open_end..close]));
        rest = &rest[close..];
    }
    out
}

fn csv_rows(body: &str) -> Vec<BTreeMap<String, String>> {
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

async fn trial(app: &TestApp, finance: &Person) -> Value {
    json_of(get_as(app, finance, "/v1/ledger/trial-balance").await, 200).await
}

/// The adjustment form's fields, from a freshly drawn form (its CSRF token
/// and its idempotency key) and the lines given.
fn adjustment_form(form: &Page, lines: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut fields = vec![
        ("csrf_token".to_owned(), form.input("csrf_token")),
        ("idempotency_key".to_owned(), form.input("idempotency_key")),
    ];
    fields.extend(
        lines
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    fields
}

async fn post_fields(browser: &mut Browser<'_>, path: &str, fields: &[(String, String)]) -> Page {
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post(path, &borrowed).await
}

#[tokio::test]
async fn finance_reads_the_books_and_posts_an_adjustment_once() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let (ann, bob) = (signup(&app, "seller").await, signup(&app, "seller").await);
    let shop_a = active_shop(&app, &ann, "USD").await;
    let shop_b = active_shop(&app, &bob, "USD").await;
    let mug = product(&app, &ann, &shop_a, "Mug", 1250, 10).await;
    let book = product(&app, &bob, &shop_b, "Book", 1999, 10).await;
    add_to_cart(&app, &market.buyer, &mug, 2).await;
    add_to_cart(&app, &market.buyer, &book, 1).await;
    checkout_ok(&app, &market.buyer, "o1", Some("pm_card_visa")).await;
    add_to_cart(&app, &market.buyer, &mug, 1).await;
    checkout_ok(&app, &market.buyer, "o2", Some("pm_card_visa")).await;
    let finance = staff(&app, &market.operator, "finance").await;
    // Computed here: the market's fee on each part, the card fee on each charge.
    let fees = market_fee(2500) + market_fee(1999) + market_fee(1250);
    let fees_a = market_fee(2500) + market_fee(1250);
    let card = card_fee(2500 + 1999) + card_fee(1250);

    let mut browser = console(&app, &finance).await;
    let index = browser.get("/ops/money").await;
    assert_eq!(index.status, 200, "{}", index.body);
    for href in [
        "/ops/money/payouts",
        "/ops/money/ledger",
        "/ops/money/trial-balance",
        "/ops/money/adjustments",
        "/ops/money/reconciliation",
        "/ops/money/reports",
        "/ops/money/exports/fees.csv",
    ] {
        assert!(index.shows(&format!("href=\"{href}\"")), "{href}");
    }

    // P&L and fee revenue: the figures computed here, charted and tabled.
    let reports = browser.get("/ops/money/reports").await;
    assert_eq!(reports.status, 200, "{}", reports.body);
    let figure = |field: &str| texts_of(&reports, &format!("data-pnl=\"USD-{field}\""))[0].clone();
    assert_eq!(figure("fees_earned"), usd(fees));
    assert_eq!(figure("processing_fees"), usd(card));
    assert_eq!(figure("refunds_borne"), usd(0));
    assert_eq!(figure("net"), usd(fees - card));
    // A chart of the P&L lines, one of its days, two of fee revenue; each an
    // image with its words.
    assert_eq!(reports.body.matches("<svg role=\"img\"").count(), 4);
    assert!(reports.shows("aria-labelledby=\"pnl-usd-title pnl-usd-desc\""));
    assert!(reports.shows("aria-labelledby=\"fees-usd-shops-title fees-usd-shops-desc\""));
    // Fee revenue by shop: names linking to the shops, most first.
    let shop_a_id = shop_a["id"].as_str().unwrap();
    let first_row = texts_of(&reports, "data-shop-revenue")[0].clone();
    assert!(
        first_row.starts_with(shop_a["name"].as_str().unwrap()),
        "{first_row}"
    );
    assert!(reports.shows(&format!("href=\"/ops/shops/{shop_a_id}\"")));
    let shop_fees = texts_of(&reports, "data-fees");
    assert_eq!(shop_fees[0], usd(fees_a));
    assert_eq!(shop_fees[1], usd(market_fee(1999)));
    // A period that is no period is the form again, with the message beside it.
    let bad = browser
        .get("/ops/money/reports?from=2026-02-01&to=2026-01-01")
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.shows("id=\"from-error\""), "{}", bad.body);
    let bad = browser.get("/ops/money/reports?from=yesterday").await;
    assert_eq!(bad.status, 422);

    // The ledger: accounts, the trial balance in words.
    let accounts = browser.get("/ops/money/ledger").await;
    assert_eq!(accounts.status, 200, "{}", accounts.body);
    let fee_row = texts_of(&accounts, "data-account=\"platform:fee_revenue:USD\"");
    assert!(fee_row[0].contains(&usd(fees)), "{fee_row:?}");
    assert!(accounts.shows(&format!("data-account=\"shop:{shop_a_id}:payable:USD\"")));
    let before = trial(&app, &finance).await;
    let fee_revenue_before = balance_in(&before, "platform:fee_revenue");
    assert_eq!(fee_revenue_before, fees);
    let (debits, credits) = (
        before["totals"]["USD"]["debits"]["minor"].as_i64().unwrap(),
        before["totals"]["USD"]["credits"]["minor"]
            .as_i64()
            .unwrap(),
    );
    let balance_page = browser.get("/ops/money/trial-balance").await;
    assert_eq!(balance_page.status, 200);
    assert!(balance_page.shows(&format!(
        "In USD, debits ({}) equal credits ({}): the ledger balances.",
        usd(debits),
        usd(credits)
    )));

    // An adjustment through the form: a goodwill credit of 12.34.
    let form = browser.get("/ops/money/adjustments").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let good = adjustment_form(
        &form,
        &[
            ("description", "Goodwill for a late parcel"),
            ("currency", "USD"),
            ("account_1", "platform:adjustments"),
            ("debit_1", "12.34"),
            ("account_2", "platform:fee_revenue"),
            ("credit_2", "12.34"),
        ],
    );
    let posted = post_fields(&mut browser, "/ops/money/adjustments", &good).await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    let entry_path = posted.location().to_owned();
    assert!(
        entry_path.starts_with("/ops/money/ledger/entries/je_")
            && entry_path.ends_with("?done=posted"),
        "{entry_path}"
    );
    // Sent again (a double press): the same entry, nothing new posted.
    let again = post_fields(&mut browser, "/ops/money/adjustments", &good).await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(again.location(), entry_path);
    let after = trial(&app, &finance).await;
    assert_eq!(balance_in(&after, "platform:adjustments"), 1234);
    assert_eq!(balance_in(&after, "platform:fee_revenue"), fees + 1234);
    assert_eq!(after["totals"]["USD"]["debits"]["minor"], debits + 1234);
    assert_eq!(
        after["totals"]["USD"]["debits"],
        after["totals"]["USD"]["credits"]
    );
    let audited = audit_rows(&app, &market.operator, "ledger.adjustment").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["actor_user_id"], finance.user_id.as_str());
    assert_eq!(
        audited[0]["after"]["description"],
        "Goodwill for a late parcel"
    );
    assert_eq!(audited[0]["after"]["postings"][0]["debit_minor"], 1234);
    let entry = browser.get(&entry_path).await;
    assert_eq!(entry.status, 200, "{}", entry.body);
    assert!(entry.shows("The adjustment is posted"));
    assert_eq!(
        texts_of(&entry, "data-description")[0],
        "Goodwill for a late parcel"
    );
    assert_eq!(texts_of(&entry, "data-debit")[0], usd(1234));
    assert!(entry.shows("In USD, debits ($12.34) equal credits ($12.34)"));
    let account = browser
        .get("/ops/money/ledger/accounts/platform:adjustments:USD")
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    assert_eq!(texts_of(&account, "data-balance")[0], usd(1234));
    assert_eq!(texts_of(&account, "data-posting").len(), 1);
    let balance_page = browser.get("/ops/money/trial-balance").await;
    assert!(balance_page.shows(&format!(
        "In USD, debits ({}) equal credits ({}): the ledger balances.",
        usd(debits + 1234),
        usd(credits + 1234)
    )));

    // Bad adjustments: the form again with the message beside the field, a
    // 422, nothing posted.
    let form = browser.get("/ops/money/adjustments").await;
    let unbalanced = adjustment_form(
        &form,
        &[
            ("description", "Wrong sums"),
            ("currency", "USD"),
            ("account_1", "platform:adjustments"),
            ("debit_1", "10.00"),
            ("account_2", "platform:fee_revenue"),
            ("credit_2", "9.00"),
        ],
    );
    let refused = post_fields(&mut browser, "/ops/money/adjustments", &unbalanced).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.shows("The debits ($10.00) must equal the credits ($9.00)."),
        "{}",
        refused.body
    );
    assert!(
        refused.shows("value=\"Wrong sums\""),
        "what was typed stays"
    );
    let form = browser.get("/ops/money/adjustments").await;
    let not_a_number = adjustment_form(
        &form,
        &[
            ("description", "Typo"),
            ("currency", "USD"),
            ("account_1", "platform:adjustments"),
            ("debit_1", "12,5O"),
            ("account_2", "platform:fee_revenue"),
            ("credit_2", "12.50"),
        ],
    );
    let refused = post_fields(&mut browser, "/ops/money/adjustments", &not_a_number).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("id=\"debit_1-error\""), "{}", refused.body);
    let form = browser.get("/ops/money/adjustments").await;
    let cash = adjustment_form(
        &form,
        &[
            ("description", "Into the cash"),
            ("currency", "USD"),
            ("account_1", "platform:cash"),
            ("debit_1", "1.00"),
            ("account_2", "platform:fee_revenue"),
            ("credit_2", "1.00"),
        ],
    );
    let refused = post_fields(&mut browser, "/ops/money/adjustments", &cash).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("id=\"account_1-error\""), "{}", refused.body);
    // A form whose CSRF token is not this browser's: refused, nothing posted.
    let form = browser.get("/ops/money/adjustments").await;
    let mut forged = adjustment_form(
        &form,
        &[
            ("description", "Forged"),
            ("currency", "USD"),
            ("account_1", "platform:adjustments"),
            ("debit_1", "5.00"),
            ("account_2", "platform:fee_revenue"),
            ("credit_2", "5.00"),
        ],
    );
    forged[0].1 = "not-the-token".to_owned();
    let refused = post_fields(&mut browser, "/ops/money/adjustments", &forged).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let unchanged = trial(&app, &finance).await;
    assert_eq!(balance_in(&unchanged, "platform:adjustments"), 1234);
    assert_eq!(unchanged["totals"], after["totals"]);
    assert_eq!(
        audit_rows(&app, &market.operator, "ledger.adjustment")
            .await
            .len(),
        1
    );

    // The downloads: CSV, the API's rows.
    let fees_csv = browser.get("/ops/money/exports/fees.csv").await;
    assert_eq!(fees_csv.status, 200, "{}", fees_csv.body);
    assert!(fees_csv.header("content-type").starts_with("text/csv"));
    let rows = csv_rows(&fees_csv.body);
    assert_eq!(rows.len(), 3, "one row per part");
    let exported: i64 = rows
        .iter()
        .map(|r| r["platform_fee_minor"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(exported, fees);
    let orders_csv = browser.get("/ops/money/exports/orders.csv").await;
    assert_eq!(orders_csv.status, 200);
    assert!(orders_csv.header("content-type").starts_with("text/csv"));
    let rows = csv_rows(&orders_csv.body);
    assert_eq!(rows.len(), 2);
    let totals: i64 = rows
        .iter()
        .map(|r| r["total_minor"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(totals, 2500 + 1999 + 1250);
    let bad = browser
        .get("/ops/money/exports/orders.csv?status=lost")
        .await;
    assert_eq!(bad.status, 400);
    let payouts_csv = browser.get("/ops/money/exports/payouts.csv").await;
    assert_eq!(payouts_csv.status, 200);
    assert!(payouts_csv.header("content-type").starts_with("text/csv"));
    assert!(payouts_csv.body.starts_with("payout_id,shop_id"));
}

#[tokio::test]
async fn support_sees_every_payout_but_none_of_the_books() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let (ann, shop, bob, bobs_shop) = a_seller_and_one_with_a_closed_bank(&app).await;
    let vase = product(&app, &ann, &shop, "Vase", 3000, 10).await;
    let bowl = product(&app, &bob, &bobs_shop, "Bowl", 2000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    add_to_cart(&app, &market.buyer, &bowl, 1).await;
    checkout_ok(&app, &market.buyer, "one", Some("pm_card_visa")).await;
    let (paid, failed) = four_days_of_payouts(&app, (&ann, &shop), (&bob, &bobs_shop)).await;
    let support = staff(&app, &market.operator, "support").await;
    let finance = staff(&app, &market.operator, "finance").await;
    let books_before = trial(&app, &finance).await;

    let mut browser = console(&app, &support).await;
    let index = browser.get("/ops/money").await;
    assert_eq!(index.status, 200, "{}", index.body);
    assert!(index.shows("href=\"/ops/money/payouts\""));
    assert!(index.shows("href=\"/ops/money/exports/orders.csv\""));
    for hidden in [
        "/ops/money/ledger",
        "/ops/money/trial-balance",
        "/ops/money/adjustments",
        "/ops/money/reconciliation",
        "/ops/money/reports",
        "/ops/money/exports/fees.csv",
    ] {
        assert!(!index.shows(&format!("href=\"{hidden}\"")), "{hidden}");
    }

    // Every shop's payouts, the failed one first with what its seller must do.
    let payouts = browser.get("/ops/money/payouts").await;
    assert_eq!(payouts.status, 200, "{}", payouts.body);
    let ids = texts_of(&payouts, "data-status");
    assert_eq!(ids[0], "Failed", "{ids:?}");
    assert!(ids.iter().any(|s| s == "Paid"), "{ids:?}");
    let failed_id = failed["id"].as_str().unwrap();
    let failed_at = payouts.body.find(&format!("data-payout=\"{failed_id}\""));
    let paid_at = payouts
        .body
        .find(&format!("data-payout=\"{}\"", paid["id"].as_str().unwrap()));
    assert!(failed_at.is_some() && paid_at.is_some() && failed_at < paid_at);
    assert!(payouts.shows(bobs_shop["name"].as_str().unwrap()));
    assert!(payouts.shows(&format!(
        "href=\"/ops/shops/{}\"",
        bobs_shop["id"].as_str().unwrap()
    )));
    assert_eq!(
        texts_of(&payouts, "data-action")[0],
        "Update the bank account in your onboarding link; the money stays on your balance and is paid out again."
    );
    assert_eq!(
        texts_of(&payouts, "data-amount")[0],
        usd(failed["amount"]["minor"].as_i64().unwrap())
    );
    let only_failed = browser.get("/ops/money/payouts?status=failed").await;
    assert_eq!(only_failed.status, 200);
    assert_eq!(
        texts_of(&only_failed, "data-status"),
        vec!["Failed".to_owned()]
    );
    let bad = browser.get("/ops/money/payouts?status=lost").await;
    assert_eq!(bad.status, 422);
    assert!(bad.shows("id=\"status-error\""));
    let csv = browser
        .get("/ops/money/exports/payouts.csv?status=failed")
        .await;
    assert_eq!(csv.status, 200);
    let rows = csv_rows(&csv.body);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["payout_id"], failed_id);
    assert_eq!(rows[0]["status"], "failed");

    // The books are finance's: 403, and nothing changes.
    for path in [
        "/ops/money/ledger",
        "/ops/money/ledger/accounts/platform:fee_revenue:USD",
        "/ops/money/trial-balance",
        "/ops/money/adjustments",
        "/ops/money/reconciliation",
        "/ops/money/reports",
        "/ops/money/exports/fees.csv",
    ] {
        assert_eq!(browser.get(path).await.status, 403, "{path}");
    }
    let token = browser.get("/ops/money").await.input("csrf_token");
    let adjustment = browser
        .post(
            "/ops/money/adjustments",
            &[
                ("csrf_token", token.as_str()),
                ("idempotency_key", "support-try"),
                ("description", "Not mine to post"),
                ("currency", "USD"),
                ("account_1", "platform:adjustments"),
                ("debit_1", "1.00"),
                ("account_2", "platform:fee_revenue"),
                ("credit_2", "1.00"),
            ],
        )
        .await;
    assert_eq!(adjustment.status, 403, "{}", adjustment.body);
    let run = browser
        .post(
            "/ops/money/reconciliation",
            &[("csrf_token", token.as_str())],
        )
        .await;
    assert_eq!(run.status, 403, "{}", run.body);
    let books_after = trial(&app, &finance).await;
    assert_eq!(books_after["totals"], books_before["totals"]);
    assert!(audit_rows(&app, &market.operator, "ledger.adjustment")
        .await
        .is_empty());
    assert!(audit_rows(&app, &market.operator, "reconciliation.run")
        .await
        .is_empty());
    let reports = json_of(
        get_as(&app, &finance, "/v1/reconciliation/reports").await,
        200,
    )
    .await;
    assert_eq!(reports["data"].as_array().unwrap().len(), 0);

    // Buyers and sellers find no console.
    for person in [&market.buyer, &ann] {
        let mut theirs = signed_in(&app, person).await;
        for path in [
            "/ops/money",
            "/ops/money/payouts",
            "/ops/money/exports/payouts.csv",
        ] {
            assert_eq!(theirs.get(path).await.status, 404, "{path}");
        }
    }
    // Nobody signed in is sent to sign in first.
    let mut stranger = Browser::new(&app);
    let page = stranger.get("/ops/money/payouts?status=failed").await;
    assert_eq!(page.status, 303);
    assert!(
        page.location().starts_with("/signin?next="),
        "{}",
        page.location()
    );
}

#[tokio::test]
async fn a_reconciliation_run_from_its_page_is_clean_on_a_quiet_marketplace() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let vase = product(&app, &seller, &shop, "Vase", 4000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    let finance = staff(&app, &market.operator, "finance").await;
    // Quiet: the transfer's funds wait on the seller's account, as at the provider.
    let pending = format!("shop:{}:connected_pending", shop["id"].as_str().unwrap());
    common::wait_until(|| async {
        balance_in(&trial(&app, &finance).await, &pending) == 4000 - market_fee(4000)
    })
    .await;

    let mut browser = console(&app, &finance).await;
    let list = browser.get("/ops/money/reconciliation").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.shows("No reconciliation has been run yet."));
    let ran = browser
        .submit(
            "/ops/money/reconciliation",
            "/ops/money/reconciliation",
            &[],
        )
        .await;
    assert_eq!(ran.status, 303, "{}", ran.body);
    let report_path = ran.location().to_owned();
    let id = report_path
        .strip_prefix("/ops/money/reconciliation/")
        .expect("to the report")
        .to_owned();
    let report = browser.get(&report_path).await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(report.shows("data-clean"), "{}", report.body);
    assert!(report.shows("No differences:"));
    let list = browser.get("/ops/money/reconciliation").await;
    assert!(list.shows(&format!("href=\"/ops/money/reconciliation/{id}\"")));
    assert_eq!(texts_of(&list, "data-differences")[0], "None");
    let latest = browser.get("/ops/money/reconciliation/latest").await;
    assert_eq!(latest.status, 200);
    assert!(latest.shows(&id));
    assert_eq!(
        browser
            .get("/ops/money/reconciliation/rec_nope")
            .await
            .status,
        404
    );
    // Audited as the API's run: finance, the report, its differences.
    let audited = audit_rows(&app, &market.operator, "reconciliation.run").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["actor_user_id"], finance.user_id.as_str());
    assert_eq!(audited[0]["subject"], id.as_str());
    assert_eq!(audited[0]["after"]["differences"], 0);
    // A forged run changes nothing.
    let forged = browser
        .post("/ops/money/reconciliation", &[("csrf_token", "forged")])
        .await;
    assert_eq!(forged.status, 403);
    let reports = json_of(
        get_as(&app, &finance, "/v1/reconciliation/reports").await,
        200,
    )
    .await;
    assert_eq!(reports["data"].as_array().unwrap().len(), 1);
}
