//! [`StripeProvider`]: the [`Provider`] on async-stripe, against the real API or
//! the sandbox (same client, another base URL).
//!
//! Transient failures (429, 5xx, connection errors) are retried here with
//! jittered exponential backoff and the caller's idempotency key, so a retry
//! never acts twice; permanent ones are returned at once.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use stripe::{
    Client, ClientBuilder, IdempotencyKey as StripeKey, RequestStrategy, StripeError, StripeRequest,
};
use stripe_shared::{AccountId, ApiErrorsType};
use stripe_types::Expandable;

use super::{
    currency_from_provider, AccountLink, Balance, BalanceTransaction, Charge, ConnectedAccount,
    Dispute, IdempotencyKey, Metadata, NewConnectedAccount, NewPaymentIntent, NewRefund,
    NewTransfer, Page, PaymentIntent, PaymentStatus, Payout, Provider, ProviderError, Refund,
    Transfer, TransferReversal,
};
use crate::money::{Currency, Money};

/// How a [`StripeProvider`] reaches the API and how hard it retries.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// `https://api.stripe.com` or the sandbox's address.
    pub api_base: String,
    pub secret_key: String,
    /// Total attempts for a call that keeps failing transiently.
    pub attempts_max: u32,
    /// Delay before the first retry; doubles each time, with jitter.
    pub backoff_first: Duration,
    /// Per-attempt timeout.
    pub request_timeout: Duration,
}

/// The provider client on async-stripe.
#[derive(Clone)]
pub struct StripeProvider {
    client: Client,
    api_base: String,
    attempts_max: u32,
    backoff_first: Duration,
}

