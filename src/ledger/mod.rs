//! The double-entry ledger: the only writer of money facts.
//!
//! Knows nothing of orders, webhooks or the provider (DESIGN.md): callers hand
//! it entries — a unique cause and two or more postings that balance per
//! currency — inside the transaction that changes the state they record, so a
//! fact and its entry commit together or not at all. Posting the same cause
//! twice is a no-op; rows are never updated or deleted (triggers refuse it).
//! Balances are sums of postings, never stored.

pub mod adjustments;
mod http;
pub mod reports;
pub mod schema;

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Serialize;

pub use http::routes;
use schema::{ledger_accounts, ledger_entries, ledger_postings};

use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::money::{Currency, Money};

/// Most postings one entry may have (an order of 50 shops allocates ~150).
pub const POSTINGS_PER_ENTRY_MAX: usize = 512;
/// Most postings one account page returns.
pub const POSTINGS_PAGE_MAX: i64 = 100;

/// Which side increases an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Self::Debit => "debit",
            Self::Credit => "credit",
        }
    }
}

/// An account of the chart (see the README's table), in no currency yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub code: String,
    pub normal: Side,
    pub owner_shop_id: Option<String>,
}

impl Account {
    fn platform(name: &str, normal: Side) -> Self {
        Self {
            code: format!("platform:{name}"),
            normal,
            owner_shop_id: None,
        }
    }

    /// Funds at the provider on the platform's own account.
    pub fn platform_cash() -> Self {
        Self::platform("cash", Side::Debit)
    }
    /// Paid by buyers, not yet allocated to sellers and fees.
    pub fn buyer_clearing() -> Self {
        Self::platform("buyer_clearing", Side::Credit)
    }
    /// Platform fees earned on order parts.
    pub fn fee_revenue() -> Self {
        Self::platform("fee_revenue", Side::Credit)
    }
    /// The provider's processing fees on charges.
    pub fn processing_fees() -> Self {
        Self::platform("processing_fees", Side::Debit)
    }
    /// Processing fees borne by sellers (by their fee rule).
    pub fn processing_fees_recovered() -> Self {
        Self::platform("processing_fees_recovered", Side::Credit)
    }
    /// The platform's portion of refunds: fees given back, and processing
    /// fees the provider keeps.
    pub fn refunds_borne() -> Self {
        Self::platform("refunds_borne", Side::Debit)
    }
    /// Disputed funds the provider withdrew that sellers did not give back,
    /// while the dispute is open.
    pub fn disputes_open() -> Self {
        Self::platform("disputes_open", Side::Debit)
    }
    /// Dispute fees the platform bears.
    pub fn dispute_fees() -> Self {
        Self::platform("dispute_fees", Side::Debit)
    }
    /// Disputed funds lost for good.
    pub fn dispute_losses() -> Self {
        Self::platform("dispute_losses", Side::Debit)
    }
    /// Manual corrections finance booked (goodwill credits, write-offs): the
    /// usual counterpart of an adjustment, in the P&L.
    pub fn adjustments() -> Self {
        Self::platform("adjustments", Side::Debit)
    }
    fn shop(shop_id: &str, name: &str, normal: Side) -> Self {
        Self {
            code: format!("shop:{shop_id}:{name}"),
            normal,
            owner_shop_id: Some(shop_id.to_owned()),
        }
    }
    /// Memo: what the platform sent to the shop's connected account, net of
    /// reversals (the counterpart of the connected account's funds).
    pub fn seller_transferred_in(shop_id: &str) -> Self {
        Self::shop(shop_id, "transferred_in", Side::Credit)
    }
    /// Memo: funds on the shop's connected account that are available (to pay out).
    pub fn seller_connected_balance(shop_id: &str) -> Self {
        Self::shop(shop_id, "connected_balance", Side::Debit)
    }
    /// Memo: funds on the shop's connected account still pending (not yet
    /// available to pay out).
    pub fn seller_connected_pending(shop_id: &str) -> Self {
        Self::shop(shop_id, "connected_pending", Side::Debit)
    }
    /// Memo: paid out from the connected account, not yet at the bank.
    pub fn seller_in_transit(shop_id: &str) -> Self {
        Self::shop(shop_id, "in_transit", Side::Debit)
    }
    /// Memo: arrived at the seller's bank.
    pub fn seller_paid_out(shop_id: &str) -> Self {
        Self::shop(shop_id, "paid_out", Side::Debit)
    }
    /// What the platform owes a shop's seller and has not transferred.
    pub fn seller_payable(shop_id: &str) -> Self {
        Self {
            code: format!("shop:{shop_id}:payable"),
            normal: Side::Credit,
            owner_shop_id: Some(shop_id.to_owned()),
        }
    }

