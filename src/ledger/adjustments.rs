//! Manual journal entries ("adjustments"): how finance corrects the books —
//! a goodwill credit to a seller, a write-off, a fee waived after the fact —
//! always as a new balanced entry, never by editing one (DESIGN.md: entries
//! are append-only, a correction is a new entry).
//!
//! Accounts that mirror a balance at the provider (the platform's cash and
//! each shop's connected-account memos) are refused: the provider's balance
//! transactions decide those, and an adjustment there would be a difference
//! reconciliation reports forever. The adjustment's cause is `adjustment:`
//! followed by the request's idempotency key, so a retried request posts
//! once; the same key with other postings is a conflict.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::ledger_accounts;
use super::{post, Account, NewEntry, PostingView, Side};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::http::text::{display_unfit, Lines};
use crate::money::{Currency, Money};

/// Most postings one adjustment may have.
pub const ADJUSTMENT_POSTINGS_MAX: usize = 50;
/// Largest amount of one posting, in minor units: 50 of them cannot overflow
/// an `i64` sum, and no correction is this large.
pub const ADJUSTMENT_AMOUNT_MINOR_MAX: i64 = 1_000_000_000_000;
/// Longest description, in characters.
const DESCRIPTION_CHARS_MAX: usize = 500;

/// Platform accounts an adjustment may touch: everything of the chart but
/// `platform:cash`, which mirrors the provider balance.
const PLATFORM_ADJUSTABLE: [fn() -> Account; 9] = [
    Account::buyer_clearing,
    Account::fee_revenue,
    Account::processing_fees,
    Account::processing_fees_recovered,
    Account::refunds_borne,
    Account::disputes_open,
    Account::dispute_fees,
    Account::dispute_losses,
    Account::adjustments,
];

/// The codes of the platform accounts an adjustment may touch, in the
/// chart's order (shop accounts: `shop:{id}:payable` of a shop with ledger
/// history in the currency).
pub fn platform_adjustable_codes() -> Vec<String> {
    PLATFORM_ADJUSTABLE.iter().map(|make| make().code).collect()
}

/// One line of a requested adjustment: exactly one of the two amounts.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentLine {
    /// An account code: `platform:fee_revenue`, `shop:{shop_id}:payable`, …
    pub account: String,
    #[serde(default)]
    pub debit_minor: i64,
    #[serde(default)]
    pub credit_minor: i64,
}

/// `POST /v1/ledger/adjustments`'s body.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    /// Why: shown on every posting and in the audit log.
    pub description: String,
    /// ISO 4217, e.g. `USD`.
    pub currency: String,
    /// Two or more lines whose debits equal their credits.
    pub postings: Vec<AdjustmentLine>,
}

/// A posted (or replayed) adjustment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Adjustment {
    pub entry_id: String,
    pub cause: String,
    /// `false` when the idempotency key had posted this adjustment before.
    pub created: bool,
    pub postings: Vec<PostingView>,
}

fn invalid(code: &'static str, message: impl Into<String>, param: String) -> AppError {
    AppError::unprocessable(code, message, Some(param))
}

/// The account a code names, if an adjustment may touch it. Shop accounts
/// must already exist (the shop has had money through the ledger): the
/// ledger knows no shops to check a new one against.
fn adjustable(
    conn: &mut DbConnection,
    code: &str,
    currency: Currency,
) -> Result<Option<Account>, AppError> {
    if let Some(account) = PLATFORM_ADJUSTABLE
        .iter()
        .map(|make| make())
        .find(|a| a.code == code)
    {
        return Ok(Some(account));
    }
    let Some(shop_id) = code
        .strip_prefix("shop:")
        .and_then(|rest| rest.strip_suffix(":payable"))
    else {
        return Ok(None);
    };
    let account = Account::seller_payable(shop_id);
    let known: i64 = ledger_accounts::table
        .filter(ledger_accounts::id.eq(account.id(currency)))
        .count()
        .get_result(conn)?;
    Ok((known > 0).then_some(account))
}

