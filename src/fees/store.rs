//! Fee rules in the database: rules, their immutable versions, and the look-up of
//! the version in force. Versions are only ever inserted, never updated.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use super::model::{FeeRuleVersion, FeeScope, FeeTerms, ProcessingFeePayer};
use super::schema::{fee_rule_fixed_amounts, fee_rule_versions, fee_rules};
use crate::catalog::model::Category;
use crate::config::ReleasePolicy;
use crate::db::DbConnection;
use crate::error::AppError;
use crate::money::Currency;

/// Most rules `list_rules` returns; operators keep a handful, not thousands.
pub const RULES_LIST_MAX: i64 = 1000;
/// Most versions one rule may have.
pub const VERSIONS_PER_RULE_MAX: i64 = 1000;

/// A rule: its scope, retirement, and every version, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeeRule {
    /// `fr_…`.
    pub id: String,
    /// Who it applies to; serialized as `{kind, value}`.
    #[serde(serialize_with = "serialize_scope")]
    #[schema(value_type = ScopeJson)]
    pub scope: FeeScope,
    /// When it stops being in force (set by retiring it).
    #[serde(serialize_with = "crate::db::serialize_rfc3339_option")]
    pub effective_to: Option<NaiveDateTime>,
    /// When it was created.
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub created_at: NaiveDateTime,
    /// Every version, by version number.
    pub versions: Vec<FeeRuleVersion>,
}

/// A rule's scope as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScopeJson<'a> {
    /// `platform`, `category` or `shop`.
    pub kind: &'a str,
    /// The category or the shop's id; `null` for `platform`.
    pub value: Option<&'a str>,
}

impl<'a> From<&'a FeeScope> for ScopeJson<'a> {
    fn from(scope: &'a FeeScope) -> Self {
        Self {
            kind: scope.kind(),
            value: scope.value(),
        }
    }
}

fn serialize_scope<S: serde::Serializer>(scope: &FeeScope, s: S) -> Result<S::Ok, S::Error> {
    ScopeJson::from(scope).serialize(s)
}

impl FeeRule {
    /// The version in force at `at`: the latest one effective by then, unless
    /// the rule is retired by then.
    pub fn version_at(&self, at: NaiveDateTime) -> Option<&FeeRuleVersion> {
        if self.effective_to.is_some_and(|to| to <= at) {
            return None;
        }
        self.versions
            .iter()
            .filter(|v| v.effective_from <= at)
            .max_by_key(|v| (v.effective_from, v.version))
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = fee_rules)]
struct RuleRow {
    id: String,
    scope_kind: String,
    scope_value: Option<String>,
    effective_to: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = fee_rule_versions)]
struct VersionRow {
    id: String,
    rule_id: String,
    version: i32,
    percentage: String,
    min_minor: Option<i64>,
    max_minor: Option<i64>,
    processing_fee_payer: String,
    refund_fee_proportionally: bool,
    effective_from: NaiveDateTime,
    created_at: NaiveDateTime,
    kept_processing_fee_payer: Option<String>,
    max_share: Option<String>,
    fee_on_shipping: Option<bool>,
    release_policy: Option<String>,
    release_after_days: Option<i32>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = fee_rule_fixed_amounts)]
struct FixedRow {
    version_id: String,
    currency: String,
    fixed_minor: i64,
}

fn corrupt(what: &str, id: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!(
        "stored fee rule data is invalid: {what} of {id}"
    ))
}

fn scope_from_row(row: &RuleRow) -> Result<FeeScope, AppError> {
    match (row.scope_kind.as_str(), row.scope_value.as_deref()) {
        ("platform", None) => Ok(FeeScope::Platform),
        ("category", Some(value)) => Category::parse(value)
            .map(FeeScope::Category)
            .map_err(|_| corrupt("category", &row.id)),
        ("shop", Some(value)) => Ok(FeeScope::Shop(value.to_owned())),
        _ => Err(corrupt("scope", &row.id)),
    }
}

