//! Shops and the onboarding state machine of their connected accounts.
//!
//! `onboarding_status` follows the provider: `not_started` (no account yet) →
//! `pending` (requirements due) → `active` (charges and payouts enabled) ⇄
//! `restricted` (the provider disabled an onboarded account). `frozen` is an
//! operator's decision on top: a frozen shop does not sell and is not paid out,
//! whatever the provider says.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::shops;
use crate::db::dialect::SqlValue;
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::events::outbox::{self, NewEvent};
use crate::events::types::EventType;
use crate::http::text::{display_unfit, unfit_message, Lines};
use crate::money::Currency;
use crate::payments::ConnectedAccount;

/// Longest shop name, in characters.
pub const NAME_CHARS_MAX: usize = 100;
/// Longest slug, in characters.
pub const SLUG_CHARS_MAX: usize = 60;
/// Longest freeze reason.
pub const REASON_CHARS_MAX: usize = 500;
/// Most shops one listing returns.
pub const LIST_LIMIT_MAX: i64 = 100;

/// Where a shop's connected account stands at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnboardingStatus {
    NotStarted,
    Pending,
    Active,
    Restricted,
}

impl OnboardingStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Restricted => "restricted",
        }
    }

    fn parse(stored: &str) -> Result<Self, AppError> {
        Ok(match stored {
            "not_started" => Self::NotStarted,
            "pending" => Self::Pending,
            "active" => Self::Active,
            "restricted" => Self::Restricted,
            other => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "unknown onboarding status {other}"
                )))
            }
        })
    }

    /// The status an account's provider state implies.
    ///
    /// Enabled for charges and payouts is `active`; an account that finished
    /// onboarding but is no longer enabled was disabled by the provider
    /// (`restricted`); anything else still has requirements due (`pending`).
    pub fn of_account(account: &ConnectedAccount) -> Self {
        if account.charges_enabled && account.payouts_enabled {
            Self::Active
        } else if account.details_submitted {
            Self::Restricted
        } else {
            Self::Pending
        }
    }
}

/// A shop as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = shops)]
pub(crate) struct ShopRow {
    id: String,
    owner_user_id: String,
    name: String,
    slug: String,
    country: String,
    default_currency: String,
    support_email: String,
    provider_account_id: Option<String>,
    onboarding_status: String,
    requirements_due: String,
    disabled_reason: Option<String>,
    charges_enabled: bool,
    payouts_enabled: bool,
    frozen: bool,
    frozen_reason: Option<String>,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

/// A seller's shop.
#[derive(Debug, Clone, Serialize)]
pub struct Shop {
    pub id: String,
    pub owner_user_id: String,
    pub name: String,
    pub slug: String,
    pub country: String,
    pub default_currency: Currency,
    pub support_email: String,
    pub provider_account_id: Option<String>,
    pub onboarding_status: OnboardingStatus,
    pub requirements_due: Vec<String>,
    pub disabled_reason: Option<String>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub frozen: bool,
    pub frozen_reason: Option<String>,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

impl Shop {
    /// Whether buyers can see and buy this shop's products.
    pub fn can_sell(&self) -> bool {
        !self.frozen && self.onboarding_status == OnboardingStatus::Active
    }

    /// Whether the shop's share may be released to its bank.
    pub fn can_be_paid_out(&self) -> bool {
        !self.frozen && self.payouts_enabled
    }

    /// The status shown to people: `frozen` overrides the provider's state.
    pub fn status(&self) -> &'static str {
        if self.frozen {
            "frozen"
        } else {
            self.onboarding_status.as_str()
        }
    }
}

/// A shop as its seller and staff see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShopView<'a> {
    id: &'a str,
    name: &'a str,
    slug: &'a str,
    country: &'a str,
    default_currency: &'a str,
    support_email: &'a str,
    /// `not_started`, `pending`, `active`, `restricted` or `frozen`.
    status: &'static str,
    requirements_due: &'a [String],
    disabled_reason: Option<&'a str>,
    can_sell: bool,
    can_be_paid_out: bool,
    frozen_reason: Option<&'a str>,
    provider_account_id: Option<&'a str>,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    created_at: chrono::NaiveDateTime,
}

