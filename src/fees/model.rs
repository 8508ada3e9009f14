//! Fee terms as validated domain types, and [`fee_for`], the pure fee computation.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalog::model::Category;
use crate::config::ReleasePolicy;
use crate::error::AppError;
use crate::money::{Currency, Money, MoneyError, Rounding};

/// Most decimal places a percentage may have (`10.1234` %).
pub const PERCENTAGE_SCALE_MAX: u32 = 4;
/// Largest fixed, minimum or maximum fee, in minor units (10^12: ten billion USD).
pub const AMOUNT_MINOR_MAX: i64 = 1_000_000_000_000;
/// Most currencies one version may price.
pub const CURRENCIES_MAX: usize = 64;
/// Longest percentage string accepted from a request.
const PERCENTAGE_CHARS_MAX: usize = 16;
/// Fewest and most days after shipment a part not confirmed delivered counts
/// as delivered, when a version sets it (the setting's range).
pub const RELEASE_AFTER_DAYS_MIN: i32 = 1;
pub const RELEASE_AFTER_DAYS_MAX: i32 = 90;

fn invalid(param: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
}

/// Who a rule applies to; the more specific scope wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeeScope {
    /// The platform default.
    Platform,
    /// Every product of a category.
    Category(Category),
    /// One shop, by id.
    Shop(String),
}

impl FeeScope {
    /// `platform`, `category` or `shop`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            FeeScope::Platform => "platform",
            FeeScope::Category(_) => "category",
            FeeScope::Shop(_) => "shop",
        }
    }

    /// The category slug or shop id; none for the platform.
    pub fn value(&self) -> Option<&str> {
        match self {
            FeeScope::Platform => None,
            FeeScope::Category(category) => Some(category.as_str()),
            FeeScope::Shop(shop_id) => Some(shop_id),
        }
    }

    /// Higher is more specific: shop 2 > category 1 > platform 0.
    pub fn specificity(&self) -> u8 {
        match self {
            FeeScope::Platform => 0,
            FeeScope::Category(_) => 1,
            FeeScope::Shop(_) => 2,
        }
    }

    /// Parses `{kind, value}`; `param` prefixes error paths.
    ///
    /// # Errors
    /// 422 `invalid_value` for an unknown kind, a value on the platform scope, or
    /// a missing or malformed value on the others.
    pub fn parse(kind: &str, value: Option<&str>) -> Result<Self, AppError> {
        match (kind, value) {
            ("platform", None) => Ok(FeeScope::Platform),
            ("platform", Some(_)) => {
                Err(invalid("scope.value", "the platform scope takes no value"))
            }
            ("category", Some(value)) => Ok(FeeScope::Category(Category::parse_as(
                "scope.value",
                value,
            )?)),
            ("shop", Some(value)) if !value.is_empty() && value.len() <= 64 => {
                Ok(FeeScope::Shop(value.to_owned()))
            }
            ("shop", Some(_)) => Err(invalid("scope.value", "a shop id is 1 to 64 characters")),
            ("category" | "shop", None) => Err(invalid(
                "scope.value",
                "a category or shop scope needs a value",
            )),
            _ => Err(invalid(
                "scope.kind",
                "scope.kind is one of platform, category, shop",
            )),
        }
    }
}

/// Who bears the payment provider's processing fee for a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProcessingFeePayer {
    /// The platform absorbs it out of its fee.
    Platform,
    /// It is taken from the seller's share.
    Seller,
}

impl ProcessingFeePayer {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessingFeePayer::Platform => "platform",
            ProcessingFeePayer::Seller => "seller",
        }
    }

    /// Parses a stored or requested name.
    ///
    /// # Errors
    /// 422 `invalid_value`, param `processing_fee_payer`.
    pub fn parse(value: &str) -> Result<Self, AppError> {
        match value {
            "platform" => Ok(ProcessingFeePayer::Platform),
            "seller" => Ok(ProcessingFeePayer::Seller),
            _ => Err(invalid(
                "processing_fee_payer",
                "processing_fee_payer is platform or seller",
            )),
        }
    }
}

