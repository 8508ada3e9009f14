//! The console's fee rules: the list and one rule's versions (`fees::list_rules`,
//! `fees::get_rule`, as `GET /v1/fee_rules*`), the operator's forms (create a
//! rule, add a version, retire: `fees::manage::*_audited`, the functions
//! behind `POST /v1/fee_rules*`), and the preview (`fees::manage::preview`,
//! as `POST /v1/fee_rules/preview`), a GET form that app.js refreshes as
//! the operator types.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::console::{self, Console};
use super::shops::terms_text;
use crate::auth::{policy, Caller, RequestContext};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::fees::manage::{
    self, CreateRuleRequest, NewRule, NewTerms, NewVersionRequest, PreviewQuestion, PreviewRequest,
    ScopeRequest,
};
use crate::fees::{FeeRule, FeeRuleVersion, FeeScope};
use crate::money::{Currency, Money};
use crate::web::format;
use crate::web::forms::FormErrors;
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::seller::workspace;
use crate::web::visitor::Visitor;

/// Longest "fixed fees" field, in characters (64 currencies fit).
const FIXED_CHARS_MAX: usize = 1000;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    // `preview` before `{id}` so it is not taken for an id.
    cfg.service(web::resource("/ops/fee-rules/preview").get(preview))
        .service(web::resource("/ops/fee-rules").get(list).post(create))
        .service(web::resource("/ops/fee-rules/{id}").get(show))
        .service(web::resource("/ops/fee-rules/{id}/versions").post(add_version))
        .service(web::resource("/ops/fee-rules/{id}/retire").post(retire));
}

fn invalid(param: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
}

/// The terms as a form holds them (amounts in minor units, as the API's).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct TermsForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    scope_kind: String,
    #[serde(default)]
    scope_value: String,
    #[serde(default)]
    percentage: String,
    /// `USD 30, EUR 25`.
    #[serde(default)]
    fixed: String,
    #[serde(default)]
    min_minor: String,
    #[serde(default)]
    max_minor: String,
    #[serde(default)]
    max_share: String,
    #[serde(default)]
    processing_fee_payer: String,
    #[serde(default)]
    refund_fee_proportionally: Option<String>,
    #[serde(default)]
    fee_on_shipping: Option<String>,
    /// Kept from the version before (hidden on the new-version form).
    #[serde(default)]
    kept_processing_fee_payer: String,
    #[serde(default)]
    release_policy: String,
    #[serde(default)]
    release_after_days: String,
    /// `YYYY-MM-DD`; empty: now.
    #[serde(default)]
    effective_from: String,
}

impl Default for TermsForm {
    fn default() -> Self {
        Self {
            csrf_token: String::new(),
            scope_kind: "platform".into(),
            scope_value: String::new(),
            percentage: String::new(),
            fixed: String::new(),
            min_minor: String::new(),
            max_minor: String::new(),
            max_share: String::new(),
            processing_fee_payer: "platform".into(),
            refund_fee_proportionally: Some("on".into()),
            fee_on_shipping: None,
            kept_processing_fee_payer: String::new(),
            release_policy: String::new(),
            release_after_days: String::new(),
            effective_from: String::new(),
        }
    }
}

impl TermsForm {
    /// A new version's form, filled with the latest version's terms.
    fn of(version: &FeeRuleVersion) -> Self {
        let t = &version.terms;
        Self {
            percentage: t.percentage.to_string(),
            fixed: t
                .fixed
                .iter()
                .map(|(currency, minor)| format!("{} {minor}", currency.code()))
                .collect::<Vec<_>>()
                .join(", "),
            min_minor: t.min_minor.map(|m| m.to_string()).unwrap_or_default(),
            max_minor: t.max_minor.map(|m| m.to_string()).unwrap_or_default(),
            max_share: t.max_share.map(|s| s.to_string()).unwrap_or_default(),
            processing_fee_payer: t.processing_fee_payer.as_str().into(),
            refund_fee_proportionally: t.refund_fee_proportionally.then(|| "on".into()),
            fee_on_shipping: t.fee_on_shipping.then(|| "on".into()),
            kept_processing_fee_payer: t.kept_processing_fee_payer.as_str().into(),
            release_policy: t
                .release_policy
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            release_after_days: t
                .release_after_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            ..Self::default()
        }
    }