impl<'a> From<&'a Shop> for ShopView<'a> {
    fn from(shop: &'a Shop) -> Self {
        Self {
            id: &shop.id,
            name: &shop.name,
            slug: &shop.slug,
            country: &shop.country,
            default_currency: shop.default_currency.code(),
            support_email: &shop.support_email,
            status: shop.status(),
            requirements_due: &shop.requirements_due,
            disabled_reason: shop.disabled_reason.as_deref(),
            can_sell: shop.can_sell(),
            can_be_paid_out: shop.can_be_paid_out(),
            frozen_reason: shop.frozen_reason.as_deref(),
            provider_account_id: shop.provider_account_id.as_deref(),
            created_at: shop.created_at,
        }
    }
}

impl TryFrom<ShopRow> for Shop {
    type Error = AppError;

    fn try_from(row: ShopRow) -> Result<Self, AppError> {
        let corrupt = |what: &str| {
            AppError::Internal(anyhow::anyhow!("shop {}: stored {what} is invalid", row.id))
        };
        Ok(Self {
            default_currency: Currency::parse(&row.default_currency)
                .map_err(|_| corrupt("currency"))?,
            onboarding_status: OnboardingStatus::parse(&row.onboarding_status)?,
            requirements_due: serde_json::from_str(&row.requirements_due)
                .map_err(|_| corrupt("requirements"))?,
            id: row.id,
            owner_user_id: row.owner_user_id,
            name: row.name,
            slug: row.slug,
            country: row.country,
            support_email: row.support_email,
            provider_account_id: row.provider_account_id,
            disabled_reason: row.disabled_reason,
            charges_enabled: row.charges_enabled,
            payouts_enabled: row.payouts_enabled,
            frozen: row.frozen,
            frozen_reason: row.frozen_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A validated request for a new shop.
#[derive(Debug, Clone)]
pub struct NewShop {
    pub name: String,
    pub slug: String,
    pub country: String,
    pub default_currency: Currency,
    pub support_email: String,
}

impl NewShop {
    /// Checks every field, naming the first bad one.
    ///
    /// # Errors
    /// 422 `invalid_value` with the field as `param`.
    pub fn parse(
        name: &str,
        slug: &str,
        country: &str,
        default_currency: &str,
        support_email: &str,
    ) -> Result<Self, AppError> {
        let bad = |param: &str, message: &str| {
            AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
        };
        let name = name.trim();
        if name.is_empty() || name.chars().count() > NAME_CHARS_MAX {
            return Err(bad(
                "name",
                &format!("a shop name has 1 to {NAME_CHARS_MAX} printable characters"),
            ));
        }
        if let Some(c) = display_unfit(name, Lines::Single) {
            return Err(bad("name", &unfit_message("name", c)));
        }
        let slug_ok = !slug.is_empty()
            && slug.len() <= SLUG_CHARS_MAX
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if !slug_ok {
            return Err(bad(
                "slug",
                &format!("a slug has 1 to {SLUG_CHARS_MAX} of a-z, 0-9 and inner '-'"),
            ));
        }
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad(
                "country",
                "a country is an ISO 3166-1 alpha-2 code like US",
            ));
        }
        let default_currency = Currency::parse(default_currency)
            .map_err(|e| bad("default_currency", &e.to_string()))?;
        let email = crate::auth::Email::parse(support_email).map_err(|_| {
            bad(
                "support_email",
                "expected an email address like help@example.com",
            )
        })?;
        Ok(Self {
            name: name.to_owned(),
            slug: slug.to_owned(),
            country: country.to_owned(),
            default_currency,
            support_email: email.as_str().to_owned(),
        })
    }
}

/// Saves a new shop for `owner`, without a provider account yet.
///
/// # Errors
/// 409 `slug_taken` when another shop has the slug.
#[tracing::instrument(skip(conn, new), fields(slug = %new.slug))] // not the support email
pub fn create_shop(conn: &mut DbConnection, owner: &str, new: &NewShop) -> Result<Shop, AppError> {
    db::write_transaction(conn, |conn| {
        let shop = insert_shop(conn, owner, new)?;
        emit_shop_event(conn, EventType::ShopCreated, &shop)?;
        Ok(shop)
    })
}

fn insert_shop(conn: &mut DbConnection, owner: &str, new: &NewShop) -> Result<Shop, AppError> {
    let id = format!("shop_{}", uuid::Uuid::new_v4().simple());
    let now = db::now();
    let inserted = diesel::insert_into(shops::table)
        .values((
            shops::id.eq(&id),
            shops::owner_user_id.eq(owner),
            shops::name.eq(&new.name),
            shops::slug.eq(&new.slug),
            shops::country.eq(&new.country),
            shops::default_currency.eq(new.default_currency.code()),
            shops::support_email.eq(&new.support_email),
            shops::onboarding_status.eq(OnboardingStatus::NotStarted.as_str()),
            shops::requirements_due.eq("[]"),
            shops::charges_enabled.eq(false),
            shops::payouts_enabled.eq(false),
            shops::frozen.eq(false),
            shops::created_at.eq(now),
            shops::updated_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => {}
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {
            return Err(AppError::Conflict {
                code: "slug_taken",
                message: format!("the slug `{}` is taken; choose another", new.slug),
            })
        }
        Err(other) => return Err(other.into()),
    }
    find_shop(conn, &id)?.ok_or(AppError::NotFound { resource: "shop" })
}

/// Records `kind` about `shop`, with the shop as the API answers it as the
/// payload; the shop's own feed sees it too. Call inside the write
/// transaction of the change.
fn emit_shop_event(conn: &mut DbConnection, kind: EventType, shop: &Shop) -> Result<(), AppError> {
    let data = serde_json::to_value(ShopView::from(shop))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("shop payload: {e}")))?;
    outbox::emit(conn, NewEvent::new(kind, data).shop(&shop.id))?;
    Ok(())
}

/// The shop with this id, if any.
///
/// # Errors
/// A database failure.
pub fn find_shop(conn: &mut DbConnection, id: &str) -> Result<Option<Shop>, AppError> {
    shops::table
        .find(id)
        .select(ShopRow::as_select())
        .first(conn)
        .optional()?
        .map(Shop::try_from)
        .transpose()
}

/// The shop, if `viewer` may see it: its owner, or staff. Anyone else gets 404,
/// not 403, so shop ids cannot be probed.
///
/// # Errors
/// 404 `not_found`.
pub fn shop_for(
    conn: &mut DbConnection,
    id: &str,
    viewer: &str,
    staff: bool,
) -> Result<Shop, AppError> {
    match find_shop(conn, id)? {
        Some(shop) if staff || shop.owner_user_id == viewer => Ok(shop),
        _ => Err(AppError::NotFound { resource: "shop" }),
    }
}

/// The shops of one owner, or all shops (newest first, capped) for staff.
///
/// # Errors
/// A database failure.
pub fn list_shops(conn: &mut DbConnection, owner: Option<&str>) -> Result<Vec<Shop>, AppError> {
    let mut query = shops::table
        .select(ShopRow::as_select())
        .order((shops::created_at.desc(), shops::id.desc()))
        .limit(LIST_LIMIT_MAX)
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(shops::owner_user_id.eq(owner.to_owned()));
    }
    query.load(conn)?.into_iter().map(Shop::try_from).collect()
}