/// The terms of one version: validated, so any `FeeTerms` built by
/// [`FeeTerms::parse`] prices every currency it lists without error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeeTerms {
    /// Percent of the part, 0..=100, at most [`PERCENTAGE_SCALE_MAX`] decimals;
    /// serialized as a string (`"10.5"`).
    #[schema(value_type = String, example = "10.5")]
    pub percentage: Decimal,
    /// Fixed fee per currency priced, in minor units; a currency not listed is
    /// not priced by this version.
    pub fixed: BTreeMap<Currency, i64>,
    /// Lowest fee per order part, minor units of the part's currency.
    pub min_minor: Option<i64>,
    /// Highest fee per order part, minor units of the part's currency.
    pub max_minor: Option<i64>,
    /// Who bears the provider's processing fee.
    pub processing_fee_payer: ProcessingFeePayer,
    /// Whether a refund gives back the platform fee in proportion.
    pub refund_fee_proportionally: bool,
    /// Who bears the processing fee the provider keeps when a part is refunded
    /// (providers do not return it). Defaults to `processing_fee_payer`; a
    /// seller can only bear it on refunds when it bore it on the sale.
    pub kept_processing_fee_payer: ProcessingFeePayer,
    /// The fee never exceeds this percent of the part (e.g. `"50"`), whatever
    /// the minimum says; `null`: no cap besides the part itself. Serialized as
    /// a string.
    #[schema(value_type = Option<String>, example = "50")]
    pub max_share: Option<Decimal>,
    /// Whether the fee is taken on the part's shipping too (its base is then
    /// items + shipping); `false`: on the items only.
    pub fee_on_shipping: bool,
    /// When a part's seller share may leave the platform; `null`: the
    /// platform setting `orders.release` at checkout.
    pub release_policy: Option<ReleasePolicy>,
    /// Days after shipment a part nobody confirmed delivered counts as
    /// delivered (1..=90); `null`: the setting `orders.release_after_days`.
    pub release_after_days: Option<i32>,
}

/// Parses a percentage such as `"10.5"` (meaning 10.5 %).
///
/// # Errors
/// 422 `invalid_value`, param `percentage`, for anything but a plain decimal in
/// 0..=100 with at most [`PERCENTAGE_SCALE_MAX`] decimal places.
pub fn parse_percentage(value: &str) -> Result<Decimal, AppError> {
    parse_percent_of("percentage", value)
}

/// Parses a percent such as `"10.5"` for `param`: a plain decimal in 0..=100
/// with at most [`PERCENTAGE_SCALE_MAX`] decimal places.
fn parse_percent_of(param: &str, value: &str) -> Result<Decimal, AppError> {
    let plain = !value.is_empty()
        && value.len() <= PERCENTAGE_CHARS_MAX
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !value.starts_with('.')
        && !value.ends_with('.');
    let parsed = plain
        .then(|| value.parse::<Decimal>().ok())
        .flatten()
        .ok_or_else(|| {
            invalid(
                param,
                format!("{param} is a decimal string such as \"10.5\""),
            )
        })?;
    if parsed.scale() > PERCENTAGE_SCALE_MAX {
        return Err(invalid(
            param,
            format!("{param} has at most {PERCENTAGE_SCALE_MAX} decimal places"),
        ));
    }
    if parsed > Decimal::ONE_HUNDRED {
        return Err(invalid(param, format!("{param} is between 0 and 100")));
    }
    Ok(parsed.normalize())
}

fn check_amount(param: &str, minor: i64) -> Result<i64, AppError> {
    if (0..=AMOUNT_MINOR_MAX).contains(&minor) {
        Ok(minor)
    } else {
        Err(invalid(
            param,
            format!("{param} is between 0 and {AMOUNT_MINOR_MAX} minor units"),
        ))
    }
}