    /// The account's id in a currency: `{code}:{currency}`.
    pub fn id(&self, currency: Currency) -> String {
        format!("{}:{}", self.code, currency.code())
    }
}

/// One line of an entry.
#[derive(Debug, Clone)]
pub struct Posting {
    pub account: Account,
    pub currency: Currency,
    pub debit: i64,
    pub credit: i64,
    /// The provider object behind the balance transaction this posting mirrors
    /// (on accounts that mirror a provider balance), for reconciliation.
    pub provider_ref: Option<String>,
}

/// An entry to post: its cause (unique), what it is, and its postings.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub cause: String,
    pub description: String,
    pub postings: Vec<Posting>,
}

impl NewEntry {
    /// An entry with no postings yet.
    pub fn new(cause: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            cause: cause.into(),
            description: description.into(),
            postings: Vec::new(),
        }
    }

    /// Debits `amount` to `account` (zero amounts are left out).
    pub fn debit(self, account: Account, amount: Money) -> Self {
        self.add(account, amount, Side::Debit, None)
    }

    /// Credits `amount` to `account` (zero amounts are left out).
    pub fn credit(self, account: Account, amount: Money) -> Self {
        self.add(account, amount, Side::Credit, None)
    }

    /// Debits an account that mirrors a provider balance, naming the provider
    /// object (`ch_…`, `tr_…`, `po_…`) whose balance transaction it mirrors.
    pub fn debit_ref(self, account: Account, amount: Money, provider_ref: &str) -> Self {
        self.add(account, amount, Side::Debit, Some(provider_ref))
    }

    /// Credits an account that mirrors a provider balance (see [`NewEntry::debit_ref`]).
    pub fn credit_ref(self, account: Account, amount: Money, provider_ref: &str) -> Self {
        self.add(account, amount, Side::Credit, Some(provider_ref))
    }

    fn add(mut self, account: Account, amount: Money, side: Side, reference: Option<&str>) -> Self {
        assert!(amount.minor >= 0, "postings carry non-negative amounts");
        if amount.minor > 0 {
            let (debit, credit) = match side {
                Side::Debit => (amount.minor, 0),
                Side::Credit => (0, amount.minor),
            };
            self.postings.push(Posting {
                account,
                currency: amount.currency,
                debit,
                credit,
                provider_ref: reference.map(str::to_owned),
            });
        }
        self
    }

    /// Debits minus credits per currency: all zero for a balanced entry.
    fn imbalance(&self) -> BTreeMap<Currency, i128> {
        let mut sums = BTreeMap::new();
        for p in &self.postings {
            *sums.entry(p.currency).or_insert(0i128) += i128::from(p.debit) - i128::from(p.credit);
        }
        sums
    }
}

