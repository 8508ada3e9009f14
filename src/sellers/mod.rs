//! Sellers: shops, their connected accounts at the provider, and the
//! onboarding state machine that follows the provider's account state.

pub mod attention;
pub mod http;
pub mod notices;
pub mod profile;
pub mod public;
pub mod schema;
pub mod search;
pub mod shops;

pub use public::{public_shop, public_shops, shop_names, PublicShop};
pub use search::{search_shops, ShopPage, ShopSearch};
pub use shops::{OnboardingStatus, Shop, Transition};

use std::collections::BTreeMap;

use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::payments::{IdempotencyKey, NewConnectedAccount, Provider};

/// Makes sure the shop has its connected account, creating it if an earlier
/// attempt failed. The idempotency key is the shop's id, so retries across
/// requests (or processes) never create a second account.
///
/// # Errors
/// The provider failed (the shop stays as it was) or the database did.
pub async fn ensure_account(
    pool: &DbPool,
    provider: &dyn Provider,
    shop: Shop,
) -> Result<Shop, AppError> {
    if shop.provider_account_id.is_some() {
        return Ok(shop);
    }
    let request = NewConnectedAccount {
        country: shop.country.clone(),
        email: shop.support_email.clone(),
        business_name: Some(shop.name.clone()),
        support_email: Some(shop.support_email.clone()),
        metadata: BTreeMap::from([("shop_id".to_owned(), shop.id.clone())]),
    };
    let account = provider
        .create_connected_account(&request, &IdempotencyKey::derive("account", &shop.id))
        .await?;
    let shop_id = shop.id.clone();
    db::run(pool, move |conn| {
        shops::attach_account(conn, &shop_id, &account)
    })
    .await
}

/// Saves a new shop, then creates its connected account. The shop is kept
/// when the provider fails: it stays `not_started` and the account is made
/// on the next onboarding link ([`ensure_account`]).
///
/// # Errors
/// 409 `slug_taken`, or a database failure.
pub async fn open_shop(
    pool: &DbPool,
    provider: &dyn Provider,
    owner: &str,
    new: shops::NewShop,
) -> Result<Shop, AppError> {
    let owner = owner.to_owned();
    let shop = db::run(pool, move |conn| shops::create_shop(conn, &owner, &new)).await?;
    let shop_id = shop.id.clone();
    match ensure_account(pool, provider, shop.clone()).await {
        Ok(shop) => Ok(shop),
        Err(error) => {
            tracing::warn!(%error, shop_id, "connected account not created yet; retried on the next onboarding link");
            Ok(shop)
        }
    }
}

/// Where the provider sends a seller back: `(refresh_url, return_url)`.
///
/// The configured URLs with `{shop_id}` filled in, or, when they are empty,
/// the seller workspace's own pages under `base` (`server.public_url`, or
/// the address the seller's request came to), so the embedded run needs no
/// set-up.
pub fn onboarding_urls(
    provider: &crate::config::ProviderSettings,
    base: &str,
    shop_id: &str,
) -> (String, String) {
    let url = |configured: &str, page: &str| {
        if configured.is_empty() {
            format!(
                "{}/seller/shops/{shop_id}/onboarding/{page}",
                base.trim_end_matches('/')
            )
        } else {
            configured.replace("{shop_id}", shop_id)
        }
    };
    (
        url(&provider.connect_onboarding_refresh_url, "refresh"),
        url(&provider.connect_onboarding_return_url, "return"),
    )
}

/// A fresh single-use onboarding link for the shop (they expire, so one is
/// made each time a seller heads to the provider).
///
/// # Errors
/// The provider refused or failed.
pub async fn onboarding_link(
    pool: &DbPool,
    provider: &dyn Provider,
    shop: Shop,
    (refresh_url, return_url): (String, String),
) -> Result<crate::payments::AccountLink, AppError> {
    let shop = ensure_account(pool, provider, shop).await?;
    let account_id = shop.provider_account_id.as_deref().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "shop {} has no account after ensure_account",
            shop.id
        ))
    })?;
    Ok(provider
        .create_account_link(account_id, &refresh_url, &return_url)
        .await?)
}