impl FeeTerms {
    /// Validates raw terms.
    ///
    /// # Errors
    /// 422 with `param`: `invalid_value` for a bad percentage, a negative or too
    /// large amount, no currency, or min > max; `unknown_currency` for an unknown
    /// currency code.
    pub fn parse(
        percentage: &str,
        fixed: &BTreeMap<String, i64>,
        min_minor: Option<i64>,
        max_minor: Option<i64>,
        processing_fee_payer: &str,
        refund_fee_proportionally: bool,
    ) -> Result<Self, AppError> {
        let percentage = parse_percentage(percentage)?;
        if fixed.is_empty() || fixed.len() > CURRENCIES_MAX {
            return Err(invalid(
                "fixed",
                format!("fixed lists 1 to {CURRENCIES_MAX} currencies this rule prices, e.g. {{\"USD\": 30}}"),
            ));
        }
        let mut priced = BTreeMap::new();
        for (code, minor) in fixed {
            let param = format!("fixed.{code}");
            let currency = Currency::parse(code).map_err(|error| {
                AppError::unprocessable(error.code(), error.to_string(), Some(param.clone()))
            })?;
            if priced
                .insert(currency, check_amount(&param, *minor)?)
                .is_some()
            {
                return Err(invalid(&param, "a currency is listed twice"));
            }
        }
        let min_minor = min_minor
            .map(|m| check_amount("min_minor", m))
            .transpose()?;
        let max_minor = max_minor
            .map(|m| check_amount("max_minor", m))
            .transpose()?;
        if let (Some(min), Some(max)) = (min_minor, max_minor) {
            if min > max {
                return Err(invalid("min_minor", "min_minor must not exceed max_minor"));
            }
        }
        let processing_fee_payer = ProcessingFeePayer::parse(processing_fee_payer)?;
        Ok(Self {
            percentage,
            fixed: priced,
            min_minor,
            max_minor,
            processing_fee_payer,
            refund_fee_proportionally,
            kept_processing_fee_payer: processing_fee_payer,
            max_share: None,
            fee_on_shipping: false,
            release_policy: None,
            release_after_days: None,
        })
    }

    /// Sets who bears the processing fee kept on refunds (`None`: the party
    /// that bears it on the sale).
    ///
    /// # Errors
    /// 422 `invalid_value`, param `kept_processing_fee_payer`, for an unknown
    /// party, or `seller` when the platform bears the fee on the sale (the
    /// seller would give back a fee it never paid).
    pub fn with_kept_processing_fee_payer(mut self, payer: Option<&str>) -> Result<Self, AppError> {
        let param = "kept_processing_fee_payer";
        let Some(payer) = payer else {
            return Ok(self);
        };
        let payer = ProcessingFeePayer::parse(payer)
            .map_err(|_| invalid(param, "kept_processing_fee_payer is platform or seller"))?;
        if payer == ProcessingFeePayer::Seller
            && self.processing_fee_payer == ProcessingFeePayer::Platform
        {
            return Err(invalid(
                param,
                "a seller can bear the kept processing fee only when it bears the processing fee (processing_fee_payer = seller)",
            ));
        }
        self.kept_processing_fee_payer = payer;
        Ok(self)
    }

    /// Caps the fee at `max_share` percent of the part (`None`: no cap).
    ///
    /// # Errors
    /// 422 `invalid_value`, param `max_share`, for anything but a decimal
    /// string in 0..=100 with at most [`PERCENTAGE_SCALE_MAX`] decimals.
    pub fn with_max_share(mut self, max_share: Option<&str>) -> Result<Self, AppError> {
        self.max_share = max_share
            .map(|value| parse_percent_of("max_share", value).map(|share| share.normalize()))
            .transpose()?;
        Ok(self)
    }

