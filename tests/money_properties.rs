//! Property tests for `bazaar::money`: allocation is lossless and fair,
//! percentages stay within their base, and formatting round-trips.

use bazaar::money::{allocate, Currency, Money, MoneyError, Rounding};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn currency(code: &str) -> Currency {
    Currency::parse(code).unwrap()
}

fn weights() -> impl Strategy<Value = Vec<u64>> {
    // Small weights exercise ties and zero entries; full-range ones overflow
    // anything narrower than u128.
    let weight = prop_oneof![0u64..10, any::<u64>()];
    prop::collection::vec(weight, 1..=20)
        .prop_filter("needs a non-zero weight", |w| w.iter().any(|&x| x > 0))
}

fn percent() -> impl Strategy<Value = Decimal> {
    (0u32..=6).prop_flat_map(|scale| {
        (0..=100 * 10i64.pow(scale)).prop_map(move |mantissa| Decimal::new(mantissa, scale))
    })
}

fn wide_percent() -> impl Strategy<Value = Decimal> {
    // Up to 28 digits of scale and the full 96-bit mantissa, where naive
    // Decimal arithmetic would overflow.
    const MAX_MANTISSA: i128 = 79_228_162_514_264_337_593_543_950_335;
    (0u32..=28).prop_flat_map(|scale| {
        let limit = (100 * 10i128.pow(scale)).min(MAX_MANTISSA);
        (0..=limit).prop_map(move |mantissa| Decimal::from_i128_with_scale(mantissa, scale))
    })
}

fn rounding() -> impl Strategy<Value = Rounding> {
    prop_oneof![
        Just(Rounding::HalfEven),
        Just(Rounding::HalfUp),
        Just(Rounding::Down),
        Just(Rounding::Up),
    ]
}

proptest! {
    #[test]
    fn allocation_is_exact_and_fair(total in any::<i64>(), weights in weights()) {
        let parts = allocate(total, &weights).unwrap();
        prop_assert_eq!(parts.len(), weights.len());
        let sum: i128 = parts.iter().map(|&p| i128::from(p)).sum();
        prop_assert_eq!(sum, i128::from(total));

        let weight_sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        let magnitude = u128::from(total.unsigned_abs());
        for (&part, &weight) in parts.iter().zip(&weights) {
            prop_assert!(part == 0 || (part > 0) == (total > 0));
            // |part - total*w/W| < 1 holds exactly when |part| is the floor of
            // the ideal share, or its ceiling if the share is fractional.
            let share = magnitude * u128::from(weight);
            let (floor, fractional) = (share / weight_sum, share % weight_sum != 0);
            let got = u128::from(part.unsigned_abs());
            prop_assert!(
                got == floor || (fractional && got == floor + 1),
                "part {} vs ideal {}/{}", part, share, weight_sum
            );
        }
    }

    #[test]
    fn percent_of_stays_within_base(
        minor in any::<i64>(),
        percent in percent(),
        rounding in rounding(),
    ) {
        let base = Money::new(minor, currency("USD"));
        let fee = base.percent_of(percent, rounding).unwrap();
        prop_assert_eq!(fee.currency, base.currency);
        if minor >= 0 {
            prop_assert!(0 <= fee.minor && fee.minor <= minor);
        } else {
            prop_assert!(minor <= fee.minor && fee.minor <= 0);
        }
        // With at most 6 digits of scale Decimal is exact here, so it must
        // agree with our single rounding step.
        let exact = Decimal::from(minor) * percent / Decimal::ONE_HUNDRED;
        prop_assert_eq!(
            Decimal::from(fee.minor),
            exact.round_dp_with_strategy(0, rounding.into())
        );
    }

    #[test]
    fn percent_of_never_panics_on_any_rate(minor in any::<i64>(), percent in wide_percent()) {
        match Money::new(minor, currency("EUR")).percent_of(percent, Rounding::HalfEven) {
            Ok(fee) => {
                prop_assert!(fee.minor.unsigned_abs() <= minor.unsigned_abs());
                prop_assert!(fee.minor == 0 || (fee.minor > 0) == (minor > 0));
            }
            Err(err) => prop_assert_eq!(err, MoneyError::Overflow),
        }
    }

    #[test]
    fn percent_of_rejects_out_of_range(minor in any::<i64>(), mantissa in any::<i64>(), scale in 0u32..=28) {
        let percent = Decimal::new(mantissa, scale);
        let result = Money::new(minor, currency("EUR")).percent_of(percent, Rounding::Up);
        if percent < Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
            prop_assert_eq!(result, Err(MoneyError::InvalidRate));
        }
    }

    #[test]
    fn checked_add_matches_i64(a in any::<i64>(), b in any::<i64>()) {
        let usd = currency("USD");
        let got = Money::new(a, usd).checked_add(Money::new(b, usd));
        match a.checked_add(b) {
            Some(sum) => prop_assert_eq!(got, Ok(Money::new(sum, usd))),
            None => prop_assert_eq!(got, Err(MoneyError::Overflow)),
        }
    }

    #[test]
    fn display_round_trips(minor in any::<i64>(), code in prop::sample::select(vec!["USD", "JPY", "KWD"])) {
        let money = Money::new(minor, currency(code));
        let shown = money.to_string();
        let (amount, shown_code) = shown.split_once(' ').unwrap();
        prop_assert_eq!(shown_code, code);
        prop_assert_eq!(Money::parse_decimal(amount, money.currency), Ok(money));
    }

    #[test]
    fn currency_parse_never_panics(input in ".*") {
        if let Ok(parsed) = Currency::parse(&input) {
            prop_assert!(parsed.code().eq_ignore_ascii_case(&input));
        }
    }

    #[test]
    fn currency_parse_is_case_insensitive(input in "[a-zA-Z]{3}") {
        let upper = Currency::parse(&input.to_ascii_uppercase());
        let lower = Currency::parse(&input.to_ascii_lowercase());
        prop_assert_eq!(upper.is_ok(), lower.is_ok());
        if let (Ok(upper), Ok(lower)) = (upper, lower) {
            prop_assert_eq!(upper, lower);
            prop_assert_eq!(upper.provider_code(), input.to_ascii_lowercase());
        }
    }

    #[test]
    fn parse_decimal_never_panics(input in "-?[0-9.eE+ -]{0,45}") {
        let _ = Money::parse_decimal(&input, currency("KWD"));
    }
}