/// Creates the account row on first use. `ON CONFLICT DO NOTHING`: one
/// statement whether it exists or not, and a racing insert by another
/// transaction is no error (a failed statement would abort a PostgreSQL
/// transaction).
fn ensure_account(
    conn: &mut DbConnection,
    account: &Account,
    currency: Currency,
) -> Result<String, AppError> {
    use diesel::sql_types::{Nullable, Timestamp};
    let id = account.id(currency);
    diesel::sql_query(
        "INSERT INTO ledger_accounts (id, code, currency, normal_side, owner_shop_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind::<Text, _>(&id)
    .bind::<Text, _>(&account.code)
    .bind::<Text, _>(currency.code())
    .bind::<Text, _>(account.normal.as_str())
    .bind::<Nullable<Text>, _>(account.owner_shop_id.as_deref())
    .bind::<Timestamp, _>(db::now())
    .execute(conn)?;
    Ok(id)
}

/// Posts an entry, once per cause: `Ok(false)` when the cause was posted before.
/// Call it inside the transaction that records the fact.
///
/// # Errors
/// A database failure.
///
/// # Panics
/// When the entry does not balance per currency, has fewer than two postings
/// or too many: a bug in the caller, never an input error.
#[tracing::instrument(skip(conn, entry), fields(cause = %entry.cause))]
pub fn post(conn: &mut DbConnection, entry: &NewEntry) -> Result<bool, AppError> {
    assert!(
        entry.postings.len() >= 2,
        "entry {} has fewer than two postings",
        entry.cause
    );
    assert!(
        entry.postings.len() <= POSTINGS_PER_ENTRY_MAX,
        "entry {} has too many postings",
        entry.cause
    );
    for (currency, imbalance) in entry.imbalance() {
        assert_eq!(
            imbalance, 0,
            "entry {} does not balance in {currency}",
            entry.cause
        );
    }
    let now = db::now();
    let entry_id = format!("je_{}", uuid::Uuid::new_v4().simple());
    let written = db::write_transaction(conn, |conn| {
        // The cause is unique: a second posting of it inserts nothing, and
        // nothing else is written (one statement instead of a look-up first).
        let inserted = diesel::sql_query(
            "INSERT INTO ledger_entries (id, cause, description, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (cause) DO NOTHING",
        )
        .bind::<Text, _>(&entry_id)
        .bind::<Text, _>(&entry.cause)
        .bind::<Text, _>(&entry.description)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .execute(conn)?;
        if inserted == 0 {
            return Ok(false);
        }
        for (position, p) in entry.postings.iter().enumerate() {
            let account_id = ensure_account(conn, &p.account, p.currency)?;
            diesel::insert_into(ledger_postings::table)
                .values((
                    ledger_postings::id.eq(format!("jp_{}", uuid::Uuid::new_v4().simple())),
                    ledger_postings::entry_id.eq(&entry_id),
                    ledger_postings::account_id.eq(account_id),
                    ledger_postings::debit_minor.eq(p.debit),
                    ledger_postings::credit_minor.eq(p.credit),
                    ledger_postings::position.eq(i32::try_from(position).expect("bounded above")),
                    ledger_postings::created_at.eq(now),
                    ledger_postings::provider_ref.eq(&p.provider_ref),
                ))
                .execute(conn)?;
        }
        Ok::<_, AppError>(true)
    });
    match written {
        Ok(created) => Ok(created),
        // Another transaction posted the same cause meanwhile (PostgreSQL).
        Err(AppError::Conflict { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// A currency code as the ledger stores it, which we wrote from a parsed one.
///
/// # Errors
/// A code that is no currency: a corrupt row, named by `row` in the log.
pub fn stored_currency(code: &str, row: &str) -> Result<Currency, AppError> {
    Currency::parse(code).map_err(|e| AppError::Internal(anyhow::anyhow!("{row} currency: {e}")))
}

/// An account with its balance (positive on its normal side). Answers show
/// it as [`AccountBalanceJson`].
#[derive(Debug, Clone, QueryableByName)]
pub struct AccountBalance {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = Text)]
    pub normal_side: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub owner_shop_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub debits_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub credits_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub balance_minor: i64,
}

/// An account with its balance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AccountBalance)]
pub struct AccountBalanceJson<'a> {
    pub id: &'a str,
    pub code: &'a str,
    /// The currency of every amount on the account.
    pub currency: &'a str,
    /// `debit` or `credit`: the side its balance grows on.
    pub normal_side: &'a str,
    pub owner_shop_id: Option<&'a str>,
    pub debits: Money,
    pub credits: Money,
    /// Positive on the normal side.
    pub balance: Money,
}

impl AccountBalance {
    /// The account as answers show it.
    ///
    /// # Errors
    /// A stored currency that is no currency: a corrupt row.
    pub fn json(&self) -> Result<AccountBalanceJson<'_>, AppError> {
        let currency = stored_currency(&self.currency, &self.code)?;
        Ok(AccountBalanceJson {
            id: &self.id,
            code: &self.code,
            currency: &self.currency,
            normal_side: &self.normal_side,
            owner_shop_id: self.owner_shop_id.as_deref(),
            debits: Money::new(self.debits_minor, currency),
            credits: Money::new(self.credits_minor, currency),
            balance: Money::new(self.balance_minor, currency),
        })
    }
}

crate::http::json::answered_as!(AccountBalance => AccountBalanceJson);

/// Balances as sums of postings; `{as_of}` is empty or a condition on `p.created_at`.
const BALANCES_SQL: &str = "
    SELECT a.id, a.code, a.currency, a.normal_side, a.owner_shop_id,
           CAST(COALESCE(SUM(p.debit_minor), 0) AS BIGINT) AS debits_minor,
           CAST(COALESCE(SUM(p.credit_minor), 0) AS BIGINT) AS credits_minor,
           CAST(CASE WHEN a.normal_side = 'debit'
                     THEN COALESCE(SUM(p.debit_minor), 0) - COALESCE(SUM(p.credit_minor), 0)
                     ELSE COALESCE(SUM(p.credit_minor), 0) - COALESCE(SUM(p.debit_minor), 0) END AS BIGINT) AS balance_minor
    FROM ledger_accounts a LEFT JOIN ledger_postings p ON p.account_id = a.id {as_of}";
const BALANCES_GROUP: &str = "GROUP BY a.id, a.code, a.currency, a.normal_side, a.owner_shop_id";

/// Every account with its balance, by code: now, or as of an instant
/// (postings written at or before it).
///
/// # Errors
/// A database failure.
pub fn balances_as_of(
    conn: &mut DbConnection,
    as_of: Option<chrono::NaiveDateTime>,
) -> Result<Vec<AccountBalance>, AppError> {
    let condition = if as_of.is_some() {
        "AND p.created_at <= $1"
    } else {
        ""
    };
    let sql = format!(
        "{} {BALANCES_GROUP} ORDER BY a.code, a.currency",
        BALANCES_SQL.replace("{as_of}", condition)
    );
    let query = diesel::sql_query(sql);
    Ok(match as_of {
        Some(at) => query
            .bind::<diesel::sql_types::Timestamp, _>(at)
            .load(conn)?,
        None => query.load(conn)?,
    })
}

/// Every account with its balance now, by code.
///
/// # Errors
/// A database failure.
pub fn balances(conn: &mut DbConnection) -> Result<Vec<AccountBalance>, AppError> {
    balances_as_of(conn, None)
}

/// The balances of one shop's accounts, by code.
///
/// # Errors
/// A database failure.
pub fn shop_balances(
    conn: &mut DbConnection,
    shop_id: &str,
) -> Result<Vec<AccountBalance>, AppError> {
    shop_balances_before(conn, shop_id, None)
}

/// The balances of one shop's accounts from the postings written before an
/// instant (all of them for `None`): a statement's opening and closing.
///
/// # Errors
/// A database failure.
pub fn shop_balances_before(
    conn: &mut DbConnection,
    shop_id: &str,
    before: Option<chrono::NaiveDateTime>,
) -> Result<Vec<AccountBalance>, AppError> {
    // Parameters are numbered in the order they appear: SQLite numbers `$N`
    // by appearance, PostgreSQL by N, so both agree only this way.
    Ok(match before {
        Some(at) => diesel::sql_query(format!(
            "{} WHERE a.owner_shop_id = $2 {BALANCES_GROUP} ORDER BY a.code, a.currency",
            BALANCES_SQL.replace("{as_of}", "AND p.created_at < $1")
        ))
        .bind::<diesel::sql_types::Timestamp, _>(at)
        .bind::<Text, _>(shop_id)
        .load(conn)?,
        None => diesel::sql_query(format!(
            "{} WHERE a.owner_shop_id = $1 {BALANCES_GROUP} ORDER BY a.code, a.currency",
            BALANCES_SQL.replace("{as_of}", "")
        ))
        .bind::<Text, _>(shop_id)
        .load(conn)?,
    })
}

/// One posting on a shop's account, for statements. Answers show it as
/// [`ShopPostingJson`].
#[derive(Debug, Clone, Queryable)]
pub struct ShopPosting {
    pub id: String,
    pub created_at: chrono::NaiveDateTime,
    pub cause: String,
    pub description: String,
    pub account_code: String,
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
    pub provider_ref: Option<String>,
}

/// One posting on a shop's account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ShopPosting)]
pub struct ShopPostingJson<'a> {
    pub id: &'a str,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub created_at: chrono::NaiveDateTime,
    pub cause: &'a str,
    pub description: &'a str,
    pub account_code: &'a str,
    /// Zero when the posting is a credit.
    pub debit: Money,
    /// Zero when the posting is a debit.
    pub credit: Money,
    pub provider_ref: Option<&'a str>,
}

