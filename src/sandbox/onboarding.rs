//! The hosted onboarding form an account link leads to: it collects what the
//! provider would (business, representative, bank account), refuses bad input
//! field by field, and on success onboards the account and replaces its bank.
//!
//! This module parses and applies a submission; `page` renders the form.

use chrono::{DateTime, Datelike, NaiveDate};
use serde_json::{json, Value};

use super::accounts::{bank_failure, last4, new_bank};
use super::store::{new_id, Representative, Store};

mod page;

pub use page::{done_page, gone_page, page, unreadable_page};

/// Longest name the form takes, in characters.
const NAME_CHARS_MAX: usize = 100;
/// Youngest a representative may be, in years.
const AGE_YEARS_MIN: u32 = 18;
/// Oldest a representative may be, in years (Stripe: `invalid_dob_age_over_maximum`).
const AGE_YEARS_MAX: u32 = 120;
/// Digits of a US (ABA) routing number.
const US_ROUTING_DIGITS: usize = 9;
/// Shortest and longest bank code elsewhere (a UK sort code has 6 digits).
const ROUTING_DIGITS_MIN: usize = 4;
const ROUTING_DIGITS_MAX: usize = 15;
/// Shortest and longest US account number (ACH allows 17 digits).
const US_ACCOUNT_DIGITS_MIN: usize = 4;
const US_ACCOUNT_DIGITS_MAX: usize = 17;
/// Shortest and longest account number elsewhere (an IBAN has at most 34 characters).
const ACCOUNT_CHARS_MIN: usize = 4;
const ACCOUNT_CHARS_MAX: usize = 34;
/// Stripe's test routing number and the test account number that pays out.
const TEST_ROUTING: &str = "110000000";
const TEST_ACCOUNT: &str = "000123456789";

/// What the form shows: the values in its fields, as text.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub business_name: String,
    pub business_type: String,
    pub first_name: String,
    pub last_name: String,
    pub dob: String,
    pub routing_number: String,
    pub account_number: String,
}

impl Values {
    /// Reads the fields from a decoded form; anything else in it is ignored.
    pub fn from_form(tree: &Value) -> Values {
        let field = |name: &str| {
            tree.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Values {
            business_name: field("business_name"),
            business_type: field("business_type"),
            first_name: field("first_name"),
            last_name: field("last_name"),
            dob: field("dob"),
            routing_number: field("routing_number"),
            account_number: field("account_number"),
        }
    }

    fn get(&self, name: &str) -> &str {
        match name {
            "business_name" => &self.business_name,
            "business_type" => &self.business_type,
            "first_name" => &self.first_name,
            "last_name" => &self.last_name,
            "dob" => &self.dob,
            "routing_number" => &self.routing_number,
            "account_number" => &self.account_number,
            _ => "",
        }
    }
}

/// What the sandbox already knows about the account behind a link.
#[derive(Debug, Clone)]
pub struct Known {
    pub account: String,
    pub country: String,
    /// Whether the account finished onboarding before (this link updates it).
    pub onboarded: bool,
    /// The form prefilled with what is known; the account number stays blank.
    pub values: Values,
    /// The current bank account's routing number and last four characters.
    pub bank: Option<(String, String)>,
    /// Why payouts to the current bank account stopped: code and reason.
    pub bank_failure: Option<(&'static str, &'static str)>,
}

/// A field the form refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// A valid submission.
#[derive(Debug, Clone)]
pub struct Details {
    pub business_name: String,
    pub business_type: String,
    pub first_name: String,
    pub last_name: String,
    pub dob: NaiveDate,
    pub routing_number: String,
    /// `None` keeps the current bank account (left blank on an update).
    pub account_number: Option<String>,
}

impl Store {
    /// What the page behind a usable link shows.
    ///
    /// # Errors
    /// The link's `refresh_url` (or `None`) when it is unknown, used or expired.
    pub fn onboarding_known(&self, token: &str) -> Result<Known, Option<String>> {
        let link = self.usable_link(token)?;
        let Some(a) = self.accounts.get(&link.account).filter(|a| !a.is_platform) else {
            return Err(link.refresh_url.clone());
        };
        let rep = a.representative.as_ref();
        let text = |s: Option<&str>| s.unwrap_or_default().to_owned();
        let values = Values {
            business_name: text(a.business_profile.get("name").and_then(Value::as_str)),
            business_type: text(
                a.business_type
                    .as_deref()
                    .filter(|t| ["individual", "company"].contains(t)),
            ),
            first_name: text(rep.map(|r| r.first_name.as_str())),
            last_name: text(rep.map(|r| r.last_name.as_str())),
            dob: rep
                .map(|r| format!("{:04}-{:02}-{:02}", r.dob.0, r.dob.1, r.dob.2))
                .unwrap_or_default(),
            routing_number: text(a.bank.as_ref().map(|b| b.routing_number.as_str())),
            account_number: String::new(),
        };
        Ok(Known {
            account: a.id.clone(),
            country: a.country.clone(),
            onboarded: a.onboarded,
            values,
            bank: a
                .bank
                .as_ref()
                .map(|b| (b.routing_number.clone(), last4(&b.account_number))),
            bank_failure: a.bank.as_ref().and_then(bank_failure),
        })
    }