    /// What the fee is taken on for a part of `items` and `shipping`: the
    /// items, plus the shipping when [`FeeTerms::fee_on_shipping`].
    ///
    /// # Errors
    /// [`MoneyError`] for mixed currencies or an overflow.
    pub fn fee_base(&self, items: Money, shipping: Money) -> Result<Money, MoneyError> {
        if self.fee_on_shipping {
            items.checked_add(shipping)
        } else {
            // Checked all the same: a part is one currency.
            items.checked_add(Money::zero(shipping.currency))
        }
    }

    /// Whether the fee is also taken on shipping (`None`: no).
    #[must_use]
    pub fn with_fee_on_shipping(mut self, fee_on_shipping: Option<bool>) -> Self {
        self.fee_on_shipping = fee_on_shipping.unwrap_or(false);
        self
    }

    /// When the parts this version prices release their seller's share, and
    /// after how many days a shipped part counts as delivered (`None`: the
    /// platform settings at checkout).
    ///
    /// # Errors
    /// 422 `invalid_value`, param `release_policy` for anything but
    /// `on_payment`, `on_shipment`, `on_delivery`; param `release_after_days`
    /// outside [`RELEASE_AFTER_DAYS_MIN`]..=[`RELEASE_AFTER_DAYS_MAX`].
    pub fn with_release(
        mut self,
        policy: Option<&str>,
        after_days: Option<i32>,
    ) -> Result<Self, AppError> {
        self.release_policy = policy
            .map(|name| {
                ReleasePolicy::parse(name).ok_or_else(|| {
                    invalid(
                        "release_policy",
                        "release_policy is on_payment, on_shipment or on_delivery",
                    )
                })
            })
            .transpose()?;
        if let Some(days) = after_days {
            if !(RELEASE_AFTER_DAYS_MIN..=RELEASE_AFTER_DAYS_MAX).contains(&days) {
                return Err(invalid(
                    "release_after_days",
                    format!("release_after_days is {RELEASE_AFTER_DAYS_MIN} to {RELEASE_AFTER_DAYS_MAX}"),
                ));
            }
        }
        self.release_after_days = after_days;
        Ok(self)
    }
}

/// One immutable version of a rule's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeeRuleVersion {
    /// `frv_…`; what an order part stores.
    pub id: String,
    /// The rule (`fr_…`) this version belongs to.
    pub rule_id: String,
    /// 1, 2, … within the rule.
    pub version: i32,
    /// The terms.
    #[serde(flatten)]
    pub terms: FeeTerms,
    /// In force from this instant (UTC) until a later version or the rule's retirement.
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub effective_from: NaiveDateTime,
    /// When it was written.
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub created_at: NaiveDateTime,
}

/// How one order part's amount splits between the platform and the seller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeeBreakdown {
    /// The version that priced it.
    pub version_id: String,
    /// The part's total.
    pub part: Money,
    /// The percentage share, rounded half-even once at the minor unit.
    pub percentage_fee: Money,
    /// The fixed amount for the part's currency.
    pub fixed_fee: Money,
    /// The platform fee: percentage + fixed, clamped to [min, max], then capped
    /// at `max_share` of the part and at the part.
    pub fee: Money,
    /// What the seller receives: part − fee.
    pub seller_share: Money,
    /// Said when the fee takes the whole part: the seller would get nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Who bears the provider's processing fee.
    pub processing_fee_payer: ProcessingFeePayer,
    /// Whether refunds give back the fee in proportion.
    pub refund_fee_proportionally: bool,
}

/// Why a fee could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    /// The version lists no fixed amount for this currency, so it does not price it.
    #[error("fee rule version {version_id} does not price {currency}")]
    CurrencyNotPriced {
        version_id: String,
        currency: Currency,
    },
    /// A part's amount is never negative.
    #[error("an order part's amount cannot be negative")]
    NegativeAmount,
    /// The version's terms are out of range (a version not built by [`FeeTerms::parse`]).
    #[error("fee rule version {version_id} has invalid terms")]
    InvalidTerms { version_id: String },
}

