//! Shipping rates and a shop's returns policy as validated domain types, and
//! the request shapes they are parsed from.

use serde::{Deserialize, Serialize};

use super::{ReturnPolicy, RETURN_WINDOW_DAYS_DEFAULT};
use crate::error::AppError;
use crate::money::{Currency, Money};

/// Most rates one shop may have (a rate per country and currency, with room).
pub const RATES_MAX: usize = 250;
/// Largest amount a rate names, in minor units (1,000,000.00 of a
/// two-decimal currency).
pub const RATE_AMOUNT_MINOR_MAX: i64 = 100_000_000;
/// Most days from payment to the ship-by deadline.
pub const HANDLING_DAYS_MAX: i32 = 60;
/// Handling days of a shop that set no rates (it charges no shipping and
/// ships everywhere): three days is what buyers expect of a small shop.
pub const HANDLING_DAYS_DEFAULT: i32 = 3;
/// Most days after delivery a shop may accept returns.
pub const RETURN_WINDOW_DAYS_MAX: i32 = 365;

fn invalid(param: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
}

/// An ISO 3166-1 alpha-2 code as written by people (`fr`, ` FR`), uppercased;
/// `None` for anything but two ASCII letters.
pub fn parse_country(value: &str) -> Option<String> {
    let code = value.trim().to_ascii_uppercase();
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())).then_some(code)
}

/// Where a rate ships to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// One country: an ISO 3166-1 alpha-2 code, uppercase.
    Country(String),
    /// `*`: every country the shop names no rate for.
    Elsewhere,
}

impl Destination {
    /// The stored and shown form: the country code, or `*`.
    pub fn as_str(&self) -> &str {
        match self {
            Destination::Country(code) => code,
            Destination::Elsewhere => "*",
        }
    }

    /// Parses `*` or a country code (any case).
    ///
    /// # Errors
    /// 422 `invalid_value` naming `param`.
    pub fn parse(param: &str, value: &str) -> Result<Self, AppError> {
        if value.trim() == "*" {
            return Ok(Destination::Elsewhere);
        }
        parse_country(value).map(Destination::Country).ok_or_else(|| {
            invalid(
                param,
                "destination is an ISO 3166-1 alpha-2 country code such as FR, or * for every other country",
            )
        })
    }
}

impl Serialize for Destination {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What a shop charges to ship one order part to a destination, in one
/// currency. Built only by [`ShippingRate::parse`] (or read back from rows
/// it wrote), so every field is in range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingRate {
    /// An ISO 3166-1 alpha-2 country, or `*` for every country not named.
    pub destination: Destination,
    pub currency: Currency,
    /// Charged once per part, for its first unit.
    pub first_item_minor: i64,
    /// Charged for each unit after the first.
    pub additional_item_minor: i64,
    /// Shipping is free once the part's items reach this amount.
    pub free_above_minor: Option<i64>,
    /// Days from payment to the ship-by deadline (0..=60).
    pub handling_days: i32,
}

/// A rate as answers show it: its amounts as money in the rate's currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ShippingRate)]
pub struct ShippingRateJson<'a> {
    /// An ISO 3166-1 alpha-2 country, or `*` for every country not named.
    #[schema(value_type = String, example = "FR")]
    pub destination: &'a Destination,
    /// Charged once per part, for its first unit.
    pub first_item: Money,
    /// Charged for each unit after the first.
    pub additional_item: Money,
    /// Shipping is free once the part's items reach this amount.
    pub free_above: Option<Money>,
    /// Days from payment to the ship-by deadline (0..=60).
    pub handling_days: i32,
}

impl ShippingRate {
    /// The rate as answers show it (it cannot fail; `answered_as!` takes a
    /// `Result` because other rows read stored currency codes).
    ///
    /// # Errors
    /// Never.
    pub fn json(&self) -> Result<ShippingRateJson<'_>, AppError> {
        let money = |minor| Money::new(minor, self.currency);
        Ok(ShippingRateJson {
            destination: &self.destination,
            first_item: money(self.first_item_minor),
            additional_item: money(self.additional_item_minor),
            free_above: self.free_above_minor.map(money),
            handling_days: self.handling_days,
        })
    }
}

crate::http::json::answered_as!(ShippingRate => ShippingRateJson);

/// One rate as a request writes it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    /// `FR`, `US`, … or `*`.
    pub destination: String,
    /// ISO 4217, e.g. `EUR`.
    pub currency: String,
    /// 0 to 100,000,000 minor units.
    pub first_item_minor: i64,
    /// 0 to 100,000,000 minor units.
    pub additional_item_minor: i64,
    /// 1 to 100,000,000 minor units; absent: never free.
    #[serde(default)]
    pub free_above_minor: Option<i64>,
    /// 0 to 60.
    pub handling_days: i32,
}

