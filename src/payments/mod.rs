//! The payments provider as the marketplace sees it: the [`Provider`] trait with
//! exactly the calls the money flow needs, in our own plain types, and
//! [`stripe::StripeProvider`], its implementation on async-stripe.
//!
//! Knows no orders, shops or ledger (see DESIGN.md, "Who may use whom"): callers
//! pass ids and amounts, and an [`IdempotencyKey`] derived from their own ids so
//! a retried command never moves money twice.

pub mod clock;
pub mod stripe;

use std::collections::BTreeMap;

use crate::error::AppError;
use crate::money::{Currency, Money};

pub use self::clock::Clock;
pub use self::stripe::StripeProvider;

/// Longest idempotency key the provider accepts.
const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;

/// A key that makes a provider POST safe to retry: the same key with the same
/// parameters returns the first result instead of acting twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Derives a key from what the call is for and our own id of it, e.g.
    /// `IdempotencyKey::derive("transfer", "part_123")` → `transfer:part_123`.
    ///
    /// # Panics
    /// When the key would be empty or longer than the provider accepts: our ids
    /// are short, so that is a bug in the caller, not an input error.
    pub fn derive(purpose: &str, our_id: &str) -> Self {
        let key = format!("{purpose}:{our_id}");
        assert!(!purpose.is_empty(), "idempotency key purpose is empty");
        assert!(!our_id.is_empty(), "idempotency key id is empty");
        assert!(
            key.len() <= IDEMPOTENCY_KEY_CHARS_MAX,
            "idempotency key longer than {IDEMPOTENCY_KEY_CHARS_MAX}"
        );
        Self(key)
    }

    /// The key as sent in the `Idempotency-Key` header.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free-form key/value pairs stored on a provider object (our ids, mostly).
pub type Metadata = BTreeMap<String, String>;

/// What we send to create a seller's connected account.
#[derive(Debug, Clone)]
pub struct NewConnectedAccount {
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country: String,
    pub email: String,
    pub business_name: Option<String>,
    pub support_email: Option<String>,
    pub metadata: Metadata,
}

/// A connected account's onboarding state as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedAccount {
    pub id: String,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
    /// Requirement names still due, e.g. `external_account`.
    pub currently_due: Vec<String>,
    /// Why the account cannot take charges or payouts, when it cannot.
    pub disabled_reason: Option<String>,
}

/// A one-time onboarding URL for a connected account.
#[derive(Debug, Clone)]
pub struct AccountLink {
    pub url: String,
    /// Unix seconds, in the provider's clock, when the link was made.
    pub created: i64,
    /// Unix seconds, in the provider's clock, after which the link must be
    /// asked for again.
    pub expires_at: i64,
}

impl AccountLink {
    /// How long the link stays usable: the provider's clock may differ from
    /// ours (the sandbox's can be moved ahead), but a span is the same in both.
    pub fn lifetime(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.expires_at.saturating_sub(self.created).max(0))
    }
}

/// What we send to create the buyer's PaymentIntent on the platform account.
#[derive(Debug, Clone)]
pub struct NewPaymentIntent {
    pub amount: Money,
    /// Groups the transfers of the order (our order id).
    pub transfer_group: String,
    pub metadata: Metadata,
    /// A payment method to confirm with at once (e.g. `pm_card_visa`), or none.
    pub confirm_with: Option<String>,
}

/// Where a PaymentIntent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
}

/// A PaymentIntent as far as the marketplace cares.
#[derive(Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub status: PaymentStatus,
    pub amount: Money,
    pub client_secret: Option<String>,
    pub latest_charge: Option<String>,
    pub transfer_group: Option<String>,
    /// The decline code or message of the last failed attempt.
    pub last_error: Option<String>,
    pub metadata: Metadata,
}

/// A charge with the provider's fee on it.
#[derive(Debug, Clone)]
pub struct Charge {
    pub id: String,
    pub amount: Money,
    pub amount_refunded: i64,
    pub payment_intent: Option<String>,
    pub disputed: bool,
    /// The balance transaction carrying the processing fee, once settled.
    pub balance_transaction: Option<BalanceTransaction>,
}

/// What we send to move a seller's share to its connected account.
#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub amount: Money,
    pub destination: String,
    /// The charge whose funds this transfer spends, so it cannot run ahead of them.
    pub source_transaction: Option<String>,
    pub transfer_group: Option<String>,
    pub metadata: Metadata,
}

/// A transfer to a connected account.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub id: String,
    pub amount: Money,
    pub amount_reversed: i64,
    pub destination: Option<String>,
    /// The payment (`py_…`) the transfer created on the connected account.
    pub destination_payment: Option<String>,
    pub source_transaction: Option<String>,
    pub transfer_group: Option<String>,
}

/// A (partial) reversal of a transfer.
#[derive(Debug, Clone)]
pub struct TransferReversal {
    pub id: String,
    pub transfer: String,
    pub amount: Money,
    /// The refund (`pyr_…`) of the destination payment the reversal created.
    pub destination_payment_refund: Option<String>,
}

