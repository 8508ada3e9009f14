//! Sellers: shops, their connected accounts at the provider, and the
//! onboarding state machine that follows the provider's account state.

pub mod http;
pub mod public;
pub mod schema;
pub mod shops;

pub use public::{public_shop, public_shops, shop_names, PublicShop};
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
