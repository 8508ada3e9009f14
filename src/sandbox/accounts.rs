//! Connected accounts, account links and the onboarding that enables them.

use serde_json::{json, Map, Value};

use super::form::encode_component;
use super::store::{new_id, opt, Account, Bank, Link, Store};
use super::wire::{merge_metadata, ApiError, ApiResult, Params};

/// How long an account link may be used, in seconds (Stripe: 5 minutes).
pub const LINK_TTL_S: i64 = 300;
/// Capabilities an account may request.
const CAPABILITIES: &[&str] = &["card_payments", "transfers"];
/// Countries accounts may be created in, and their default currency.
const COUNTRIES: &[(&str, &str)] = &[
    ("US", "usd"),
    ("GB", "gbp"),
    ("IE", "eur"),
    ("DE", "eur"),
    ("FR", "eur"),
    ("NL", "eur"),
    ("CA", "cad"),
    ("AU", "aud"),
    ("CH", "chf"),
    ("SE", "sek"),
    ("JP", "jpy"),
];
/// `business_profile` keys the sandbox keeps (all strings).
const PROFILE_KEYS: &[&str] = &[
    "mcc",
    "name",
    "product_description",
    "support_email",
    "support_phone",
    "support_url",
    "url",
];
/// Stripe's test bank account numbers whose payouts fail, and how.
pub const FAILING_BANK_NUMBERS: &[(&str, &str, &str)] = &[
    ("000111111116", "no_account", "The bank account details on file are probably incorrect. No bank account could be located with those details."),
    ("000111111113", "account_closed", "The bank account has been closed."),
    ("000222222227", "insufficient_funds", "The bank account has insufficient funds to cover the debit."),
    ("000333333335", "debit_not_authorized", "Debit transactions are not approved on the bank account."),
    ("000444444440", "invalid_currency", "The bank was unable to process this payout because of its currency."),
];
/// The bank account number onboarding attaches when none was given (pays out fine).
const DEFAULT_BANK_NUMBER: &str = "000123456789";

impl Store {
    /// `POST /v1/accounts`.
    pub fn create_account(&mut self, p: &Params) -> ApiResult<Value> {
        p.allow(&[
            "type",
            "country",
            "email",
            "capabilities",
            "business_type",
            "business_profile",
            "metadata",
            "external_account",
            "controller",
            "default_currency",
            "settings",
            "tos_acceptance",
            "individual",
            "company",
        ])?;
        let kind = p
            .choice("type", &["express", "custom", "standard"])?
            .unwrap_or_else(|| "express".into());
        if let Some(controller) = p.obj("controller")? {
            // Accepted for the Accounts v1 "controller" style; the sandbox models Express.
            controller.allow(&[
                "fees",
                "losses",
                "requirement_collection",
                "stripe_dashboard",
                "is_controller",
            ])?;
        }
        let country = p
            .str("country")?
            .unwrap_or_else(|| "US".into())
            .to_uppercase();
        let Some(&(_, country_currency)) = COUNTRIES.iter().find(|(c, _)| *c == country) else {
            return Err(ApiError::param(
                "country_unsupported",
                "country",
                format!("Country {country} is not supported by the sandbox."),
            ));
        };
        let default_currency = match p.str("default_currency")? {
            Some(c) => super::pricing::pricing(&c.to_lowercase(), "default_currency")?
                .currency
                .to_owned(),
            None => country_currency.to_owned(),
        };
        let mut requested = Vec::new();
        if let Some(caps) = p.obj("capabilities")? {
            caps.allow(CAPABILITIES)?;
            for cap in CAPABILITIES {
                if let Some(c) = caps.obj(cap)? {
                    c.allow(&["requested"])?;
                    if c.bool("requested")? == Some(true) {
                        requested.push((*cap).to_owned());
                    }
                }
            }
        }
        let business_profile = profile(p)?.unwrap_or_default();
        let metadata = p.metadata()?.unwrap_or_default();
        let manual_payouts = payout_interval(p)? == Some(true);
        let bank = match p.obj("external_account")? {
            Some(ext) => Some(bank_from(&ext, &country, &default_currency)?),
            // A bank token such as `btok_us_verified` stands for a working test account.
            None => p
                .str("external_account")?
                .map(|_| new_bank(DEFAULT_BANK_NUMBER, &country, &default_currency)),
        };
        for nested in ["individual", "company", "tos_acceptance"] {
            p.obj(nested)?;
        }
        let id = new_id("acct");
        let seq = self.next_seq();
        let account = Account {
            id: id.clone(),
            seq,
            created: self.now,
            is_platform: false,
            kind,
            country,
            default_currency,
            email: p.str("email")?,
            business_type: p.choice(
                "business_type",
                &["individual", "company", "non_profit", "government_entity"],
            )?,
            business_profile,
            metadata,
            requested,
            onboarded: false,
            disabled_reason: None,
            bank,
            manual_payouts,
            next_payout_at: self.now + self.timing.payout_interval_s,
            representative: None,
        };
        self.accounts.insert(id.clone(), account);
        Ok(self.account_json(&id))
    }