impl ShopPosting {
    /// The posting as answers show it.
    ///
    /// # Errors
    /// A stored currency that is no currency: a corrupt row.
    pub fn json(&self) -> Result<ShopPostingJson<'_>, AppError> {
        let currency = stored_currency(&self.currency, &self.account_code)?;
        Ok(ShopPostingJson {
            id: &self.id,
            created_at: self.created_at,
            cause: &self.cause,
            description: &self.description,
            account_code: &self.account_code,
            debit: Money::new(self.debit_minor, currency),
            credit: Money::new(self.credit_minor, currency),
            provider_ref: self.provider_ref.as_deref(),
        })
    }
}

crate::http::json::answered_as!(ShopPosting => ShopPostingJson);

/// A page of the postings on a shop's accounts written in `[from, to)`,
/// oldest first, after the posting `after` (keyset: `(created_at, id)`).
///
/// # Errors
/// A database failure.
pub fn shop_postings(
    conn: &mut DbConnection,
    shop_id: &str,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
    after: Option<&(chrono::NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<ShopPosting>, AppError> {
    let mut query = ledger_postings::table
        .inner_join(ledger_entries::table)
        .inner_join(ledger_accounts::table)
        .filter(ledger_accounts::owner_shop_id.eq(shop_id.to_owned()))
        .filter(ledger_postings::created_at.ge(from))
        .filter(ledger_postings::created_at.lt(to))
        .select((
            ledger_postings::id,
            ledger_postings::created_at,
            ledger_entries::cause,
            ledger_entries::description,
            ledger_accounts::code,
            ledger_accounts::currency,
            ledger_postings::debit_minor,
            ledger_postings::credit_minor,
            ledger_postings::provider_ref,
        ))
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(
            ledger_postings::created_at
                .gt(*at)
                .or(ledger_postings::created_at
                    .eq(*at)
                    .and(ledger_postings::id.gt(id.clone()))),
        );
    }
    Ok(query
        .order((ledger_postings::created_at.asc(), ledger_postings::id.asc()))
        .limit(limit)
        .load(conn)?)
}

/// What the ledger holds per provider object on the accounts with the given
/// codes: debits − credits by (provider reference, currency). Postings without
/// a reference are summed under the empty reference.
///
/// # Errors
/// A database failure.
pub fn sums_by_reference(
    conn: &mut DbConnection,
    codes: &[String],
) -> Result<BTreeMap<(String, String), i64>, AppError> {
    let rows: Vec<(Option<String>, String, i64, i64)> = ledger_postings::table
        .inner_join(ledger_accounts::table)
        .filter(ledger_accounts::code.eq_any(codes))
        .select((
            ledger_postings::provider_ref,
            ledger_accounts::currency,
            ledger_postings::debit_minor,
            ledger_postings::credit_minor,
        ))
        .load(conn)?;
    let mut sums = BTreeMap::new();
    for (reference, currency, debit, credit) in rows {
        *sums
            .entry((reference.unwrap_or_default(), currency))
            .or_insert(0) += debit - credit;
    }
    Ok(sums)
}

/// One account's balance.
///
/// # Errors
/// 404 for no such account.
pub fn balance(conn: &mut DbConnection, account_id: &str) -> Result<AccountBalance, AppError> {
    let sql = format!(
        "{} WHERE a.id = $1 {BALANCES_GROUP}",
        BALANCES_SQL.replace("{as_of}", "")
    );
    diesel::sql_query(sql)
        .bind::<Text, _>(account_id)
        .load::<AccountBalance>(conn)?
        .pop()
        .ok_or(AppError::NotFound {
            resource: "ledger account",
        })
}

/// Debits and credits of every account, and their totals per currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrialBalance {
    pub accounts: Vec<AccountBalance>,
    /// Per currency code: the sums of all debits and of all credits (always equal).
    pub totals: BTreeMap<String, DebitsAndCredits>,
}

