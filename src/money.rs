//! Money as integer minor units tagged with a currency, plus the exact
//! arithmetic the payments core needs: checked sums, percentage fees rounded
//! once, lossless allocation and strict parsing of human amounts.
//!
//! Floats never appear here: amounts are `i64` minor units and rates are
//! [`Decimal`]s.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest amount string [`Money::parse_decimal`] will look at.
///
/// The longest `i64` rendering ("-92233720368547758.08") is 21 characters,
/// so 40 leaves room for leading zeros while bounding the work per input.
pub const MAX_AMOUNT_LEN: usize = 40;

/// How much of a rejected input is echoed back in an error message.
const ECHO_LIMIT: usize = 16;

/// Everything that can go wrong when building or combining money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: cannot combine {left} with {right}")]
    CurrencyMismatch {
        /// Currency of the left-hand operand.
        left: Currency,
        /// Currency of the right-hand operand.
        right: Currency,
    },
    /// The result does not fit in an `i64` of minor units.
    #[error("amount is out of the representable range")]
    Overflow,
    /// The input is not a known ISO-4217 currency code.
    #[error("unknown currency code {0:?}")]
    UnknownCurrency(String),
    /// A percentage was outside 0..=100.
    #[error("rate must be a percentage between 0 and 100")]
    InvalidRate,
    /// Allocation weights were empty or all zero.
    #[error("allocation needs at least one non-zero weight")]
    InvalidWeights,
    /// An amount had more fraction digits than the currency's minor unit.
    #[error("amount has more decimal places than the currency allows")]
    TooPrecise,
    /// An amount string was not a plain decimal number.
    #[error("amount is not a plain decimal number like \"12.34\" or \"-0.05\"")]
    Malformed,
}

impl MoneyError {
    /// Stable machine-readable code for this error, safe to expose in APIs.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::CurrencyMismatch { .. } => "currency_mismatch",
            MoneyError::Overflow => "amount_overflow",
            MoneyError::UnknownCurrency(_) => "unknown_currency",
            MoneyError::InvalidRate => "invalid_rate",
            MoneyError::InvalidWeights => "invalid_weights",
            MoneyError::TooPrecise => "amount_too_precise",
            MoneyError::Malformed => "malformed_amount",
        }
    }
}

/// An ISO-4217 currency.
///
/// Parsing accepts the code in any ASCII case because the payments provider
/// (Stripe) sends lowercase codes on the wire; display and serialization
/// always use the uppercase ISO code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Wraps an `iso_currency` value.
    pub const fn from_iso(currency: iso_currency::Currency) -> Self {
        Currency(currency)
    }

    /// Returns the underlying `iso_currency` value.
    pub const fn iso(self) -> iso_currency::Currency {
        self.0
    }

    /// Parses a three-letter ISO-4217 code, upper or lower case ("USD", "usd").
    ///
    /// # Errors
    ///
    /// [`MoneyError::UnknownCurrency`] when the input is not a known code; the
    /// echoed input is truncated so huge inputs do not end up in logs.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let unknown = || MoneyError::UnknownCurrency(code.chars().take(ECHO_LIMIT).collect());
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(unknown());
        }
        iso_currency::Currency::from_code(&code.to_ascii_uppercase())
            .map(Currency)
            .ok_or_else(unknown)
    }

    /// The uppercase ISO-4217 code, e.g. `"USD"`.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// The lowercase code the payments provider expects, e.g. `"usd"`.
    pub fn provider_code(self) -> String {
        self.code().to_ascii_lowercase()
    }

    /// Number of minor-unit digits in amounts as the payments provider
    /// (Stripe) represents them.
    ///
    /// This deliberately does not use ISO-4217's exponent: the provider's
    /// representation is what crosses the wire, and the two disagree for some
    /// currencies (e.g. ISO gives UGX two decimals, the provider none). A
    /// mismatch here would silently scale amounts by 100.
    pub fn exponent(self) -> u32 {
        use iso_currency::Currency as Iso;
        match self.0 {
            Iso::BIF
            | Iso::CLP
            | Iso::DJF
            | Iso::GNF
            | Iso::JPY
            | Iso::KMF
            | Iso::KRW
            | Iso::MGA
            | Iso::PYG
            | Iso::RWF
            | Iso::UGX
            | Iso::VND
            | Iso::VUV
            | Iso::XAF
            | Iso::XOF
            | Iso::XPF => 0,
            Iso::BHD | Iso::JOD | Iso::KWD | Iso::OMR | Iso::TND => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("An ISO 4217 currency code, e.g. `USD`"))
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;

        impl serde::de::Visitor<'_> for CodeVisitor {
            type Value = Currency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a three-letter ISO-4217 currency code")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Currency, E> {
                Currency::parse(v).map_err(E::custom)
            }
        }

        // A visitor rather than `String` so borrowed input is not copied.
        deserializer.deserialize_str(CodeVisitor)
    }
}

