//! The connected account's funds as the provider moves them: transfers arrive
//! pending and become available (`balance.available`), and a paid payout's
//! balance transactions are matched, line by line, to the ledger's postings
//! for the same provider objects.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::payout_lines;
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::ledger::{self, Account, NewEntry};
use crate::money::Money;
use crate::payments::{all_balance_transactions, BalanceTransaction, Provider};
use crate::sellers::schema::shops;

/// The shop whose connected account this is.
///
/// # Errors
/// 404 when the account is no shop's (not ours); a database failure.
pub fn shop_of_account(conn: &mut DbConnection, account_id: &str) -> Result<String, AppError> {
    shops::table
        .filter(shops::provider_account_id.eq(account_id))
        .select(shops::id)
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound {
            resource: "shop for this account",
        })
}

/// The ledger accounts that mirror a shop's connected balance at the provider.
pub fn connected_codes(shop_id: &str) -> Vec<String> {
    vec![
        Account::seller_connected_pending(shop_id).code,
        Account::seller_connected_balance(shop_id).code,
    ]
}

/// The entry that moves one transaction's funds from pending to available.
fn funds_available(shop_id: &str, txn: &BalanceTransaction) -> NewEntry {
    let amount = Money::new(txn.net.abs(), txn.amount.currency);
    let reference = txn.reference();
    let entry = NewEntry::new(
        format!("funds_available:{}", txn.id),
        format!("funds of {reference} available"),
    );
    if txn.net >= 0 {
        entry
            .debit_ref(
                Account::seller_connected_balance(shop_id),
                amount,
                &reference,
            )
            .credit_ref(
                Account::seller_connected_pending(shop_id),
                amount,
                &reference,
            )
    } else {
        entry
            .debit_ref(
                Account::seller_connected_pending(shop_id),
                amount,
                &reference,
            )
            .credit_ref(
                Account::seller_connected_balance(shop_id),
                amount,
                &reference,
            )
    }
}

/// Whether a transaction's funds reach the ledger as pending first: the
/// payments our transfers make. Reversals and payouts move the available
/// balance directly (see the README's seller table).
fn arrives_pending(txn: &BalanceTransaction) -> bool {
    txn.kind == "payment"
}

/// The `balance.available` handler: books every transfer's funds the provider
/// now holds as available and the ledger still holds as pending (each once).
///
/// # Errors
/// 404 for an account of no shop; provider or database failures.
pub async fn sync_available(
    pool: &DbPool,
    provider: &dyn Provider,
    account_id: &str,
) -> Result<usize, AppError> {
    let account = account_id.to_owned();
    let shop_id = db::run(pool, move |conn| shop_of_account(conn, &account)).await?;
    // The whole list: a transaction's status can change long after it was
    // created, and the unique cause makes the repeat a no-op.
    let available: Vec<BalanceTransaction> =
        all_balance_transactions(provider, Some(account_id), None)
            .await?
            .into_iter()
            .filter(|t| arrives_pending(t) && t.status == "available")
            .collect();
    db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let mut posted = 0;
            for txn in &available {
                if ledger::post(conn, &funds_available(&shop_id, txn))? {
                    posted += 1;
                }
            }
            Ok(posted)
        })
    })
    .await
}

/// One balance transaction of a paid payout and what the ledger holds for it,
/// as stored, in the payout's currency. Answers show it as [`PayoutLineJson`].
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payout_lines)]
pub struct PayoutLine {
    pub payout_id: String,
    pub transaction_id: String,
    pub kind: String,
    pub source: Option<String>,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub net_minor: i64,
    /// What the shop's connected-balance postings for the same object sum to.
    pub ledger_minor: Option<i64>,
    pub matched: bool,
}