/// Checks a request and builds its entry (no writes).
///
/// # Errors
/// 422 with the offending `param`: `invalid_description`, `invalid_currency`,
/// `invalid_postings` (count), `invalid_amount`, `unknown_account` (not
/// adjustable, or a shop account the ledger has never seen), `unbalanced_entry`.
pub fn build_entry(
    conn: &mut DbConnection,
    key: &str,
    request: &AdjustmentRequest,
) -> Result<NewEntry, AppError> {
    let description = request.description.trim();
    if description.is_empty()
        || description.chars().count() > DESCRIPTION_CHARS_MAX
        || display_unfit(description, Lines::Single).is_some()
    {
        return Err(invalid(
            "invalid_description",
            format!("a description is 1 to {DESCRIPTION_CHARS_MAX} characters, without control, format or line separator characters"),
            "description".into(),
        ));
    }
    let currency = Currency::parse(&request.currency)
        .map_err(|e| invalid("invalid_currency", e.to_string(), "currency".into()))?;
    if !(2..=ADJUSTMENT_POSTINGS_MAX).contains(&request.postings.len()) {
        return Err(invalid(
            "invalid_postings",
            format!("an adjustment has 2 to {ADJUSTMENT_POSTINGS_MAX} postings"),
            "postings".into(),
        ));
    }
    let mut entry = NewEntry::new(format!("adjustment:{key}"), description);
    let (mut debits, mut credits) = (0i64, 0i64);
    for (i, line) in request.postings.iter().enumerate() {
        let amount_ok = |a: i64| (0..=ADJUSTMENT_AMOUNT_MINOR_MAX).contains(&a);
        let side = match (line.debit_minor, line.credit_minor) {
            (d, 0) if d > 0 && amount_ok(d) => Side::Debit,
            (0, c) if c > 0 && amount_ok(c) => Side::Credit,
            _ => {
                return Err(invalid(
                    "invalid_amount",
                    format!("each posting has either debit_minor or credit_minor, 1 to {ADJUSTMENT_AMOUNT_MINOR_MAX}"),
                    format!("postings[{i}]"),
                ))
            }
        };
        let account = adjustable(conn, &line.account, currency)?.ok_or_else(|| {
            invalid(
                "unknown_account",
                format!(
                    "{} cannot be adjusted: use a platform account other than platform:cash, or shop:{{id}}:payable of a shop with ledger history in {}",
                    line.account,
                    currency.code()
                ),
                format!("postings[{i}].account"),
            )
        })?;
        // Bounded above: 50 lines of at most 10^12 each.
        debits += line.debit_minor;
        credits += line.credit_minor;
        let amount = Money::new(line.debit_minor + line.credit_minor, currency);
        entry = match side {
            Side::Debit => entry.debit(account, amount),
            Side::Credit => entry.credit(account, amount),
        };
    }
    if debits != credits {
        return Err(invalid(
            "unbalanced_entry",
            format!("debits ({debits}) must equal credits ({credits})"),
            "postings".into(),
        ));
    }
    Ok(entry)
}

/// Posts an adjustment once per idempotency key, in the caller's transaction.
///
/// # Errors
/// As [`build_entry`]; 409 `idempotency_key_reused` when the key posted
/// different lines before; database errors.
pub fn post_adjustment(
    conn: &mut DbConnection,
    key: &str,
    request: &AdjustmentRequest,
) -> Result<Adjustment, AppError> {
    let entry = build_entry(conn, key, request)?;
    let created = post(conn, &entry)?;
    let postings = super::entry(conn, &entry.cause)?;
    let same = postings.len() == entry.postings.len()
        && postings.iter().zip(&entry.postings).all(|(stored, asked)| {
            stored.account_id == asked.account.id(asked.currency)
                && stored.debit_minor == asked.debit
                && stored.credit_minor == asked.credit
        });
    if !same {
        return Err(AppError::Conflict {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key posted a different adjustment; use a new key".into(),
        });
    }
    Ok(Adjustment {
        entry_id: postings[0].entry_id.clone(),
        cause: entry.cause,
        created,
        postings,
    })
}

/// Posts an adjustment once per idempotency key and, when this call posted
/// it, records `ledger.adjustment` in the audit log with the request, in one
/// transaction: the API's `POST /v1/ledger/adjustments` and the console's
/// form both post through here.
///
/// # Errors
/// As [`post_adjustment`] (nothing is posted nor audited then).
#[tracing::instrument(skip(conn, request, context))]
pub fn post_adjustment_audited(
    conn: &mut DbConnection,
    key: &str,
    request: &AdjustmentRequest,
    actor: &crate::auth::UserId,
    context: &crate::auth::RequestContext,
) -> Result<Adjustment, AppError> {
    use crate::auth::{record_audit, AuditEntry};
    crate::db::write_transaction(conn, |conn| {
        let adjustment = post_adjustment(conn, key, request)?;
        if adjustment.created {
            record_audit(
                conn,
                AuditEntry::new("ledger.adjustment", &adjustment.entry_id)
                    .actor(actor)
                    .context(context)
                    .after(serde_json::to_value(request).map_err(|e| {
                        AppError::Internal(anyhow::anyhow!("adjustment as JSON: {e}"))
                    })?),
            )?;
        }
        Ok(adjustment)
    })
}