    /// `USD 30, EUR 25` as the API's `fixed`.
    fn fixed(&self) -> Result<BTreeMap<String, i64>, AppError> {
        let bad = || {
            invalid(
                "fixed",
                "list each currency and its fixed fee in minor units, like USD 30, EUR 25",
            )
        };
        if self.fixed.chars().count() > FIXED_CHARS_MAX {
            return Err(bad());
        }
        let mut fixed = BTreeMap::new();
        for pair in self
            .fixed
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (code, minor) = pair.split_once(char::is_whitespace).ok_or_else(bad)?;
            let minor: i64 = minor.trim().parse().map_err(|_| bad())?;
            if fixed
                .insert(code.trim().to_ascii_uppercase(), minor)
                .is_some()
            {
                return Err(invalid("fixed", format!("{code} is listed twice")));
            }
        }
        Ok(fixed)
    }

    fn optional_minor(param: &str, value: &str) -> Result<Option<i64>, AppError> {
        let value = value.trim();
        (!value.is_empty())
            .then(|| {
                value.parse::<i64>().map_err(|_| {
                    invalid(
                        param,
                        "enter a whole number of minor units (cents), like 50",
                    )
                })
            })
            .transpose()
    }

    /// The start: the date's first instant (UTC), or now when empty or today.
    fn effective_from(&self) -> Result<Option<DateTime<Utc>>, AppError> {
        let value = self.effective_from.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let day = NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map_err(|_| invalid("effective_from", "enter a date like 2030-01-31"))?;
        if day == db::now().date() {
            return Ok(None);
        }
        Ok(day.and_hms_opt(0, 0, 0).map(|at| at.and_utc()))
    }

    fn text(value: &str) -> Option<String> {
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// The form as the API's new-version request.
    fn version_request(&self) -> Result<NewVersionRequest, AppError> {
        Ok(NewVersionRequest {
            percentage: self.percentage.trim().to_owned(),
            fixed: self.fixed()?,
            min_minor: Self::optional_minor("min_minor", &self.min_minor)?,
            max_minor: Self::optional_minor("max_minor", &self.max_minor)?,
            processing_fee_payer: self.processing_fee_payer.clone(),
            refund_fee_proportionally: self.refund_fee_proportionally.is_some(),
            kept_processing_fee_payer: Self::text(&self.kept_processing_fee_payer),
            max_share: Self::text(&self.max_share),
            fee_on_shipping: Some(self.fee_on_shipping.is_some()),
            release_policy: Self::text(&self.release_policy),
            release_after_days: match Self::text(&self.release_after_days) {
                Some(days) => Some(days.parse().map_err(|_| {
                    invalid("release_after_days", "release_after_days is a whole number")
                })?),
                None => None,
            },
            effective_from: self.effective_from()?,
        })
    }

    /// The form as the API's create request.
    fn create_request(&self) -> Result<CreateRuleRequest, AppError> {
        let v = self.version_request()?;
        Ok(CreateRuleRequest {
            scope: ScopeRequest {
                kind: self.scope_kind.trim().to_owned(),
                value: Self::text(&self.scope_value),
            },
            percentage: v.percentage,
            fixed: v.fixed,
            min_minor: v.min_minor,
            max_minor: v.max_minor,
            processing_fee_payer: v.processing_fee_payer,
            refund_fee_proportionally: v.refund_fee_proportionally,
            kept_processing_fee_payer: v.kept_processing_fee_payer,
            max_share: v.max_share,
            fee_on_shipping: v.fee_on_shipping,
            release_policy: v.release_policy,
            release_after_days: v.release_after_days,
            effective_from: v.effective_from,
        })
    }
}