impl std::fmt::Debug for StripeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeProvider")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl StripeProvider {
    /// Builds the client.
    ///
    /// # Errors
    /// The client could not be configured (an invalid base URL).
    pub fn new(settings: &StripeSettings) -> Result<Self, ProviderError> {
        // async-stripe appends `v1/...` itself; the base is the host with a trailing slash.
        let base = format!("{}/", settings.api_base.trim_end_matches('/'));
        let client = ClientBuilder::new(settings.secret_key.clone())
            .url(base)
            .timeout(settings.request_timeout)
            .build()
            .map_err(|e| ProviderError::Unexpected {
                message: format!("client configuration: {e}"),
            })?;
        Ok(Self {
            client,
            api_base: settings.api_base.clone(),
            attempts_max: settings.attempts_max.max(1),
            backoff_first: settings.backoff_first,
        })
    }

    /// Runs `call` until it succeeds, fails permanently, or the attempts run out.
    async fn with_retries<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StripeError>>,
    {
        let mut attempt = 1;
        loop {
            let error = match call().await {
                Ok(value) => return Ok(value),
                Err(error) => map_error(error),
            };
            if !error.is_transient() || attempt >= self.attempts_max {
                if error.is_transient() {
                    tracing::warn!(%error, api_base = %self.api_base, attempt, what, "provider call gave up");
                }
                return Err(error);
            }
            let delay = backoff(self.backoff_first, attempt);
            tracing::info!(%error, api_base = %self.api_base, attempt, ?delay, what, "provider call retried");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// Exponential backoff with full jitter: a random delay in [d/2, d], d doubling.
fn backoff(first: Duration, attempt: u32) -> Duration {
    let ceiling = first.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    let ceiling_ms = u64::try_from(ceiling.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(rand::rng().random_range(ceiling_ms / 2..=ceiling_ms))
}

fn strategy(key: &IdempotencyKey) -> Result<RequestStrategy, ProviderError> {
    let key = StripeKey::new(key.as_str()).map_err(|e| ProviderError::Unexpected {
        message: format!("idempotency key: {e:?}"),
    })?;
    Ok(RequestStrategy::Idempotent(key))
}

fn account_id(id: &str) -> Result<AccountId, ProviderError> {
    AccountId::from_str(id).map_err(|_| ProviderError::InvalidRequest {
        code: "invalid_account".into(),
        param: Some("account".into()),
        message: format!("`{id}` is not an account id"),
    })
}

fn stripe_currency(currency: Currency) -> Result<stripe_types::Currency, ProviderError> {
    stripe_types::Currency::from_str(&currency.provider_code()).map_err(|_| {
        ProviderError::InvalidRequest {
            code: "invalid_currency".into(),
            param: Some("currency".into()),
            message: format!("{currency} is not a provider currency"),
        }
    })
}

fn money(minor: i64, currency: &stripe_types::Currency) -> Result<Money, ProviderError> {
    Ok(Money::new(
        minor,
        currency_from_provider(&currency.to_string())?,
    ))
}

fn metadata_map(metadata: &Metadata) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn expandable_id<T: stripe_types::Object>(value: Option<&Expandable<T>>) -> Option<String>
where
    T::Id: ToString,
{
    value.map(|expandable| expandable.id().to_string())
}

/// Sorts an async-stripe error into what a caller can act on.
fn map_error(error: StripeError) -> ProviderError {
    match error {
        StripeError::Stripe(api, status) => {
            let code = api
                .code
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let message = api.message.clone().unwrap_or_else(|| code.clone());
            match (status, &api.type_) {
                (401, _) => ProviderError::Authentication,
                (429, _) => ProviderError::RateLimited,
                (500..=599, _) => ProviderError::Unavailable { message },
                (404, _) => ProviderError::NotFound { message },
                (_, ApiErrorsType::CardError) => ProviderError::CardDeclined {
                    code: if code.is_empty() {
                        "card_declined".into()
                    } else {
                        code
                    },
                    decline_code: api.decline_code.clone(),
                    message,
                    payment_intent: api.payment_intent.as_ref().map(|pi| pi.id.to_string()),
                },
                (_, ApiErrorsType::IdempotencyError) => {
                    ProviderError::IdempotencyConflict { message }
                }
                _ => ProviderError::InvalidRequest {
                    code,
                    param: api.param.clone(),
                    message,
                },
            }
        }
        StripeError::ClientError(message) => ProviderError::Unavailable { message },
        StripeError::Timeout => ProviderError::Unavailable {
            message: "timed out".into(),
        },
        StripeError::JSONDeserialize(message) | StripeError::ConfigError(message) => {
            ProviderError::Unexpected { message }
        }
    }
}

fn account_from(account: &stripe_shared::Account) -> ConnectedAccount {
    let requirements = account.requirements.as_ref();
    ConnectedAccount {
        id: account.id.to_string(),
        charges_enabled: account.charges_enabled.unwrap_or(false),
        payouts_enabled: account.payouts_enabled.unwrap_or(false),
        details_submitted: account.details_submitted.unwrap_or(false),
        currently_due: requirements
            .and_then(|r| r.currently_due.clone())
            .unwrap_or_default(),
        disabled_reason: requirements
            .and_then(|r| r.disabled_reason.as_ref())
            .map(|reason| reason.as_str().to_owned()),
    }
}

fn payment_status(
    status: &stripe_shared::PaymentIntentStatus,
) -> Result<PaymentStatus, ProviderError> {
    use stripe_shared::PaymentIntentStatus as S;
    Ok(match status {
        S::RequiresPaymentMethod => PaymentStatus::RequiresPaymentMethod,
        S::RequiresConfirmation => PaymentStatus::RequiresConfirmation,
        S::RequiresAction => PaymentStatus::RequiresAction,
        S::Processing => PaymentStatus::Processing,
        S::RequiresCapture => PaymentStatus::RequiresCapture,
        S::Canceled => PaymentStatus::Canceled,
        S::Succeeded => PaymentStatus::Succeeded,
        other => {
            return Err(ProviderError::Unexpected {
                message: format!("payment intent status {other:?}"),
            })
        }
    })
}

fn payment_intent_from(
    intent: &stripe_shared::PaymentIntent,
) -> Result<PaymentIntent, ProviderError> {
    Ok(PaymentIntent {
        id: intent.id.to_string(),
        status: payment_status(&intent.status)?,
        amount: money(intent.amount, &intent.currency)?,
        client_secret: intent.client_secret.clone(),
        latest_charge: expandable_id(intent.latest_charge.as_ref()),
        transfer_group: intent.transfer_group.clone(),
        last_error: intent.last_payment_error.as_ref().map(|error| {
            error
                .decline_code
                .clone()
                .or_else(|| error.code.as_ref().map(ToString::to_string))
                .or_else(|| error.message.clone())
                .unwrap_or_else(|| "payment failed".into())
        }),
        metadata: intent
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

fn refund_from(refund: &stripe_shared::Refund) -> Result<Refund, ProviderError> {
    Ok(Refund {
        id: refund.id.to_string(),
        amount: money(refund.amount, &refund.currency)?,
        charge: expandable_id(refund.charge.as_ref()),
        payment_intent: expandable_id(refund.payment_intent.as_ref()),
        status: refund.status.clone(),
        metadata: refund
            .metadata
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

fn balance_transaction_from(
    txn: &stripe_shared::BalanceTransaction,
) -> Result<BalanceTransaction, ProviderError> {
    Ok(BalanceTransaction {
        id: txn.id.to_string(),
        amount: money(txn.amount, &txn.currency)?,
        fee: txn.fee,
        net: txn.net,
        kind: txn.type_.as_str().to_owned(),
        reporting_category: txn.reporting_category.clone(),
        source: expandable_id(txn.source.as_ref()),
        available_on: txn.available_on,
        status: txn.status.clone(),
    })
}

fn transfer_from(transfer: &stripe_shared::Transfer) -> Result<Transfer, ProviderError> {
    Ok(Transfer {
        id: transfer.id.to_string(),
        amount: money(transfer.amount, &transfer.currency)?,
        amount_reversed: transfer.amount_reversed,
        destination: expandable_id(transfer.destination.as_ref()),
        destination_payment: expandable_id(transfer.destination_payment.as_ref()),
        source_transaction: expandable_id(transfer.source_transaction.as_ref()),
        transfer_group: transfer.transfer_group.clone(),
    })
}

/// An event as its webhook would carry it, rebuilt from async-stripe's type
/// (which keeps the object as untyped JSON).
fn event_json(event: &stripe_shared::Event) -> Result<serde_json::Value, ProviderError> {
    let untyped = |value: &miniserde::json::Value| {
        serde_json::from_str::<serde_json::Value>(&miniserde::json::to_string(value)).map_err(|e| {
            ProviderError::Unexpected {
                message: format!("event {}: {e}", event.id),
            }
        })
    };
    let mut data = serde_json::json!({ "object": untyped(&event.data.object)? });
    if let Some(previous) = &event.data.previous_attributes {
        data["previous_attributes"] = untyped(previous)?;
    }
    let mut json = serde_json::json!({
        "id": event.id.to_string(),
        "object": "event",
        "api_version": event.api_version,
        "created": event.created,
        "data": data,
        "livemode": event.livemode,
        "pending_webhooks": event.pending_webhooks,
        "type": event.type_.as_str(),
    });
    if let Some(account) = &event.account {
        json["account"] = serde_json::json!(account);
    }
    Ok(json)
}

#[async_trait::async_trait]
impl Provider for StripeProvider {
    async fn create_connected_account(
        &self,
        account: &NewConnectedAccount,
        key: &IdempotencyKey,
    ) -> Result<ConnectedAccount, ProviderError> {
        use stripe_connect::account::{
            CreateAccount, CreateAccountBusinessProfile, CreateAccountCapabilities,
            CreateAccountCapabilitiesCardPayments, CreateAccountCapabilitiesTransfers,
            CreateAccountType,
        };
        let mut capabilities = CreateAccountCapabilities::new();
        capabilities.card_payments = Some(CreateAccountCapabilitiesCardPayments {
            requested: Some(true),
        });
        capabilities.transfers = Some(CreateAccountCapabilitiesTransfers {
            requested: Some(true),
        });
        let mut profile = CreateAccountBusinessProfile::new();
        profile.name.clone_from(&account.business_name);
        profile.support_email.clone_from(&account.support_email);
        let request = CreateAccount::new()
            .type_(CreateAccountType::Express)
            .country(account.country.clone())
            .email(account.email.clone())
            .capabilities(capabilities)
            .business_profile(profile)
            .metadata(metadata_map(&account.metadata));
        let strategy = strategy(key)?;
        let created = self
            .with_retries("create account", || {
                request
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?;
        Ok(account_from(&created))
    }

    async fn retrieve_account(&self, id: &str) -> Result<ConnectedAccount, ProviderError> {
        let request = stripe_connect::account::RetrieveAccount::new(account_id(id)?);
        let account = self
            .with_retries("retrieve account", || request.send(&self.client))
            .await?;
        Ok(account_from(&account))
    }

    async fn create_account_link(
        &self,
        account: &str,
        refresh_url: &str,
        return_url: &str,
    ) -> Result<AccountLink, ProviderError> {
        use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
        let request = CreateAccountLink::new(account, CreateAccountLinkType::AccountOnboarding)
            .refresh_url(refresh_url)
            .return_url(return_url);
        // A link is single-use and short-lived: a fresh one each time, so no key.
        let link = self
            .with_retries("create account link", || request.send(&self.client))
            .await?;
        Ok(AccountLink {
            url: link.url,
            created: link.created,
            expires_at: link.expires_at,
        })
    }

    async fn create_payment_intent(
        &self,
        intent: &NewPaymentIntent,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, ProviderError> {
        use stripe_core::payment_intent::CreatePaymentIntent;
        let mut request = CreatePaymentIntent::new(
            intent.amount.minor,
            stripe_currency(intent.amount.currency)?,
        )
        .transfer_group(intent.transfer_group.clone())
        .metadata(metadata_map(&intent.metadata));
        if let Some(payment_method) = &intent.confirm_with {
            request = request.payment_method(payment_method.clone()).confirm(true);
        }
        let strategy = strategy(key)?;
        let created = self
            .with_retries("create payment intent", || {
                request
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?;
        payment_intent_from(&created)
    }

    async fn confirm_payment_intent(
        &self,
        intent_id: &str,
        payment_method: &str,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, ProviderError> {
        let request = stripe_core::payment_intent::ConfirmPaymentIntent::new(intent_id)
            .payment_method(payment_method);
        let strategy = strategy(key)?;
        let confirmed = self
            .with_retries("confirm payment intent", || {
                request
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?;
        payment_intent_from(&confirmed)
    }

    async fn cancel_payment_intent(
        &self,
        intent_id: &str,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, ProviderError> {
        let request = stripe_core::payment_intent::CancelPaymentIntent::new(intent_id);
        let strategy = strategy(key)?;
        let canceled = self
            .with_retries("cancel payment intent", || {
                request
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?;
        payment_intent_from(&canceled)
    }

    async fn retrieve_payment_intent(
        &self,
        intent_id: &str,
    ) -> Result<PaymentIntent, ProviderError> {
        let request = stripe_core::payment_intent::RetrievePaymentIntent::new(intent_id);
        let intent = self
            .with_retries("retrieve payment intent", || request.send(&self.client))
            .await?;
        payment_intent_from(&intent)
    }

    async fn retrieve_charge(&self, charge_id: &str) -> Result<Charge, ProviderError> {
        let request = stripe_core::charge::RetrieveCharge::new(charge_id)
            .expand(vec!["balance_transaction".to_owned()]);
        let charge = self
            .with_retries("retrieve charge", || request.send(&self.client))
            .await?;
        let balance_transaction = match &charge.balance_transaction {
            Some(Expandable::Object(txn)) => Some(balance_transaction_from(txn)?),
            _ => None,
        };
        Ok(Charge {
            id: charge.id.to_string(),
            amount: money(charge.amount, &charge.currency)?,
            amount_refunded: charge.amount_refunded,
            payment_intent: expandable_id(charge.payment_intent.as_ref()),
            disputed: charge.disputed,
            balance_transaction,
        })
    }

    async fn retrieve_dispute(&self, dispute_id: &str) -> Result<Dispute, ProviderError> {
        let request = stripe_core::dispute::RetrieveDispute::new(dispute_id);
        let dispute = self
            .with_retries("retrieve dispute", || request.send(&self.client))
            .await?;
        // The withdrawal carries the fee; a won dispute adds a reinstatement
        // with the fee given back (negative), which does not change what the fee was.
        let fee = dispute
            .balance_transactions
            .iter()
            .map(|txn| txn.fee)
            .filter(|fee| *fee > 0)
            .sum();
        let fee_returned = -dispute
            .balance_transactions
            .iter()
            .map(|txn| txn.fee)
            .filter(|fee| *fee < 0)
            .sum::<i64>();
        Ok(Dispute {
            id: dispute.id.to_string(),
            charge: dispute.charge.id().to_string(),
            payment_intent: expandable_id(dispute.payment_intent.as_ref()),
            amount: money(dispute.amount, &dispute.currency)?,
            status: dispute.status.as_str().to_owned(),
            fee,
            fee_returned,
            evidence_due_by: dispute
                .evidence_details
                .due_by
                .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
                .map(|at| at.naive_utc()),
        })
    }

    async fn create_transfer(
        &self,
        transfer: &NewTransfer,
        key: &IdempotencyKey,
    ) -> Result<Transfer, ProviderError> {
        use stripe_connect::transfer::CreateTransfer;
        let mut request = CreateTransfer::new(
            stripe_currency(transfer.amount.currency)?,
            transfer.destination.clone(),
        )
        .amount(transfer.amount.minor)
        .metadata(metadata_map(&transfer.metadata));
        if let Some(source) = &transfer.source_transaction {
            request = request.source_transaction(source.clone());
        }
        if let Some(group) = &transfer.transfer_group {
            request = request.transfer_group(group.clone());
        }
        let strategy = strategy(key)?;
        let created = self
            .with_retries("create transfer", || {
                request
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?;
        transfer_from(&created)
    }

    async fn reverse_transfer(
        &self,
        transfer_id: &str,
        amount: i64,
        metadata: &Metadata,
        key: &IdempotencyKey,
    ) -> Result<TransferReversal, ProviderError> {
        let request = stripe_connect::transfer_reversal::CreateIdTransferReversal::new(transfer_id)
            .amount(amount)
            .metadata(metadata_map(metadata));
        let strategy = strategy(key)?;
        let reversal = self
            .with_retries("reverse transfer", || {
                request
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?;
        Ok(TransferReversal {
            id: reversal.id.to_string(),
            transfer: expandable_id(Some(&reversal.transfer))
                .unwrap_or_else(|| transfer_id.to_owned()),
            amount: money(reversal.amount, &reversal.currency)?,
            destination_payment_refund: expandable_id(reversal.destination_payment_refund.as_ref()),
        })
    }

    async fn create_refund(
        &self,
        refund: &NewRefund,
        key: &IdempotencyKey,
    ) -> Result<Refund, ProviderError> {
        let mut request = stripe_core::refund::CreateRefund::new()
            .payment_intent(refund.payment_intent.clone())
            .metadata(metadata_map(&refund.metadata));
        if let Some(amount) = refund.amount {
            request = request.amount(amount);
        }
        let strategy = strategy(key)?;
        let created = self
            .with_retries("create refund", || {
                request
                    .customize()
                    .request_strategy(strategy.clone())
                    .send(&self.client)
            })
            .await?;
        refund_from(&created)
    }

    async fn retrieve_refund(&self, refund_id: &str) -> Result<Refund, ProviderError> {
        let request = stripe_core::refund::RetrieveRefund::new(refund_id);
        let refund = self
            .with_retries("retrieve refund", || request.send(&self.client))
            .await?;
        refund_from(&refund)
    }

    async fn retrieve_balance(&self, account: Option<&str>) -> Result<Balance, ProviderError> {
        let account = account.map(account_id).transpose()?;
        let request = stripe_core::balance::RetrieveForMyAccountBalance::new();
        let balance = self
            .with_retries("retrieve balance", || {
                let mut customized = request.customize();
                if let Some(account) = &account {
                    customized = customized.account_id(account.clone());
                }
                customized.send(&self.client)
            })
            .await?;
        let amounts = |funds: &[stripe_core::BalanceAmount]| {
            funds
                .iter()
                .map(|fund| money(fund.amount, &fund.currency))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Balance {
            available: amounts(&balance.available)?,
            pending: amounts(&balance.pending)?,
        })
    }

    async fn list_balance_transactions(
        &self,
        account: Option<&str>,
        payout_id: Option<&str>,
        starting_after: Option<&str>,
        limit: u8,
    ) -> Result<Page<BalanceTransaction>, ProviderError> {
        let account = account.map(account_id).transpose()?;
        let mut request = stripe_core::balance_transaction::ListBalanceTransaction::new()
            .limit(i64::from(limit.clamp(1, 100)));
        if let Some(payout) = payout_id {
            request = request.payout(payout);
        }
        if let Some(after) = starting_after {
            request = request.starting_after(after);
        }
        let list = self
            .with_retries("list balance transactions", || {
                let mut customized = request.customize();
                if let Some(account) = &account {
                    customized = customized.account_id(account.clone());
                }
                customized.send(&self.client)
            })
            .await?;
        Ok(Page {
            data: list
                .data
                .iter()
                .map(balance_transaction_from)
                .collect::<Result<_, _>>()?,
            has_more: list.has_more,
        })
    }

    async fn list_events(
        &self,
        account: Option<&str>,
        created_gte: i64,
        starting_after: Option<&str>,
        limit: u8,
    ) -> Result<Page<serde_json::Value>, ProviderError> {
        let account = account.map(account_id).transpose()?;
        let mut request = stripe_core::event::ListEvent::new()
            .created(stripe_types::RangeQueryTs::gte(created_gte))
            .limit(i64::from(limit.clamp(1, 100)));
        if let Some(after) = starting_after {
            request = request.starting_after(after);
        }
        let list = self
            .with_retries("list events", || {
                let mut customized = request.customize();
                if let Some(account) = &account {
                    customized = customized.account_id(account.clone());
                }
                customized.send(&self.client)
            })
            .await?;
        Ok(Page {
            data: list.data.iter().map(event_json).collect::<Result<_, _>>()?,
            has_more: list.has_more,
        })
    }

    async fn retrieve_payout(
        &self,
        account: &str,
        payout_id: &str,
    ) -> Result<Payout, ProviderError> {
        let account = account_id(account)?;
        let request = stripe_core::payout::RetrievePayout::new(payout_id);
        let payout = self
            .with_retries("retrieve payout", || {
                request
                    .customize()
                    .account_id(account.clone())
                    .send(&self.client)
            })
            .await?;
        Ok(Payout {
            id: payout.id.to_string(),
            amount: money(payout.amount, &payout.currency)?,
            status: payout.status.clone(),
            failure_code: payout.failure_code.clone(),
            failure_message: payout.failure_message.clone(),
            arrival_date: payout.arrival_date,
            automatic: payout.automatic,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(type_: ApiErrorsType, code: Option<&str>) -> Box<stripe_shared::ApiErrors> {
        Box::new(stripe_shared::ApiErrors {
            advice_code: None,
            charge: None,
            code: code.map(|c| c.parse().expect("known code")),
            decline_code: None,
            doc_url: None,
            message: Some("from the provider".into()),
            network_advice_code: None,
            network_decline_code: None,
            param: Some("amount".into()),
            payment_intent: None,
            payment_method: None,
            payment_method_type: None,
            request_log_url: None,
            setup_intent: None,
            source: None,
            type_,
        })
    }

    #[test]
    fn provider_errors_are_sorted_into_what_callers_can_act_on() {
        let cases: [(u16, ApiErrorsType, Option<&str>, bool); 6] = [
            (
                429,
                ApiErrorsType::InvalidRequestError,
                Some("rate_limit"),
                true,
            ),
            (500, ApiErrorsType::ApiError, None, true),
            (503, ApiErrorsType::ApiError, None, true),
            (402, ApiErrorsType::CardError, Some("card_declined"), false),
            (400, ApiErrorsType::IdempotencyError, None, false),
            (
                400,
                ApiErrorsType::InvalidRequestError,
                Some("parameter_unknown"),
                false,
            ),
        ];
        for (status, type_, code, transient) in cases {
            let mapped = map_error(StripeError::Stripe(api_error(type_.clone(), code), status));
            assert_eq!(
                mapped.is_transient(),
                transient,
                "{status} {type_:?}: {mapped:?}"
            );
            match status {
                402 => assert!(
                    matches!(mapped, ProviderError::CardDeclined { .. }),
                    "{mapped:?}"
                ),
                429 => assert!(matches!(mapped, ProviderError::RateLimited), "{mapped:?}"),
                500 | 503 => assert!(
                    matches!(mapped, ProviderError::Unavailable { .. }),
                    "{mapped:?}"
                ),
                _ => {}
            }
        }
        let conflict = map_error(StripeError::Stripe(
            api_error(ApiErrorsType::IdempotencyError, None),
            400,
        ));
        assert!(matches!(
            conflict,
            ProviderError::IdempotencyConflict { .. }
        ));
        let invalid = map_error(StripeError::Stripe(
            api_error(
                ApiErrorsType::InvalidRequestError,
                Some("parameter_unknown"),
            ),
            400,
        ));
        assert!(
            matches!(&invalid, ProviderError::InvalidRequest { param: Some(p), code, .. } if p == "amount" && code == "parameter_unknown"),
            "{invalid:?}"
        );
        assert!(map_error(StripeError::ClientError("connection reset".into())).is_transient());
        assert!(map_error(StripeError::Timeout).is_transient());
        assert!(!map_error(StripeError::JSONDeserialize("bad".into())).is_transient());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_bounded() {
        let first = Duration::from_millis(100);
        for attempt in 1..=20 {
            let delay = backoff(first, attempt);
            let ceiling = first.saturating_mul(1 << (attempt - 1).min(10));
            assert!(
                delay <= ceiling,
                "attempt {attempt}: {delay:?} > {ceiling:?}"
            );
            assert!(
                delay >= ceiling / 2,
                "attempt {attempt}: {delay:?} < half of {ceiling:?}"
            );
        }
    }
}
