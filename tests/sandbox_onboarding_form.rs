//! The sandbox's hosted onboarding form: what it asks, what it refuses (and that a
//! refused submission changes nothing), and the restricted-account story: a bank
//! account whose payouts fail, the account saying why, and a second link that
//! replaces the bank so payouts resume.

use crate::common;
use crate::sandbox_support;

use std::collections::BTreeMap;

use bazaar::payments::{IdempotencyKey, NewConnectedAccount, NewPaymentIntent, NewTransfer};
use chrono::Datelike;
use common::{TestApp, SANDBOX_KEY};
use sandbox_support::Env;
use serde_json::{json, Value};

const DAY: i64 = 86_400;
const RETURN_URL: &str = "https://shop.example/return";
const REFRESH_URL: &str = "https://shop.example/refresh";
/// Stripe's test numbers: one that pays out, one whose payouts fail (`no_account`).
const GOOD_ACCOUNT: &str = "000123456789";
const NO_ACCOUNT: &str = "000111111116";
const NO_ACCOUNT_REASON: &str = "The bank account details on file are probably incorrect. No bank account could be located with those details.";
const FIELDS: [&str; 7] = [
    "business_name",
    "business_type",
    "first_name",
    "last_name",
    "dob",
    "routing_number",
    "account_number",
];

/// A complete, valid submission with `changes` applied.
fn form(changes: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut fields: Vec<(&'static str, String)> = [
        ("business_name", "Ann's Pottery"),
        ("business_type", "individual"),
        ("first_name", "Ann"),
        ("last_name", "Potter"),
        ("dob", "1990-04-27"),
        ("routing_number", "110000000"),
        ("account_number", GOOD_ACCOUNT),
    ]
    .iter()
    .map(|(k, v)| (*k, (*v).to_owned()))
    .collect();
    for (key, value) in changes {
        match fields.iter_mut().find(|(k, _)| k == key) {
            Some(field) => field.1 = (*value).to_owned(),
            None => fields.push((key, (*value).to_owned())),
        }
    }
    fields
}