/// The sums of all debits and of all credits in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DebitsAndCredits {
    pub debits: Money,
    pub credits: Money,
}

/// The trial balance, now or as of an instant: every account, and per
/// currency the sums of all debits and all credits, which must be equal.
///
/// # Errors
/// A database failure; a stored currency code that is no currency, or sums
/// past the range of an amount (a corrupt ledger).
///
/// # Panics
/// When debits and credits differ in a currency: the ledger is corrupt.
pub fn trial_balance(
    conn: &mut DbConnection,
    as_of: Option<chrono::NaiveDateTime>,
) -> Result<TrialBalance, AppError> {
    let accounts = balances_as_of(conn, as_of)?;
    let mut totals: BTreeMap<String, DebitsAndCredits> = BTreeMap::new();
    for a in &accounts {
        let currency = stored_currency(&a.currency, &a.code)?;
        let zero = Money::zero(currency);
        let t = totals
            .entry(a.currency.clone())
            .or_insert(DebitsAndCredits {
                debits: zero,
                credits: zero,
            });
        let overflow = |e| AppError::Internal(anyhow::anyhow!("trial balance of {currency}: {e}"));
        t.debits = t
            .debits
            .checked_add(Money::new(a.debits_minor, currency))
            .map_err(overflow)?;
        t.credits = t
            .credits
            .checked_add(Money::new(a.credits_minor, currency))
            .map_err(overflow)?;
    }
    for (currency, t) in &totals {
        assert_eq!(
            t.debits, t.credits,
            "the ledger does not balance in {currency}"
        );
    }
    Ok(TrialBalance { accounts, totals })
}