fn version_from_rows(row: VersionRow, fixed: Vec<FixedRow>) -> Result<FeeRuleVersion, AppError> {
    let percentage: Decimal = row
        .percentage
        .parse()
        .map_err(|_| corrupt("percentage", &row.id))?;
    let mut priced = BTreeMap::new();
    for f in fixed {
        let currency = Currency::parse(&f.currency).map_err(|_| corrupt("currency", &row.id))?;
        priced.insert(currency, f.fixed_minor);
    }
    let processing_fee_payer = ProcessingFeePayer::parse(&row.processing_fee_payer)
        .map_err(|_| corrupt("processing_fee_payer", &row.id))?;
    // Versions written before the term existed: the sale's payer.
    let kept_processing_fee_payer = match &row.kept_processing_fee_payer {
        Some(payer) => ProcessingFeePayer::parse(payer)
            .map_err(|_| corrupt("kept_processing_fee_payer", &row.id))?,
        None => processing_fee_payer,
    };
    let max_share = row
        .max_share
        .as_deref()
        .map(|share| share.parse::<Decimal>())
        .transpose()
        .map_err(|_| corrupt("max_share", &row.id))?;
    let release_policy = row
        .release_policy
        .as_deref()
        .map(|name| ReleasePolicy::parse(name).ok_or_else(|| corrupt("release_policy", &row.id)))
        .transpose()?;
    Ok(FeeRuleVersion {
        terms: FeeTerms {
            percentage,
            fixed: priced,
            min_minor: row.min_minor,
            max_minor: row.max_minor,
            processing_fee_payer,
            refund_fee_proportionally: row.refund_fee_proportionally,
            kept_processing_fee_payer,
            max_share,
            // Versions written before the term existed: not on shipping.
            fee_on_shipping: row.fee_on_shipping.unwrap_or(false),
            release_policy,
            release_after_days: row.release_after_days,
        },
        id: row.id,
        rule_id: row.rule_id,
        version: row.version,
        effective_from: row.effective_from,
        created_at: row.created_at,
    })
}

/// Loads the versions of `rule_ids` with their fixed amounts, grouped by rule.
fn load_versions(
    conn: &mut DbConnection,
    rule_ids: &[String],
) -> Result<HashMap<String, Vec<FeeRuleVersion>>, AppError> {
    let rows: Vec<VersionRow> = fee_rule_versions::table
        .filter(fee_rule_versions::rule_id.eq_any(rule_ids))
        .order((fee_rule_versions::rule_id, fee_rule_versions::version))
        .select(VersionRow::as_select())
        .load(conn)?;
    let version_ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let fixed: Vec<FixedRow> = fee_rule_fixed_amounts::table
        .filter(fee_rule_fixed_amounts::version_id.eq_any(version_ids))
        .select(FixedRow::as_select())
        .load(conn)?;
    let mut fixed_by_version: HashMap<String, Vec<FixedRow>> = HashMap::new();
    for f in fixed {
        fixed_by_version
            .entry(f.version_id.clone())
            .or_default()
            .push(f);
    }
    let mut by_rule: HashMap<String, Vec<FeeRuleVersion>> = HashMap::new();
    for row in rows {
        let fixed = fixed_by_version.remove(&row.id).unwrap_or_default();
        let version = version_from_rows(row, fixed)?;
        by_rule
            .entry(version.rule_id.clone())
            .or_default()
            .push(version);
    }
    Ok(by_rule)
}

fn rules_from_rows(conn: &mut DbConnection, rows: Vec<RuleRow>) -> Result<Vec<FeeRule>, AppError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut versions = load_versions(conn, &ids)?;
    rows.into_iter()
        .map(|row| {
            let scope = scope_from_row(&row)?;
            let versions = versions.remove(&row.id).unwrap_or_default();
            if versions.is_empty() {
                return Err(corrupt("versions", &row.id));
            }
            Ok(FeeRule {
                id: row.id,
                scope,
                effective_to: row.effective_to,
                created_at: row.created_at,
                versions,
            })
        })
        .collect()
}

fn find_rule(conn: &mut DbConnection, id: &str) -> Result<Option<FeeRule>, AppError> {
    let rows: Vec<RuleRow> = fee_rules::table
        .filter(fee_rules::id.eq(id))
        .select(RuleRow::as_select())
        .load(conn)?;
    Ok(rules_from_rows(conn, rows)?.pop())
}

/// One rule with every version.
///
/// # Errors
/// 404 `not_found` when there is no such rule.
pub fn get_rule(conn: &mut DbConnection, id: &str) -> Result<FeeRule, AppError> {
    find_rule(conn, id)?.ok_or(AppError::NotFound {
        resource: "fee rule",
    })
}

/// Every rule (up to [`RULES_LIST_MAX`]), oldest first.
///
/// # Errors
/// Database errors.
pub fn list_rules(conn: &mut DbConnection) -> Result<Vec<FeeRule>, AppError> {
    let rows: Vec<RuleRow> = fee_rules::table
        .order((fee_rules::created_at, fee_rules::id))
        .limit(RULES_LIST_MAX)
        .select(RuleRow::as_select())
        .load(conn)?;
    rules_from_rows(conn, rows)
}

/// A version by id, whether or not it is still in force: order parts keep the id
/// they were priced with and read it back forever.
///
/// # Errors
/// 404 `not_found` when there is no such version.
pub fn find_version(conn: &mut DbConnection, version_id: &str) -> Result<FeeRuleVersion, AppError> {
    let row: VersionRow = fee_rule_versions::table
        .find(version_id)
        .select(VersionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound {
            resource: "fee rule version",
        })?;
    let fixed: Vec<FixedRow> = fee_rule_fixed_amounts::table
        .filter(fee_rule_fixed_amounts::version_id.eq(version_id))
        .select(FixedRow::as_select())
        .load(conn)?;
    version_from_rows(row, fixed)
}