/// What we send to refund (part of) a payment.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub payment_intent: String,
    /// `None` refunds whatever is left.
    pub amount: Option<i64>,
    pub metadata: Metadata,
}

/// A refund of a platform charge.
#[derive(Debug, Clone)]
pub struct Refund {
    pub id: String,
    pub amount: Money,
    pub charge: Option<String>,
    pub payment_intent: Option<String>,
    pub status: Option<String>,
    /// Ours carry `order_id` and, for an order's refunds, `refund_id`.
    pub metadata: Metadata,
}

/// A dispute (chargeback) on a platform charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: String,
    pub charge: String,
    pub payment_intent: Option<String>,
    pub amount: Money,
    /// The provider's status: `needs_response`, `under_review`, `won`, `lost`, `warning_*`, …
    pub status: String,
    /// The dispute fee withdrawn with the disputed amount (0 until it is).
    pub fee: i64,
    /// The part of the fee given back (when a won dispute reinstates it).
    pub fee_returned: i64,
    /// When the provider wants the platform's evidence, if it said.
    pub evidence_due_by: Option<chrono::NaiveDateTime>,
}

impl Dispute {
    /// Whether the provider decided the dispute in the platform's favour.
    pub fn is_won(&self) -> bool {
        matches!(self.status.as_str(), "won" | "warning_closed")
    }

    /// Whether the disputed funds are gone for good.
    pub fn is_lost(&self) -> bool {
        self.status == "lost"
    }
}

/// One account's balance per currency.
#[derive(Debug, Clone, Default)]
pub struct Balance {
    pub available: Vec<Money>,
    pub pending: Vec<Money>,
}

/// One movement on a provider balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceTransaction {
    pub id: String,
    pub amount: Money,
    pub fee: i64,
    pub net: i64,
    /// `charge`, `payment`, `transfer`, `refund`, `adjustment`, `payout`, …
    pub kind: String,
    pub reporting_category: String,
    /// The id of the object that caused it (charge, transfer, payout, …).
    pub source: Option<String>,
    pub available_on: i64,
    pub status: String,
}

impl BalanceTransaction {
    /// The key the ledger's postings mirroring this transaction carry: its
    /// source object, except that a payout's failure (or cancellation) return
    /// shares the payout as source, so it gets `{po}:failure`.
    pub fn reference(&self) -> String {
        let source = self.source.clone().unwrap_or_else(|| self.id.clone());
        match self.kind.as_str() {
            "payout_failure" | "payout_cancel" => format!("{source}:failure"),
            _ => source,
        }
    }
}

/// One page of a list, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// A payout of a connected account to its bank.
#[derive(Debug, Clone)]
pub struct Payout {
    pub id: String,
    pub amount: Money,
    /// `pending`, `in_transit`, `paid`, `failed` or `canceled`.
    pub status: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub arrival_date: i64,
    pub automatic: bool,
}

/// Why a provider call failed, in terms a caller can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The buyer's card was declined; show the message, ask for another card.
    #[error("card declined ({code}): {message}")]
    CardDeclined {
        code: String,
        decline_code: Option<String>,
        message: String,
        payment_intent: Option<String>,
    },
    /// The provider refused the request's parameters (a bug or bad input).
    #[error("invalid request ({code}): {message}")]
    InvalidRequest {
        code: String,
        param: Option<String>,
        message: String,
    },
    /// The object does not exist at the provider.
    #[error("not found at the provider: {message}")]
    NotFound { message: String },
    /// The same idempotency key was used with different parameters.
    #[error("idempotency key reused with other parameters: {message}")]
    IdempotencyConflict { message: String },
    /// The API key was refused.
    #[error("the provider refused our API key")]
    Authentication,
    /// Too many requests; retried, then given up.
    #[error("rate limited by the provider")]
    RateLimited,
    /// The provider could not be reached or answered 5xx; retried, then given up.
    #[error("the provider is unavailable: {message}")]
    Unavailable { message: String },
    /// The provider answered something we could not read.
    #[error("unexpected provider response: {message}")]
    Unexpected { message: String },
}

impl ProviderError {
    /// Whether trying the same call again (with the same idempotency key) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable { .. })
    }
}

impl From<ProviderError> for AppError {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::CardDeclined { message, .. } => AppError::PaymentDeclined { message },
            ProviderError::InvalidRequest { message, param, .. } => {
                AppError::unprocessable("provider_rejected", message, param)
            }
            ProviderError::NotFound { .. } => AppError::NotFound {
                resource: "provider object",
            },
            ProviderError::IdempotencyConflict { message } => AppError::Conflict {
                code: "idempotency_conflict",
                message,
            },
            ProviderError::RateLimited | ProviderError::Unavailable { .. } => {
                AppError::Unavailable {
                    message: "the payments provider is not reachable right now; try again".into(),
                }
            }
            ProviderError::Authentication | ProviderError::Unexpected { .. } => {
                AppError::Internal(anyhow::anyhow!(error))
            }
        }
    }
}