/// What an account update did to a shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub shop_id: String,
    pub from: OnboardingStatus,
    pub to: OnboardingStatus,
}

/// Records the provider account a shop was given and applies its state.
///
/// # Errors
/// 404 for an unknown shop; 409 if the shop already has another account.
#[tracing::instrument(skip(conn, account), fields(account = %account.id))]
pub fn attach_account(
    conn: &mut DbConnection,
    shop_id: &str,
    account: &ConnectedAccount,
) -> Result<Shop, AppError> {
    let attached = db::write_transaction(conn, |conn| {
        let shop = find_shop(conn, shop_id)?.ok_or(AppError::NotFound { resource: "shop" })?;
        match &shop.provider_account_id {
            Some(existing) if existing != &account.id => {
                return Err(AppError::Conflict {
                    code: "account_already_attached",
                    message: format!("shop {shop_id} already has account {existing}"),
                })
            }
            Some(_) => {}
            None => {
                diesel::update(shops::table.find(shop_id))
                    .set(shops::provider_account_id.eq(&account.id))
                    .execute(conn)?;
            }
        }
        apply_account_state(conn, shop_id, account)?;
        find_shop(conn, shop_id)?.ok_or(AppError::NotFound { resource: "shop" })
    })?;
    // Its products may have just become visible (other processes learn it
    // from the database, see catalog::changes).
    crate::catalog::cache::invalidate_all();
    Ok(attached)
}

