//! Property tests of the money policy over random orders, refunds and
//! disputes, through the pure functions checkout, refunds and disputes call
//! (`fees::fee_for`, `orders::split`). Each expected amount is computed here
//! from the "How the money splits" table in docs/money.md, not from the code:
//!
//! - every cent is accounted for: what sellers end up with (negative when
//!   they owe back) + what the platform ends up with + what the provider kept
//!   = what buyers paid − what they got back, per order, to the minor unit;
//! - no seller gives more than the policy says: refunds take back at most the
//!   part's refund base (exactly it once the part is refunded in full), a
//!   dispute at most what the seller held, and a seller owes back at most the
//!   processing fee it bore;
//! - fees kept on a fully refunded part are exactly the processing fee the
//!   seller bears on refunds (or nothing).

use std::collections::BTreeMap;

use bazaar::fees::{fee_for, FeeRuleVersion, FeeTerms};
use bazaar::money::{allocate, Currency, Money};
use bazaar::orders::split::{self, PartAmounts};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Rule {
    percentage: u32,
    fixed: i64,
    min_minor: Option<i64>,
    max_share: Option<u32>,
    seller_bears: bool,
    seller_bears_kept: bool,
    proportional: bool,
}

#[derive(Debug, Clone)]
struct Scenario {
    /// Each part's subtotal and rule.
    parts: Vec<(i64, Rule)>,
    /// The provider's processing fee, in thousandths of the charge.
    fee_per_mille: i64,
    /// Refunds: (part index, share of what is left in thousandths, at least 1).
    refunds: Vec<(usize, i64)>,
    /// Refund every part in full at the end.
    refund_all: bool,
    /// A dispute after the refunds: (share of what is left in thousandths, dispute fee).
    dispute: Option<(i64, i64)>,
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        0u32..=40,
        0i64..=500,
        prop::option::of(0i64..=2_000),
        prop::option::of(0u32..=100),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(percentage, fixed, min_minor, max_share, seller_bears, kept, proportional)| Rule {
                percentage,
                fixed,
                min_minor,
                max_share,
                seller_bears,
                // A seller bears the kept fee only when it bore the fee.
                seller_bears_kept: seller_bears && kept,
                proportional,
            },
        )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec((50i64..=200_000, rule()), 1..=4),
        0i64..=80,
        prop::collection::vec((0usize..4, 1i64..=1_000), 0..=6),
        any::<bool>(),
        prop::option::of((1i64..=1_000, 0i64..=2_000)),
    )
        .prop_map(
            |(parts, fee_per_mille, refunds, refund_all, dispute)| Scenario {
                parts,
                fee_per_mille,
                refunds,
                refund_all,
                dispute,
            },
        )
}

fn version(rule: &Rule) -> FeeRuleVersion {
    let fixed = BTreeMap::from([("USD".to_owned(), rule.fixed)]);
    let payer = if rule.seller_bears {
        "seller"
    } else {
        "platform"
    };
    let kept = if rule.seller_bears_kept {
        "seller"
    } else {
        "platform"
    };
    let terms = FeeTerms::parse(
        &rule.percentage.to_string(),
        &fixed,
        rule.min_minor,
        None,
        payer,
        rule.proportional,
    )
    .unwrap()
    .with_kept_processing_fee_payer(Some(kept))
    .unwrap()
    .with_max_share(rule.max_share.map(|s| s.to_string()).as_deref())
    .unwrap();
    FeeRuleVersion {
        id: "frv_test".into(),
        rule_id: "fr_test".into(),
        version: 1,
        terms,
        effective_from: chrono::NaiveDateTime::default(),
        created_at: chrono::NaiveDateTime::default(),
    }
}