    /// `GET /v1/accounts/{id}`: the platform reads any account, an account itself.
    pub fn get_account(&self, acting: &str, id: &str) -> ApiResult<Value> {
        self.visible_account(acting, id)?;
        Ok(self.account_json(id))
    }

    fn visible_account(&self, acting: &str, id: &str) -> ApiResult<&Account> {
        match self.accounts.get(id) {
            Some(a) if acting == self.platform || acting == id => Ok(a),
            _ => Err(ApiError::no_such("account", id, Some("account"))),
        }
    }

    /// `POST /v1/accounts/{id}`: email, business_profile, metadata, settings.
    pub fn update_account(&mut self, acting: &str, id: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&["email", "business_profile", "metadata", "settings"])?;
        self.visible_account(acting, id)?;
        let email = p.str("email")?;
        let update_profile = profile(p)?;
        let metadata = p.metadata()?;
        let manual = payout_interval(p)?;
        // Metadata is merged on a copy first: a failed merge must leave no trace.
        let mut merged_metadata = self
            .accounts
            .get(id)
            .map(|a| a.metadata.clone())
            .unwrap_or_default();
        let metadata_before = match metadata {
            Some(update) => merge_metadata(&mut merged_metadata, update)?,
            None => None,
        };
        let before = self.account_json(id);
        let account = self.accounts.get_mut(id).expect("checked above");
        let mut previous = Map::new();
        if let Some(email) = email {
            if account.email.as_deref() != Some(email.as_str()) {
                previous.insert("email".into(), opt(&account.email));
                account.email = Some(email);
            }
        }
        if let Some(update) = update_profile {
            let mut merged = account.business_profile.clone();
            merged.extend(update);
            if merged != account.business_profile {
                previous.insert(
                    "business_profile".into(),
                    before["business_profile"].clone(),
                );
                account.business_profile = merged;
            }
        }
        if let Some(old) = metadata_before {
            previous.insert("metadata".into(), Value::Object(old));
            account.metadata = merged_metadata;
        }
        if let Some(manual) = manual {
            if manual != account.manual_payouts {
                previous.insert("settings".into(), before["settings"].clone());
                account.manual_payouts = manual;
            }
        }
        let after = self.account_json(id);
        if !previous.is_empty() {
            self.emit(
                "account.updated",
                id,
                after.clone(),
                Some(Value::Object(previous)),
            );
        }
        Ok(after)
    }

    /// `POST /v1/account_links`: a one-time URL of the sandbox's onboarding page.
    pub fn create_link(&mut self, p: &Params, base_url: &str) -> ApiResult<Value> {
        p.allow(&[
            "account",
            "type",
            "refresh_url",
            "return_url",
            "collect",
            "collection_options",
        ])?;
        let account = p.req_str("account")?;
        p.choice("type", &["account_onboarding", "account_update"])?
            .ok_or_else(|| ApiError::missing("type"))?;
        p.choice("collect", &["currently_due", "eventually_due"])?;
        if let Some(options) = p.obj("collection_options")? {
            options.allow(&["fields", "future_requirements"])?;
        }
        if self.accounts.get(&account).is_none_or(|a| a.is_platform) {
            return Err(ApiError::no_such("account", &account, Some("account")));
        }
        let token = new_id("link");
        let expires_at = self.now + LINK_TTL_S;
        self.links.insert(
            token.clone(),
            Link {
                account,
                expires_at,
                return_url: p.str("return_url")?,
                refresh_url: p.str("refresh_url")?,
                used: false,
            },
        );
        Ok(json!({
            "object": "account_link",
            "created": self.now,
            "expires_at": expires_at,
            "url": format!("{base_url}/sandbox/onboarding/{}", encode_component(&token)),
        }))
    }

    /// The link behind an onboarding page, if it can still be used.
    pub fn usable_link(&self, token: &str) -> Result<&Link, Option<String>> {
        match self.links.get(token) {
            Some(l) if !l.used && l.expires_at >= self.now => Ok(l),
            Some(l) => Err(l.refresh_url.clone()),
            None => Err(None),
        }
    }

    /// Enables an account as a finished Express onboarding would; emits `account.updated`.
    pub fn complete_onboarding(&mut self, id: &str) -> ApiResult<Value> {
        let before = self.account_json(id);
        let Some(account) = self.accounts.get_mut(id).filter(|a| !a.is_platform) else {
            return Err(ApiError::no_such("account", id, None));
        };
        account.onboarded = true;
        account.disabled_reason = None;
        if account.bank.is_none() {
            account.bank = Some(new_bank(
                DEFAULT_BANK_NUMBER,
                &account.country,
                &account.default_currency,
            ));
        }
        if account.requested.is_empty() {
            account.requested = CAPABILITIES.iter().map(|c| (*c).to_owned()).collect();
        }
        Ok(self.account_changed(id, &before))
    }

    /// `POST /v1/test_helpers/accounts/{id}/restrict`: disables charges and payouts.
    pub fn restrict(&mut self, id: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&["disabled_reason"])?;
        let reason = p
            .str("disabled_reason")?
            .unwrap_or_else(|| "rejected.fraud".into());
        let before = self.account_json(id);
        let Some(account) = self.accounts.get_mut(id).filter(|a| !a.is_platform) else {
            return Err(ApiError::no_such("account", id, None));
        };
        account.disabled_reason = Some(reason);
        Ok(self.account_changed(id, &before))
    }

    /// `POST /v1/test_helpers/accounts/{id}/external_account`: replaces the bank account.
    pub fn set_external_account(&mut self, id: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&["account_number", "routing_number", "currency", "country"])?;
        let (country, currency) = match self.accounts.get(id).filter(|a| !a.is_platform) {
            Some(a) => (a.country.clone(), a.default_currency.clone()),
            None => return Err(ApiError::no_such("account", id, None)),
        };
        let bank = bank_from(p, &country, &currency)?;
        let before = self.account_json(id);
        if let Some(a) = self.accounts.get_mut(id) {
            a.bank = Some(bank);
        }
        Ok(self.account_changed(id, &before))
    }

    /// Emits `account.updated` with the top-level fields that differ from `before`.
    pub(crate) fn account_changed(&mut self, id: &str, before: &Value) -> Value {
        let after = self.account_json(id);
        let mut previous = Map::new();
        if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
            for (k, v) in b {
                if a.get(k) != Some(v) {
                    previous.insert(k.clone(), v.clone());
                }
            }
        }
        if !previous.is_empty() {
            self.emit(
                "account.updated",
                id,
                after.clone(),
                Some(Value::Object(previous)),
            );
        }
        after
    }

    /// Whether the account may receive transfers.
    pub fn transfers_active(&self, id: &str) -> bool {
        self.accounts.get(id).is_some_and(|a| {
            !a.is_platform
                && a.onboarded
                && a.disabled_reason.is_none()
                && a.requested.iter().any(|c| c == "transfers")
        })
    }

    /// Whether the account's balance may be paid out.
    pub fn payouts_enabled(&self, id: &str) -> bool {
        self.accounts.get(id).is_some_and(|a| {
            a.onboarded
                && a.disabled_reason.is_none()
                && a.bank.as_ref().is_some_and(|b| !b.errored)
        })
    }

    /// The account as `GET /v1/accounts/{id}` shows it.
    pub fn account_json(&self, id: &str) -> Value {
        let Some(a) = self.accounts.get(id) else {
            return Value::Null;
        };
        let enabled = a.onboarded && a.disabled_reason.is_none();
        let status = if enabled { "active" } else { "inactive" };
        let capabilities: Map<String, Value> = a
            .requested
            .iter()
            .map(|c| (c.clone(), json!(status)))
            .collect();
        let failure = a.bank.as_ref().and_then(bank_failure);
        let due = match (a.onboarded, failure) {
            (false, _) => missing(a),
            // Stripe asks for a new bank account once a payout to this one failed.
            (true, Some(_)) => vec!["external_account".to_owned()],
            (true, None) => Vec::new(),
        };
        let errors: Vec<Value> = failure
            .map(|(code, reason)| {
                json!({"code": code, "reason": reason, "requirement": "external_account"})
            })
            .into_iter()
            .collect();
        let disabled_reason = match (&a.disabled_reason, a.onboarded) {
            (Some(r), _) => json!(r),
            (None, false) => json!("requirements.past_due"),
            (None, true) => Value::Null,
        };
        let mut profile = Map::new();
        for k in PROFILE_KEYS {
            profile.insert(
                (*k).into(),
                a.business_profile.get(*k).cloned().unwrap_or(Value::Null),
            );
        }
        profile.insert("support_address".into(), Value::Null);
        let externals: Vec<Value> = a.bank.iter().map(|b| bank_json(a, b)).collect();
        json!({
            "id": a.id,
            "object": "account",
            "business_profile": profile,
            "business_type": opt(&a.business_type),
            "capabilities": capabilities,
            "charges_enabled": enabled,
            "controller": {
                "fees": {"payer": "application"},
                "is_controller": true,
                "losses": {"payments": "application"},
                "requirement_collection": "stripe",
                "stripe_dashboard": {"type": if a.kind == "express" { "express" } else { "full" }},
                "type": if a.is_platform { "account" } else { "application" },
            },
            "country": a.country,
            "created": a.created,
            "default_currency": a.default_currency,
            "details_submitted": a.onboarded,
            "email": opt(&a.email),
            "external_accounts": {
                "object": "list",
                "data": externals,
                "has_more": false,
                "url": format!("/v1/accounts/{}/external_accounts", a.id),
            },
            "future_requirements": requirements(&[], Value::Null, &[]),
            "metadata": a.metadata,
            "individual": individual_json(a),
            "company": company_json(a),
            "payouts_enabled": enabled && a.bank.as_ref().is_some_and(|b| !b.errored),
            "requirements": requirements(&due, disabled_reason, &errors),
            "settings": {
                "branding": {"icon": null, "logo": null, "primary_color": null, "secondary_color": null},
                "card_payments": {"decline_on": {"avs_failure": false, "cvc_failure": false}, "statement_descriptor_prefix": null},
                "dashboard": {"display_name": a.business_profile.get("name").cloned().unwrap_or(Value::Null), "timezone": "Etc/UTC"},
                "payments": {"statement_descriptor": null},
                "payouts": {
                    "debit_negative_balances": true,
                    "schedule": {
                        "delay_days": 2,
                        "interval": if a.manual_payouts { "manual" } else { "daily" },
                    },
                    "statement_descriptor": null,
                },
            },
            "tos_acceptance": {
                "date": if a.onboarded { json!(a.created) } else { Value::Null },
                "ip": if a.onboarded { json!("127.0.0.1") } else { Value::Null },
                "user_agent": null,
            },
            "type": a.kind,
        })
    }
}