/// One balance transaction of a paid payout and what the ledger holds for it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PayoutLine)]
pub struct PayoutLineJson<'a> {
    pub payout_id: &'a str,
    pub transaction_id: &'a str,
    /// The provider's balance-transaction type, e.g. `payment` or `payout`.
    pub kind: &'a str,
    /// The provider object behind it (a transfer's payment, a reversal).
    pub source: Option<&'a str>,
    pub amount: Money,
    pub fee: Money,
    /// What the line adds to the payout: amount less fee.
    pub net: Money,
    /// What the shop's connected-balance postings for the same object sum to.
    pub ledger: Option<Money>,
    /// Whether `ledger` equals `net`.
    pub matched: bool,
}

impl PayoutLine {
    /// The line as answers show it, in its payout's `currency`.
    pub fn json(&self, currency: crate::money::Currency) -> PayoutLineJson<'_> {
        PayoutLineJson {
            payout_id: &self.payout_id,
            transaction_id: &self.transaction_id,
            kind: &self.kind,
            source: self.source.as_deref(),
            amount: Money::new(self.amount_minor, currency),
            fee: Money::new(self.fee_minor, currency),
            net: Money::new(self.net_minor, currency),
            ledger: self.ledger_minor.map(|minor| Money::new(minor, currency)),
            matched: self.matched,
        }
    }
}

/// Fetches a paid payout's balance transactions and matches each to the
/// ledger: a line matches when the postings for its provider object on the
/// shop's connected balance sum to its net. Stored once per payout (the
/// lines of a paid payout do not change); unmatched lines are logged and
/// reported by reconciliation.
///
/// # Errors
/// Provider or database failures.
pub async fn match_lines(
    pool: &DbPool,
    provider: &dyn Provider,
    account_id: &str,
    shop_id: &str,
    payout_id: &str,
) -> Result<Vec<PayoutLine>, AppError> {
    let id = payout_id.to_owned();
    let stored: Vec<PayoutLine> = db::run(pool, move |conn| lines(conn, &id)).await?;
    if !stored.is_empty() {
        return Ok(stored);
    }
    let txns = all_balance_transactions(provider, Some(account_id), Some(payout_id)).await?;
    let (shop, payout) = (shop_id.to_owned(), payout_id.to_owned());
    db::run(pool, move |conn| {
        let held = ledger::sums_by_reference(conn, &connected_codes(&shop))?;
        let made: Vec<PayoutLine> = txns
            .iter()
            .map(|txn| {
                let ledger_minor = held
                    .get(&(txn.reference(), txn.amount.currency.code().to_owned()))
                    .copied();
                PayoutLine {
                    payout_id: payout.clone(),
                    transaction_id: txn.id.clone(),
                    kind: txn.kind.clone(),
                    source: txn.source.clone(),
                    amount_minor: txn.amount.minor,
                    fee_minor: txn.fee,
                    net_minor: txn.net,
                    ledger_minor,
                    matched: ledger_minor == Some(txn.net),
                }
            })
            .collect();
        for line in made.iter().filter(|l| !l.matched) {
            tracing::warn!(
                payout_id = payout,
                transaction = line.transaction_id,
                net = line.net_minor,
                ledger = line.ledger_minor,
                "payout line does not match the ledger"
            );
        }
        // A racing matcher on PostgreSQL makes this a unique violation: the
        // job retries and then finds the lines stored.
        db::write_transaction(conn, |conn| {
            let stored: i64 = payout_lines::table
                .filter(payout_lines::payout_id.eq(&payout))
                .count()
                .get_result(conn)?;
            if stored == 0 {
                for line in &made {
                    diesel::insert_into(payout_lines::table)
                        .values(line)
                        .execute(conn)?;
                }
            }
            Ok::<_, AppError>(())
        })?;
        Ok(made)
    })
    .await
}

/// A payout's stored lines.
///
/// # Errors
/// A database failure.
pub fn lines(conn: &mut DbConnection, payout_id: &str) -> Result<Vec<PayoutLine>, AppError> {
    Ok(payout_lines::table
        .filter(payout_lines::payout_id.eq(payout_id))
        .order(payout_lines::transaction_id.asc())
        .select(PayoutLine::as_select())
        .load(conn)?)
}