/// Fetches the shop's account from the provider and applies it: what a
/// missed or late `account.updated` would have done. `audit` names the staff
/// member when staff asked (an operator action, audited with what changed).
///
/// # Errors
/// The provider failed, or the account vanished there (500).
pub async fn sync_shop(
    pool: &DbPool,
    provider: &dyn Provider,
    shop: Shop,
    audit: Option<(crate::auth::UserId, crate::auth::RequestContext)>,
) -> Result<Shop, AppError> {
    let Some(account_id) = shop.provider_account_id.clone() else {
        return Ok(shop);
    };
    let account = provider
        .retrieve_account(&account_id)
        .await
        .map_err(|error| match error {
            crate::payments::ProviderError::NotFound { .. } => AppError::Internal(anyhow::anyhow!(
                "account {account_id} vanished at the provider"
            )),
            other => other.into(),
        })?;
    let (shop_id, before) = (shop.id.clone(), shop);
    db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            shops::apply_account_update(conn, &account)?;
            let after =
                shops::find_shop(conn, &shop_id)?.ok_or(AppError::NotFound { resource: "shop" })?;
            if let Some((actor, context)) = audit {
                let state = |shop: &Shop| serde_json::json!({ "status": shop.onboarding_status.as_str(), "requirements_due": shop.requirements_due });
                crate::auth::record_audit(
                    conn,
                    crate::auth::AuditEntry::new("shop.sync", &shop_id)
                        .actor(&actor)
                        .context(&context)
                        .before(state(&before))
                        .after(state(&after)),
                )?;
            }
            Ok(after)
        })
    })
    .await
}

/// What an operator decides about a shop: freeze it (the reason is required
/// and shown to its seller), or lift the freeze (a reason is optional; when
/// given it is kept in the audit log).
#[derive(Debug, Clone)]
pub enum FreezeChange {
    Freeze { reason: String },
    Unfreeze { reason: Option<String> },
}

/// Freezes or unfreezes a shop and records who did it, in one transaction:
/// `POST /v1/shops/{id}/freeze` and `…/unfreeze`, and the console's forms.
/// Audited as `shop.freeze` / `shop.unfreeze` with `{frozen, frozen_reason}`
/// before and after (and `reason` after, for an unfreeze that gave one).
///
/// # Errors
/// 404 for an unknown shop; 422 `invalid_value` (param `reason`) for a
/// missing, over-long or garbled reason.
#[tracing::instrument(skip(conn, context))]
pub fn set_frozen_audited(
    conn: &mut db::DbConnection,
    shop_id: &str,
    actor: &crate::auth::UserId,
    context: &crate::auth::RequestContext,
    change: &FreezeChange,
) -> Result<Shop, AppError> {
    // An unfreeze's reason is held to a freeze's rules: it is shown in the
    // audit log just the same.
    if let FreezeChange::Unfreeze {
        reason: Some(reason),
    } = change
    {
        shops::check_reason(Some(reason))?;
    }
    db::write_transaction(conn, |conn| {
        let before =
            shops::find_shop(conn, shop_id)?.ok_or(AppError::NotFound { resource: "shop" })?;
        let (action, after) = match change {
            FreezeChange::Freeze { reason } => (
                "shop.freeze",
                shops::set_frozen(conn, shop_id, true, Some(reason))?,
            ),
            FreezeChange::Unfreeze { .. } => (
                "shop.unfreeze",
                shops::set_frozen(conn, shop_id, false, None)?,
            ),
        };
        let state = |shop: &Shop| serde_json::json!({ "frozen": shop.frozen, "frozen_reason": shop.frozen_reason });
        let mut after_state = state(&after);
        if let FreezeChange::Unfreeze {
            reason: Some(reason),
        } = change
        {
            after_state["reason"] = serde_json::json!(reason.trim());
        }
        crate::auth::record_audit(
            conn,
            crate::auth::AuditEntry::new(action, shop_id)
                .actor(actor)
                .context(context)
                .before(state(&before))
                .after(after_state),
        )?;
        Ok(after)
    })
}