    /// Onboards (or updates) the account behind a link with a valid submission:
    /// uses up the link, stores the details, replaces the bank account (which
    /// clears a payout failure) and emits `account.updated`. Returns the link's
    /// `return_url`.
    ///
    /// # Errors
    /// The link's `refresh_url` (or `None`) when it is unknown, used or expired.
    pub fn submit_onboarding(
        &mut self,
        token: &str,
        details: Details,
    ) -> Result<Option<String>, Option<String>> {
        let link = self.usable_link(token)?.clone();
        let before = self.account_json(&link.account);
        let now = self.now;
        let Some(account) = self
            .accounts
            .get_mut(&link.account)
            .filter(|a| !a.is_platform)
        else {
            return Err(link.refresh_url);
        };
        account
            .business_profile
            .insert("name".into(), json!(details.business_name));
        account.business_type = Some(details.business_type);
        let (id, created) = match &account.representative {
            Some(r) => (r.id.clone(), r.created),
            None => (new_id("person"), now),
        };
        account.representative = Some(Representative {
            id,
            created,
            first_name: details.first_name,
            last_name: details.last_name,
            dob: (details.dob.year(), details.dob.month(), details.dob.day()),
        });
        if let Some(number) = details.account_number {
            let mut bank = new_bank(&number, &account.country, &account.default_currency);
            bank.routing_number = details.routing_number;
            account.bank = Some(bank);
        }
        account.onboarded = true;
        // Details answer requirements; they do not overturn a rejection.
        if !account
            .disabled_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("rejected."))
        {
            account.disabled_reason = None;
        }
        if account.requested.is_empty() {
            account.requested = vec!["card_payments".into(), "transfers".into()];
        }
        if let Some(l) = self.links.get_mut(token) {
            l.used = true;
        }
        self.account_changed(&link.account, &before);
        Ok(link.return_url)
    }
}

/// The sandbox clock's date, for the age check.
pub fn today(now: i64) -> NaiveDate {
    DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .date_naive()
}

/// Parses a submission against what is known of the account.
///
/// # Errors
/// Every refused field, in page order.
pub fn parse(v: &Values, known: &Known, today: NaiveDate) -> Result<Details, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut fail = |field: &'static str, message: String| {
        errors.push(FieldError { field, message });
    };
    let business_name = name(&v.business_name, "the business name", "Business name")
        .map_err(|m| fail("business_name", m))
        .ok();
    let business_type = Some(v.business_type.trim())
        .filter(|t| ["individual", "company"].contains(t))
        .map(str::to_owned);
    if business_type.is_none() {
        fail(
            "business_type",
            "Select whether the business is an individual or a company".into(),
        );
    }
    let first_name = name(
        &v.first_name,
        "the representative's first name",
        "First name",
    )
    .map_err(|m| fail("first_name", m))
    .ok();
    let last_name = name(&v.last_name, "the representative's last name", "Last name")
        .map_err(|m| fail("last_name", m))
        .ok();
    let dob = date_of_birth(&v.dob, today)
        .map_err(|m| fail("dob", m))
        .ok();
    let us = known.country == "US";
    let routing_number = routing(&v.routing_number, us)
        .map_err(|m| fail("routing_number", m))
        .ok();
    let account_number = account(&v.account_number, us, known, routing_number.as_deref())
        .map_err(|m| fail("account_number", m))
        .ok();
    match (
        business_name,
        business_type,
        first_name,
        last_name,
        dob,
        routing_number,
        account_number,
    ) {
        (
            Some(business_name),
            Some(business_type),
            Some(first_name),
            Some(last_name),
            Some(dob),
            Some(routing_number),
            Some(account_number),
        ) if errors.is_empty() => Ok(Details {
            business_name,
            business_type,
            first_name,
            last_name,
            dob,
            routing_number,
            account_number,
        }),
        _ => Err(errors),
    }
}