/// Applies the provider's current state of an account (from `account.updated`,
/// or fetched) to the shop that owns it. Idempotent: applying the same state
/// twice changes nothing the second time; unknown accounts are ignored.
///
/// # Errors
/// A database failure.
#[tracing::instrument(skip(conn, account), fields(account = %account.id))]
pub fn apply_account_update(
    conn: &mut DbConnection,
    account: &ConnectedAccount,
) -> Result<Option<Transition>, AppError> {
    let transition = db::write_transaction(conn, |conn| {
        let shop_id: Option<String> = shops::table
            .filter(shops::provider_account_id.eq(&account.id))
            .select(shops::id)
            .first(conn)
            .optional()?;
        match shop_id {
            Some(shop_id) => apply_account_state(conn, &shop_id, account).map(Some),
            None => Ok(None),
        }
    })?;
    if transition.as_ref().is_some_and(|t| t.from != t.to) {
        crate::catalog::cache::invalidate_all();
    }
    Ok(transition)
}

fn apply_account_state(
    conn: &mut DbConnection,
    shop_id: &str,
    account: &ConnectedAccount,
) -> Result<Transition, AppError> {
    let from: String = shops::table
        .find(shop_id)
        .select(shops::onboarding_status)
        .first(conn)?;
    let from = OnboardingStatus::parse(&from)?;
    let to = OnboardingStatus::of_account(account);
    let requirements = serde_json::to_string(&account.currently_due)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("requirements: {e}")))?;
    // Conditional on the status read: of two deliveries applying the same
    // change at once, one moves the status and only that one tells the seller.
    let moved = from != to
        && diesel::update(
            shops::table
                .find(shop_id)
                .filter(shops::onboarding_status.eq(from.as_str())),
        )
        .set(shops::onboarding_status.eq(to.as_str()))
        .execute(conn)?
            == 1;
    diesel::update(shops::table.find(shop_id))
        .set((
            shops::onboarding_status.eq(to.as_str()),
            shops::requirements_due.eq(requirements),
            shops::disabled_reason.eq(&account.disabled_reason),
            shops::charges_enabled.eq(account.charges_enabled),
            shops::payouts_enabled.eq(account.payouts_enabled),
            shops::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    if from != to {
        tracing::info!(
            shop_id,
            from = from.as_str(),
            to = to.as_str(),
            "shop onboarding status changed"
        );
    }
    if moved {
        tell_seller(conn, shop_id, from, to, account)?;
        // Selling turns on with `active` and off when the shop leaves it; a
        // freeze, which also stops selling, has its own events.
        let kind = match (from, to) {
            (_, OnboardingStatus::Active) => Some(EventType::ShopActivated),
            (OnboardingStatus::Active, _) => Some(EventType::ShopRestricted),
            _ => None,
        };
        if let Some(kind) = kind {
            let shop = find_shop(conn, shop_id)?.ok_or(AppError::NotFound { resource: "shop" })?;
            emit_shop_event(conn, kind, &shop)?;
        }
    }
    Ok(Transition {
        shop_id: shop_id.to_owned(),
        from,
        to,
    })
}

/// Tells the seller its shop can no longer sell: restricted by the provider,
/// or requirements due again after it could sell. The first `pending` (right
/// after the account is made) is the seller's own onboarding, not news.
fn tell_seller(
    conn: &mut DbConnection,
    shop_id: &str,
    from: OnboardingStatus,
    to: OnboardingStatus,
    account: &ConnectedAccount,
) -> Result<(), AppError> {
    use crate::notify::messages::ShopNotice;
    use crate::notify::Message;
    let shop = find_shop(conn, shop_id)?.ok_or(AppError::NotFound { resource: "shop" })?;
    let notice = ShopNotice {
        shop_id: shop.id.clone(),
        shop_name: shop.name.clone(),
        account_id: account.id.clone(),
        requirements: account.currently_due.clone(),
        disabled_reason: account.disabled_reason.clone(),
    };
    let message = match (from, to) {
        (_, OnboardingStatus::Restricted) => Message::AccountRestricted(notice),
        (OnboardingStatus::Active | OnboardingStatus::Restricted, OnboardingStatus::Pending) => {
            Message::OnboardingIncomplete(notice)
        }
        _ => return Ok(()),
    };
    // Each move is news once: the cause is the move itself, not the shop.
    let cause = format!(
        "{}:{}:{}",
        message.template(),
        shop.id,
        uuid::Uuid::new_v4().simple()
    );
    super::notices::tell_owner(
        conn,
        &shop.id,
        &shop.owner_user_id,
        &cause,
        &message,
        &super::notices::shop_path(&shop.id),
    )
}

/// The address a shop's emails go to: its owner's account, or `None` when
/// that account is gone.
///
/// # Errors
/// A database failure.
pub fn owner_email(conn: &mut DbConnection, shop: &Shop) -> Result<Option<String>, AppError> {
    super::notices::owner_email(conn, &shop.id, &shop.owner_user_id)
}

/// A freeze reason, trimmed: 1 to [`REASON_CHARS_MAX`] characters.
///
/// # Errors
/// 422 `invalid_value`, param `reason`, for a missing, over-long or garbled reason.
pub fn check_reason(reason: Option<&str>) -> Result<&str, AppError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    // Control, format and separator characters are refused: the reason is shown
    // in the audit log, emails and exports, where they would garble or hide text.
    let unfit =
        |r: &str| r.chars().count() > REASON_CHARS_MAX || display_unfit(r, Lines::Single).is_some();
    match reason {
        Some(reason) if !unfit(reason) => Ok(reason),
        _ => Err(AppError::unprocessable(
            "invalid_value",
            format!("a reason has 1 to {REASON_CHARS_MAX} characters, without control, format or line separator characters"),
            Some("reason".into()),
        )),
    }
}

