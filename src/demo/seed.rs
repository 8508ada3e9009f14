//! `bazaar demo --seed`: a marketplace anyone can click through on the
//! embedded defaults — demo sellers with onboarded shops, a buyer, the demo
//! catalog of `fixtures/demo_catalog.json`, and a platform fee rule (without
//! one every checkout answers `no_fee_rule`).
//!
//! Safe to run again: existing users, shops, SKUs and a platform fee rule in
//! force are reused, not duplicated.
//! Onboarding is completed automatically only against the sandbox (through its
//! test helper); with the real provider the shops stay `pending` until their
//! sellers follow their onboarding links.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::auth::{self, AuditEntry, Email, Password, RequestContext, Role};
use crate::catalog::demo::{load_demo_catalog, DemoCatalog, DEMO_CATALOG_JSON};
use crate::config::{ProviderKind, Settings};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::fees::{self, FeeScope, FeeTerms};
use crate::payments::Provider;
use crate::sellers::shops::{self, Shop};

/// The demo accounts' password, printed by the command: demo data only.
pub const DEMO_PASSWORD: &str = "bazaar-demo-2026!";
/// The demo buyer's email.
pub const DEMO_BUYER_EMAIL: &str = "buyer@demo.bazaar.example";

/// What the seed created or found.
#[derive(Debug)]
pub struct Seeded {
    pub sellers: Vec<String>,
    pub buyer: String,
    pub shops: Vec<Shop>,
    pub products_inserted: usize,
    pub products_skipped: usize,
    /// The platform fee rule made by this run; `None` when one was in force.
    pub fee_rule_created: Option<String>,
}

/// The demo's platform fee: 10 % plus a fixed amount in each demo currency,
/// the platform bearing the provider's processing fee and giving back its fee
/// in proportion on refunds. Demo business terms, not a recommendation.
pub const DEMO_FEE_PERCENTAGE: &str = "10";
/// The fixed part of the demo fee, per currency, in minor units.
pub const DEMO_FEE_FIXED_MINOR: [(&str, i64); 3] = [("USD", 30), ("EUR", 25), ("GBP", 20)];

fn seller_email(slug: &str) -> String {
    format!("owner@{slug}.demo.bazaar.example")
}

/// The user with this email, created with the demo password if missing.
fn ensure_user(pool: &DbPool, email: &str, role: Role) -> anyhow::Result<String> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("demo email {email}: {e}"))?;
    let password =
        Password::parse(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("demo password: {e}"))?;
    let mut conn = pool.get()?;
    if let Some(user) =
        auth::find_user_by_email(&mut conn, &email).map_err(|e| anyhow::anyhow!("{e}"))?
    {
        return Ok(user.id.0);
    }
    let user = auth::create_verified_user(
        &mut conn,
        &email,
        &password,
        role,
        &RequestContext::default(),
        db::now(),
    )
    .map_err(|e| anyhow::anyhow!("demo user {email}: {e}"))?;
    Ok(user.id.0)
}

/// Seeds the demo marketplace into the configured database and provider.
///
/// # Errors
/// The database, the provider or the demo file failed; the catalog load itself
/// is all-or-nothing.
pub async fn seed(
    settings: &Settings,
    pool: &DbPool,
    provider: &dyn Provider,
    sandbox_url: Option<&str>,
) -> anyhow::Result<Seeded> {
    let catalog =
        DemoCatalog::parse(DEMO_CATALOG_JSON).map_err(|e| anyhow::anyhow!("demo catalog: {e}"))?;
    let mut owners = BTreeMap::new();
    for shop in &catalog.shops {
        owners.insert(
            shop.slug.clone(),
            ensure_user(pool, &seller_email(&shop.slug), Role::Seller)?,
        );
    }
    ensure_user(pool, DEMO_BUYER_EMAIL, Role::Buyer)?;
    let loaded = {
        let mut conn = pool.get()?;
        let owner_for_shop = |slug: &str| owners.get(slug).cloned().unwrap_or_default();
        load_demo_catalog(&mut conn, owner_for_shop, DEMO_CATALOG_JSON)
            .map_err(|e| anyhow::anyhow!("demo catalog: {e}"))?
    };
    let fee_rule_created = ensure_platform_fee_rule(pool)?;
    let mut onboarded = Vec::with_capacity(loaded.shops.len());
    for shop in loaded.shops {
        onboarded.push(onboard(settings, pool, provider, sandbox_url, shop).await?);
    }
    Ok(Seeded {
        sellers: catalog
            .shops
            .iter()
            .map(|shop| seller_email(&shop.slug))
            .collect(),
        buyer: DEMO_BUYER_EMAIL.to_owned(),
        shops: onboarded,
        products_inserted: loaded.products_inserted,
        products_skipped: loaded.products_skipped,
        fee_rule_created,
    })
}

