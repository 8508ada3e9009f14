//! A shop's balances per currency, from the ledger and the orders: what the
//! platform owes the seller, what sits on its connected account, what went
//! to the bank, and the fees it paid. The API's `/v1/shops/{id}/balance` and
//! the seller's money page both answer with [`shop_balance`].

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::error::AppError;
use crate::ledger::{self, Account};
use crate::money::{Currency, Money};

/// A shop's balances in one currency, in minor units; an account with no
/// postings yet is absent. Answers show it as [`CurrencyBalanceJson`].
#[derive(Debug, Clone, Default)]
pub struct CurrencyBalance {
    /// What the platform still owes the seller.
    pub owed_by_platform: Option<i64>,
    /// Of `owed_by_platform`, what the platform holds until parts are
    /// released (shipped or delivered, by each part's release policy).
    pub held: Option<i64>,
    /// On the connected account, not yet available.
    pub pending: Option<i64>,
    /// On the connected account, available to pay out.
    pub available: Option<i64>,
    /// On its way to the bank.
    pub in_transit: Option<i64>,
    /// Arrived at the bank.
    pub paid_out: Option<i64>,
    /// Fees charged on paid orders, as charged at the sale: platform fees,
    /// processing fees the seller's rule made it bear, dispute fees it gave.
    pub fees_charged: Option<i64>,
    /// What refunds gave back of those fees.
    pub fees_refunded: Option<i64>,
    /// What the shop paid in fees in the end: `fees_charged − fees_refunded`.
    pub fees_kept: Option<i64>,
    /// Set when the seller's money is below zero in this currency: what it
    /// owes, and why.
    pub negative: Option<NegativeBalance>,
}

/// A seller's balance below zero: the amount the seller owes, and each cause.
#[derive(Debug, Clone, Default)]
pub struct NegativeBalance {
    /// Minor units the seller owes (positive).
    pub owes: i64,
    /// `refund_after_payout` (a refund or dispute reversed money the connected
    /// account had already paid out: the provider takes it from the shop's
    /// next sales, or from the platform if they do not come) and/or
    /// `owed_to_platform` (refunds took back more than reversals could: a
    /// processing fee the seller bears on refunds).
    pub reasons: Vec<&'static str>,
}

/// A shop's balances per currency code.
#[derive(Debug, Clone)]
pub struct ShopBalance {
    pub currencies: BTreeMap<String, CurrencyBalance>,
}

/// A shop's balances in one currency as answers show them: each figure as
/// money; a figure of an account with no postings yet is absent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CurrencyBalance)]
pub struct CurrencyBalanceJson {
    /// What the platform still owes the seller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owed_by_platform: Option<Money>,
    /// Of `owed_by_platform`, what the platform holds until parts are
    /// released (shipped or delivered, by each part's release policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Money>,
    /// On the connected account, not yet available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<Money>,
    /// On the connected account, available to pay out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<Money>,
    /// On its way to the bank.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_transit: Option<Money>,
    /// Arrived at the bank.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_out: Option<Money>,
    /// Fees charged on paid orders, as charged at the sale: platform fees,
    /// processing fees the seller's rule made it bear, dispute fees it gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fees_charged: Option<Money>,
    /// What refunds gave back of those fees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fees_refunded: Option<Money>,
    /// What the shop paid in fees in the end: `fees_charged − fees_refunded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fees_kept: Option<Money>,
    /// Set when the seller's money is below zero in this currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative: Option<NegativeBalanceJson>,
}

/// A seller's balance below zero as answers show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = NegativeBalance)]
pub struct NegativeBalanceJson {
    /// What the seller owes (positive).
    pub owes: Money,
    /// `refund_after_payout` (a refund or dispute reversed money the connected
    /// account had already paid out: the provider takes it from the shop's
    /// next sales, or from the platform if they do not come) and/or
    /// `owed_to_platform` (refunds took back more than reversals could: a
    /// processing fee the seller bears on refunds).
    pub reasons: Vec<&'static str>,
}

impl NegativeBalance {
    /// The shape answers show, in `currency`.
    pub fn json(&self, currency: Currency) -> NegativeBalanceJson {
        NegativeBalanceJson {
            owes: Money::new(self.owes, currency),
            reasons: self.reasons.clone(),
        }
    }
}