/// A returns policy as a request writes it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnsRequest {
    /// Days after delivery a buyer may ask to return lines: 0 (no returns) to 365.
    pub window_days: i32,
    /// Whether a received return also refunds the part's shipping.
    pub refunds_shipping: bool,
}

/// `PUT /v1/shops/{id}/shipping`: the whole set of rates and the returns
/// policy, replacing what the shop had.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingRequest {
    /// At most 250; one per (destination, currency). Empty: the shop charges
    /// no shipping and ships everywhere.
    pub rates: Vec<RateRequest>,
    pub returns: ReturnsRequest,
}

fn check_amount(param: &str, minor: i64, least: i64) -> Result<i64, AppError> {
    if (least..=RATE_AMOUNT_MINOR_MAX).contains(&minor) {
        Ok(minor)
    } else {
        Err(invalid(
            param,
            format!("{param} is {least} to {RATE_AMOUNT_MINOR_MAX} minor units"),
        ))
    }
}

impl ShippingRate {
    /// How a shop's rates are listed: by destination as written (`*` first),
    /// then currency; the same on every database, whatever its collation.
    pub fn order_key(&self) -> (&str, &str) {
        (self.destination.as_str(), self.currency.code())
    }

    /// Validates one rate; `param` is its path (`rates[2]`).
    ///
    /// # Errors
    /// 422 `invalid_value` naming the field (`rates[2].destination`, …).
    pub fn parse(param: &str, request: &RateRequest) -> Result<Self, AppError> {
        let field = |name: &str| format!("{param}.{name}");
        let destination = Destination::parse(&field("destination"), &request.destination)?;
        let currency = Currency::parse(&request.currency).map_err(|_| {
            invalid(
                &field("currency"),
                "currency is an ISO 4217 code such as EUR",
            )
        })?;
        let handling_days = request.handling_days;
        if !(0..=HANDLING_DAYS_MAX).contains(&handling_days) {
            return Err(invalid(
                &field("handling_days"),
                format!("handling_days is 0 to {HANDLING_DAYS_MAX}"),
            ));
        }
        Ok(Self {
            destination,
            currency,
            first_item_minor: check_amount(
                &field("first_item_minor"),
                request.first_item_minor,
                0,
            )?,
            additional_item_minor: check_amount(
                &field("additional_item_minor"),
                request.additional_item_minor,
                0,
            )?,
            // Free above 0 would be free always: say so with 0 amounts instead.
            free_above_minor: request
                .free_above_minor
                .map(|minor| check_amount(&field("free_above_minor"), minor, 1))
                .transpose()?,
            handling_days,
        })
    }
}

impl ReturnPolicy {
    /// Validates a returns policy.
    ///
    /// # Errors
    /// 422 `invalid_value`, param `returns.window_days`.
    pub fn parse(request: &ReturnsRequest) -> Result<Self, AppError> {
        if !(0..=RETURN_WINDOW_DAYS_MAX).contains(&request.window_days) {
            return Err(invalid(
                "returns.window_days",
                format!(
                    "returns.window_days is 0 (no returns) to {RETURN_WINDOW_DAYS_MAX}; the default is {RETURN_WINDOW_DAYS_DEFAULT}"
                ),
            ));
        }
        Ok(Self {
            window_days: request.window_days,
            refunds_shipping: request.refunds_shipping,
        })
    }
}

/// What a shop charges to ship and how it takes things back: every rate and
/// the returns policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ShopShipping {
    /// By destination, then currency (`*` first).
    pub rates: Vec<ShippingRate>,
    pub returns: ReturnPolicy,
}

