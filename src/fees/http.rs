//! Fee rule endpoints: thin handlers over [`super::manage`] and [`super::store`].
//!
//! Operators write; finance reads; everyone else is refused (403).

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::manage::{
    self, stored_time, CreateRuleRequest, NewRule, NewTerms, NewVersionRequest, Preview,
    PreviewQuestion, PreviewRequest, RetireRequest,
};
use super::model::FeeRuleVersion;
use super::store::{self, FeeRule, ScopeJson};
use crate::auth::{policy, Caller, RequestContext};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;

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
    caller.require(policy::MANAGE_FEE_RULES)?;
    let new = NewRule::try_from(body.into_inner()?)?;
    let actor = caller.user_id.clone();
    let rule = db::run(&pool, move |conn| {
        manage::create_rule_audited(conn, &actor, &context, &new)
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
    caller.require(policy::READ_FEE_RULES)?;
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
    caller.require(policy::READ_FEE_RULES)?;
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
    caller.require(policy::MANAGE_FEE_RULES)?;
    let new = NewTerms::try_from(body.into_inner()?)?;
    let (actor, rule_id) = (caller.user_id.clone(), path.into_inner());
    let version = db::run(&pool, move |conn| {
        manage::add_version_audited(conn, &actor, &context, &rule_id, &new)
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
    caller.require(policy::MANAGE_FEE_RULES)?;
    let effective_to = body.into_inner()?.effective_to.map(stored_time);
    let (actor, rule_id) = (caller.user_id.clone(), path.into_inner());
    let rule = db::run(&pool, move |conn| {
        manage::retire_rule_audited(conn, &actor, &context, &rule_id, effective_to)
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
    caller.require(policy::READ_FEE_RULES)?;
    let question = PreviewQuestion::try_from(body.into_inner()?)?;
    let preview = db::run(&pool, move |conn| manage::preview(conn, &question)).await?;
    Ok(HttpResponse::Ok().json(preview))
}