impl CurrencyBalance {
    /// The shape answers show, in `currency`.
    pub fn json(&self, currency: Currency) -> CurrencyBalanceJson {
        let money = |minor: Option<i64>| minor.map(|m| Money::new(m, currency));
        CurrencyBalanceJson {
            owed_by_platform: money(self.owed_by_platform),
            held: money(self.held),
            pending: money(self.pending),
            available: money(self.available),
            in_transit: money(self.in_transit),
            paid_out: money(self.paid_out),
            fees_charged: money(self.fees_charged),
            fees_refunded: money(self.fees_refunded),
            fees_kept: money(self.fees_kept),
            negative: self.negative.as_ref().map(|n| n.json(currency)),
        }
    }
}

/// A shop's balances per currency code as answers show them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ShopBalance)]
pub struct ShopBalanceJson<'a> {
    pub currencies: BTreeMap<&'a str, CurrencyBalanceJson>,
}

impl ShopBalance {
    /// The shape answers show.
    ///
    /// # Errors
    /// A stored currency code that does not parse (a bug).
    pub fn json(&self) -> Result<ShopBalanceJson<'_>, AppError> {
        let mut currencies = BTreeMap::new();
        for (code, balance) in &self.currencies {
            let currency = ledger::stored_currency(code, "shop balance")?;
            currencies.insert(code.as_str(), balance.json(currency));
        }
        Ok(ShopBalanceJson { currencies })
    }
}

crate::http::json::answered_as!(ShopBalance => ShopBalanceJson);

/// The balances of shop `shop_id` per currency: its ledger accounts, the
/// fees of its paid orders and what is held until release.
///
/// # Errors
/// A database failure.
#[tracing::instrument(skip(conn))]
pub fn shop_balance(conn: &mut DbConnection, shop_id: &str) -> Result<ShopBalance, AppError> {
    let all = ledger::shop_balances(conn, shop_id)?;
    let mut by_currency = ledger_balances(&all, shop_id);
    for (currency, fees) in crate::orders::store::fees_charged(conn, shop_id)? {
        by_currency.entry(currency).or_default().fees_charged = Some(fees);
    }
    for (currency, refunded) in crate::orders::store::fees_refunded(conn, shop_id)? {
        by_currency.entry(currency).or_default().fees_refunded = Some(refunded);
    }
    for (currency, held) in crate::orders::release::held_for_shop(conn, shop_id)? {
        if held > 0 {
            by_currency.entry(currency).or_default().held = Some(held);
        }
    }
    for balance in by_currency.values_mut() {
        if let Some(charged) = balance.fees_charged {
            balance.fees_kept = Some(charged - balance.fees_refunded.unwrap_or(0));
        }
        balance.negative = negative_balance(balance);
    }
    Ok(ShopBalance {
        currencies: by_currency,
    })
}

/// A shop's balances per currency from its ledger accounts' rows (`all` may
/// hold other shops' rows too).
pub fn ledger_balances(
    all: &[ledger::AccountBalance],
    shop_id: &str,
) -> BTreeMap<String, CurrencyBalance> {
    let mut by_currency = BTreeMap::<String, CurrencyBalance>::new();
    type Field = fn(&mut CurrencyBalance) -> &mut Option<i64>;
    let accounts: [(Account, Field); 5] = [
        (Account::seller_payable(shop_id), |b| {
            &mut b.owed_by_platform
        }),
        (Account::seller_connected_pending(shop_id), |b| {
            &mut b.pending
        }),
        (Account::seller_connected_balance(shop_id), |b| {
            &mut b.available
        }),
        (Account::seller_in_transit(shop_id), |b| &mut b.in_transit),
        (Account::seller_paid_out(shop_id), |b| &mut b.paid_out),
    ];
    for (account, field) in accounts {
        for row in all.iter().filter(|a| a.code == account.code) {
            *field(by_currency.entry(row.currency.clone()).or_default()) = Some(row.balance_minor);
        }
    }
    by_currency
}

/// Whether (and why) the seller's money in one currency is below zero: the
/// connected account's balance (pending + available) is negative, or the
/// platform is owed more than it owes (`owed_by_platform` < 0).
pub fn negative_balance(balance: &CurrencyBalance) -> Option<NegativeBalance> {
    let on_account = balance.pending.unwrap_or(0) + balance.available.unwrap_or(0);
    let owed_by_platform = balance.owed_by_platform.unwrap_or(0);
    let mut negative = NegativeBalance::default();
    if on_account < 0 {
        negative.owes -= on_account;
        negative.reasons.push("refund_after_payout");
    }
    if owed_by_platform < 0 {
        negative.owes -= owed_by_platform;
        negative.reasons.push("owed_to_platform");
    }
    (negative.owes > 0).then_some(negative)
}