/// The form field an API parameter belongs to.
fn field_of(param: &str) -> Option<&'static str> {
    Some(match param {
        "scope.kind" => "scope_kind",
        "scope.value" => "scope_value",
        "percentage" => "percentage",
        p if p == "fixed" || p.starts_with("fixed.") => "fixed",
        "min_minor" => "min_minor",
        "max_minor" => "max_minor",
        "max_share" => "max_share",
        "processing_fee_payer" | "kept_processing_fee_payer" => "processing_fee_payer",
        "effective_from" => "effective_from",
        _ => return None,
    })
}

/// A rule's scope in words, and where its shop is.
struct ScopeView {
    text: String,
    shop_href: Option<String>,
}

fn scope_view(scope: &FeeScope, names: &std::collections::HashMap<String, String>) -> ScopeView {
    match scope {
        FeeScope::Platform => ScopeView {
            text: "Platform default".into(),
            shop_href: None,
        },
        FeeScope::Category(category) => ScopeView {
            text: format!(
                "Category {} ({})",
                format::category_name(category.as_str()),
                category.as_str()
            ),
            shop_href: None,
        },
        FeeScope::Shop(id) => ScopeView {
            text: format!("Shop {}", names.get(id).map_or(id.as_str(), String::as_str)),
            shop_href: Some(format!("/ops/shops/{id}")),
        },
    }
}

/// Where a rule stands now, in words.
fn standing(rule: &FeeRule, now: chrono::NaiveDateTime) -> String {
    match rule.effective_to {
        Some(to) if to <= now => format!("Retired on {}", format::date(to)),
        Some(to) => format!("Retires on {}", format::date(to)),
        None if rule.version_at(now).is_none() => "Not in force yet".into(),
        None => "In force".into(),
    }
}

/// One row of the list.
struct RuleRow {
    id: String,
    scope: ScopeView,
    terms: String,
    since: String,
    standing: String,
}

#[derive(Template)]
#[template(path = "ops/fee_rules.html", config = "src/web/askama.toml")]
struct ListPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    notice: &'static str,
    rows: Vec<RuleRow>,
    may_manage: bool,
    form: TermsForm,
    errors: FormErrors,
}

/// The rules and the shops they name.
async fn rules_and_names(
    pool: &DbPool,
    id: Option<String>,
) -> Result<(Vec<FeeRule>, std::collections::HashMap<String, String>), AppError> {
    db::run(pool, move |conn| {
        let rules = match id {
            Some(id) => vec![crate::fees::get_rule(conn, &id)?],
            None => crate::fees::list_rules(conn)?,
        };
        let shops: Vec<&str> = rules
            .iter()
            .filter_map(|r| match &r.scope {
                FeeScope::Shop(id) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let names = crate::sellers::shop_names(conn, &shops)?;
        Ok((rules, names))
    })
    .await
}

async fn list_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    caller: &Caller,
    (notice, form, errors): (&'static str, TermsForm, FormErrors),
    status: StatusCode,
) -> PageResult {
    let (rules, names) = rules_and_names(pool, None).await?;
    let now = db::now();
    let console = Console::of(caller, "fees");
    let page = ListPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Fee rules — Console — Bazaar"),
        notice,
        rows: rules
            .iter()
            .map(|rule| {
                let current = rule.version_at(now);
                RuleRow {
                    id: rule.id.clone(),
                    scope: scope_view(&rule.scope, &names),
                    terms: current.map_or_else(
                        || "None in force".to_owned(),
                        |v| terms_text(&v.terms, None),
                    ),
                    since: current.map_or_else(String::new, |v| format::date(v.effective_from)),
                    standing: standing(rule, now),
                }
            })
            .collect(),
        may_manage: console.may(policy::MANAGE_FEE_RULES),
        console,
        form,
        errors,
    };
    console::answer(req, visitor, &page, status)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// `GET /ops/fee-rules` (`policy::READ_FEE_RULES`).
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<DoneQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/fee-rules", policy::READ_FEE_RULES) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let notice = match query.done.as_str() {
        "retired" => "Rule retired.",
        _ => "",
    };
    let form = (notice, TermsForm::default(), FormErrors::none());
    list_page(
        &req,
        &mut visitor,
        &pool,
        &session.caller,
        form,
        StatusCode::OK,
    )
    .await
}