/// A posting as read back, with its entry. Answers show it as
/// [`PostingViewJson`].
#[derive(Debug, Clone, Queryable)]
pub struct PostingView {
    /// The posting's id: the cursor for the next page of an account's postings.
    pub id: String,
    pub entry_id: String,
    pub cause: String,
    pub description: String,
    pub account_id: String,
    /// The account's currency.
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
    pub created_at: chrono::NaiveDateTime,
    pub provider_ref: Option<String>,
}

/// A posting with its entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PostingView)]
pub struct PostingViewJson<'a> {
    /// The posting's id: the cursor for the next page of an account's postings.
    pub id: &'a str,
    pub entry_id: &'a str,
    pub cause: &'a str,
    pub description: &'a str,
    pub account_id: &'a str,
    /// Zero when the posting is a credit.
    pub debit: Money,
    /// Zero when the posting is a debit.
    pub credit: Money,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub created_at: chrono::NaiveDateTime,
    pub provider_ref: Option<&'a str>,
}

impl PostingView {
    /// The posting as answers show it.
    ///
    /// # Errors
    /// A stored currency that is no currency: a corrupt row.
    pub fn json(&self) -> Result<PostingViewJson<'_>, AppError> {
        let currency = stored_currency(&self.currency, &self.account_id)?;
        Ok(PostingViewJson {
            id: &self.id,
            entry_id: &self.entry_id,
            cause: &self.cause,
            description: &self.description,
            account_id: &self.account_id,
            debit: Money::new(self.debit_minor, currency),
            credit: Money::new(self.credit_minor, currency),
            created_at: self.created_at,
            provider_ref: self.provider_ref.as_deref(),
        })
    }
}