/// Creates the demo's platform fee rule unless a platform rule is live (an
/// operator's own terms win over the demo's); returns the new rule's id.
fn ensure_platform_fee_rule(pool: &DbPool) -> anyhow::Result<Option<String>> {
    let fixed: BTreeMap<String, i64> = DEMO_FEE_FIXED_MINOR
        .iter()
        .map(|(code, minor)| ((*code).to_owned(), *minor))
        .collect();
    let terms = FeeTerms::parse(DEMO_FEE_PERCENTAGE, &fixed, None, None, "platform", true)
        .map_err(|e| anyhow::anyhow!("demo fee terms: {e}"))?;
    let mut conn = pool.get()?;
    db::write_transaction(&mut conn, |conn| {
        let now = db::now();
        // A live rule blocks a second one (409 `fee_rule_exists`), even one
        // that starts later: the operator scheduled it.
        let live = fees::list_rules(conn)?.iter().any(|rule| {
            rule.scope == FeeScope::Platform
                && (rule.effective_to.is_none() || rule.version_at(now).is_some())
        });
        if live {
            return Ok(None);
        }
        let rule = fees::create_rule(conn, &FeeScope::Platform, &terms, now, now)?;
        let context = RequestContext {
            ip: None,
            request_id: Some("cli".into()),
        };
        auth::record_audit(
            conn,
            AuditEntry::new("fee_rule.create", &rule.id)
                .context(&context)
                .after(serde_json::json!({"scope": "platform", "source": "bazaar demo --seed"})),
        )?;
        Ok(Some(rule.id))
    })
    .map_err(|e: AppError| anyhow::anyhow!("demo fee rule: {e}"))
}

/// Gives a demo shop its connected account and, on the sandbox, completes onboarding.
async fn onboard(
    settings: &Settings,
    pool: &DbPool,
    provider: &dyn Provider,
    sandbox_url: Option<&str>,
    shop: Shop,
) -> anyhow::Result<Shop> {
    let shop = crate::sellers::ensure_account(pool, provider, shop)
        .await
        .map_err(|e| anyhow::anyhow!("demo shop account: {e}"))?;
    let account_id = shop
        .provider_account_id
        .clone()
        .ok_or_else(|| anyhow::anyhow!("shop {} has no account", shop.slug))?;
    let account = provider.retrieve_account(&account_id).await?;
    let account = match (settings.provider.kind, sandbox_url) {
        (ProviderKind::Sandbox, Some(base)) if !account.charges_enabled => {
            let secret_key = crate::app::sandbox_config(settings).secret_key;
            let response = reqwest::Client::new()
                .post(format!(
                    "{base}/v1/test_helpers/accounts/{}/complete_onboarding",
                    account.id
                ))
                .bearer_auth(secret_key)
                .send()
                .await
                .context("sandbox onboarding helper")?;
            anyhow::ensure!(
                response.status().is_success(),
                "sandbox onboarding: {}",
                response.status()
            );
            provider.retrieve_account(&account.id).await?
        }
        _ => account,
    };
    let mut conn = pool.get()?;
    shops::attach_account(&mut conn, &shop.id, &account)
        .map_err(|e| anyhow::anyhow!("shop {}: {e}", shop.slug))
}