/// A refused form: its errors beside the fields, with the domain's status.
fn refused(error: &AppError) -> (FormErrors, StatusCode) {
    (
        FormErrors::from_error(error, field_of),
        actix_web::ResponseError::status_code(error),
    )
}

/// `POST /ops/fee-rules` (`policy::MANAGE_FEE_RULES`): a new rule.
pub(super) async fn create(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    form: web::Form<TermsForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let session = match console::staff(&visitor, "/ops/fee-rules", policy::MANAGE_FEE_RULES) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let created = match form.create_request().and_then(NewRule::try_from) {
        Ok(new) => {
            let actor = session.caller.user_id.clone();
            db::run(&pool, move |conn| {
                manage::create_rule_audited(conn, &actor, &context, &new)
            })
            .await
        }
        Err(error) => Err(error),
    };
    match created {
        Ok(rule) => {
            let location = format!("/ops/fee-rules/{}?done=created", rule.id);
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let (errors, status) = match error {
                // A shop scope naming no shop: the scope field's problem.
                AppError::NotFound { .. } => (
                    FormErrors::field("scope_value", "No shop has this id."),
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                _ => refused(&error),
            };
            let page = ("", form, errors);
            list_page(&req, &mut visitor, &pool, &session.caller, page, status).await
        }
        Err(error) => Err(PageError(error)),
    }
}

/// One version as the rule's page shows it.
struct VersionRow {
    number: i32,
    from: String,
    terms: String,
    payer: &'static str,
    refunds: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "ops/fee_rule.html", config = "src/web/askama.toml")]
struct RulePage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    notice: &'static str,
    id: String,
    scope: ScopeView,
    standing: String,
    retired: bool,
    versions: Vec<VersionRow>,
    may_manage: bool,
    form: TermsForm,
    retire_on: String,
    errors: FormErrors,
}

async fn rule_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    caller: &Caller,
    id: String,
    (notice, form, retire_on, errors): (&'static str, Option<TermsForm>, String, FormErrors),
    status: StatusCode,
) -> PageResult {
    let (mut rules, names) = rules_and_names(pool, Some(id)).await?;
    let rule = rules.pop().ok_or(AppError::NotFound {
        resource: "fee rule",
    })?;
    let now = db::now();
    let current = rule.version_at(now).map(|v| v.id.clone());
    let console = Console::of(caller, "fees");
    let form = match (form, rule.versions.last()) {
        (Some(form), _) => form,
        (None, Some(latest)) => TermsForm::of(latest),
        (None, None) => TermsForm::default(),
    };
    let scope = scope_view(&rule.scope, &names);
    let page = RulePage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Fee rule: {} — Console — Bazaar", scope.text)),
        notice,
        standing: standing(&rule, now),
        retired: rule.effective_to.is_some(),
        versions: rule
            .versions
            .iter()
            .rev()
            .map(|v| VersionRow {
                number: v.version,
                from: v.effective_from.format("%-d %b %Y %H:%M UTC").to_string(),
                terms: terms_text(&v.terms, None),
                payer: match v.terms.processing_fee_payer {
                    crate::fees::ProcessingFeePayer::Platform => "The platform",
                    crate::fees::ProcessingFeePayer::Seller => "The seller",
                },
                refunds: if v.terms.refund_fee_proportionally {
                    "Given back in proportion"
                } else {
                    "Kept"
                },
                current: current.as_deref() == Some(v.id.as_str()),
            })
            .collect(),
        may_manage: console.may(policy::MANAGE_FEE_RULES),
        console,
        id: rule.id.clone(),
        scope,
        form,
        retire_on,
        errors,
    };
    console::answer(req, visitor, &page, status)
}

