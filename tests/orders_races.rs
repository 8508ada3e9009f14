//! Orders under pressure: many buyers racing for the last units, a provider
//! that times out after acting (the repeat must not move money twice), a
//! provider that is down at checkout, and unpaid orders expired by the
//! background sweep.

use crate::common;
use crate::orders_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bazaar::payments::{
    AccountLink, Balance, BalanceTransaction, Charge, ConnectedAccount, Dispute, IdempotencyKey,
    Metadata, NewConnectedAccount, NewPaymentIntent, NewRefund, NewTransfer, Page, PaymentIntent,
    Payout, Provider, ProviderError, Refund, Transfer, TransferReversal,
};
use common::people::{get_as, pool, signup};
use common::{assert_error, TestApp, SANDBOX_KEY};
use orders_support::*;

#[tokio::test]
async fn buyers_racing_for_the_last_units_never_oversell() {
    const UNITS: i64 = 5;
    const BUYERS: usize = 6;
    const CHECKOUTS_PER_BUYER: usize = 3;
    let app = Arc::new(TestApp::spawn().await);
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let lamp = product(&app, &seller, &shop, "Last Lamps", 2500, UNITS).await;
    let mut buyers = vec![market.buyer.clone()];
    for _ in 1..BUYERS {
        buyers.push(signup(&app, "buyer").await);
    }
    for buyer in &buyers {
        add_to_cart(&app, buyer, &lamp, 1).await;
    }
    let mut racers = Vec::new();
    for buyer in &buyers {
        for attempt in 0..CHECKOUTS_PER_BUYER {
            let (app, buyer) = (Arc::clone(&app), buyer.clone());
            racers.push(tokio::spawn(async move {
                let key = format!("race-{attempt}");
                let response = post_keyed(
                    &app,
                    &buyer,
                    "/v1/checkout",
                    &key,
                    &checkout_body(Some("pm_card_visa")),
                )
                .await;
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap();
                (status, body)
            }));
        }
    }
    let mut sold = 0;
    let mut paid_buyers = std::collections::HashSet::new();
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        match status {
            201 => {
                assert_eq!(body["status"], "paid");
                sold += 1;
                assert!(
                    paid_buyers.insert(body["buyer_user_id"].as_str().unwrap().to_owned()),
                    "one order per cart"
                );
            }
            409 => assert_eq!(body["error"]["code"], "out_of_stock"),
            422 => assert_eq!(
                body["error"]["code"], "cart_empty",
                "the cart was consumed by a racing checkout"
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(sold, UNITS);
    assert_eq!(stock_of(&app, &seller, &shop, &lamp).await, 0);
    let finance = common::people::staff(&app, &market.operator, "finance").await;
    let paid = json_of(
        get_as(&app, &finance, "/v1/orders?status=paid&limit=100").await,
        200,
    )
    .await;
    assert_eq!(paid["data"].as_array().unwrap().len(), UNITS as usize);
}

/// The real provider, except that chosen calls act and then report a
/// timeout, as a network failure after the provider acted would.
struct TimesOutAfterActing {
    inner: Arc<dyn Provider>,
    transfer_timeouts_left: AtomicUsize,
}

fn timed_out() -> ProviderError {
    ProviderError::Unavailable {
        message: "timed out (injected)".into(),
    }
}

#[async_trait::async_trait]
impl Provider for TimesOutAfterActing {
    async fn create_connected_account(
        &self,
        a: &NewConnectedAccount,
        k: &IdempotencyKey,
    ) -> Result<ConnectedAccount, ProviderError> {
        self.inner.create_connected_account(a, k).await
    }
    async fn retrieve_account(&self, id: &str) -> Result<ConnectedAccount, ProviderError> {
        self.inner.retrieve_account(id).await
    }
    async fn create_account_link(
        &self,
        id: &str,
        refresh: &str,
        back: &str,
    ) -> Result<AccountLink, ProviderError> {
        self.inner.create_account_link(id, refresh, back).await
    }
    async fn create_payment_intent(
        &self,
        i: &NewPaymentIntent,
        k: &IdempotencyKey,
    ) -> Result<PaymentIntent, ProviderError> {
        self.inner.create_payment_intent(i, k).await
    }
    async fn confirm_payment_intent(
        &self,
        id: &str,
        pm: &str,
        k: &IdempotencyKey,
    ) -> Result<PaymentIntent, ProviderError> {
        self.inner.confirm_payment_intent(id, pm, k).await
    }
    async fn cancel_payment_intent(
        &self,
        id: &str,
        k: &IdempotencyKey,
    ) -> Result<PaymentIntent, ProviderError> {
        self.inner.cancel_payment_intent(id, k).await
    }
    async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, ProviderError> {
        self.inner.retrieve_payment_intent(id).await
    }
    async fn retrieve_charge(&self, id: &str) -> Result<Charge, ProviderError> {
        self.inner.retrieve_charge(id).await
    }
    async fn retrieve_dispute(&self, id: &str) -> Result<Dispute, ProviderError> {
        self.inner.retrieve_dispute(id).await
    }
    async fn create_transfer(
        &self,
        t: &NewTransfer,
        k: &IdempotencyKey,
    ) -> Result<Transfer, ProviderError> {
        let made = self.inner.create_transfer(t, k).await?;
        let left = self.transfer_timeouts_left.load(Ordering::SeqCst);
        if left > 0 {
            self.transfer_timeouts_left
                .store(left - 1, Ordering::SeqCst);
            return Err(timed_out());
        }
        Ok(made)
    }
    async fn reverse_transfer(
        &self,
        id: &str,
        amount: i64,
        m: &Metadata,
        k: &IdempotencyKey,
    ) -> Result<TransferReversal, ProviderError> {
        self.inner.reverse_transfer(id, amount, m, k).await
    }
    async fn create_refund(
        &self,
        r: &NewRefund,
        k: &IdempotencyKey,
    ) -> Result<Refund, ProviderError> {
        self.inner.create_refund(r, k).await
    }
    async fn retrieve_refund(&self, id: &str) -> Result<Refund, ProviderError> {
        self.inner.retrieve_refund(id).await
    }
    async fn retrieve_balance(&self, id: Option<&str>) -> Result<Balance, ProviderError> {
        self.inner.retrieve_balance(id).await
    }
    async fn list_balance_transactions(
        &self,
        id: Option<&str>,
        payout: Option<&str>,
        after: Option<&str>,
        limit: u8,
    ) -> Result<Page<BalanceTransaction>, ProviderError> {
        self.inner
            .list_balance_transactions(id, payout, after, limit)
            .await
    }
    async fn list_events(
        &self,
        account: Option<&str>,
        since: i64,
        after: Option<&str>,
        limit: u8,
    ) -> Result<Page<serde_json::Value>, ProviderError> {
        self.inner.list_events(account, since, after, limit).await
    }
    async fn retrieve_payout(&self, id: &str, payout: &str) -> Result<Payout, ProviderError> {
        self.inner.retrieve_payout(id, payout).await
    }
}

#[tokio::test]
async fn a_transfer_that_timed_out_after_the_provider_made_it_is_not_made_twice() {
    // No job workers: the sandbox's own payment events must not settle the
    // order behind the test's back.
    let app = TestApp::spawn_with(&[("BAZAAR__JOBS__WORKERS", "0")], |_| {}).await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let vase = product(&app, &seller, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", None).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let intent_id = order["payment"]["intent_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/payment_intents/{intent_id}/confirm"),
        &[("payment_method", "pm_card_visa")],
    )
    .await;

    // The payment event is applied with a provider whose transfer call times
    // out after the transfer was made: the movement stays pending.
    let flaky = TimesOutAfterActing {
        inner: Arc::clone(&app.provider),
        transfer_timeouts_left: AtomicUsize::new(2),
    };
    let pool = pool(&app);
    let intent = app
        .provider
        .retrieve_payment_intent(intent_id)
        .await
        .unwrap();
    let error = bazaar::orders::payment::apply_intent(&pool, &flaky, &intent)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "service_unavailable");
    let seen = json_of(
        get_as(&app, &market.operator, &format!("/v1/orders/{order_id}")).await,
        200,
    )
    .await;
    assert_eq!(seen["status"], "paid");
    assert_eq!(seen["parts"][0]["settlement"]["status"], "in_progress");
    // Applying the same event again (a webhook retry) repeats the same call, which times out again.
    assert!(
        bazaar::orders::payment::apply_intent(&pool, &flaky, &intent)
            .await
            .is_err()
    );
    // The sweep repeats it once more; the provider answers from its idempotency store.
    let report = bazaar::orders::sweeper::sweep_once(&pool, &flaky, bazaar::db::now()).await;
    assert_eq!(report.errors, 0, "{report:?}");
    let transfers = transfers_of(&app, &order_id).await;
    assert_eq!(
        transfers.len(),
        1,
        "one transfer, however often it was asked for"
    );
    assert_eq!(transfers[0]["amount"], 3000 - market_fee(3000));
    let seen = json_of(
        get_as(&app, &market.operator, &format!("/v1/orders/{order_id}")).await,
        200,
    )
    .await;
    assert_eq!(seen["parts"][0]["settlement"]["status"], "settled");
}

#[tokio::test]
async fn a_provider_down_at_checkout_leaves_stock_and_cart_as_they_were() {
    // Our own sandbox, so the test can stop it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sandbox = bazaar::sandbox::Sandbox::start(
        bazaar::sandbox::SandboxConfig {
            secret_key: SANDBOX_KEY.into(),
            state_file: None,
            ..Default::default()
        },
        listener,
    )
    .await
    .unwrap();
    let base = sandbox.base_url().to_owned();
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__PROVIDER__KIND", "stripe"),
            ("BAZAAR__PROVIDER__API_BASE", &base),
            ("BAZAAR__PROVIDER__SECRET_KEY", SANDBOX_KEY),
            ("BAZAAR__PROVIDER__WEBHOOK_SECRETS", "whsec_unused"),
            (
                "BAZAAR__PROVIDER__CONNECT_WEBHOOK_SECRETS",
                "whsec_unused_connect",
            ),
            ("BAZAAR__PROVIDER__RETRY_ATTEMPTS_MAX", "2"),
        ],
        |_| {},
    )
    .await;
    let app = TestApp {
        sandbox_url: Some(base),
        ..app
    };
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let vase = product(&app, &seller, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 2).await;
    sandbox.stop().await;

    let response = post_keyed(
        &app,
        &market.buyer,
        "/v1/checkout",
        "k",
        &checkout_body(Some("pm_card_visa")),
    )
    .await;
    assert_error(response, 503, "service_unavailable").await;
    assert_eq!(stock_of(&app, &seller, &shop, &vase).await, 5);
    let cart = json_of(get_as(&app, &market.buyer, "/v1/cart").await, 200).await;
    assert_eq!(cart["lines"][0]["quantity"], 2);
    let orders = json_of(get_as(&app, &market.buyer, "/v1/orders").await, 200).await;
    assert_eq!(orders["data"][0]["status"], "canceled");
    assert_eq!(orders["data"][0]["cancel_reason"], "provider_unavailable");
}

