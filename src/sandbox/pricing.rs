//! The currencies the sandbox accepts and what it charges for them.
//!
//! A processing fee is `round_half_up(amount × rate_bp / 10_000) + fixed`, in integers
//! only. The rates are Stripe's US list prices for cards where they exist; the fixed part
//! and the dispute fee are in each currency's minor unit (so ¥ have no fraction).

use super::wire::{ApiError, ApiResult};

/// What the sandbox charges in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    /// ISO code, lowercase.
    pub currency: &'static str,
    /// Whether the minor unit is the major unit (JPY, KRW).
    pub zero_decimal: bool,
    /// Smallest chargeable amount, in minor units.
    pub minimum: i64,
    /// Percentage part of the processing fee, in basis points (290 = 2.9 %).
    pub rate_bp: i64,
    /// Fixed part of the processing fee, in minor units.
    pub fixed: i64,
    /// Fee for a dispute, in minor units; returned when the dispute is won.
    pub dispute_fee: i64,
}

/// Every currency the sandbox accepts.
pub const PRICING: &[Pricing] = &[
    p("usd", false, 50, 290, 30, 1500),
    p("eur", false, 50, 290, 25, 2000),
    p("gbp", false, 30, 290, 20, 2000),
    p("cad", false, 50, 290, 30, 1500),
    p("aud", false, 50, 290, 30, 2500),
    p("chf", false, 50, 290, 30, 1500),
    p("sek", false, 300, 290, 180, 20000),
    p("jpy", true, 50, 360, 0, 1500),
    p("krw", true, 500, 340, 0, 20000),
];

const fn p(
    currency: &'static str,
    zero_decimal: bool,
    minimum: i64,
    rate_bp: i64,
    fixed: i64,
    dispute_fee: i64,
) -> Pricing {
    Pricing {
        currency,
        zero_decimal,
        minimum,
        rate_bp,
        fixed,
        dispute_fee,
    }
}

/// The pricing of `currency` (lowercase), or an `invalid_request_error` naming `param`.
pub fn pricing(currency: &str, param: &str) -> ApiResult<Pricing> {
    PRICING
        .iter()
        .find(|p| p.currency == currency)
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = PRICING.iter().map(|p| p.currency).collect();
            ApiError::param(
                "invalid_currency",
                param,
                format!(
                    "Invalid currency: {currency}. The sandbox supports: {}.",
                    known.join(", ")
                ),
            )
        })
}

impl Pricing {
    /// The processing fee on a successful charge of `amount` (> 0): the percentage part
    /// rounded half up at the minor unit, plus the fixed part.
    pub fn processing_fee(&self, amount: i64) -> i64 {
        (amount * self.rate_bp + 5_000) / 10_000 + self.fixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rounds_half_up() {
        let usd = pricing("usd", "currency").unwrap();
        assert_eq!(usd.processing_fee(10_000), 320);
        // 2.9 % of 50 is 1.45 -> 1
        assert_eq!(usd.processing_fee(50), 31);
        // 2.9 % of 1_050 is 30.45 -> 30; of 1_550 is 44.95 -> 45
        assert_eq!(usd.processing_fee(1_050), 60);
        assert_eq!(usd.processing_fee(1_550), 75);
        assert!(pricing("xxx", "currency").is_err());
    }
}