fn name(raw: &str, what: &str, label: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(format!("Enter {what}"));
    }
    if value.chars().count() > NAME_CHARS_MAX {
        return Err(format!(
            "{label} must be {NAME_CHARS_MAX} characters or fewer"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{label} must not contain control characters"));
    }
    Ok(value.to_owned())
}

fn date_of_birth(raw: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err("Enter the representative's date of birth".into());
    }
    let parts: Vec<&str> = value.split('-').collect();
    let shaped = parts.len() == 3
        && [4, 2, 2]
            .iter()
            .zip(&parts)
            .all(|(len, p)| p.len() == *len && p.bytes().all(|b| b.is_ascii_digit()));
    if !shaped {
        return Err("Enter the date of birth as year-month-day, for example 1990-04-27".into());
    }
    let number = |p: &str| p.parse::<u32>().unwrap_or(0);
    let year = i32::try_from(number(parts[0])).unwrap_or(0);
    let Some(dob) = NaiveDate::from_ymd_opt(year, number(parts[1]), number(parts[2])) else {
        return Err("Date of birth must be a real date, for example 1990-04-27".into());
    };
    if dob >= today {
        return Err("Date of birth must be in the past".into());
    }
    let age = today.years_since(dob).unwrap_or(0);
    if age < AGE_YEARS_MIN {
        return Err(format!(
            "The representative must be at least {AGE_YEARS_MIN} years old"
        ));
    }
    if age > AGE_YEARS_MAX {
        return Err(format!(
            "The representative must be at most {AGE_YEARS_MAX} years old: check the year"
        ));
    }
    Ok(dob)
}

/// Digits with the spaces people type between groups taken out.
fn compact(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace()).collect()
}

fn routing(raw: &str, us: bool) -> Result<String, String> {
    let value = compact(raw);
    if value.is_empty() {
        return Err("Enter the routing number".into());
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "Routing number must contain only digits, like {TEST_ROUTING}"
        ));
    }
    if us {
        if value.len() != US_ROUTING_DIGITS {
            return Err(format!(
                "Routing number must be {US_ROUTING_DIGITS} digits, like {TEST_ROUTING}"
            ));
        }
        if !aba_checksum_ok(&value) {
            return Err(format!(
                "Routing number is not a valid US routing number: check it, or use {TEST_ROUTING}"
            ));
        }
    } else if !(ROUTING_DIGITS_MIN..=ROUTING_DIGITS_MAX).contains(&value.len()) {
        return Err(format!(
            "Routing number must be {ROUTING_DIGITS_MIN} to {ROUTING_DIGITS_MAX} digits"
        ));
    }
    Ok(value)
}

/// The ABA check: digits weighted 3, 7, 1 (repeating) sum to a multiple of 10.
fn aba_checksum_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .zip([3, 7, 1].iter().cycle())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    sum.is_multiple_of(10)
}

fn account(
    raw: &str,
    us: bool,
    known: &Known,
    routing: Option<&str>,
) -> Result<Option<String>, String> {
    let value = compact(raw);
    if value.is_empty() {
        return match (&known.bank, known.bank_failure) {
            (None, _) => Err("Enter the account number".into()),
            (Some((_, last4)), Some(_)) => Err(format!(
                "Enter a different account number: payouts to the account ending {last4} failed"
            )),
            // A different routing number with the old account number would be a
            // guess at a bank account nobody entered.
            (Some((kept, _)), None) if routing.is_some_and(|r| r != kept) => {
                Err("Enter the account number that goes with the new routing number".into())
            }
            (Some(_), None) => Ok(None),
        };
    }
    if us {
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "Account number must contain only digits, like {TEST_ACCOUNT}"
            ));
        }
        if !(US_ACCOUNT_DIGITS_MIN..=US_ACCOUNT_DIGITS_MAX).contains(&value.len()) {
            return Err(format!(
                "Account number must be {US_ACCOUNT_DIGITS_MIN} to {US_ACCOUNT_DIGITS_MAX} digits"
            ));
        }
    } else {
        if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("Account number must contain only letters and digits".into());
        }
        if !(ACCOUNT_CHARS_MIN..=ACCOUNT_CHARS_MAX).contains(&value.len()) {
            return Err(format!(
                "Account number must be {ACCOUNT_CHARS_MIN} to {ACCOUNT_CHARS_MAX} characters"
            ));
        }
    }
    Ok(Some(value))
}