fn profile(p: &Params) -> ApiResult<Option<Map<String, Value>>> {
    let Some(bp) = p.obj("business_profile")? else {
        return Ok(None);
    };
    bp.allow(PROFILE_KEYS)?;
    let mut out = Map::new();
    for k in PROFILE_KEYS {
        if let Some(v) = bp.str(k)? {
            out.insert((*k).into(), json!(v));
        }
    }
    Ok(Some(out))
}

/// `settings[payouts][schedule][interval]`: `Some(true)` for manual payouts.
fn payout_interval(p: &Params) -> ApiResult<Option<bool>> {
    let Some(settings) = p.obj("settings")? else {
        return Ok(None);
    };
    settings.allow(&["payouts"])?;
    let Some(payouts) = settings.obj("payouts")? else {
        return Ok(None);
    };
    payouts.allow(&[
        "schedule",
        "statement_descriptor",
        "debit_negative_balances",
    ])?;
    let Some(schedule) = payouts.obj("schedule")? else {
        return Ok(None);
    };
    schedule.allow(&["interval", "delay_days", "weekly_anchor", "monthly_anchor"])?;
    Ok(schedule
        .choice("interval", &["manual", "daily", "weekly", "monthly"])?
        .map(|i| i == "manual"))
}

fn bank_from(p: &Params, country: &str, currency: &str) -> ApiResult<Bank> {
    p.allow(&[
        "object",
        "account_number",
        "routing_number",
        "country",
        "currency",
        "account_holder_name",
        "account_holder_type",
    ])?;
    let number = p.req_str("account_number")?;
    if number.len() < 4 || number.len() > 34 || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::param(
            "account_number_invalid",
            "account_number",
            "The account number must be 4 to 34 letters or digits.",
        ));
    }
    let mut bank = new_bank(
        &number,
        &p.str("country")?.unwrap_or_else(|| country.to_owned()),
        &p.str("currency")?.unwrap_or_else(|| currency.to_owned()),
    );
    if let Some(r) = p.str("routing_number")? {
        bank.routing_number = r;
    }
    Ok(bank)
}

