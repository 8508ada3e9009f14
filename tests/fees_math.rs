//! `fees::fee_for`, the pure fee computation: a table of hand-computed cases, the
//! validation of terms, and properties over any part amount and any valid rule.

use std::collections::BTreeMap;

use bazaar::fees::{fee_for, FeeError, FeeRuleVersion, FeeTerms, ProcessingFeePayer};
use bazaar::money::{Currency, Money};
use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn cur(code: &str) -> Currency {
    Currency::parse(code).unwrap()
}

fn version(
    percentage: &str,
    fixed: &[(&str, i64)],
    min: Option<i64>,
    max: Option<i64>,
) -> FeeRuleVersion {
    let fixed: BTreeMap<String, i64> = fixed.iter().map(|(c, m)| ((*c).to_owned(), *m)).collect();
    let terms = FeeTerms::parse(percentage, &fixed, min, max, "seller", true).expect("valid terms");
    let at = NaiveDate::from_ymd_opt(2026, 11, 25)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    FeeRuleVersion {
        id: "frv_test".into(),
        rule_id: "fr_test".into(),
        version: 1,
        terms,
        effective_from: at,
        created_at: at,
    }
}

/// (case, part minor, currency, percentage, fixed for that currency, min, max,
/// expected percentage share, expected fee) — every expectation worked by hand.
#[allow(clippy::type_complexity)]
const TABLE: &[(
    &str,
    i64,
    &str,
    &str,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
)] = &[
    // 100.00 USD × 10.5 % = 10.50 exactly, + 0.30.
    (
        "plain USD",
        10_000,
        "USD",
        "10.5",
        30,
        None,
        None,
        1_050,
        1_080,
    ),
    // 0.25 × 10 % = 0.025 → tie → 2 (even).
    (
        "tie rounds down to even",
        25,
        "USD",
        "10",
        0,
        None,
        None,
        2,
        2,
    ),
    // 0.35 × 10 % = 0.035 → tie → 4 (even).
    (
        "tie rounds up to even",
        35,
        "USD",
        "10",
        0,
        None,
        None,
        4,
        4,
    ),
    // 1234.56 × 2.9999 % = 37.0355654… → 37.04 (3703.556544 → 3704).
    (
        "four decimal places",
        123_456,
        "USD",
        "2.9999",
        30,
        None,
        None,
        3_704,
        3_734,
    ),
    // 1234 JPY × 3.5 % = 43.19 → 43; JPY has no minor unit.
    (
        "JPY zero decimals",
        1_234,
        "JPY",
        "3.5",
        0,
        None,
        None,
        43,
        43,
    ),
    // 1500 JPY × 2.5 % = 37.5 → 38 (even).
    ("JPY tie up", 1_500, "JPY", "2.5", 0, None, None, 38, 38),
    // 1300 JPY × 2.5 % = 32.5 → 32 (even).
    ("JPY tie down", 1_300, "JPY", "2.5", 10, None, None, 32, 42),
    // 12.345 KWD × 2.5 % = 0.308625 KWD → 309 fils, + 100 fils.
    (
        "KWD three decimals",
        12_345,
        "KWD",
        "2.5",
        100,
        None,
        None,
        309,
        409,
    ),
    // 1.000 KWD × 0.05 % = 0.5 fils → 0 (even), + 5 fils.
    ("KWD tie to zero", 1_000, "KWD", "0.05", 5, None, None, 0, 5),
    // 1.500 KWD × 0.1 % = 1.5 fils → 2 (even).
    ("KWD tie up", 1_500, "KWD", "0.1", 0, None, None, 2, 2),
    // 10.00 × 1 % = 0.10, raised to the 0.50 minimum.
    (
        "min clamp",
        1_000,
        "USD",
        "1",
        0,
        Some(50),
        Some(10_000),
        10,
        50,
    ),
    // 10,000.00 × 10 % = 1,000.00, lowered to the 50.00 maximum.
    (
        "max clamp",
        1_000_000,
        "USD",
        "10",
        0,
        Some(50),
        Some(5_000),
        100_000,
        5_000,
    ),
    // 0.20 × 10 % = 0.02 + 0.30 = 0.32 > the part: capped at 0.20.
    (
        "fixed capped at part",
        20,
        "USD",
        "10",
        30,
        None,
        None,
        2,
        20,
    ),
    // A 0.50 minimum on a 0.40 part: capped at the part.
    (
        "min capped at part",
        40,
        "USD",
        "1",
        0,
        Some(50),
        None,
        0,
        40,
    ),
    // Nothing to take a fee from.
    ("zero part", 0, "USD", "10", 30, Some(50), None, 0, 0),
    // 100 %: everything.
    (
        "hundred percent",
        777,
        "USD",
        "100",
        0,
        None,
        None,
        777,
        777,
    ),
    // 0 % and no fixed: nothing.
    ("free", 99_999, "EUR", "0", 0, None, None, 0, 0),
    // min = max pins the fee.
    (
        "min equals max",
        500_000,
        "EUR",
        "3",
        25,
        Some(1_000),
        Some(1_000),
        15_000,
        1_000,
    ),
];