fn no_redirects() -> reqwest::Client {
    crate::common::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A connected account that has not onboarded (no bank account yet).
async fn new_account(env: &Env) -> String {
    let acct = env
        .post(
            "/v1/accounts",
            &[
                ("type", "express"),
                ("country", "US"),
                ("email", "ann@example.com"),
                ("capabilities[card_payments][requested]", "true"),
                ("capabilities[transfers][requested]", "true"),
            ],
        )
        .await;
    acct["id"].as_str().unwrap().to_owned()
}

async fn link(env: &Env, account: &str, kind: &str) -> String {
    let link = env
        .post(
            "/v1/account_links",
            &[
                ("account", account),
                ("type", kind),
                ("refresh_url", REFRESH_URL),
                ("return_url", RETURN_URL),
            ],
        )
        .await;
    link["url"].as_str().unwrap().to_owned()
}

async fn submit(url: &str, fields: &[(&'static str, String)]) -> (u16, String) {
    let response = no_redirects().post(url).form(fields).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    (status, location.unwrap_or(body))
}

/// The inline message the page shows beside `field`, if any.
fn error_beside(page: &str, field: &str) -> Option<String> {
    let start = page.find(&format!("id=\"{field}-error\""))?;
    let rest = &page[start..];
    let end = rest.find("</p>")?;
    Some(rest[..end].to_owned())
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// Funds for `seller`: a card payment and a transfer of `amount` from it.
async fn transfer_to(env: &Env, seller: &str, amount: i64) {
    let pi = env.pay(5_000, "usd", "pm_card_visa").await;
    env.post(
        "/v1/transfers",
        &[
            ("amount", &amount.to_string()),
            ("currency", "usd"),
            ("destination", seller),
            ("source_transaction", pi["latest_charge"].as_str().unwrap()),
        ],
    )
    .await;
}

async fn payouts_of(env: &Env, seller: &str) -> Vec<Value> {
    env.get("/v1/payouts", Some(seller)).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_page_asks_for_each_detail_with_a_label_and_lists_the_test_numbers() {
    let env = Env::default().await;
    let account = new_account(&env).await;
    let url = link(&env, &account, "account_onboarding").await;
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html><html lang=\"en\">"),
        "{html}"
    );
    assert!(html.contains("<meta name=\"viewport\""));
    assert!(html.contains("<main>") && html.contains("<h1>"));
    assert!(!html.contains("<script"));
    assert!(html.contains("<form method=\"post\">"));
    for field in FIELDS {
        if field == "business_type" {
            // A radio group: its legend names it, each option has its label.
            assert!(html.contains("<legend>Business type</legend>"), "{html}");
            assert!(html.contains("<label for=\"business_type\">"), "{html}");
            assert!(
                html.contains("<label for=\"business_type-company\">"),
                "{html}"
            );
        } else {
            assert!(
                html.contains(&format!("<label for=\"{field}\">")),
                "{field}"
            );
            assert!(
                html.contains(&format!("id=\"{field}\" name=\"{field}\"")),
                "{field}"
            );
        }
    }
    // Nothing is known of a new account, and no error is shown before a submission.
    assert!(html.contains("id=\"business_name\" name=\"business_name\" value=\"\""));
    assert!(!html.contains("There is a problem"));
    assert!(!html.contains("aria-invalid"));
    for number in [
        "110000000",
        GOOD_ACCOUNT,
        NO_ACCOUNT,
        "000111111113",
        "000222222227",
        "000333333335",
        "000444444440",
    ] {
        assert!(html.contains(number), "test number {number} not shown");
    }
    assert!(html.contains("no_account"));
}

#[tokio::test]
async fn a_refused_submission_names_each_field_and_changes_nothing() {
    let env = Env::default().await;
    let account = new_account(&env).await;
    let url = link(&env, &account, "account_onboarding").await;
    let before = env.get(&format!("/v1/accounts/{account}"), None).await;
    let events_before = env.events(Some(&account)).await.len();

    // Nothing filled in: every field is named in the summary and beside itself.
    let (status, page) = submit(&url, &[]).await;
    assert_eq!(status, 422);
    assert!(page.contains("<title>Error: "), "{page}");
    assert!(page.contains("There is a problem"));
    for field in FIELDS {
        assert!(
            page.contains(&format!("<a href=\"#{field}\">")),
            "{field}: {page}"
        );
        assert!(error_beside(&page, field).is_some(), "{field}: {page}");
    }
    assert!(page.contains(
        "id=\"first_name\" name=\"first_name\" value=\"\" autocomplete=\"given-name\" \
         aria-describedby=\"first_name-error\" aria-invalid=\"true\""
    ));

    // Each kind of bad value, with the good ones kept on the page.
    let under_18 = format!("{}-01-01", chrono::Utc::now().year() - 17);
    let cases: [(&'static str, &str, &str); 7] = [
        ("dob", &under_18, "18"),
        ("dob", "1990-02-30", "real date"),
        ("dob", "27/04/1990", "year-month-day"),
        ("routing_number", "11000000A", "only digits"),
        ("routing_number", "110000001", "not a valid"),
        ("account_number", "0001-2345x", "only digits"),
        ("business_type", "partnership", "individual or a company"),
    ];
    for (field, value, says) in cases {
        let (status, page) = submit(&url, &form(&[(field, value)])).await;
        assert_eq!(status, 422, "{field}={value}");
        let message = error_beside(&page, field).unwrap_or_default();
        assert!(message.contains(says), "{field}={value}: {message}");
        let others: Vec<&str> = FIELDS
            .iter()
            .copied()
            .filter(|f| *f != field && error_beside(&page, f).is_some())
            .collect();
        assert!(others.is_empty(), "{field}={value} also refused {others:?}");
        assert!(page.contains("value=\"Ann&#39;s Pottery\""), "values kept");
        assert!(page.contains("value=\"Potter\""), "values kept");
    }
    // Markup in a value is shown as text, never run.
    let (status, page) = submit(
        &url,
        &form(&[("first_name", ""), ("last_name", "<b>x</b>")]),
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("value=\"&lt;b&gt;x&lt;/b&gt;\""));

    // None of it touched the account or spent the link.
    assert_eq!(
        env.get(&format!("/v1/accounts/{account}"), None).await,
        before
    );
    assert_eq!(env.events(Some(&account)).await.len(), events_before);
    let (status, location) = submit(&url, &form(&[])).await;
    assert_eq!((status, location.as_str()), (303, RETURN_URL));
}

#[tokio::test]
async fn an_unknown_or_used_link_shows_no_form() {
    let env = Env::default().await;
    let base = env.base.clone();
    let (status, page) = submit(&format!("{base}/sandbox/onboarding/link_nope"), &form(&[])).await;
    assert_eq!(status, 404);
    assert!(page.contains("<h1>This link has expired or was already used</h1>"));
    assert!(!page.contains("<form"));
    let page = reqwest::get(format!("{base}/sandbox/onboarding/link_nope"))
        .await
        .unwrap();
    assert_eq!(page.status(), 404);

    let account = new_account(&env).await;
    let url = link(&env, &account, "account_onboarding").await;
    assert_eq!(submit(&url, &form(&[])).await.0, 303);
    // A used link sends the seller back to the platform for a fresh one, even
    // with a submission the form would refuse.
    let (status, location) = submit(&url, &form(&[("dob", "")])).await;
    assert_eq!((status, location.as_str()), (302, REFRESH_URL));
}

#[tokio::test]
async fn a_good_submission_onboards_the_account_and_an_update_keeps_what_is_not_changed() {
    let env = Env::default().await;
    let account = new_account(&env).await;
    let url = link(&env, &account, "account_onboarding").await;
    let (status, location) = submit(&url, &form(&[])).await;
    assert_eq!((status, location.as_str()), (303, RETURN_URL));

    let acct = env.get(&format!("/v1/accounts/{account}"), None).await;
    assert_eq!(acct["charges_enabled"], true);
    assert_eq!(acct["payouts_enabled"], true);
    assert_eq!(acct["details_submitted"], true);
    assert_eq!(acct["requirements"]["currently_due"], json!([]));
    assert_eq!(acct["requirements"]["errors"], json!([]));
    assert_eq!(acct["business_type"], "individual");
    assert_eq!(acct["business_profile"]["name"], "Ann's Pottery");
    assert_eq!(acct["individual"]["first_name"], "Ann");
    assert_eq!(acct["individual"]["last_name"], "Potter");
    assert_eq!(
        acct["individual"]["dob"],
        json!({"day": 27, "month": 4, "year": 1990})
    );
    let bank = &acct["external_accounts"]["data"][0];
    assert_eq!(bank["last4"], "6789");
    assert_eq!(bank["routing_number"], "110000000");
    assert_eq!(bank["status"], "new");
    let events = env.events(Some(&account)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "account.updated");
    let previous = &events[0]["data"]["previous_attributes"];
    assert_eq!(previous["charges_enabled"], false);
    assert_eq!(previous["business_type"], Value::Null);
    assert_eq!(previous["individual"], Value::Null);

    // An update link shows what is known, the account number only by its last four.
    let update = link(&env, &account, "account_update").await;
    let html = reqwest::get(&update).await.unwrap().text().await.unwrap();
    assert!(
        html.contains("<h1>Update your account details</h1>"),
        "{html}"
    );
    assert!(
        html.contains("id=\"business_name\" name=\"business_name\" value=\"Ann&#39;s Pottery\"")
    );
    assert!(html.contains("value=\"individual\" checked"));
    assert!(html.contains("id=\"first_name\" name=\"first_name\" value=\"Ann\""));
    assert!(html.contains("id=\"last_name\" name=\"last_name\" value=\"Potter\""));
    assert!(html.contains("id=\"dob\" name=\"dob\" value=\"1990-04-27\""));
    assert!(html.contains("id=\"routing_number\" name=\"routing_number\" value=\"110000000\""));
    assert!(html.contains("id=\"account_number\" name=\"account_number\" value=\"\""));
    assert!(html.contains("ending 6789"));
    assert!(!html.contains(&format!("value=\"{GOOD_ACCOUNT}\"")));

    // Left blank, the account number keeps the bank account; the new name is saved.
    let (status, _) = submit(
        &update,
        &form(&[
            ("account_number", ""),
            ("business_name", "Ann's Kiln"),
            ("business_type", "company"),
        ]),
    )
    .await;
    assert_eq!(status, 303);
    let after = env.get(&format!("/v1/accounts/{account}"), None).await;
    assert_eq!(after["external_accounts"]["data"][0]["id"], bank["id"]);
    assert_eq!(after["business_profile"]["name"], "Ann's Kiln");
    assert_eq!(after["company"]["name"], "Ann's Kiln");
    assert_eq!(after["individual"], Value::Null);
    let events = env.events(Some(&account)).await;
    assert_eq!(events.len(), 2);
    let previous = &events[1]["data"]["previous_attributes"];
    assert_eq!(previous["business_profile"]["name"], "Ann's Pottery");
    assert_eq!(previous["business_type"], "individual");
    assert!(previous.get("external_accounts").is_none(), "{previous}");
}

#[tokio::test]
async fn a_failing_bank_fails_the_payout_the_account_says_why_and_a_new_bank_restarts_payouts() {
    let env = Env::default().await;
    let seller = new_account(&env).await;
    let url = link(&env, &seller, "account_onboarding").await;
    assert_eq!(
        submit(&url, &form(&[("account_number", NO_ACCOUNT)]))
            .await
            .0,
        303
    );
    assert_eq!(
        env.get(&format!("/v1/accounts/{seller}"), None).await["payouts_enabled"],
        true
    );

    // Funds available after two days, swept the next day, failing a day later.
    transfer_to(&env, &seller, 3_000).await;
    env.advance(3 * DAY + 60).await;
    let payouts = payouts_of(&env, &seller).await;
    assert_eq!(payouts.len(), 1);
    env.advance(DAY + 60).await;
    let failed = &payouts_of(&env, &seller).await[0];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failure_code"], "no_account");

    let acct = env.get(&format!("/v1/accounts/{seller}"), None).await;
    assert_eq!(acct["payouts_enabled"], false);
    assert_eq!(acct["charges_enabled"], true);
    assert_eq!(
        strings(&acct["requirements"]["currently_due"]),
        ["external_account"]
    );
    assert_eq!(
        acct["requirements"]["errors"],
        json!([{
            "code": "no_account",
            "reason": NO_ACCOUNT_REASON,
            "requirement": "external_account",
        }])
    );
    assert_eq!(acct["external_accounts"]["data"][0]["status"], "errored");

    // The update page says why payouts stopped and wants a different account.
    let update = link(&env, &seller, "account_update").await;
    let html = reqwest::get(&update).await.unwrap().text().await.unwrap();
    assert!(html.contains("Payouts are paused"), "{html}");
    assert!(html.contains("ending 1116"));
    assert!(!html.contains(&format!("value=\"{NO_ACCOUNT}\"")));
    let (status, page) = submit(&update, &form(&[("account_number", "")])).await;
    assert_eq!(status, 422);
    assert!(error_beside(&page, "account_number")
        .unwrap()
        .contains("different account number"));
    let events_before = env.events(Some(&seller)).await.len();

    let (status, location) = submit(&update, &form(&[])).await;
    assert_eq!((status, location.as_str()), (303, RETURN_URL));
    let acct = env.get(&format!("/v1/accounts/{seller}"), None).await;
    assert_eq!(acct["payouts_enabled"], true);
    assert_eq!(acct["requirements"]["currently_due"], json!([]));
    assert_eq!(acct["requirements"]["errors"], json!([]));
    assert_eq!(acct["external_accounts"]["data"][0]["last4"], "6789");
    let events = env.events(Some(&seller)).await;
    assert_eq!(events.len(), events_before + 1);
    let updated = events.last().unwrap();
    assert_eq!(updated["type"], "account.updated");
    assert_eq!(
        updated["data"]["previous_attributes"]["payouts_enabled"],
        false
    );
    assert_eq!(
        updated["data"]["previous_attributes"]["requirements"]["errors"][0]["code"],
        "no_account"
    );

    // The returned 3000 goes out again, to the new bank, and arrives.
    env.advance(DAY).await;
    let payouts = payouts_of(&env, &seller).await;
    assert_eq!(payouts.len(), 2);
    assert_eq!(payouts[0]["amount"], 3_000);
    assert_eq!(payouts[0]["status"], "in_transit");
    env.advance(DAY + 60).await;
    let paid = env
        .get(
            &format!("/v1/payouts/{}", payouts[0]["id"].as_str().unwrap()),
            Some(&seller),
        )
        .await;
    assert_eq!(paid["status"], "paid");
}

/// The same story read through the marketplace's own provider client
/// (async-stripe), which must parse the account while it carries an error.
#[tokio::test]
async fn the_marketplace_sees_the_bank_requirement_and_its_clearing() {
    let app = TestApp::spawn().await;
    let provider = app.provider.as_ref();
    let key =
        |purpose: &str| IdempotencyKey::derive(purpose, &uuid::Uuid::new_v4().simple().to_string());
    let account = provider
        .create_connected_account(
            &NewConnectedAccount {
                country: "US".into(),
                email: "ann@example.com".into(),
                business_name: Some("Ann's Pottery".into()),
                support_email: None,
                metadata: BTreeMap::new(),
            },
            &key("account"),
        )
        .await
        .unwrap();
    let client = &app.client;
    let onboard = |number: &'static str| {
        let id = account.id.clone();
        async move {
            let link = provider
                .create_account_link(&id, REFRESH_URL, RETURN_URL)
                .await
                .unwrap();
            // The platform's name is what the form starts from.
            let html = client
                .get(&link.url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(html.contains("value=\"Ann&#39;s Pottery\""), "{html}");
            let (status, _) = submit(&link.url, &form(&[("account_number", number)])).await;
            assert_eq!(status, 303);
        }
    };
    onboard(NO_ACCOUNT).await;
    let seller = provider.retrieve_account(&account.id).await.unwrap();
    assert!(seller.charges_enabled && seller.payouts_enabled);

    let usd =
        |minor| bazaar::money::Money::new(minor, bazaar::money::Currency::parse("USD").unwrap());
    let intent = provider
        .create_payment_intent(
            &NewPaymentIntent {
                amount: usd(5_000),
                transfer_group: "order_1".into(),
                metadata: BTreeMap::new(),
                confirm_with: Some("pm_card_visa".into()),
            },
            &key("payment"),
        )
        .await
        .unwrap();
    provider
        .create_transfer(
            &NewTransfer {
                amount: usd(3_000),
                destination: account.id.clone(),
                source_transaction: intent.latest_charge.clone(),
                transfer_group: None,
                metadata: BTreeMap::new(),
            },
            &key("transfer"),
        )
        .await
        .unwrap();
    app.sandbox_post(
        "/v1/test_helpers/advance_clock",
        &[("seconds", &(5 * DAY).to_string())],
    )
    .await;
    let seller = provider.retrieve_account(&account.id).await.unwrap();
    assert!(seller.charges_enabled);
    assert!(!seller.payouts_enabled);
    assert_eq!(seller.currently_due, ["external_account"]);

    onboard(GOOD_ACCOUNT).await;
    let seller = provider.retrieve_account(&account.id).await.unwrap();
    assert!(seller.charges_enabled && seller.payouts_enabled);
    assert!(
        seller.currently_due.is_empty(),
        "{:?}",
        seller.currently_due
    );
    let base = app.sandbox_url.as_deref().unwrap();
    let account_json: Value = app
        .client
        .get(format!("{base}/v1/accounts/{}", account.id))
        .bearer_auth(SANDBOX_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account_json["requirements"]["errors"], json!([]));
}