/// A bank account that pays out, or fails the way Stripe's test number fails.
pub(super) fn new_bank(number: &str, country: &str, currency: &str) -> Bank {
    Bank {
        id: new_id("ba"),
        account_number: number.to_owned(),
        routing_number: "110000000".into(),
        country: country.to_uppercase(),
        currency: currency.to_lowercase(),
        errored: false,
    }
}

/// Why payouts to `b` stopped: the failure code and reason of its test number,
/// once a payout to it has failed.
pub(super) fn bank_failure(b: &Bank) -> Option<(&'static str, &'static str)> {
    if !b.errored {
        return None;
    }
    let failure = FAILING_BANK_NUMBERS
        .iter()
        .find(|(number, ..)| *number == b.account_number)
        .map(|&(_, code, reason)| (code, reason));
    // Only a failing test number errs a bank today; should anything else, the
    // account must still say that the bank account needs replacing.
    Some(failure.unwrap_or((
        "invalid_value_other",
        "A payout to this bank account failed.",
    )))
}

/// The last four characters of a bank account number, as Stripe shows it.
pub(super) fn last4(number: &str) -> String {
    let skip = number.chars().count().saturating_sub(4);
    number.chars().skip(skip).collect()
}

/// Stripe's `individual` (a person) for an individual's account, once known.
fn individual_json(a: &Account) -> Value {
    let Some(r) = a
        .representative
        .as_ref()
        .filter(|_| a.business_type.as_deref() == Some("individual"))
    else {
        return Value::Null;
    };
    let (year, month, day) = r.dob;
    json!({
        "id": r.id,
        "object": "person",
        "account": a.id,
        "created": r.created,
        "dob": {"day": day, "month": month, "year": year},
        "first_name": r.first_name,
        "last_name": r.last_name,
        "metadata": {},
        "relationship": {
            "director": false,
            "executive": false,
            "owner": true,
            "percent_ownership": null,
            "representative": true,
            "title": null,
        },
    })
}