#[test]
fn the_table_of_hand_computed_fees() {
    for &(case, part, code, percentage, fixed, min, max, expected_share, expected_fee) in TABLE {
        let currency = cur(code);
        let v = version(percentage, &[(code, fixed)], min, max);
        let breakdown =
            fee_for(Money::new(part, currency), &v).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            breakdown.percentage_fee,
            Money::new(expected_share, currency),
            "{case}: percentage share"
        );
        assert_eq!(
            breakdown.fixed_fee,
            Money::new(fixed, currency),
            "{case}: fixed"
        );
        assert_eq!(
            breakdown.fee,
            Money::new(expected_fee, currency),
            "{case}: fee"
        );
        assert_eq!(
            breakdown.seller_share,
            Money::new(part - expected_fee, currency),
            "{case}: seller share"
        );
        assert_eq!(breakdown.part, Money::new(part, currency), "{case}: part");
        assert_eq!(breakdown.version_id, "frv_test", "{case}: version id");
    }
}

#[test]
fn the_breakdown_carries_the_rule_policies() {
    let v = version("10", &[("USD", 0)], None, None);
    let breakdown = fee_for(Money::new(100, cur("USD")), &v).unwrap();
    assert_eq!(breakdown.processing_fee_payer, ProcessingFeePayer::Seller);
    assert!(breakdown.refund_fee_proportionally);
}

#[test]
fn a_currency_the_version_does_not_list_is_not_priced() {
    let v = version("10", &[("USD", 30), ("EUR", 25)], None, None);
    let error = fee_for(Money::new(1_000, cur("GBP")), &v).unwrap_err();
    assert_eq!(error.code(), "currency_not_priced");
    assert!(
        matches!(error, FeeError::CurrencyNotPriced { currency, .. } if currency == cur("GBP"))
    );
    // Each listed currency uses its own fixed amount.
    let eur = fee_for(Money::new(1_000, cur("EUR")), &v).unwrap();
    assert_eq!(eur.fee, Money::new(125, cur("EUR")));
}

#[test]
fn a_negative_part_is_refused() {
    let v = version("10", &[("USD", 30)], None, None);
    assert_eq!(
        fee_for(Money::new(-1, cur("USD")), &v).unwrap_err(),
        FeeError::NegativeAmount
    );
}