/// The calls the marketplace makes to its payments provider.
///
/// Every POST takes an [`IdempotencyKey`]; implementations retry transient
/// failures with that same key and give up with [`ProviderError::is_transient`]
/// errors only after their retry budget.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Creates an Express connected account with card_payments and transfers requested.
    async fn create_connected_account(
        &self,
        account: &NewConnectedAccount,
        key: &IdempotencyKey,
    ) -> Result<ConnectedAccount, ProviderError>;

    /// The account's current onboarding state.
    async fn retrieve_account(&self, account_id: &str) -> Result<ConnectedAccount, ProviderError>;

    /// A fresh onboarding link (links expire; ask again each time).
    async fn create_account_link(
        &self,
        account_id: &str,
        refresh_url: &str,
        return_url: &str,
    ) -> Result<AccountLink, ProviderError>;

    /// Creates the order's PaymentIntent on the platform account.
    async fn create_payment_intent(
        &self,
        intent: &NewPaymentIntent,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, ProviderError>;

    /// Confirms a PaymentIntent with a payment method.
    async fn confirm_payment_intent(
        &self,
        intent_id: &str,
        payment_method: &str,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, ProviderError>;

    /// Cancels a PaymentIntent that was never paid (an expired order).
    async fn cancel_payment_intent(
        &self,
        intent_id: &str,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, ProviderError>;

    /// The PaymentIntent's current state.
    async fn retrieve_payment_intent(
        &self,
        intent_id: &str,
    ) -> Result<PaymentIntent, ProviderError>;

    /// The charge with its balance transaction (the processing fee).
    async fn retrieve_charge(&self, charge_id: &str) -> Result<Charge, ProviderError>;

    /// A dispute's current state (webhook events may be stale or out of order).
    async fn retrieve_dispute(&self, dispute_id: &str) -> Result<Dispute, ProviderError>;

    /// Moves money from the platform to a connected account.
    async fn create_transfer(
        &self,
        transfer: &NewTransfer,
        key: &IdempotencyKey,
    ) -> Result<Transfer, ProviderError>;

    /// Takes (part of) a transfer back from the connected account.
    async fn reverse_transfer(
        &self,
        transfer_id: &str,
        amount: i64,
        metadata: &Metadata,
        key: &IdempotencyKey,
    ) -> Result<TransferReversal, ProviderError>;

    /// Refunds (part of) a platform charge to the buyer.
    async fn create_refund(
        &self,
        refund: &NewRefund,
        key: &IdempotencyKey,
    ) -> Result<Refund, ProviderError>;

    /// A refund of a platform charge, as the provider has it now.
    async fn retrieve_refund(&self, refund_id: &str) -> Result<Refund, ProviderError>;

    /// A connected account's balance (`Stripe-Account` scoped), or the platform's (`None`).
    async fn retrieve_balance(&self, account_id: Option<&str>) -> Result<Balance, ProviderError>;

    /// A page of balance transactions (newest first) of a connected account or
    /// the platform (`None`), optionally those of one payout.
    async fn list_balance_transactions(
        &self,
        account_id: Option<&str>,
        payout_id: Option<&str>,
        starting_after: Option<&str>,
        limit: u8,
    ) -> Result<Page<BalanceTransaction>, ProviderError>;

    /// A page of events (newest first) created at or after `created_gte` (unix
    /// seconds): the platform's, or a connected account's. Each is the event's
    /// JSON as a webhook would carry it (for backfilling missed deliveries).
    async fn list_events(
        &self,
        account_id: Option<&str>,
        created_gte: i64,
        starting_after: Option<&str>,
        limit: u8,
    ) -> Result<Page<serde_json::Value>, ProviderError>;

    /// A connected account's payout.
    async fn retrieve_payout(
        &self,
        account_id: &str,
        payout_id: &str,
    ) -> Result<Payout, ProviderError>;
}

/// Most pages [`all_balance_transactions`] reads (100 transactions each).
pub const TRANSACTION_PAGES_MAX: usize = 1000;

/// Every balance transaction of an account (the platform's for `None`),
/// optionally of one payout, following the pages.
///
/// # Errors
/// The provider failed, or there are more than [`TRANSACTION_PAGES_MAX`] pages.
pub async fn all_balance_transactions(
    provider: &dyn Provider,
    account_id: Option<&str>,
    payout_id: Option<&str>,
) -> Result<Vec<BalanceTransaction>, ProviderError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..TRANSACTION_PAGES_MAX {
        let page = provider
            .list_balance_transactions(account_id, payout_id, after.as_deref(), 100)
            .await?;
        after = page.data.last().map(|t| t.id.clone());
        all.extend(page.data);
        if !page.has_more || after.is_none() {
            return Ok(all);
        }
    }
    Err(ProviderError::Unexpected {
        message: format!("more than {TRANSACTION_PAGES_MAX} pages of balance transactions"),
    })
}

/// Parses a provider currency code into ours.
///
/// # Errors
/// A code we do not know, reported as an unexpected provider answer.
pub(crate) fn currency_from_provider(code: &str) -> Result<Currency, ProviderError> {
    Currency::parse(code).map_err(|e| ProviderError::Unexpected {
        message: format!("currency {code}: {e}"),
    })
}