/// Freezes or unfreezes a shop (an operator's decision, with a reason).
///
/// # Errors
/// 404 for an unknown shop; 422 for a missing, over-long or garbled reason when freezing.
#[tracing::instrument(skip(conn))]
pub fn set_frozen(
    conn: &mut DbConnection,
    shop_id: &str,
    frozen: bool,
    reason: Option<&str>,
) -> Result<Shop, AppError> {
    let reason = if frozen {
        Some(check_reason(reason)?)
    } else {
        None
    };
    let shop = db::write_transaction(conn, |conn| {
        // Conditional on the other state: of two racing freezes one flips the
        // shop and only that one is an event; the other updates the reason.
        let flipped = diesel::update(shops::table.find(shop_id).filter(shops::frozen.eq(!frozen)))
            .set(shops::frozen.eq(frozen))
            .execute(conn)?
            == 1;
        let updated = diesel::update(shops::table.find(shop_id))
            .set((
                shops::frozen.eq(frozen),
                shops::frozen_reason.eq(reason),
                shops::updated_at.eq(db::now()),
            ))
            .execute(conn)?;
        if updated == 0 {
            return Err(AppError::NotFound { resource: "shop" });
        }
        let shop = find_shop(conn, shop_id)?.ok_or(AppError::NotFound { resource: "shop" })?;
        if flipped {
            let kind = if frozen {
                EventType::ShopFrozen
            } else {
                EventType::ShopUnfrozen
            };
            emit_shop_event(conn, kind, &shop)?;
        }
        Ok(shop)
    })?;
    crate::catalog::cache::invalidate_all();
    Ok(shop)
}

/// The ids of shops whose products buyers may see and buy, as a subquery
/// (`products.shop_id.eq_any(sellable_shop_ids())`). The same rule as
/// [`Shop::can_sell`]. Unboxed on purpose: a boxed query over the multi-backend
/// cannot be a subquery through `MultiConnection`.
#[diesel::dsl::auto_type]
pub fn sellable_shop_ids() -> _ {
    let active: &'static str = OnboardingStatus::Active.as_str();
    let not_frozen: bool = false;
    shops::table
        .filter(shops::frozen.eq(not_frozen))
        .filter(shops::onboarding_status.eq(active))
        .select(shops::id)
}

/// [`sellable_shop_ids`] as SQL with `?` placeholders and their values, for
/// the statements diesel cannot build on both backends (full-text search).
/// Kept beside the DSL form so the rule is written in one place.
pub fn sellable_shop_ids_sql() -> (&'static str, [SqlValue; 2]) {
    (
        "SELECT id FROM shops WHERE frozen = ? AND onboarding_status = ?",
        [
            SqlValue::Bool(false),
            SqlValue::Text(OnboardingStatus::Active.as_str().to_owned()),
        ],
    )
}