#[test]
fn terms_out_of_range_are_refused_with_their_param() {
    let usd: BTreeMap<String, i64> = [("USD".to_owned(), 30)].into();
    let parse = |pct: &str, fixed: &BTreeMap<String, i64>, min, max, payer: &str| {
        FeeTerms::parse(pct, fixed, min, max, payer, false)
            .map(|_| ())
            // The Debug form names the param; the HTTP tests check it in the body.
            .map_err(|e| (e.code(), format!("{e:?}")))
    };
    for bad in [
        "100.0001", "101", "-1", "10.12345", "abc", "1e2", "", ".5", "5.", "+5", " 5", "1_0",
    ] {
        let (code, debug) = parse(bad, &usd, None, None, "seller").unwrap_err();
        assert_eq!(code, "invalid_value", "percentage {bad:?}");
        assert!(
            debug.contains("\"percentage\""),
            "param of {bad:?}: {debug}"
        );
    }
    for good in ["0", "100", "10.5", "2.9999", "100.0000", "0.0001"] {
        assert!(
            parse(good, &usd, None, None, "platform").is_ok(),
            "percentage {good:?}"
        );
    }
    let negative: BTreeMap<String, i64> = [("USD".to_owned(), -1)].into();
    let (_, debug) = parse("1", &negative, None, None, "seller").unwrap_err();
    assert!(debug.contains("fixed.USD"), "{debug}");
    let unknown: BTreeMap<String, i64> = [("XYZ".to_owned(), 1)].into();
    let (_, debug) = parse("1", &unknown, None, None, "seller").unwrap_err();
    assert!(debug.contains("fixed.XYZ"), "{debug}");
    let (_, debug) = parse("1", &BTreeMap::new(), None, None, "seller").unwrap_err();
    assert!(debug.contains("\"fixed\""), "{debug}");
    let (_, debug) = parse("1", &usd, Some(100), Some(99), "seller").unwrap_err();
    assert!(debug.contains("min_minor"), "{debug}");
    let (_, debug) = parse("1", &usd, Some(-1), None, "seller").unwrap_err();
    assert!(debug.contains("min_minor"), "{debug}");
    let (_, debug) = parse("1", &usd, None, Some(-5), "seller").unwrap_err();
    assert!(debug.contains("max_minor"), "{debug}");
    let (_, debug) = parse("1", &usd, None, None, "buyer").unwrap_err();
    assert!(debug.contains("processing_fee_payer"), "{debug}");
}

#[test]
fn a_percentage_is_kept_exactly() {
    let v = version("10.50", &[("USD", 0)], None, None);
    assert_eq!(v.terms.percentage, Decimal::new(105, 1));
}

fn any_terms() -> impl Strategy<Value = (String, i64, Option<i64>, Option<i64>)> {
    (
        0u32..=1_000_000,
        0i64..=1_000_000_000_000,
        proptest::option::of(0i64..=1_000_000_000_000),
        proptest::option::of(0i64..=1_000_000_000_000),
    )
        .prop_map(|(basis, fixed, a, b)| {
            // basis is the percentage in 1/10 000 of a percent: 0..=100.0000 %.
            let percentage = Decimal::new(i64::from(basis), 4).to_string();
            let (min, max) = match (a, b) {
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            (percentage, fixed, min, max)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn a_fee_stays_within_its_part_and_the_parts_add_up(
        part in 0i64..=1_000_000_000_000_000,
        (percentage, fixed, min, max) in any_terms(),
        code in prop::sample::select(vec!["USD", "JPY", "KWD", "EUR"]),
    ) {
        let currency = cur(code);
        let v = version(&percentage, &[(code, fixed)], min, max);
        let breakdown = fee_for(Money::new(part, currency), &v).unwrap();
        prop_assert!(breakdown.fee.minor >= 0, "fee {} < 0", breakdown.fee.minor);
        prop_assert!(breakdown.fee.minor <= part, "fee {} > part {part}", breakdown.fee.minor);
        prop_assert!(breakdown.seller_share.minor >= 0);
        prop_assert_eq!(breakdown.seller_share.minor + breakdown.fee.minor, part);
        prop_assert_eq!(breakdown.fee.currency, currency);
        prop_assert_eq!(breakdown.seller_share.currency, currency);
        // Within the clamps whenever the part leaves room for them.
        if let Some(max) = max {
            prop_assert!(breakdown.fee.minor <= max);
        }
        if let Some(min) = min {
            prop_assert!(breakdown.fee.minor >= min.min(part));
        }
    }
}