#[tokio::test]
async fn the_background_sweep_expires_unpaid_orders() {
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__ORDERS__UNPAID_TTL_S", "1"),
            ("BAZAAR__ORDERS__SWEEP_INTERVAL_MS", "100"),
        ],
        |_| {},
    )
    .await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let vase = product(&app, &seller, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 3).await;
    let order = checkout_ok(&app, &market.buyer, "k", None).await;
    assert_eq!(stock_of(&app, &seller, &shop, &vase).await, 2);
    let path = format!("/v1/orders/{}", order["id"].as_str().unwrap());
    let mut status = String::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = json_of(get_as(&app, &market.buyer, &path).await, 200).await["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status == "expired" {
            break;
        }
    }
    assert_eq!(status, "expired");
    assert_eq!(stock_of(&app, &seller, &shop, &vase).await, 5);
}

#[tokio::test]
async fn one_checkout_sent_eight_times_at_once_is_one_order_replayed() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    let vase = product(&app, &ann, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let body = checkout_body(Some("pm_card_visa"));
    let attempts =
        (0..8).map(|_| post_keyed(&app, &market.buyer, "/v1/checkout", "same-key", &body));
    let mut ids = Vec::new();
    for response in futures_util::future::join_all(attempts).await {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(matches!(status, 200 | 201), "{status}: {body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one order, replayed to every attempt");
    assert_eq!(stock_of(&app, &ann, &shop, &vase).await, 4);
}

#[tokio::test]
async fn refunds_of_one_line_racing_give_one_refund_and_clear_refusals() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let ann = signup(&app, "seller").await;
    let shop = active_shop(&app, &ann, "USD").await;
    let vase = product(&app, &ann, &shop, "Vase", 3000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let order = checkout_ok(&app, &market.buyer, "k", Some("pm_card_visa")).await;
    let order_id = order["id"].as_str().unwrap();
    let line = &order["parts"][0]["lines"][0]["id"];
    let body = serde_json::json!({"lines": [{"line_id": line, "quantity": 1}]});
    let path = format!("/v1/orders/{order_id}/refunds");
    let keys: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let attempts = keys
        .iter()
        .map(|key| post_keyed(&app, &ann, &path, key, &body));
    let mut statuses = Vec::new();
    for response in futures_util::future::join_all(attempts).await {
        statuses.push(response.status().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 409 | 422)),
        "the others are refused, not failed: {statuses:?}"
    );
    let view = staff_view(&app, order_id).await;
    assert_eq!(view["refunded"]["minor"], 3000);
}