/// `GET /ops/fee-rules/{id}` (`policy::READ_FEE_RULES`).
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/ops/fee-rules/{id}");
    let session = match console::staff(&visitor, &here, policy::READ_FEE_RULES) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let notice = match query.done.as_str() {
        "created" => "Rule created.",
        "version" => "New version saved.",
        "retired" => "Rule retired.",
        _ => "",
    };
    let forms = (notice, None, String::new(), FormErrors::none());
    rule_page(
        &req,
        &mut visitor,
        &pool,
        &session.caller,
        id,
        forms,
        StatusCode::OK,
    )
    .await
}

/// `POST /ops/fee-rules/{id}/versions` (`policy::MANAGE_FEE_RULES`).
pub(super) async fn add_version(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<TermsForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/ops/fee-rules/{id}");
    let session = match console::staff(&visitor, &here, policy::MANAGE_FEE_RULES) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let added = match form.version_request().and_then(NewTerms::try_from) {
        Ok(new) => {
            let (actor, rule_id) = (session.caller.user_id.clone(), id.clone());
            db::run(&pool, move |conn| {
                manage::add_version_audited(conn, &actor, &context, &rule_id, &new)
            })
            .await
        }
        Err(error) => Err(error),
    };
    match added {
        Ok(_) => {
            let location = format!("{here}?done=version");
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error)
            if workspace::is_refusal(&error) && !matches!(error, AppError::NotFound { .. }) =>
        {
            let (errors, status) = refused(&error);
            let forms = ("", Some(form), String::new(), errors);
            rule_page(
                &req,
                &mut visitor,
                &pool,
                &session.caller,
                id,
                forms,
                status,
            )
            .await
        }
        Err(error) => Err(PageError(error)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RetireForm {
    #[serde(default)]
    csrf_token: String,
    /// `YYYY-MM-DD`; empty: now.
    #[serde(default)]
    effective_to: String,
}

/// `POST /ops/fee-rules/{id}/retire` (`policy::MANAGE_FEE_RULES`).
pub(super) async fn retire(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<RetireForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/ops/fee-rules/{id}");
    let session = match console::staff(&visitor, &here, policy::MANAGE_FEE_RULES) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    // The same date rule as a version's start, under the API's name.
    let to = TermsForm {
        effective_from: form.effective_to.clone(),
        ..TermsForm::default()
    }
    .effective_from()
    .map(|at| at.map(manage::stored_time))
    .map_err(|_| {
        invalid(
            "effective_to",
            "enter a date like 2030-01-31, or leave it empty to retire it now",
        )
    });
    let retired = match to {
        Ok(to) => {
            let (actor, rule_id) = (session.caller.user_id.clone(), id.clone());
            db::run(&pool, move |conn| {
                manage::retire_rule_audited(conn, &actor, &context, &rule_id, to)
            })
            .await
        }
        Err(error) => Err(error),
    };
    match retired {
        Ok(_) => {
            let location = format!("{here}?done=retired");
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error)
            if workspace::is_refusal(&error) && !matches!(error, AppError::NotFound { .. }) =>
        {
            let status = actix_web::ResponseError::status_code(&error);
            let errors = FormErrors::from_error(&error, |param| {
                (param == "effective_to").then_some("effective_to")
            });
            let forms = ("", None, form.effective_to, errors);
            rule_page(
                &req,
                &mut visitor,
                &pool,
                &session.caller,
                id,
                forms,
                status,
            )
            .await
        }
        Err(error) => Err(PageError(error)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PreviewForm {
    /// In major units of `currency`: `12.50`.
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    /// The shop's id.
    #[serde(default)]
    shop: String,
    #[serde(default)]
    category: String,
}

impl PreviewForm {
    /// The form as the API's preview request.
    fn request(&self) -> Result<PreviewRequest, AppError> {
        let code = self.currency.trim().to_ascii_uppercase();
        let currency = Currency::parse(&code).map_err(|error| {
            AppError::unprocessable(error.code(), error.to_string(), Some("currency".into()))
        })?;
        let amount = Money::parse_decimal(self.amount.trim(), currency).map_err(|_| {
            invalid(
                "amount_minor",
                format!("enter the amount as a number in {code}, like 12.50"),
            )
        })?;
        if self.shop.trim().is_empty() {
            return Err(invalid(
                "shop_id",
                "enter the shop's id (shop_…), shown on its console page",
            ));
        }
        Ok(PreviewRequest {
            amount_minor: amount.minor,
            currency: code,
            shop_id: self.shop.trim().to_owned(),
            category: TermsForm::text(&self.category),
        })
    }
}

/// The breakdown as the page shows it.
struct Breakdown {
    rule_href: String,
    shop_name: String,
    shop_href: String,
    part: String,
    percentage_fee: String,
    fixed_fee: String,
    fee: String,
    seller_share: String,
    payer: &'static str,
    refunds: &'static str,
    on_shipping: &'static str,
    warnings: Vec<String>,
}

#[derive(Template)]
#[template(path = "ops/fee_preview.html", config = "src/web/askama.toml")]
struct PreviewPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    form: PreviewForm,
    result: Option<Breakdown>,
    errors: FormErrors,
}

/// `GET /ops/fee-rules/preview?amount=&currency=&shop=&category=`
/// (`policy::READ_FEE_RULES`): nothing is saved.
pub(super) async fn preview(
    req: HttpRequest,
    mut visitor: Visitor,
    query: web::Query<PreviewForm>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/fee-rules/preview", policy::READ_FEE_RULES) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let mut form = query.into_inner();
    if form.currency.trim().is_empty() {
        form.currency = "USD".into();
    }
    let asked = !form.amount.trim().is_empty() || !form.shop.trim().is_empty();
    let answer = if asked {
        let question = form.request().and_then(PreviewQuestion::try_from);
        match question {
            Ok(question) => {
                let shop_id = question.shop_id.clone();
                db::run(&pool, move |conn| {
                    let shop = crate::sellers::shops::find_shop(conn, &question.shop_id)?
                        .ok_or(AppError::NotFound { resource: "shop" })?;
                    Ok((manage::preview(conn, &question)?, shop.name))
                })
                .await
                .map(|(preview, name)| Some((preview, name, shop_id)))
            }
            Err(error) => Err(error),
        }
    } else {
        Ok(None)
    };
    let (result, errors, status) = match answer {
        Ok(found) => (
            found.map(|(p, shop_name, shop_id)| {
                let b = &p.breakdown;
                Breakdown {
                    rule_href: format!("/ops/fee-rules/{}", p.rule_id),
                    shop_name,
                    shop_href: format!("/ops/shops/{shop_id}"),
                    part: format::price(b.part),
                    percentage_fee: format::price(b.percentage_fee),
                    fixed_fee: format::price(b.fixed_fee),
                    fee: format::price(b.fee),
                    seller_share: format::price(b.seller_share),
                    payer: match b.processing_fee_payer {
                        crate::fees::ProcessingFeePayer::Platform => "the platform",
                        crate::fees::ProcessingFeePayer::Seller => "the seller",
                    },
                    refunds: if b.refund_fee_proportionally {
                        "gives back the fee in proportion"
                    } else {
                        "keeps the fee"
                    },
                    on_shipping: if p.fee_on_shipping {
                        "The fee is also taken on shipping."
                    } else {
                        "The fee is taken on the items only."
                    },
                    warnings: b
                        .warnings
                        .iter()
                        .map(|w| crate::web::forms::sentence(w))
                        .collect(),
                }
            }),
            FormErrors::none(),
            StatusCode::OK,
        ),
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::from_error(&error, |param| match param {
                "amount_minor" => Some("amount"),
                "currency" => Some("currency"),
                "shop_id" => Some("shop"),
                "category" => Some("category"),
                _ => None,
            });
            let errors = match error {
                // An unknown shop is the shop field's problem.
                AppError::NotFound { .. } => FormErrors::field("shop", "No shop has this id."),
                _ => errors,
            };
            (None, errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(error) => return Err(PageError(error)),
    };
    let page = PreviewPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Preview a fee — Console — Bazaar"),
        console: Console::of(&session.caller, "fees"),
        form,
        result,
        errors,
    };
    console::answer(&req, &visitor, &page, status)
}