impl FeeError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            FeeError::CurrencyNotPriced { .. } => "currency_not_priced",
            FeeError::NegativeAmount => "invalid_value",
            FeeError::InvalidTerms { .. } => "invalid_fee_rule",
        }
    }
}

impl From<FeeError> for AppError {
    fn from(error: FeeError) -> Self {
        match error {
            FeeError::InvalidTerms { .. } => AppError::Internal(error.into()),
            FeeError::NegativeAmount => AppError::unprocessable(
                error.code(),
                error.to_string(),
                Some("amount_minor".into()),
            ),
            FeeError::CurrencyNotPriced { .. } => {
                AppError::unprocessable(error.code(), error.to_string(), Some("currency".into()))
            }
        }
    }
}

/// The platform fee on one order part under `version`. Pure: no database, no clock.
///
/// fee = round_half_even(part × percentage / 100) + fixed[currency], then raised to
/// `min_minor`, lowered to `max_minor`, and capped at the part (a fee never exceeds
/// what it is taken from); seller share = part − fee.
///
/// # Errors
/// [`FeeError::CurrencyNotPriced`] when the version lists no fixed amount for the
/// part's currency; [`FeeError::NegativeAmount`] for a negative part;
/// [`FeeError::InvalidTerms`] for terms out of range.
pub fn fee_for(part_amount: Money, version: &FeeRuleVersion) -> Result<FeeBreakdown, FeeError> {
    let currency = part_amount.currency;
    let terms = &version.terms;
    let invalid_terms = || FeeError::InvalidTerms {
        version_id: version.id.clone(),
    };
    if part_amount.is_negative() {
        return Err(FeeError::NegativeAmount);
    }
    let fixed_minor = *terms
        .fixed
        .get(&currency)
        .ok_or_else(|| FeeError::CurrencyNotPriced {
            version_id: version.id.clone(),
            currency,
        })?;
    let in_range = |minor: i64| (0..=AMOUNT_MINOR_MAX).contains(&minor);
    if !in_range(fixed_minor)
        || !terms.min_minor.is_none_or(in_range)
        || !terms.max_minor.is_none_or(in_range)
    {
        return Err(invalid_terms());
    }
    let percentage_fee = part_amount
        .percent_of(terms.percentage, Rounding::HalfEven)
        .map_err(|_: MoneyError| invalid_terms())?;
    // Both addends are at most the part (< 2^63) and 10^12; saturating keeps the
    // cap below meaningful even at the edge of i64.
    let mut fee = percentage_fee.minor.saturating_add(fixed_minor);
    if let Some(min) = terms.min_minor {
        fee = fee.max(min);
    }
    if let Some(max) = terms.max_minor {
        fee = fee.min(max);
    }
    if let Some(share) = terms.max_share {
        // Rounded down: the cap is a promise to the seller.
        let cap = part_amount
            .percent_of(share, Rounding::Down)
            .map_err(|_: MoneyError| invalid_terms())?;
        fee = fee.min(cap.minor);
    }
    fee = fee.min(part_amount.minor).max(0);
    let seller_share = part_amount.minor - fee;
    assert!(fee >= 0, "a fee is never negative");
    assert!(fee <= part_amount.minor, "a fee never exceeds its part");
    assert!(seller_share >= 0, "a seller share is never negative");
    Ok(FeeBreakdown {
        version_id: version.id.clone(),
        part: part_amount,
        percentage_fee,
        fixed_fee: Money::new(fixed_minor, currency),
        fee: Money::new(fee, currency),
        seller_share: Money::new(seller_share, currency),
        warnings: if seller_share == 0 && part_amount.minor > 0 {
            vec![format!(
                "the fee ({fee}) takes the whole part ({}): the seller would get nothing; cap it with max_share",
                part_amount.minor
            )]
        } else {
            Vec::new()
        },
        processing_fee_payer: terms.processing_fee_payer,
        refund_fee_proportionally: terms.refund_fee_proportionally,
    })
}
