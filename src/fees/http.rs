//! Fee rule endpoints: thin handlers over [`super::store`] and [`super::model`].
//!
//! Operators write; finance reads; everyone else is refused (403).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

use super::model::{fee_for, FeeRuleVersion, FeeScope, FeeTerms};
use super::store::{self, FeeRule, ScopeJson};
use crate::auth::{record_audit, AuditEntry, Caller, RequestContext, Role};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;
use crate::money::{Currency, Money};

/// Mounts the fee rule routes.
pub fn routes(api: &mut Api<'_>) {
    // `preview` before `{id}` so it is not taken for an id.
    api.service(resource("/v1/fee_rules/preview").post(preview))
        .service(resource("/v1/fee_rules").post(create_rule).get(list_rules))
        .service(resource("/v1/fee_rules/{id}").get(get_rule))
        .service(resource("/v1/fee_rules/{id}/versions").post(add_version))
        .service(resource("/v1/fee_rules/{id}/retire").post(retire_rule))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(create_rule, list_rules, get_rule, add_version, retire_rule, preview),
    tags((name = "fees", description = "Fee rules, their immutable versions, previews"))
)]
struct Doc;

/// A new rule with its first version.
#[derive(Serialize, ToSchema)]
struct CreatedRule<'a> {
    id: &'a str,
    scope: ScopeJson<'a>,
    #[serde(serialize_with = "crate::db::serialize_rfc3339_option")]
    effective_to: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    created_at: NaiveDateTime,
    version: Option<&'a FeeRuleVersion>,
}

/// The list view of a rule: its scope and the version in force now.
#[derive(Serialize, ToSchema)]
struct RuleSummary<'a> {
    id: &'a str,
    scope: ScopeJson<'a>,
    #[serde(serialize_with = "crate::db::serialize_rfc3339_option")]
    effective_to: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    created_at: NaiveDateTime,
    /// `null` when no version is in force now (future or retired).
    current_version: Option<&'a FeeRuleVersion>,
    versions_count: usize,
}

/// `{data: [rule summary…]}`.
#[derive(Serialize, ToSchema)]
struct RuleList<'a> {
    data: Vec<RuleSummary<'a>>,
}

/// A rule with every version and the id of the one in force now.
#[derive(Serialize, ToSchema)]
struct RuleDetail<'a> {
    #[serde(flatten)]
    rule: &'a FeeRule,
    current_version_id: Option<String>,
}

/// What the rule in force would charge, and its terms beyond the fee.
#[derive(Serialize, ToSchema)]
struct Preview {
    rule_id: String,
    breakdown: super::model::FeeBreakdown,
    /// Whether the fee is also taken on shipping (the breakdown prices
    /// `amount_minor` as the whole base).
    fee_on_shipping: bool,
    /// `null`: the platform setting `orders.release`.
    release_policy: Option<crate::config::ReleasePolicy>,
    /// `null`: the setting `orders.release_after_days`.
    release_after_days: Option<i32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ScopeRequest {
    kind: String,
    value: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateRuleRequest {
    scope: ScopeRequest,
    percentage: String,
    fixed: BTreeMap<String, i64>,
    min_minor: Option<i64>,
    max_minor: Option<i64>,
    processing_fee_payer: String,
    refund_fee_proportionally: bool,
    /// `platform` or `seller`; default: `processing_fee_payer`.
    kept_processing_fee_payer: Option<String>,
    /// Percent of the part the fee never exceeds, e.g. `"50"`.
    max_share: Option<String>,
    /// Take the fee on the part's shipping too; default `false` (items only).
    fee_on_shipping: Option<bool>,
    /// `on_payment`, `on_shipment` or `on_delivery`; default: the platform
    /// setting `orders.release` at checkout.
    release_policy: Option<String>,
    /// 1 to 90; default: the setting `orders.release_after_days`.
    release_after_days: Option<i32>,
    effective_from: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewVersionRequest {
    percentage: String,
    fixed: BTreeMap<String, i64>,
    min_minor: Option<i64>,
    max_minor: Option<i64>,
    processing_fee_payer: String,
    refund_fee_proportionally: bool,
    /// `platform` or `seller`; default: `processing_fee_payer`.
    kept_processing_fee_payer: Option<String>,
    /// Percent of the part the fee never exceeds, e.g. `"50"`.
    max_share: Option<String>,
    /// Take the fee on the part's shipping too; default `false` (items only).
    fee_on_shipping: Option<bool>,
    /// `on_payment`, `on_shipment` or `on_delivery`; default: the platform
    /// setting `orders.release` at checkout.
    release_policy: Option<String>,
    /// 1 to 90; default: the setting `orders.release_after_days`.
    release_after_days: Option<i32>,
    effective_from: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RetireRequest {
    effective_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    amount_minor: i64,
    currency: String,
    shop_id: String,
    category: Option<String>,
}

/// A validated new rule.
struct NewRule {
    scope: FeeScope,
    terms: FeeTerms,
    effective_from: Option<NaiveDateTime>,
}

/// Validated new terms for an existing rule.
struct NewTerms {
    terms: FeeTerms,
    effective_from: Option<NaiveDateTime>,
}

/// A validated preview question.
struct PreviewQuestion {
    amount: Money,
    shop_id: String,
    category: Option<String>,
}

fn stored_time(at: DateTime<Utc>) -> NaiveDateTime {
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

fn summary(rule: &FeeRule, now: NaiveDateTime) -> RuleSummary<'_> {
    RuleSummary {
        id: &rule.id,
        scope: ScopeJson::from(&rule.scope),
        effective_to: rule.effective_to,
        created_at: rule.created_at,
        current_version: rule.version_at(now),
        versions_count: rule.versions.len(),
    }
}

/// `POST /v1/fee_rules` → 201 `{id, scope, effective_to, created_at, version}`.
#[utoipa::path(post, path = "/v1/fee_rules", tag = "fees",
    request_body = CreateRuleRequest,
    responses(
        (status = 201, body = CreatedRule),
        (status = 409, description = "A live rule already has this scope", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["operator"]))))]
async fn create_rule(
    caller: Caller,
    context: RequestContext,
    body: JsonBody<CreateRuleRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Operator])?;
    let new = NewRule::try_from(body.into_inner()?)?;
    let actor = caller.user_id.clone();
    let rule = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let now = db::now();
            let from = new.effective_from.unwrap_or(now);
            let rule = store::create_rule(conn, &new.scope, &new.terms, from, now)?;
            record_audit(
                conn,
                AuditEntry::new("fee_rule.create", &rule.id)
                    .actor(&actor)
                    .context(&context)
                    .after(to_json(&rule)?),
            )?;
            Ok(rule)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(CreatedRule {
        id: &rule.id,
        scope: ScopeJson::from(&rule.scope),
        effective_to: rule.effective_to,
        created_at: rule.created_at,
        version: rule.versions.first(),
    }))
}