impl ShopShipping {
    /// Validates a whole set: each rate, at most [`RATES_MAX`], one rate per
    /// (destination, currency).
    ///
    /// # Errors
    /// 422 `invalid_value` naming the field: `rates` (too many),
    /// `rates[i].…` (a bad value, or a (destination, currency) listed before).
    pub fn parse(request: &ShippingRequest) -> Result<Self, AppError> {
        if request.rates.len() > RATES_MAX {
            return Err(invalid(
                "rates",
                format!("a shop has at most {RATES_MAX} rates"),
            ));
        }
        let mut rates: Vec<ShippingRate> = Vec::with_capacity(request.rates.len());
        for (i, raw) in request.rates.iter().enumerate() {
            let rate = ShippingRate::parse(&format!("rates[{i}]"), raw)?;
            if let Some(first) = rates
                .iter()
                .position(|r| r.destination == rate.destination && r.currency == rate.currency)
            {
                return Err(invalid(
                    &format!("rates[{i}].destination"),
                    format!(
                        "rates[{first}] already prices {} in {}; one rate per destination and currency",
                        rate.destination.as_str(),
                        rate.currency
                    ),
                ));
            }
            rates.push(rate);
        }
        rates.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        Ok(Self {
            rates,
            returns: ReturnPolicy::parse(&request.returns)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(destination: &str, currency: &str) -> RateRequest {
        RateRequest {
            destination: destination.into(),
            currency: currency.into(),
            first_item_minor: 500,
            additional_item_minor: 100,
            free_above_minor: None,
            handling_days: 2,
        }
    }

    fn request(rates: Vec<RateRequest>) -> ShippingRequest {
        ShippingRequest {
            rates,
            returns: ReturnsRequest {
                window_days: 30,
                refunds_shipping: false,
            },
        }
    }

    fn refused_at(request: &ShippingRequest) -> String {
        let error = ShopShipping::parse(request).unwrap_err();
        assert_eq!(error.code(), "invalid_value");
        error.param().unwrap().to_owned()
    }

    #[test]
    fn a_valid_set_is_normalised() {
        let parsed =
            ShopShipping::parse(&request(vec![rate("fr", "eur"), rate(" * ", "EUR")])).unwrap();
        // `*` sorts first; codes are uppercased.
        assert_eq!(parsed.rates[0].destination, Destination::Elsewhere);
        assert_eq!(
            parsed.rates[1].destination,
            Destination::Country("FR".into())
        );
        assert_eq!(parsed.rates[1].currency.code(), "EUR");
        assert_eq!(ShopShipping::parse(&request(vec![])).unwrap().rates, vec![]);
    }

    #[test]
    fn each_bad_value_is_named() {
        let mut bad = rate("FRA", "EUR");
        assert_eq!(
            refused_at(&request(vec![bad.clone()])),
            "rates[0].destination"
        );
        bad = rate("FR", "EURO");
        assert_eq!(
            refused_at(&request(vec![rate("*", "EUR"), bad])),
            "rates[1].currency"
        );
        for (field, set) in [
            (
                "first_item_minor",
                (|r: &mut RateRequest| r.first_item_minor = -1) as fn(&mut RateRequest),
            ),
            ("first_item_minor", |r| {
                r.first_item_minor = RATE_AMOUNT_MINOR_MAX + 1
            }),
            ("additional_item_minor", |r| r.additional_item_minor = -5),
            ("free_above_minor", |r| r.free_above_minor = Some(0)),
            ("free_above_minor", |r| {
                r.free_above_minor = Some(RATE_AMOUNT_MINOR_MAX + 1)
            }),
            ("handling_days", |r| r.handling_days = -1),
            ("handling_days", |r| r.handling_days = HANDLING_DAYS_MAX + 1),
        ] {
            let mut bad = rate("US", "USD");
            set(&mut bad);
            assert_eq!(refused_at(&request(vec![bad])), format!("rates[0].{field}"));
        }
        let mut edge = rate("US", "USD");
        edge.first_item_minor = RATE_AMOUNT_MINOR_MAX;
        edge.free_above_minor = Some(1);
        edge.handling_days = HANDLING_DAYS_MAX;
        assert!(ShopShipping::parse(&request(vec![edge])).is_ok());
    }

    #[test]
    fn a_destination_and_currency_are_priced_once() {
        let twice = request(vec![
            rate("FR", "EUR"),
            rate("DE", "EUR"),
            rate("fr", "eur"),
        ]);
        assert_eq!(refused_at(&twice), "rates[2].destination");
        let other_currency = request(vec![rate("FR", "EUR"), rate("FR", "USD")]);
        assert!(ShopShipping::parse(&other_currency).is_ok());
    }

    #[test]
    fn sets_and_windows_are_bounded() {
        let many: Vec<RateRequest> = (0..=RATES_MAX)
            .map(|i| {
                let letters = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8];
                rate(std::str::from_utf8(&letters).unwrap(), "USD")
            })
            .collect();
        assert_eq!(refused_at(&request(many.clone())), "rates");
        assert!(ShopShipping::parse(&request(many[..RATES_MAX].to_vec())).is_ok());
        let mut long = request(vec![]);
        long.returns.window_days = RETURN_WINDOW_DAYS_MAX + 1;
        assert_eq!(refused_at(&long), "returns.window_days");
        long.returns.window_days = 0;
        assert!(ShopShipping::parse(&long).is_ok());
    }
}