fn check_not_past(param: &str, at: NaiveDateTime, now: NaiveDateTime) -> Result<(), AppError> {
    // Backdating would rewrite which terms were in force in the past.
    if at < now {
        return Err(AppError::unprocessable(
            "invalid_value",
            format!("{param} cannot be in the past"),
            Some(param.to_owned()),
        ));
    }
    Ok(())
}

fn insert_version(
    conn: &mut DbConnection,
    rule_id: &str,
    number: i32,
    terms: &FeeTerms,
    effective_from: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let id = format!("frv_{}", uuid::Uuid::new_v4().simple());
    diesel::insert_into(fee_rule_versions::table)
        .values(VersionRow {
            id: id.clone(),
            rule_id: rule_id.to_owned(),
            version: number,
            percentage: terms.percentage.normalize().to_string(),
            min_minor: terms.min_minor,
            max_minor: terms.max_minor,
            processing_fee_payer: terms.processing_fee_payer.as_str().to_owned(),
            refund_fee_proportionally: terms.refund_fee_proportionally,
            effective_from,
            created_at: now,
            kept_processing_fee_payer: Some(terms.kept_processing_fee_payer.as_str().to_owned()),
            max_share: terms.max_share.map(|share| share.normalize().to_string()),
            fee_on_shipping: Some(terms.fee_on_shipping),
            release_policy: terms.release_policy.map(|p| p.as_str().to_owned()),
            release_after_days: terms.release_after_days,
        })
        .execute(conn)?;
    // One row at a time: the MultiConnection derive has no multi-row insert.
    for (currency, fixed_minor) in &terms.fixed {
        diesel::insert_into(fee_rule_fixed_amounts::table)
            .values(FixedRow {
                version_id: id.clone(),
                currency: currency.code().to_owned(),
                fixed_minor: *fixed_minor,
            })
            .execute(conn)?;
    }
    Ok(())
}

/// Creates a rule with its first version. Call inside a write transaction.
///
/// # Errors
/// 404 for a shop scope naming no shop; 409 `fee_rule_exists` when a rule for the
/// same scope is in force and not retired; 422 for `effective_from` in the past.
#[tracing::instrument(skip(conn, terms))]
pub fn create_rule(
    conn: &mut DbConnection,
    scope: &FeeScope,
    terms: &FeeTerms,
    effective_from: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<FeeRule, AppError> {
    check_not_past("effective_from", effective_from, now)?;
    if let FeeScope::Shop(shop_id) = scope {
        crate::sellers::shops::find_shop(conn, shop_id)?
            .ok_or(AppError::NotFound { resource: "shop" })?;
    }
    let mut same_scope = fee_rules::table
        .filter(fee_rules::scope_kind.eq(scope.kind()))
        .filter(fee_rules::effective_to.is_null())
        .into_boxed();
    same_scope = match scope.value() {
        Some(value) => same_scope.filter(fee_rules::scope_value.eq(value.to_owned())),
        None => same_scope.filter(fee_rules::scope_value.is_null()),
    };
    let rule_exists = || AppError::Conflict {
        code: "fee_rule_exists",
        message: "a rule for this scope exists; add a version to it or retire it first".into(),
    };
    let taken: i64 = same_scope.count().get_result(conn)?;
    if taken > 0 {
        return Err(rule_exists());
    }
    let id = format!("fr_{}", uuid::Uuid::new_v4().simple());
    let inserted = diesel::insert_into(fee_rules::table)
        .values(RuleRow {
            id: id.clone(),
            scope_kind: scope.kind().to_owned(),
            scope_value: scope.value().map(str::to_owned),
            effective_to: None,
            created_at: now,
        })
        .execute(conn);
    match inserted {
        Ok(_) => {}
        // A concurrent create won the race (the partial unique index caught it).
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => return Err(rule_exists()),
        Err(other) => return Err(other.into()),
    }
    insert_version(conn, &id, 1, terms, effective_from, now)?;
    let rule = get_rule(conn, &id)?;
    if let Some(first) = rule.versions.first() {
        emit_version_created(conn, first)?;
    }
    Ok(rule)
}

/// `fee_rule.version_created`, for staff only: a rule's terms are the
/// platform's business (a shop-scoped rule too).
fn emit_version_created(conn: &mut DbConnection, version: &FeeRuleVersion) -> Result<(), AppError> {
    let data = serde_json::to_value(version)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("fee rule version payload: {e}")))?;
    crate::events::outbox::emit(
        conn,
        crate::events::outbox::NewEvent::new(
            crate::events::types::EventType::FeeRuleVersionCreated,
            data,
        ),
    )?;
    Ok(())
}