/// How a fractional minor unit is rounded to a whole one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Rounding {
    /// Round to nearest, ties to even (banker's rounding).
    #[default]
    HalfEven,
    /// Round to nearest, ties away from zero.
    HalfUp,
    /// Truncate toward zero.
    Down,
    /// Round away from zero whenever there is any fraction.
    Up,
}

impl From<Rounding> for RoundingStrategy {
    fn from(rounding: Rounding) -> Self {
        match rounding {
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::Down => RoundingStrategy::ToZero,
            Rounding::Up => RoundingStrategy::AwayFromZero,
        }
    }
}

impl Rounding {
    /// Rounds the non-negative fraction `quotient + remainder / divisor` to a
    /// whole number; every mode is symmetric, so callers apply the sign after.
    fn round_magnitude(self, quotient: u128, remainder: u128, divisor: u128) -> u128 {
        debug_assert!(remainder < divisor);
        // `divisor` is at most 10^30, so doubling the remainder cannot overflow.
        let twice = remainder * 2;
        let bump = match self {
            Rounding::HalfEven => twice > divisor || (twice == divisor && quotient % 2 == 1),
            Rounding::HalfUp => twice >= divisor,
            Rounding::Down => false,
            Rounding::Up => remainder > 0,
        };
        quotient + u128::from(bump)
    }
}

/// An amount of money: integer minor units (cents, yen, fils) in a currency.
///
/// Serializes as `{"minor": 1234, "currency": "USD"}`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    /// Amount in minor units, scaled by [`Currency::exponent`].
    pub minor: i64,
    /// Currency of the amount.
    pub currency: Currency,
}

impl Money {
    /// Creates an amount from minor units.
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// A zero amount in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// Adds two amounts of the same currency.
    ///
    /// # Errors
    ///
    /// [`MoneyError::CurrencyMismatch`] when currencies differ,
    /// [`MoneyError::Overflow`] when the sum does not fit in `i64`.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Subtracts `other` from `self`, both in the same currency.
    ///
    /// # Errors
    ///
    /// [`MoneyError::CurrencyMismatch`] when currencies differ,
    /// [`MoneyError::Overflow`] when the difference does not fit in `i64`.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Negates the amount.
    ///
    /// # Errors
    ///
    /// [`MoneyError::Overflow`] for `i64::MIN` minor units.
    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Whether the amount is greater than zero.
    pub const fn is_positive(self) -> bool {
        self.minor > 0
    }

    /// Whether the amount is exactly zero.
    pub const fn is_zero(self) -> bool {
        self.minor == 0
    }

    /// Whether the amount is less than zero.
    pub const fn is_negative(self) -> bool {
        self.minor < 0
    }