/// `GET /v1/fee_rules` → `{data: [{id, scope, effective_to, created_at, current_version, versions_count}]}`.
#[utoipa::path(get, path = "/v1/fee_rules", tag = "fees",
    responses((status = 200, body = RuleList)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn list_rules(caller: Caller, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let rules = db::run(&pool, store::list_rules).await?;
    let now = db::now();
    let data = rules.iter().map(|rule| summary(rule, now)).collect();
    Ok(HttpResponse::Ok().json(RuleList { data }))
}

/// `GET /v1/fee_rules/{id}` → the rule with every version.
#[utoipa::path(get, path = "/v1/fee_rules/{id}", tag = "fees",
    params(("id" = String, Path, description = "The rule's id (`fr_…`)")),
    responses((status = 200, body = RuleDetail)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn get_rule(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let id = path.into_inner();
    let rule = db::run(&pool, move |conn| store::get_rule(conn, &id)).await?;
    let current_version_id = rule.version_at(db::now()).map(|v| v.id.clone());
    Ok(HttpResponse::Ok().json(RuleDetail {
        rule: &rule,
        current_version_id,
    }))
}

/// `POST /v1/fee_rules/{id}/versions` → 201 the new version.
#[utoipa::path(post, path = "/v1/fee_rules/{id}/versions", tag = "fees",
    params(("id" = String, Path, description = "The rule's id (`fr_…`)")),
    request_body = NewVersionRequest,
    responses(
        (status = 201, body = FeeRuleVersion),
        (status = 409, description = "The rule is retired, or has too many versions", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["operator"]))))]
async fn add_version(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<NewVersionRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Operator])?;
    let new = NewTerms::try_from(body.into_inner()?)?;
    let rule_id = path.into_inner();
    let actor = caller.user_id.clone();
    let version = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let now = db::now();
            let from = new.effective_from.unwrap_or(now);
            let before = store::get_rule(conn, &rule_id)?;
            let latest = before.versions.last().cloned();
            let version = store::new_version(conn, &rule_id, &new.terms, from, now)?;
            record_audit(
                conn,
                AuditEntry::new("fee_rule.version", &rule_id)
                    .actor(&actor)
                    .context(&context)
                    .before(to_json(&latest)?)
                    .after(to_json(&version)?),
            )?;
            Ok(version)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(version))
}

/// `POST /v1/fee_rules/{id}/retire` `{effective_to?}` → the rule.
#[utoipa::path(post, path = "/v1/fee_rules/{id}/retire", tag = "fees",
    params(("id" = String, Path, description = "The rule's id (`fr_…`)")),
    request_body = RetireRequest,
    responses(
        (status = 200, body = FeeRule),
        (status = 409, description = "Already retired", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["operator"]))))]
async fn retire_rule(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<RetireRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Operator])?;
    let effective_to = body.into_inner()?.effective_to.map(stored_time);
    let rule_id = path.into_inner();
    let actor = caller.user_id.clone();
    let rule = db::run(&pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let now = db::now();
            let to = effective_to.unwrap_or(now);
            let rule = store::retire_rule(conn, &rule_id, to, now)?;
            record_audit(
                conn,
                AuditEntry::new("fee_rule.retire", &rule_id)
                    .actor(&actor)
                    .context(&context)
                    .before(json!({ "effective_to": null }))
                    .after(json!({ "effective_to": rule.effective_to })),
            )?;
            Ok(rule)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(rule))
}

/// `POST /v1/fee_rules/preview` `{amount_minor, currency, shop_id, category?}` →
/// the breakdown the rule in force now would give; nothing is saved.
#[utoipa::path(post, path = "/v1/fee_rules/preview", tag = "fees",
    request_body = PreviewRequest,
    responses((status = 200, description = "Nothing is saved", body = Preview)),
    extensions(("x-roles" = json!(["finance", "operator"]))))]
async fn preview(
    caller: Caller,
    body: JsonBody<PreviewRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Finance])?;
    let question = PreviewQuestion::try_from(body.into_inner()?)?;
    let amount = question.amount;
    let version = db::run(&pool, move |conn| {
        store::rule_in_force(
            conn,
            &question.shop_id,
            question.category.as_deref(),
            amount.currency,
            db::now(),
        )
    })
    .await?;
    let breakdown = fee_for(amount, &version)?;
    Ok(HttpResponse::Ok().json(Preview {
        rule_id: version.rule_id,
        breakdown,
        fee_on_shipping: version.terms.fee_on_shipping,
        release_policy: version.terms.release_policy,
        release_after_days: version.terms.release_after_days,
    }))
}