/// Adds a version with new terms to a rule. Call inside a write transaction.
///
/// # Errors
/// 404 for an unknown rule; 409 `fee_rule_retired`; 409 `too_many_versions`;
/// 422 for `effective_from` in the past.
#[tracing::instrument(skip(conn, terms))]
pub fn new_version(
    conn: &mut DbConnection,
    rule_id: &str,
    terms: &FeeTerms,
    effective_from: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<FeeRuleVersion, AppError> {
    check_not_past("effective_from", effective_from, now)?;
    let rule = get_rule(conn, rule_id)?;
    if rule.effective_to.is_some() {
        return Err(AppError::Conflict {
            code: "fee_rule_retired",
            message: "this rule is retired; create a new rule instead".into(),
        });
    }
    let latest = rule.versions.iter().map(|v| v.version).max().unwrap_or(0);
    if i64::from(latest) >= VERSIONS_PER_RULE_MAX {
        return Err(AppError::Conflict {
            code: "too_many_versions",
            message: format!("a rule has at most {VERSIONS_PER_RULE_MAX} versions"),
        });
    }
    // A concurrent writer taking the same number fails on UNIQUE (rule_id, version): 409.
    insert_version(conn, rule_id, latest + 1, terms, effective_from, now)?;
    let version = get_rule(conn, rule_id)?
        .versions
        .into_iter()
        .find(|v| v.version == latest + 1)
        .ok_or_else(|| corrupt("new version", rule_id))?;
    emit_version_created(conn, &version)?;
    Ok(version)
}

/// Retires a rule from `effective_to` on. Call inside a write transaction.
///
/// # Errors
/// 404 for an unknown rule; 409 `fee_rule_retired` when already retired; 422 for
/// `effective_to` in the past.
#[tracing::instrument(skip(conn))]
pub fn retire_rule(
    conn: &mut DbConnection,
    rule_id: &str,
    effective_to: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<FeeRule, AppError> {
    check_not_past("effective_to", effective_to, now)?;
    get_rule(conn, rule_id)?;
    // Conditional, so two racing retirements cannot both succeed.
    let updated = diesel::update(
        fee_rules::table
            .filter(fee_rules::id.eq(rule_id))
            .filter(fee_rules::effective_to.is_null()),
    )
    .set(fee_rules::effective_to.eq(Some(effective_to)))
    .execute(conn)?;
    if updated == 0 {
        return Err(AppError::Conflict {
            code: "fee_rule_retired",
            message: "this rule is already retired".into(),
        });
    }
    get_rule(conn, rule_id)
}

/// The version that prices a part of `shop_id` (in `category`, if any) in
/// `currency` at `at`: among rules in force at `at` whose version then lists
/// `currency`, the most specific scope wins (shop > category > platform); between
/// rules of one scope, the most recently effective version.
///
/// # Errors
/// 422 `no_fee_rule` when no rule in force prices this part; the migration seeds
/// none, since a default fee is an operator's decision.
#[tracing::instrument(skip(conn))]
pub fn rule_in_force(
    conn: &mut DbConnection,
    shop_id: &str,
    category: Option<&str>,
    currency: Currency,
    at: NaiveDateTime,
) -> Result<FeeRuleVersion, AppError> {
    let mut candidates = fee_rules::table
        .filter(
            fee_rules::effective_to
                .is_null()
                .or(fee_rules::effective_to.gt(at)),
        )
        .filter(
            fee_rules::scope_kind
                .eq("platform")
                .or(fee_rules::scope_kind
                    .eq("shop")
                    .and(fee_rules::scope_value.eq(shop_id.to_owned()))),
        )
        .into_boxed();
    if let Some(category) = category {
        candidates = candidates.or_filter(
            fee_rules::scope_kind
                .eq("category")
                .and(fee_rules::scope_value.eq(category.to_owned()))
                .and(
                    fee_rules::effective_to
                        .is_null()
                        .or(fee_rules::effective_to.gt(at)),
                ),
        );
    }
    let rows: Vec<RuleRow> = candidates
        .limit(RULES_LIST_MAX)
        .select(RuleRow::as_select())
        .load(conn)?;
    let rules = rules_from_rows(conn, rows)?;
    rules
        .iter()
        .filter_map(|rule| {
            let version = rule.version_at(at)?;
            version
                .terms
                .fixed
                .contains_key(&currency)
                .then_some((rule.scope.specificity(), version))
        })
        .max_by_key(|(specificity, v)| (*specificity, v.effective_from, v.version))
        .map(|(_, version)| version.clone())
        .ok_or_else(|| {
            AppError::unprocessable(
                "no_fee_rule",
                format!("no fee rule in force prices {currency} for this shop; an operator must define one"),
                None,
            )
        })
}
