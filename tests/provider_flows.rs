//! The production provider client (async-stripe) against the sandbox, through
//! the money flows of the marketplace. Every expected amount is worked out here
//! by hand from the provider's published pricing (2.9% + 30 for US cards).

use crate::common;

use std::collections::BTreeMap;

use bazaar::money::{Currency, Money};
use bazaar::payments::{
    IdempotencyKey, NewConnectedAccount, NewPaymentIntent, NewRefund, NewTransfer, PaymentStatus,
    Provider, ProviderError,
};
use common::{TestApp, SANDBOX_KEY};
use serde_json::Value;

const DAY_S: i64 = 86_400;

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::parse("USD").unwrap())
}

fn key(purpose: &str) -> IdempotencyKey {
    IdempotencyKey::derive(purpose, &uuid::Uuid::new_v4().simple().to_string())
}

async fn sandbox_get(app: &TestApp, path: &str, account: Option<&str>) -> Value {
    let base = app.sandbox_url.as_deref().expect("in-process sandbox");
    let mut request = app
        .client
        .get(format!("{base}{path}"))
        .bearer_auth(SANDBOX_KEY);
    if let Some(account) = account {
        request = request.header("Stripe-Account", account);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn onboarded_seller(app: &TestApp, provider: &dyn Provider) -> String {
    let account = provider
        .create_connected_account(
            &NewConnectedAccount {
                country: "US".into(),
                email: "seller@example.com".into(),
                business_name: Some("Seller's Shop".into()),
                support_email: Some("help@example.com".into()),
                metadata: BTreeMap::from([("shop_id".to_owned(), "shop_1".to_owned())]),
            },
            &key("account"),
        )
        .await
        .unwrap();
    app.sandbox_post(
        &format!(
            "/v1/test_helpers/accounts/{}/complete_onboarding",
            account.id
        ),
        &[],
    )
    .await;
    account.id
}

async fn paid_intent(
    provider: &dyn Provider,
    amount: i64,
    group: &str,
) -> bazaar::payments::PaymentIntent {
    provider
        .create_payment_intent(
            &NewPaymentIntent {
                amount: usd(amount),
                transfer_group: group.into(),
                metadata: BTreeMap::from([("order_id".to_owned(), group.to_owned())]),
                confirm_with: Some("pm_card_visa".into()),
            },
            &key("payment"),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_seller_is_onboarded_through_an_account_link() {
    let app = TestApp::spawn().await;
    let provider = app.provider.as_ref();
    let account = provider
        .create_connected_account(
            &NewConnectedAccount {
                country: "US".into(),
                email: "seller@example.com".into(),
                business_name: None,
                support_email: None,
                metadata: BTreeMap::new(),
            },
            &key("account"),
        )
        .await
        .unwrap();
    assert!(account.id.starts_with("acct_"));
    assert!(!account.charges_enabled && !account.payouts_enabled);
    assert!(!account.currently_due.is_empty());

    let link = provider
        .create_account_link(
            &account.id,
            "https://m.example/refresh",
            "https://m.example/return",
        )
        .await
        .unwrap();
    assert!(
        link.url.starts_with(app.sandbox_url.as_deref().unwrap()),
        "{}",
        link.url
    );
    // The sandbox's links last five minutes of its own clock.
    assert_eq!(link.lifetime(), chrono::Duration::minutes(5));
    // The seller submits the onboarding form the link leads to.
    let submitted = app
        .client
        .post(&link.url)
        .form(&[
            ("business_name", "Ann's Pottery"),
            ("business_type", "individual"),
            ("first_name", "Ann"),
            ("last_name", "Potter"),
            ("dob", "1990-04-27"),
            ("routing_number", "110000000"),
            ("account_number", "000123456789"),
        ])
        .send()
        .await
        .unwrap();
    assert!(submitted.status().is_success() || submitted.status().is_redirection());

    let account = provider.retrieve_account(&account.id).await.unwrap();
    assert!(account.charges_enabled && account.payouts_enabled && account.details_submitted);
    assert!(
        account.currently_due.is_empty(),
        "{:?}",
        account.currently_due
    );

    app.sandbox_post(
        &format!("/v1/test_helpers/accounts/{}/restrict", account.id),
        &[("disabled_reason", "requirements.past_due")],
    )
    .await;
    let account = provider.retrieve_account(&account.id).await.unwrap();
    assert!(!account.charges_enabled);
    assert_eq!(
        account.disabled_reason.as_deref(),
        Some("requirements.past_due")
    );
}

#[tokio::test]
async fn a_card_payment_succeeds_with_the_providers_fee() {
    let app = TestApp::spawn().await;
    let provider = app.provider.as_ref();
    let intent = paid_intent(provider, 10_000, "order_1").await;
    assert_eq!(intent.status, PaymentStatus::Succeeded);
    assert_eq!(intent.amount, usd(10_000));
    assert_eq!(intent.transfer_group.as_deref(), Some("order_1"));
    assert_eq!(intent.metadata["order_id"], "order_1");
    let charge = provider
        .retrieve_charge(intent.latest_charge.as_deref().unwrap())
        .await
        .unwrap();
    let fee_txn = charge.balance_transaction.expect("balance transaction");
    // 2.9% of 100.00 USD is 2.90, plus 0.30.
    assert_eq!(fee_txn.fee, 320);
    assert_eq!(fee_txn.net, 9_680);
    assert_eq!(fee_txn.amount, usd(10_000));
    assert_eq!(fee_txn.status, "pending");

    // The same idempotency key returns the same intent instead of charging twice.
    let again_key = key("payment");
    let request = NewPaymentIntent {
        amount: usd(2_500),
        transfer_group: "order_2".into(),
        metadata: BTreeMap::new(),
        confirm_with: Some("pm_card_visa".into()),
    };
    let first = provider
        .create_payment_intent(&request, &again_key)
        .await
        .unwrap();
    let second = provider
        .create_payment_intent(&request, &again_key)
        .await
        .unwrap();
    assert_eq!(first.id, second.id);

    // The same key with other parameters is a conflict, not a second payment.
    let changed = NewPaymentIntent {
        amount: usd(2_600),
        ..request
    };
    let error = provider
        .create_payment_intent(&changed, &again_key)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::IdempotencyConflict { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_declined_card_is_a_typed_error() {
    let app = TestApp::spawn().await;
    let provider = app.provider.as_ref();
    let error = provider
        .create_payment_intent(
            &NewPaymentIntent {
                amount: usd(5_000),
                transfer_group: "order_declined".into(),
                metadata: BTreeMap::new(),
                confirm_with: Some("pm_card_chargeDeclined".into()),
            },
            &key("payment"),
        )
        .await
        .unwrap_err();
    let ProviderError::CardDeclined {
        code,
        decline_code,
        payment_intent,
        ..
    } = error
    else {
        panic!("expected a card decline, got {error:?}");
    };
    assert_eq!(code, "card_declined");
    assert_eq!(decline_code.as_deref(), Some("generic_decline"));
    let intent = provider
        .retrieve_payment_intent(&payment_intent.expect("the failed intent"))
        .await
        .unwrap();
    assert_eq!(intent.status, PaymentStatus::RequiresPaymentMethod);
    assert!(intent.last_error.is_some());
}

#[tokio::test]
async fn transfers_spend_their_source_charge_and_refunds_reverse_them() {
    let app = TestApp::spawn().await;
    let provider = app.provider.as_ref();
    let seller = onboarded_seller(&app, provider).await;
    let intent = paid_intent(provider, 10_000, "order_t").await;
    let charge = intent.latest_charge.clone().unwrap();
    let transfer = |amount: i64| NewTransfer {
        amount: usd(amount),
        destination: seller.clone(),
        source_transaction: Some(charge.clone()),
        transfer_group: Some("order_t".into()),
        metadata: BTreeMap::new(),
    };
    // Allowed before the charge's funds are available: source_transaction ties them.
    let first = provider
        .create_transfer(&transfer(9_000), &key("transfer"))
        .await
        .unwrap();
    assert_eq!(first.amount, usd(9_000));
    assert_eq!(first.destination.as_deref(), Some(seller.as_str()));
    assert_eq!(first.source_transaction.as_deref(), Some(charge.as_str()));

    // 9,000 + 1,500 would exceed the 10,000 charge.
    let error = provider
        .create_transfer(&transfer(1_500), &key("transfer"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::InvalidRequest { .. }),
        "{error:?}"
    );
    provider
        .create_transfer(&transfer(1_000), &key("transfer"))
        .await
        .unwrap();

    let refund = provider
        .create_refund(
            &NewRefund {
                payment_intent: intent.id.clone(),
                amount: Some(3_000),
                metadata: BTreeMap::new(),
            },
            &key("refund"),
        )
        .await
        .unwrap();
    assert_eq!(refund.amount, usd(3_000));
    assert_eq!(refund.charge.as_deref(), Some(charge.as_str()));
    let reversal = provider
        .reverse_transfer(&first.id, 2_700, &BTreeMap::new(), &key("reversal"))
        .await
        .unwrap();
    assert_eq!(reversal.amount, usd(2_700));
    assert_eq!(reversal.transfer, first.id);
    let charge = provider.retrieve_charge(&charge).await.unwrap();
    assert_eq!(charge.amount_refunded, 3_000);

    // Only 7,000 is left to refund.
    let error = provider
        .create_refund(
            &NewRefund {
                payment_intent: intent.id.clone(),
                amount: Some(7_001),
                metadata: BTreeMap::new(),
            },
            &key("refund"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::InvalidRequest { .. }),
        "{error:?}"
    );
}

async fn dispute_of(app: &TestApp, charge: &str) -> Value {
    let events = sandbox_get(
        app,
        "/v1/events?type=charge.dispute.created&limit=100",
        None,
    )
    .await;
    events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["data"]["object"].clone())
        .find(|dispute| dispute["charge"] == charge)
        .expect("a dispute for the charge")
}

#[tokio::test]
async fn disputes_are_lost_and_won() {
    let app = TestApp::spawn().await;
    let provider = app.provider.as_ref();
    for (evidence, outcome) in [("losing_evidence", "lost"), ("winning_evidence", "won")] {
        let intent = provider
            .create_payment_intent(
                &NewPaymentIntent {
                    amount: usd(4_000),
                    transfer_group: format!("order_{outcome}"),
                    metadata: BTreeMap::new(),
                    confirm_with: Some("pm_card_createDispute".into()),
                },
                &key("payment"),
            )
            .await
            .unwrap();
        assert_eq!(intent.status, PaymentStatus::Succeeded);
        let charge_id = intent.latest_charge.unwrap();
        let charge = provider.retrieve_charge(&charge_id).await.unwrap();
        assert!(charge.disputed);
        let dispute = dispute_of(&app, &charge_id).await;
        assert_eq!(dispute["status"], "needs_response");
        assert_eq!(dispute["amount"], 4_000);
        let id = dispute["id"].as_str().unwrap();
        let closed = app
            .sandbox_post(
                &format!("/v1/disputes/{id}"),
                &[("evidence[uncategorized_text]", evidence)],
            )
            .await;
        assert_eq!(closed["status"], outcome);
    }
}

#[tokio::test]
async fn payouts_are_paid_and_listed_line_by_line() {
    let app = TestApp::spawn().await;
    let provider = app.provider.as_ref();
    let seller = onboarded_seller(&app, provider).await;
    let intent = paid_intent(provider, 20_000, "order_p").await;
    provider
        .create_transfer(
            &NewTransfer {
                amount: usd(18_000),
                destination: seller.clone(),
                source_transaction: intent.latest_charge.clone(),
                transfer_group: Some("order_p".into()),
                metadata: BTreeMap::new(),
            },
            &key("transfer"),
        )
        .await
        .unwrap();
    let balance = provider.retrieve_balance(Some(&seller)).await.unwrap();
    assert_eq!(balance.pending, vec![usd(18_000)]);

    // Funds land after two days, the daily schedule pays them out, the bank gets them a day later.
    app.sandbox_post(
        "/v1/test_helpers/advance_clock",
        &[("seconds", &(5 * DAY_S).to_string())],
    )
    .await;
    let payouts = sandbox_get(&app, "/v1/payouts", Some(&seller)).await;
    let payout_id = payouts["data"][0]["id"]
        .as_str()
        .expect("a payout")
        .to_owned();
    let payout = provider.retrieve_payout(&seller, &payout_id).await.unwrap();
    assert_eq!(payout.status, "paid");
    assert_eq!(payout.amount, usd(18_000));
    assert!(payout.automatic);

    let lines = provider
        .list_balance_transactions(Some(&seller), Some(&payout_id), None, 100)
        .await
        .unwrap();
    assert!(!lines.has_more);
    let settled: i64 = lines
        .data
        .iter()
        .filter(|t| t.kind != "payout")
        .map(|t| t.net)
        .sum();
    assert_eq!(settled, 18_000);
    assert!(lines.data.iter().all(|t| !t.reporting_category.is_empty()));
}

#[tokio::test]
async fn a_payout_to_a_failing_bank_account_fails_and_the_funds_return() {
    let app = TestApp::spawn().await;
    let provider = app.provider.as_ref();
    let seller = onboarded_seller(&app, provider).await;
    app.sandbox_post(
        &format!("/v1/test_helpers/accounts/{seller}/external_account"),
        &[("account_number", "000111111116")],
    )
    .await;
    let intent = paid_intent(provider, 10_000, "order_f").await;
    provider
        .create_transfer(
            &NewTransfer {
                amount: usd(7_500),
                destination: seller.clone(),
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
        &[("seconds", &(5 * DAY_S).to_string())],
    )
    .await;
    let payouts = sandbox_get(&app, "/v1/payouts", Some(&seller)).await;
    let first = payouts["data"]
        .as_array()
        .unwrap()
        .last()
        .expect("a payout")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let payout = provider.retrieve_payout(&seller, &first).await.unwrap();
    assert_eq!(payout.status, "failed");
    assert_eq!(payout.failure_code.as_deref(), Some("no_account"));
    assert_eq!(payout.amount, usd(7_500));
    let returned = sandbox_get(
        &app,
        "/v1/balance_transactions?type=payout_failure",
        Some(&seller),
    )
    .await;
    let returned: Vec<i64> = returned["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_i64().unwrap())
        .collect();
    assert!(returned.contains(&7_500), "{returned:?}");
}

#[tokio::test]
async fn an_unreachable_provider_is_retried_then_reported_unavailable() {
    let app = TestApp::spawn().await;
    let port = common::cli::free_port();
    let provider =
        bazaar::payments::StripeProvider::new(&bazaar::payments::stripe::StripeSettings {
            api_base: format!("http://127.0.0.1:{port}"),
            secret_key: SANDBOX_KEY.into(),
            attempts_max: 3,
            backoff_first: std::time::Duration::from_millis(5),
            request_timeout: std::time::Duration::from_secs(2),
        })
        .unwrap();
    let error = provider.retrieve_account("acct_missing").await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    let app_error = bazaar::error::AppError::from(error);
    assert!(matches!(
        app_error,
        bazaar::error::AppError::Unavailable { .. }
    ));
    drop(app);
}
