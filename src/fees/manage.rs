//! Managing fee rules: the requests (as the API and the console's forms
//! take them), and the audited changes and the preview both call. A rule
//! changes only here, each change audited in the same transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::model::{fee_for, FeeRuleVersion, FeeScope, FeeTerms};
use super::store::{self, FeeRule};
use crate::auth::{record_audit, AuditEntry, RequestContext, UserId};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::money::{Currency, Money};

/// What the rule in force would charge, and its terms beyond the fee.
#[derive(Serialize, ToSchema)]
pub struct Preview {
    pub rule_id: String,
    pub breakdown: super::model::FeeBreakdown,
    /// Whether the fee is also taken on shipping (the breakdown prices
    /// `amount_minor` as the whole base).
    pub fee_on_shipping: bool,
    /// `null`: the platform setting `orders.release`.
    pub release_policy: Option<crate::config::ReleasePolicy>,
    /// `null`: the setting `orders.release_after_days`.
    pub release_after_days: Option<i32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeRequest {
    pub kind: String,
    pub value: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRuleRequest {
    pub scope: ScopeRequest,
    pub percentage: String,
    pub fixed: BTreeMap<String, i64>,
    pub min_minor: Option<i64>,
    pub max_minor: Option<i64>,
    pub processing_fee_payer: String,
    pub refund_fee_proportionally: bool,
    /// `platform` or `seller`; default: `processing_fee_payer`.
    pub kept_processing_fee_payer: Option<String>,
    /// Percent of the part the fee never exceeds, e.g. `"50"`.
    pub max_share: Option<String>,
    /// Take the fee on the part's shipping too; default `false` (items only).
    pub fee_on_shipping: Option<bool>,
    /// `on_payment`, `on_shipment` or `on_delivery`; default: the platform
    /// setting `orders.release` at checkout.
    pub release_policy: Option<String>,
    /// 1 to 90; default: the setting `orders.release_after_days`.
    pub release_after_days: Option<i32>,
    pub effective_from: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersionRequest {
    pub percentage: String,
    pub fixed: BTreeMap<String, i64>,
    pub min_minor: Option<i64>,
    pub max_minor: Option<i64>,
    pub processing_fee_payer: String,
    pub refund_fee_proportionally: bool,
    /// `platform` or `seller`; default: `processing_fee_payer`.
    pub kept_processing_fee_payer: Option<String>,
    /// Percent of the part the fee never exceeds, e.g. `"50"`.
    pub max_share: Option<String>,
    /// Take the fee on the part's shipping too; default `false` (items only).
    pub fee_on_shipping: Option<bool>,
    /// `on_payment`, `on_shipment` or `on_delivery`; default: the platform
    /// setting `orders.release` at checkout.
    pub release_policy: Option<String>,
    /// 1 to 90; default: the setting `orders.release_after_days`.
    pub release_after_days: Option<i32>,
    pub effective_from: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireRequest {
    pub effective_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub amount_minor: i64,
    pub currency: String,
    pub shop_id: String,
    pub category: Option<String>,
}

/// A validated new rule.
pub struct NewRule {
    pub scope: FeeScope,
    pub terms: FeeTerms,
    pub effective_from: Option<NaiveDateTime>,
}

/// Validated new terms for an existing rule.
pub struct NewTerms {
    pub terms: FeeTerms,
    pub effective_from: Option<NaiveDateTime>,
}

/// A validated preview question.
pub struct PreviewQuestion {
    pub amount: Money,
    pub shop_id: String,
    pub category: Option<String>,
}

pub fn stored_time(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc().trunc_subsecs(6)
}

impl TryFrom<CreateRuleRequest> for NewRule {
    type Error = AppError;

    fn try_from(request: CreateRuleRequest) -> Result<Self, AppError> {
        Ok(Self {
            scope: FeeScope::parse(&request.scope.kind, request.scope.value.as_deref())?,
            terms: FeeTerms::parse(
                &request.percentage,
                &request.fixed,
                request.min_minor,
                request.max_minor,
                &request.processing_fee_payer,
                request.refund_fee_proportionally,
            )?
            .with_kept_processing_fee_payer(request.kept_processing_fee_payer.as_deref())?
            .with_max_share(request.max_share.as_deref())?
            .with_fee_on_shipping(request.fee_on_shipping)
            .with_release(
                request.release_policy.as_deref(),
                request.release_after_days,
            )?,
            effective_from: request.effective_from.map(stored_time),
        })
    }
}

impl TryFrom<NewVersionRequest> for NewTerms {
    type Error = AppError;

    fn try_from(request: NewVersionRequest) -> Result<Self, AppError> {
        Ok(Self {
            terms: FeeTerms::parse(
                &request.percentage,
                &request.fixed,
                request.min_minor,
                request.max_minor,
                &request.processing_fee_payer,
                request.refund_fee_proportionally,
            )?
            .with_kept_processing_fee_payer(request.kept_processing_fee_payer.as_deref())?
            .with_max_share(request.max_share.as_deref())?
            .with_fee_on_shipping(request.fee_on_shipping)
            .with_release(
                request.release_policy.as_deref(),
                request.release_after_days,
            )?,
            effective_from: request.effective_from.map(stored_time),
        })
    }
}

impl TryFrom<PreviewRequest> for PreviewQuestion {
    type Error = AppError;

    fn try_from(request: PreviewRequest) -> Result<Self, AppError> {
        let currency = Currency::parse(&request.currency).map_err(|error| {
            AppError::unprocessable(error.code(), error.to_string(), Some("currency".into()))
        })?;
        if request.amount_minor < 0 {
            return Err(AppError::unprocessable(
                "invalid_value",
                "amount_minor cannot be negative",
                Some("amount_minor".into()),
            ));
        }
        let category = request
            .category
            .map(|c| crate::catalog::model::Category::parse(&c).map(|c| c.as_str().to_owned()))
            .transpose()?;
        Ok(Self {
            amount: Money::new(request.amount_minor, currency),
            shop_id: request.shop_id,
            category,
        })
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Internal(e.into()))
}

/// Creates a rule with its first version (from `effective_from`, or now),
/// audited as `fee_rule.create` with the rule after.
///
/// # Errors
/// As [`store::create_rule`]: 404 for a shop scope naming no shop, 409
/// `fee_rule_exists`, 422 for a start in the past.
#[tracing::instrument(skip(conn, context, new))]
pub fn create_rule_audited(
    conn: &mut DbConnection,
    actor: &UserId,
    context: &RequestContext,
    new: &NewRule,
) -> Result<FeeRule, AppError> {
    db::write_transaction(conn, |conn| {
        let now = db::now();
        let from = new.effective_from.unwrap_or(now);
        let rule = store::create_rule(conn, &new.scope, &new.terms, from, now)?;
        record_audit(
            conn,
            AuditEntry::new("fee_rule.create", &rule.id)
                .actor(actor)
                .context(context)
                .after(to_json(&rule)?),
        )?;
        Ok(rule)
    })
}

/// Adds a version with new terms to a rule (from `effective_from`, or now),
/// audited as `fee_rule.version` with the latest version before and the new
/// one after.
///
/// # Errors
/// As [`store::new_version`]: 404, 409 `fee_rule_retired` or
/// `too_many_versions`, 422 for a start in the past.
#[tracing::instrument(skip(conn, context, new))]
pub fn add_version_audited(
    conn: &mut DbConnection,
    actor: &UserId,
    context: &RequestContext,
    rule_id: &str,
    new: &NewTerms,
) -> Result<FeeRuleVersion, AppError> {
    db::write_transaction(conn, |conn| {
        let now = db::now();
        let from = new.effective_from.unwrap_or(now);
        let before = store::get_rule(conn, rule_id)?;
        let latest = before.versions.last().cloned();
        let version = store::new_version(conn, rule_id, &new.terms, from, now)?;
        record_audit(
            conn,
            AuditEntry::new("fee_rule.version", rule_id)
                .actor(actor)
                .context(context)
                .before(to_json(&latest)?)
                .after(to_json(&version)?),
        )?;
        Ok(version)
    })
}

/// Retires a rule from `effective_to` (or now), audited as
/// `fee_rule.retire`.
///
/// # Errors
/// As [`store::retire_rule`]: 404, 409 `fee_rule_retired`, 422 for a time
/// in the past.
#[tracing::instrument(skip(conn, context))]
pub fn retire_rule_audited(
    conn: &mut DbConnection,
    actor: &UserId,
    context: &RequestContext,
    rule_id: &str,
    effective_to: Option<NaiveDateTime>,
) -> Result<FeeRule, AppError> {
    db::write_transaction(conn, |conn| {
        let now = db::now();
        let to = effective_to.unwrap_or(now);
        let rule = store::retire_rule(conn, rule_id, to, now)?;
        record_audit(
            conn,
            AuditEntry::new("fee_rule.retire", rule_id)
                .actor(actor)
                .context(context)
                .before(json!({ "effective_to": null }))
                .after(json!({ "effective_to": rule.effective_to })),
        )?;
        Ok(rule)
    })
}

/// What the rule in force now would charge for `question` (the version
/// checkout would take: [`store::rule_in_force`], priced by [`fee_for`]);
/// nothing is saved.
///
/// # Errors
/// 422 `no_fee_rule` when no rule prices it; 422 `currency_not_priced`.
pub fn preview(conn: &mut DbConnection, question: &PreviewQuestion) -> Result<Preview, AppError> {
    let version = store::rule_in_force(
        conn,
        &question.shop_id,
        question.category.as_deref(),
        question.amount.currency,
        db::now(),
    )?;
    let breakdown = fee_for(question.amount, &version)?;
    Ok(Preview {
        rule_id: version.rule_id,
        breakdown,
        fee_on_shipping: version.terms.fee_on_shipping,
        release_policy: version.terms.release_policy,
        release_after_days: version.terms.release_after_days,
    })
}