    /// Sums amounts that must all be in `currency`; an empty input sums to zero.
    ///
    /// # Errors
    ///
    /// [`MoneyError::CurrencyMismatch`] on the first amount in another
    /// currency, [`MoneyError::Overflow`] when a running total leaves `i64`.
    pub fn sum<I>(amounts: I, currency: Currency) -> Result<Money, MoneyError>
    where
        I: IntoIterator<Item = Money>,
    {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    /// Computes `percent`% of this amount, rounded once to a whole minor unit.
    ///
    /// The result lies between zero and the amount inclusive, so a fee never
    /// exceeds its base.
    ///
    /// # Errors
    ///
    /// [`MoneyError::InvalidRate`] when `percent` is below 0 or above 100;
    /// [`MoneyError::Overflow`] when the exact intermediate product exceeds
    /// 128 bits, which needs a percent with about 18 or more significant
    /// digits on a very large amount.
    pub fn percent_of(self, percent: Decimal, rounding: Rounding) -> Result<Money, MoneyError> {
        if percent < Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
            return Err(MoneyError::InvalidRate);
        }
        // Exact integer arithmetic instead of Decimal multiplication: Decimal
        // silently rounds products wider than 96 bits, which would round twice.
        let percent = percent.normalize();
        let mantissa = u128::try_from(percent.mantissa()).map_err(|_| MoneyError::InvalidRate)?;
        // scale <= 28, so this is at most 10^30 and fits comfortably in u128.
        let divisor = 100 * 10u128.pow(percent.scale());
        let product = u128::from(self.minor.unsigned_abs())
            .checked_mul(mantissa)
            .ok_or(MoneyError::Overflow)?;
        let magnitude = rounding.round_magnitude(product / divisor, product % divisor, divisor);
        let signed = if self.minor < 0 {
            -i128::try_from(magnitude).map_err(|_| MoneyError::Overflow)?
        } else {
            i128::try_from(magnitude).map_err(|_| MoneyError::Overflow)?
        };
        let minor = i64::try_from(signed).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Splits this amount by `weights`; see [`allocate`].
    ///
    /// # Errors
    ///
    /// [`MoneyError::InvalidWeights`] when `weights` is empty or all zero.
    pub fn allocate(self, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
        Ok(allocate(self.minor, weights)?
            .into_iter()
            .map(|minor| Money::new(minor, self.currency))
            .collect())
    }

    /// Parses a major-unit string such as `"12.34"` or `"-0.05"` into minor
    /// units of `currency`.
    ///
    /// Accepts only ASCII digits with an optional single leading `-` and an
    /// optional `.` that has digits on both sides; no `+`, whitespace,
    /// exponents or separators.
    ///
    /// # Errors
    ///
    /// [`MoneyError::Malformed`] for anything that is not such a number or is
    /// longer than [`MAX_AMOUNT_LEN`] bytes; [`MoneyError::TooPrecise`] when
    /// there are more fraction digits than [`Currency::exponent`];
    /// [`MoneyError::Overflow`] when the amount does not fit in `i64`.
    pub fn parse_decimal(s: &str, currency: Currency) -> Result<Money, MoneyError> {
        if s.len() > MAX_AMOUNT_LEN {
            return Err(MoneyError::Malformed);
        }
        let (negative, unsigned) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (unsigned, ""),
        };
        let is_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !is_digits(whole)
            || !is_digits(fraction)
            || (fraction.is_empty() && unsigned.contains('.'))
        {
            return Err(MoneyError::Malformed);
        }
        let exponent = currency.exponent();
        let fraction_digits = u32::try_from(fraction.len()).map_err(|_| MoneyError::Malformed)?;
        if fraction_digits > exponent {
            return Err(MoneyError::TooPrecise);
        }
        let mut magnitude: u128 = 0;
        for digit in whole.bytes().chain(fraction.bytes()) {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u128::from(digit - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        magnitude = magnitude
            .checked_mul(10u128.pow(exponent - fraction_digits))
            .ok_or(MoneyError::Overflow)?;
        let magnitude = i128::try_from(magnitude).map_err(|_| MoneyError::Overflow)?;
        let signed = if negative { -magnitude } else { magnitude };
        let minor = i64::try_from(signed).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::new(minor, currency))
    }
}

impl fmt::Display for Money {
    /// Formats as major units and code, e.g. `12.34 USD`, `1234 JPY`,
    /// `-0.05 USD`, using integer arithmetic only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        // unsigned_abs so i64::MIN has a magnitude too.
        let magnitude = self.minor.unsigned_abs();
        let exponent = self.currency.exponent();
        if exponent == 0 {
            return write!(f, "{sign}{magnitude} {}", self.currency);
        }
        let scale = 10u64.pow(exponent);
        let width = exponent as usize;
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            magnitude / scale,
            magnitude % scale,
            self.currency
        )
    }
}