crate::http::json::answered_as!(PostingView => PostingViewJson);

#[diesel::dsl::auto_type]
pub(crate) fn postings_query() -> _ {
    ledger_postings::table
        .inner_join(ledger_entries::table)
        .inner_join(ledger_accounts::table)
        .select((
            ledger_postings::id,
            ledger_postings::entry_id,
            ledger_entries::cause,
            ledger_entries::description,
            ledger_postings::account_id,
            ledger_accounts::currency,
            ledger_postings::debit_minor,
            ledger_postings::credit_minor,
            ledger_postings::created_at,
            ledger_postings::provider_ref,
        ))
}

/// One page of an account's postings, newest first, and whether older ones follow.
#[derive(Debug, Clone, Serialize)]
pub struct PostingsPage {
    pub data: Vec<PostingView>,
    pub has_more: bool,
}

/// An account's postings, newest first: a page of `limit`, older than the
/// posting `starting_after` when given (keyset, so pages hold while entries
/// are added).
///
/// # Errors
/// 400 `invalid_query` when `starting_after` is no posting of this account; a
/// database failure.
pub fn account_postings(
    conn: &mut DbConnection,
    account_id: &str,
    limit: i64,
    starting_after: Option<&str>,
) -> Result<PostingsPage, AppError> {
    let limit = limit.clamp(1, POSTINGS_PAGE_MAX);
    let mut query = postings_query()
        .filter(ledger_postings::account_id.eq(account_id.to_owned()))
        .into_boxed();
    if let Some(cursor) = starting_after {
        let at: chrono::NaiveDateTime = ledger_postings::table
            .filter(ledger_postings::id.eq(cursor))
            .filter(ledger_postings::account_id.eq(account_id))
            .select(ledger_postings::created_at)
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                AppError::bad_request(
                    "invalid_query",
                    "starting_after names no posting of this account".to_owned(),
                    Some("starting_after".to_owned()),
                )
            })?;
        query = query.filter(
            ledger_postings::created_at
                .lt(at)
                .or(ledger_postings::created_at
                    .eq(at)
                    .and(ledger_postings::id.lt(cursor.to_owned()))),
        );
    }
    let mut data: Vec<PostingView> = query
        .order((
            ledger_postings::created_at.desc(),
            ledger_postings::id.desc(),
        ))
        .limit(limit + 1)
        .load(conn)?;
    let has_more = data.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    data.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(PostingsPage { data, has_more })
}

/// An entry's postings by its id, or by its cause.
///
/// # Errors
/// 404 for no such entry.
pub fn entry(conn: &mut DbConnection, id_or_cause: &str) -> Result<Vec<PostingView>, AppError> {
    let postings: Vec<PostingView> = postings_query()
        .filter(
            ledger_entries::id
                .eq(id_or_cause)
                .or(ledger_entries::cause.eq(id_or_cause)),
        )
        .order(ledger_postings::position.asc())
        .load(conn)?;
    if postings.is_empty() {
        return Err(AppError::NotFound {
            resource: "ledger entry",
        });
    }
    Ok(postings)
}