/// One part as the test follows it.
#[derive(Debug, Default)]
struct Part {
    subtotal: i64,
    fee: i64,
    processing_fee: i64,
    seller_amount: i64,
    refund_base: i64,
    refunded: i64,
    /// What refunds took back from the seller.
    taken_by_refunds: i64,
    /// What the platform gave back of refunds.
    platform_refunded: i64,
    /// What the dispute took from the seller (amount and fee).
    taken_by_dispute: i64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_cent_is_accounted_for_and_no_seller_gives_more_than_the_policy_says(s in scenario()) {
        let usd = Currency::parse("USD").unwrap();
        // Checkout: each part priced by its rule (docs/money.md: platform fee `f`).
        let mut parts: Vec<Part> = Vec::new();
        for (subtotal, rule) in &s.parts {
            let fee = fee_for(Money::new(*subtotal, usd), &version(rule)).unwrap().fee.minor;
            let mut expected = (subtotal * i64::from(rule.percentage) * 2 + 100) / 200;
            // round half even of subtotal × pct / 100, done on integers.
            let exact = subtotal * i64::from(rule.percentage);
            if exact % 100 == 50 && (exact / 100) % 2 == 0 {
                expected = exact / 100;
            }
            let mut want = expected + rule.fixed;
            if let Some(min) = rule.min_minor { want = want.max(min); }
            if let Some(share) = rule.max_share { want = want.min(subtotal * i64::from(share) / 100); }
            want = want.min(*subtotal);
            prop_assert_eq!(fee, want, "platform fee of {} under {:?}", subtotal, rule);
            parts.push(Part { subtotal: *subtotal, fee, ..Part::default() });
        }
        let paid: i64 = parts.iter().map(|p| p.subtotal).sum();
        // Payment: the provider's fee split by subtotal (ties to the earlier part).
        let provider_fee = paid * s.fee_per_mille / 1_000;
        let subtotals: Vec<i64> = parts.iter().map(|p| p.subtotal).collect();
        let shares = split::processing_fee_shares(provider_fee, &subtotals).unwrap();
        prop_assert_eq!(shares.iter().sum::<i64>(), provider_fee);
        for ((part, share), (_, rule)) in parts.iter_mut().zip(&shares).zip(&s.parts) {
            part.processing_fee = *share;
            let borne = if rule.seller_bears { *share } else { 0 };
            part.seller_amount = (part.subtotal - part.fee - borne).max(0);
            part.refund_base = if rule.seller_bears_kept { part.subtotal - part.fee } else { part.seller_amount };
        }
        // Refunds, then (maybe) everything that is left.
        let mut refunds: Vec<(usize, i64)> = Vec::new();
        for (index, per_mille) in &s.refunds {
            let i = index % parts.len();
            let left = parts[i].subtotal - parts[i].refunded;
            let amount = (left * per_mille / 1_000).max(1).min(left);
            if left > 0 { refunds.push((i, amount)); parts[i].refunded += amount; }
        }
        for part in &mut parts { part.refunded = 0; }
        if s.refund_all {
            for (i, part) in parts.iter().enumerate() {
                let already: i64 = refunds
                    .iter()
                    .filter(|(j, _)| *j == i)
                    .map(|(_, a)| a)
                    .sum();
                if already < part.subtotal {
                    refunds.push((i, part.subtotal - already));
                }
            }
        }
        let mut refunded_to_buyer = 0;
        for (i, amount) in refunds {
            let (part, rule) = (&mut parts[i], &s.parts[i].1);
            let portion = split::refund_seller_portion(
                PartAmounts { subtotal: part.subtotal, seller_amount: part.refund_base, refunded: part.refunded },
                amount,
                rule.proportional,
            );
            // docs/money.md: S(x) by weights (b, subtotal − b), or min(x, b).
            let taken = |x: i64| -> i64 {
                if rule.proportional {
                    if part.refund_base == 0 || x == 0 { 0 } else {
                        allocate(x, &[part.refund_base as u64, (part.subtotal - part.refund_base) as u64]).unwrap()[0]
                    }
                } else { x.min(part.refund_base) }
            };
            prop_assert_eq!(portion, taken(part.refunded + amount) - taken(part.refunded));
            prop_assert!((0..=amount).contains(&portion));
            part.refunded += amount;
            part.taken_by_refunds += portion;
            part.platform_refunded += amount - portion;
            refunded_to_buyer += amount;
        }
        // A dispute on what is left, lost.
        let mut disputed = 0;
        let mut dispute_fee = 0;
        let left: i64 = parts.iter().map(|p| p.subtotal - p.refunded).sum();
        if let (Some((per_mille, fee)), true) = (s.dispute, left > 0) {
            disputed = (left * per_mille / 1_000).max(1);
            dispute_fee = fee;
            let held: Vec<i64> = parts.iter().map(|p| (p.seller_amount - p.taken_by_refunds).max(0)).collect();
            let amounts: Vec<PartAmounts> = parts.iter().map(|p| PartAmounts {
                subtotal: p.subtotal, seller_amount: p.seller_amount, refunded: p.refunded,
            }).collect();
            let pieces = split::dispute_pieces(disputed, &amounts, &held).unwrap();
            prop_assert_eq!(pieces.iter().map(|(piece, _)| piece).sum::<i64>(), disputed);
            let weights: Vec<u64> = pieces.iter().map(|(piece, _)| *piece as u64).collect();
            let fee_pieces = if fee > 0 && weights.iter().any(|w| *w > 0) {
                allocate(fee, &weights).unwrap()
            } else { vec![0; parts.len()] };
            for (i, ((piece, seller_share), fee_piece)) in pieces.iter().zip(&fee_pieces).enumerate() {
                let rule = &s.parts[i].1;
                let (amount, fee_share) = split::seller_dispute_shares(*seller_share, *fee_piece, held[i], rule.seller_bears);
                // docs/money.md: fee first (at most what it held), then the amount.
                let want_fee = if rule.seller_bears { (*fee_piece).min(held[i]) } else { 0 };
                prop_assert_eq!(fee_share, want_fee);
                prop_assert_eq!(amount, (*seller_share).min(held[i] - want_fee));
                prop_assert!(amount <= *piece);
                parts[i].taken_by_dispute = amount + fee_share;
            }
        }
        // Every cent: sellers + platform + provider = paid − given back.
        let mut sellers = 0;
        let mut platform = 0;
        for part in &parts {
            let owed = part.seller_amount - part.taken_by_refunds - part.taken_by_dispute;
            sellers += owed;
            // The platform kept subtotal − seller amount, paid the provider's
            // fee share, gave back its part of refunds, and bore the rest of
            // the dispute (amount and fee) beyond what the seller gave.
            platform += part.subtotal - part.seller_amount - part.processing_fee - part.platform_refunded;
            // What the seller gave for the dispute is the platform's, and
            // the whole dispute (amount + fee) left the platform's cash.
            platform += part.taken_by_dispute;
            // Bounds: refunds at most the refund base, exactly it once the
            // part is refunded in full; a seller owes back at most the
            // processing fee it bore.
            prop_assert!(part.taken_by_refunds <= part.refund_base);
            if part.refunded == part.subtotal {
                prop_assert_eq!(part.taken_by_refunds, part.refund_base);
                let fees_charged = part.subtotal - part.seller_amount;
                let fees_kept = fees_charged - part.platform_refunded;
                prop_assert_eq!(fees_kept, part.refund_base - part.seller_amount, "fees kept = the kept processing fee the seller bears");
            }
            prop_assert!(-owed <= (part.refund_base - part.seller_amount).max(0), "owes back at most the fee it bore");
            prop_assert!(part.refund_base - part.seller_amount <= part.processing_fee);
        }
        platform -= disputed + dispute_fee;
        prop_assert_eq!(
            sellers + platform + provider_fee + dispute_fee,
            paid - refunded_to_buyer - disputed
        );
    }
}