/// Splits `total` minor units in proportion to `weights` without losing or
/// creating a single unit (largest-remainder / Hamilton method).
///
/// Each part is first floored to `total * w / sum(w)`; the units left over go
/// one each to the parts with the largest remainders, ties to the earlier
/// index, so the result is deterministic. Zero weights get zero. A negative
/// total is split by magnitude and negated, so `-100` over `[1, 1, 1]` is
/// `[-34, -33, -33]`.
///
/// # Errors
///
/// [`MoneyError::InvalidWeights`] when `weights` is empty or all zero.
///
/// # Panics
///
/// Only on a bug: it asserts that the parts add up to `total`.
pub fn allocate(total: i64, weights: &[u64]) -> Result<Vec<i64>, MoneyError> {
    // u128 throughout: |total| <= 2^63 and each weight < 2^64, so every
    // product fits, and a sum of u64 weights cannot overflow u128 in practice.
    let weight_sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if weight_sum == 0 {
        return Err(MoneyError::InvalidWeights);
    }
    let magnitude = u128::from(total.unsigned_abs());
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (index, &weight) in weights.iter().enumerate() {
        let share = magnitude * u128::from(weight);
        parts.push(share / weight_sum);
        remainders.push((share % weight_sum, index));
    }
    let floored: u128 = parts.iter().sum();
    // Remainders add up to leftover * weight_sum and each is below
    // weight_sum, so more than `leftover` parts have a non-zero remainder:
    // zero weights (remainder 0) never receive a unit.
    let leftover = magnitude - floored;
    remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, index) in remainders.iter().take(leftover as usize) {
        parts[index] += 1;
    }
    let parts = parts
        .into_iter()
        .map(|part| {
            let part = i128::try_from(part).map_err(|_| MoneyError::Overflow)?;
            let signed = if total < 0 { -part } else { part };
            i64::try_from(signed).map_err(|_| MoneyError::Overflow)
        })
        .collect::<Result<Vec<i64>, MoneyError>>()?;
    assert_eq!(
        parts.iter().map(|&p| i128::from(p)).sum::<i128>(),
        i128::from(total),
        "allocation must preserve the total"
    );
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn usd(minor: i64) -> Money {
        Money::new(minor, cur("USD"))
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn exponents_follow_the_provider() {
        let cases = [
            ("JPY", 0),
            ("KWD", 3),
            ("USD", 2),
            ("ugx", 0),
            ("EUR", 2),
            ("bhd", 3),
            ("XOF", 0),
        ];
        for (code, exponent) in cases {
            assert_eq!(cur(code).exponent(), exponent, "{code}");
        }
    }

    #[test]
    fn currency_parsing() {
        assert_eq!(cur("usd"), cur("USD"));
        assert_eq!(cur("usd").code(), "USD");
        assert_eq!(cur("USD").provider_code(), "usd");
        assert_eq!(cur("usd").to_string(), "USD");
        assert_eq!("eur".parse::<Currency>(), Ok(cur("EUR")));
        for bad in ["", "US", "USDD", "ZZZ", "U$D", "ÜSD", " usd"] {
            assert_eq!(
                Currency::parse(bad),
                Err(MoneyError::UnknownCurrency(bad.to_string())),
                "{bad:?}"
            );
        }
        let huge = "x".repeat(10_000);
        assert_eq!(
            Currency::parse(&huge),
            Err(MoneyError::UnknownCurrency("x".repeat(16)))
        );
    }

    #[test]
    fn currency_and_money_serde() {
        let money = Money::new(1234, cur("usd"));
        let json = serde_json::to_string(&money).unwrap();
        assert_eq!(json, r#"{"minor":1234,"currency":"USD"}"#);
        let back: Money = serde_json::from_str(r#"{"minor":1234,"currency":"usd"}"#).unwrap();
        assert_eq!(back, money);
        assert!(serde_json::from_str::<Currency>(r#""nope""#).is_err());
    }

    #[test]
    fn percent_of_rounding_table() {
        use Rounding::*;
        let cases: [(i64, &str, Rounding, i64); 20] = [
            // Exact halves: HalfEven goes to the even neighbour both ways.
            (100, "2.5", HalfEven, 2),
            (100, "3.5", HalfEven, 4),
            (1999, "10.5", HalfEven, 210), // 209.895
            (-100, "2.5", HalfEven, -2),
            (-100, "3.5", HalfEven, -4),
            // HalfUp differs from HalfEven only on exact halves.
            (100, "2.5", HalfUp, 3),
            (100, "3.5", HalfUp, 4),
            (-100, "2.5", HalfUp, -3),
            (1999, "10.5", HalfUp, 210),
            // Down truncates toward zero, Up goes away from zero.
            (1999, "10.5", Down, 209),
            (1999, "10.5", Up, 210),
            (-1999, "10.5", Down, -209),
            (-1999, "10.5", Up, -210),
            (1000, "2.9", Up, 29), // exact: no bump
            // Bounds of the rate.
            (1234, "0", Up, 0),
            (1234, "100", HalfEven, 1234),
            (i64::MIN, "100", HalfEven, i64::MIN),
            (i64::MAX, "100", Up, i64::MAX),
            // Trailing zeros in the rate are harmless.
            (100, "2.5000000000000000000000000", HalfEven, 2),
            (1, "50", HalfEven, 0),
        ];
        for (minor, percent, rounding, expected) in cases {
            assert_eq!(
                usd(minor).percent_of(dec(percent), rounding),
                Ok(usd(expected)),
                "{percent}% of {minor} with {rounding:?}"
            );
        }
    }

    #[test]
    fn percent_of_zero_decimal_currency() {
        let jpy = cur("JPY");
        // 3.6% of 1000 yen = 36 yen; 3.6% of 1015 = 36.54 -> 37.
        assert_eq!(
            Money::new(1000, jpy).percent_of(dec("3.6"), Rounding::HalfEven),
            Ok(Money::new(36, jpy))
        );
        assert_eq!(
            Money::new(1015, jpy).percent_of(dec("3.6"), Rounding::HalfEven),
            Ok(Money::new(37, jpy))
        );
    }

    #[test]
    fn percent_of_rejects_bad_rates() {
        for rate in ["-0.0001", "100.0001", "-5"] {
            assert_eq!(
                usd(100).percent_of(dec(rate), Rounding::default()),
                Err(MoneyError::InvalidRate),
                "{rate}"
            );
        }
        // 28 digits of scale on the largest amount: refused, not a panic.
        assert_eq!(
            usd(i64::MAX).percent_of(dec("33.33333333333333333333333333"), Rounding::HalfEven),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn rounding_maps_to_rust_decimal() {
        // Cross-check our integer rounding against rust_decimal's.
        for tenths in -40i64..=40 {
            for rounding in [
                Rounding::HalfEven,
                Rounding::HalfUp,
                Rounding::Down,
                Rounding::Up,
            ] {
                let ours = usd(tenths).percent_of(dec("10"), rounding).unwrap().minor;
                let theirs = Decimal::new(tenths, 1).round_dp_with_strategy(0, rounding.into());
                assert_eq!(Decimal::from(ours), theirs, "{tenths}/10 {rounding:?}");
            }
        }
    }

    #[test]
    fn display_table() {
        let cases = [
            (Money::new(1234, cur("USD")), "12.34 USD"),
            (Money::new(-5, cur("USD")), "-0.05 USD"),
            (Money::new(0, cur("USD")), "0.00 USD"),
            (Money::new(1234, cur("JPY")), "1234 JPY"),
            (Money::new(-1234, cur("JPY")), "-1234 JPY"),
            (Money::new(1234, cur("KWD")), "1.234 KWD"),
            (Money::new(5, cur("KWD")), "0.005 KWD"),
            (
                Money::new(i64::MIN, cur("USD")),
                "-92233720368547758.08 USD",
            ),
            (Money::new(i64::MAX, cur("USD")), "92233720368547758.07 USD"),
        ];
        for (money, expected) in cases {
            assert_eq!(money.to_string(), expected);
        }
    }

    #[test]
    fn parse_decimal_table() {
        let (usd_c, jpy, kwd) = (cur("USD"), cur("JPY"), cur("KWD"));
        let cases: [(&str, Currency, Result<i64, MoneyError>); 24] = [
            ("1.234", kwd, Ok(1234)),
            ("1.2345", kwd, Err(MoneyError::TooPrecise)),
            ("1.2", kwd, Ok(1200)),
            ("12", jpy, Ok(12)),
            ("1.5", jpy, Err(MoneyError::TooPrecise)),
            ("12.34", usd_c, Ok(1234)),
            ("12", usd_c, Ok(1200)),
            ("-0.05", usd_c, Ok(-5)),
            ("-0", usd_c, Ok(0)),
            ("007.10", usd_c, Ok(710)),
            ("-92233720368547758.08", usd_c, Ok(i64::MIN)),
            ("92233720368547758.07", usd_c, Ok(i64::MAX)),
            ("92233720368547758.08", usd_c, Err(MoneyError::Overflow)),
            (
                "99999999999999999999999999999999999999",
                jpy,
                Err(MoneyError::Overflow),
            ),
            ("1e5", usd_c, Err(MoneyError::Malformed)),
            ("", usd_c, Err(MoneyError::Malformed)),
            ("--1", usd_c, Err(MoneyError::Malformed)),
            ("-", usd_c, Err(MoneyError::Malformed)),
            ("+1", usd_c, Err(MoneyError::Malformed)),
            (" 1", usd_c, Err(MoneyError::Malformed)),
            ("1.", usd_c, Err(MoneyError::Malformed)),
            (".5", usd_c, Err(MoneyError::Malformed)),
            ("1.2.3", usd_c, Err(MoneyError::Malformed)),
            ("1,000", usd_c, Err(MoneyError::Malformed)),
        ];
        for (input, currency, expected) in cases {
            assert_eq!(
                Money::parse_decimal(input, currency),
                expected.map(|minor| Money::new(minor, currency)),
                "{input:?} {currency}"
            );
        }
        let long = "1".repeat(MAX_AMOUNT_LEN + 1);
        assert_eq!(
            Money::parse_decimal(&long, usd_c),
            Err(MoneyError::Malformed)
        );
    }

    #[test]
    fn allocation_table() {
        let cases: [(i64, &[u64], &[i64]); 9] = [
            (100, &[1, 1, 1], &[34, 33, 33]),
            (-100, &[1, 1, 1], &[-34, -33, -33]),
            (5, &[1, 1, 1, 1, 1, 1, 1], &[1, 1, 1, 1, 1, 0, 0]),
            (1000, &[3, 7], &[300, 700]),
            (77, &[0, 1], &[0, 77]),
            (0, &[2, 5], &[0, 0]),
            // 10 * 1/6 = 1.67, 10 * 2/6 = 3.33, 10 * 3/6 = 5: 0.67 wins.
            (10, &[1, 2, 3], &[2, 3, 5]),
            (i64::MIN, &[1, 1], &[i64::MIN / 2, i64::MIN / 2]),
            (
                i64::MAX,
                &[u64::MAX, u64::MAX],
                &[i64::MAX / 2 + 1, i64::MAX / 2],
            ),
        ];
        for (total, weights, expected) in cases {
            assert_eq!(
                allocate(total, weights).as_deref(),
                Ok(expected),
                "{total} {weights:?}"
            );
        }
        assert_eq!(allocate(100, &[]), Err(MoneyError::InvalidWeights));
        assert_eq!(allocate(100, &[0, 0]), Err(MoneyError::InvalidWeights));
        assert_eq!(
            usd(100).allocate(&[1, 1, 1]),
            Ok(vec![usd(34), usd(33), usd(33)])
        );
    }

    #[test]
    fn arithmetic_errors() {
        let eur = Money::new(1, cur("EUR"));
        let mismatch = MoneyError::CurrencyMismatch {
            left: cur("USD"),
            right: cur("EUR"),
        };
        assert_eq!(usd(1).checked_add(eur), Err(mismatch.clone()));
        assert_eq!(usd(1).checked_sub(eur), Err(mismatch.clone()));
        assert_eq!(mismatch.code(), "currency_mismatch");
        assert_eq!(
            mismatch.to_string(),
            "currency mismatch: cannot combine USD with EUR"
        );
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MIN).checked_sub(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MIN).checked_neg(), Err(MoneyError::Overflow));
        assert_eq!(usd(5).checked_neg(), Ok(usd(-5)));
        assert_eq!(usd(5).checked_sub(usd(7)), Ok(usd(-2)));
        assert_eq!(MoneyError::Overflow.code(), "amount_overflow");
    }

    #[test]
    fn sums_and_signs() {
        assert_eq!(Money::sum([usd(1), usd(2), usd(3)], cur("USD")), Ok(usd(6)));
        assert_eq!(Money::sum([], cur("JPY")), Ok(Money::zero(cur("JPY"))));
        assert_eq!(
            Money::sum([usd(i64::MAX), usd(1)], cur("USD")),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::sum([usd(1)], cur("EUR")),
            Err(MoneyError::CurrencyMismatch {
                left: cur("EUR"),
                right: cur("USD"),
            })
        );
        assert!(usd(1).is_positive() && !usd(1).is_zero() && !usd(1).is_negative());
        assert!(usd(0).is_zero() && !usd(0).is_positive() && !usd(0).is_negative());
        assert!(usd(-1).is_negative());
    }

    #[test]
    fn error_codes_are_distinct() {
        let codes = [
            MoneyError::UnknownCurrency(String::new()).code(),
            MoneyError::InvalidRate.code(),
            MoneyError::InvalidWeights.code(),
            MoneyError::TooPrecise.code(),
            MoneyError::Malformed.code(),
        ];
        assert_eq!(
            codes,
            [
                "unknown_currency",
                "invalid_rate",
                "invalid_weights",
                "amount_too_precise",
                "malformed_amount"
            ]
        );
    }
}
