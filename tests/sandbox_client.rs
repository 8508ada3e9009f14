//! The production client, async-stripe 1.0.0-rc.10, against the sandbox: its requests are
//! accepted as it encodes them, and every object parses into its types (a missing
//! required field would fail here exactly as it would in production).

use crate::sandbox_support;

use sandbox_support::Env;
use stripe::{Client, ClientBuilder, StripeError, StripeRequest};
use stripe_connect::account::{
    CreateAccount, CreateAccountCapabilities, CreateAccountCapabilitiesTransfers,
    CreateAccountType, RetrieveAccount,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_connect::transfer::{CreateTransfer, RetrieveTransfer};
use stripe_connect::transfer_reversal::CreateIdTransferReversal;
use stripe_core::balance::RetrieveForMyAccountBalance;
use stripe_core::balance_transaction::{ListBalanceTransaction, RetrieveBalanceTransaction};
use stripe_core::charge::RetrieveCharge;
use stripe_core::dispute::RetrieveDispute;
use stripe_core::payment_intent::{CreatePaymentIntent, RetrievePaymentIntent};
use stripe_core::payout::{CreatePayout, ListPayout, RetrievePayout};
use stripe_core::refund::{CreateRefund, RetrieveRefund};
use stripe_types::{Currency, Expandable};

fn client(env: &Env) -> Client {
    ClientBuilder::new(env.key.clone())
        .url(format!("{}/", env.base))
        .build()
        .expect("client")
}

#[tokio::test]
async fn the_production_client_round_trips_every_object() {
    let env = Env::default().await;
    let stripe = client(&env);

    // Accounts and links.
    let mut caps = CreateAccountCapabilities::new();
    caps.transfers = Some(CreateAccountCapabilitiesTransfers {
        requested: Some(true),
    });
    let account = CreateAccount::new()
        .type_(CreateAccountType::Express)
        .country("US")
        .email("seller@example.com")
        .capabilities(caps)
        .metadata([("shop".to_string(), "s1".to_string())])
        .send(&stripe)
        .await
        .expect("create account");
    assert_eq!(account.charges_enabled, Some(false));
    let link = CreateAccountLink::new(
        account.id.as_str(),
        CreateAccountLinkType::AccountOnboarding,
    )
    .refresh_url("https://shop.example/refresh")
    .return_url("https://shop.example/return")
    .send(&stripe)
    .await
    .expect("account link");
    assert!(link.url.starts_with(&env.base));
    env.post(
        &format!(
            "/v1/test_helpers/accounts/{}/complete_onboarding",
            account.id
        ),
        &[],
    )
    .await;
    let account = RetrieveAccount::new(account.id.clone())
        .send(&stripe)
        .await
        .expect("account");
    assert_eq!(account.payouts_enabled, Some(true));

    // A payment, its charge and balance transaction.
    let intent = CreatePaymentIntent::new(10_000, Currency::USD)
        .payment_method("pm_card_visa")
        .confirm(true)
        .transfer_group("order_42")
        .metadata([("order".to_string(), "42".to_string())])
        .send(&stripe)
        .await
        .expect("payment intent");
    assert_eq!(intent.status.as_str(), "succeeded");
    let intent = RetrievePaymentIntent::new(intent.id.clone())
        .send(&stripe)
        .await
        .expect("intent");
    let charge_id = match intent.latest_charge.expect("latest charge") {
        Expandable::Id(id) => id,
        Expandable::Object(c) => c.id,
    };
    let charge = RetrieveCharge::new(charge_id.clone())
        .expand(vec!["balance_transaction".to_string()])
        .send(&stripe)
        .await
        .expect("charge");
    let txn = match charge.balance_transaction.expect("balance transaction") {
        Expandable::Object(t) => t,
        Expandable::Id(_) => panic!("not expanded"),
    };
    assert_eq!((txn.amount, txn.fee, txn.net), (10_000, 320, 9_680));
    RetrieveBalanceTransaction::new(txn.id.clone())
        .send(&stripe)
        .await
        .expect("txn");

    // A transfer, a reversal, a refund.
    let transfer = CreateTransfer::new(Currency::USD, account.id.as_str())
        .amount(7_000)
        .source_transaction(charge_id.as_str())
        .transfer_group("order_42")
        .send(&stripe)
        .await
        .expect("transfer");
    let reversal = CreateIdTransferReversal::new(transfer.id.clone())
        .amount(1_000)
        .send(&stripe)
        .await
        .expect("reversal");
    assert_eq!(reversal.amount, 1_000);
    let transfer = RetrieveTransfer::new(transfer.id.clone())
        .send(&stripe)
        .await
        .expect("transfer");
    assert_eq!(transfer.amount_reversed, 1_000);
    let refund = CreateRefund::new()
        .payment_intent(intent.id.as_str())
        .amount(1_000)
        .send(&stripe)
        .await
        .expect("refund");
    RetrieveRefund::new(refund.id.clone())
        .send(&stripe)
        .await
        .expect("refund");

    // Errors parse as Stripe errors.
    let too_much = CreateRefund::new()
        .payment_intent(intent.id.as_str())
        .amount(9_001)
        .send(&stripe)
        .await
        .expect_err("refund above the remainder");
    match too_much {
        StripeError::Stripe(e, 400) => assert_eq!(
            e.code.map(|c| c.as_str().to_owned()).as_deref(),
            Some("amount_too_large")
        ),
        other => panic!("unexpected error {other:?}"),
    }
    let declined = CreatePaymentIntent::new(1_000, Currency::USD)
        .payment_method("pm_card_chargeDeclined")
        .confirm(true)
        .send(&stripe)
        .await
        .expect_err("declined");
    match declined {
        StripeError::Stripe(e, 402) => {
            assert_eq!(e.decline_code.as_deref(), Some("generic_decline"));
            assert!(e.payment_intent.is_some());
        }
        other => panic!("unexpected error {other:?}"),
    }

    // Balances, lists and payouts, as the platform and as the seller.
    let balance = RetrieveForMyAccountBalance::new()
        .send(&stripe)
        .await
        .expect("balance");
    assert!(!balance.pending.is_empty());
    let txns = ListBalanceTransaction::new()
        .limit(100)
        .send(&stripe)
        .await
        .expect("list");
    assert!(txns.data.len() >= 4);
    env.advance(3 * 86_400).await;
    let payouts = ListPayout::new()
        .customize()
        .account_id(account.id.clone())
        .send(&stripe)
        .await
        .expect("payouts");
    assert_eq!(payouts.data.len(), 1);
    let payout = RetrievePayout::new(payouts.data[0].id.clone())
        .customize()
        .account_id(account.id.clone())
        .send(&stripe)
        .await
        .expect("payout");
    assert_eq!(payout.amount, 6_000);
    let settled = ListBalanceTransaction::new()
        .payout(payout.id.as_str())
        .customize()
        .account_id(account.id.clone())
        .send(&stripe)
        .await
        .expect("settled");
    assert_eq!(settled.data.iter().map(|t| t.net).sum::<i64>(), 6_000);
    let manual = CreatePayout::new(1, Currency::USD)
        .customize()
        .account_id(account.id.clone())
        .send(&stripe)
        .await
        .expect_err("nothing left to pay out");
    assert!(matches!(manual, StripeError::Stripe(_, 400)));

    // A dispute.
    let disputed = CreatePaymentIntent::new(5_000, Currency::USD)
        .payment_method("pm_card_createDispute")
        .confirm(true)
        .send(&stripe)
        .await
        .expect("disputed payment");
    let events = env.events(None).await;
    let dp = events
        .iter()
        .find(|e| {
            e["type"] == "charge.dispute.created"
                && e["data"]["object"]["payment_intent"] == disputed.id.as_str()
        })
        .expect("dispute event");
    let dispute = RetrieveDispute::new(dp["data"]["object"]["id"].as_str().unwrap())
        .send(&stripe)
        .await
        .expect("dispute");
    assert_eq!(dispute.balance_transactions.len(), 1);
    assert_eq!(dispute.balance_transactions[0].net, -6_500);
}