/// Stripe's `company` for a company's account: its legal name, once known.
fn company_json(a: &Account) -> Value {
    if a.business_type.as_deref() != Some("company") {
        return Value::Null;
    }
    json!({
        "name": a.business_profile.get("name").cloned().unwrap_or(Value::Null),
        "directors_provided": false,
        "executives_provided": false,
        "owners_provided": a.representative.is_some(),
    })
}

fn bank_json(a: &Account, b: &Bank) -> Value {
    let last4 = last4(&b.account_number);
    json!({
        "id": b.id,
        "object": "bank_account",
        "account": a.id,
        "account_holder_name": null,
        "account_holder_type": null,
        "bank_name": "STRIPE TEST BANK",
        "country": b.country,
        "currency": b.currency,
        "default_for_currency": true,
        "fingerprint": null,
        "last4": last4,
        "metadata": {},
        "routing_number": b.routing_number,
        "status": if b.errored { "errored" } else { "new" },
    })
}

fn missing(a: &Account) -> Vec<String> {
    let mut due = Vec::new();
    for (field, present) in [
        (
            "business_profile.mcc",
            a.business_profile.contains_key("mcc"),
        ),
        (
            "business_profile.url",
            a.business_profile.contains_key("url"),
        ),
        ("external_account", a.bank.is_some()),
        ("individual.dob.day", a.representative.is_some()),
        ("individual.first_name", a.representative.is_some()),
        ("individual.last_name", a.representative.is_some()),
        ("tos_acceptance.date", false),
        ("tos_acceptance.ip", false),
    ] {
        if !present {
            due.push(field.to_owned());
        }
    }
    due
}

fn requirements(due: &[String], disabled_reason: Value, errors: &[Value]) -> Value {
    // What a finished onboarding still lacks (a working bank account) is due, not
    // yet past due: charges go on while payouts wait for it.
    let past_due: &[String] = if disabled_reason.is_null() { &[] } else { due };
    json!({
        "alternatives": [],
        "current_deadline": null,
        "currently_due": due,
        "disabled_reason": disabled_reason,
        "errors": errors,
        "eventually_due": due,
        "past_due": past_due,
        "pending_verification": [],
    })
}
