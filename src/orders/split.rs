//! The arithmetic of splitting money between an order's parts and between a
//! part's seller and the platform. Pure: no database, no provider. Every split
//! is a largest-remainder allocation ([`crate::money::allocate`]), so the pieces
//! always add up to the whole.

use crate::money::{allocate, MoneyError};

/// A part as the splits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartAmounts {
    /// What the buyer paid for the part.
    pub subtotal: i64,
    /// What the seller is owed for it (subtotal − platform fee, less the
    /// processing fee share when the seller bears it). For refunds, what a
    /// full refund takes back from the seller (the part's refund base: the
    /// seller amount, plus the processing fee it bore when it also bears the
    /// fee the provider keeps on refunds).
    pub seller_amount: i64,
    /// What has been refunded of it so far.
    pub refunded: i64,
}

fn weight(minor: i64) -> u64 {
    u64::try_from(minor).expect("split weights are never negative")
}

/// How much of the first `refunded` units of a part come out of the seller's
/// pocket: in proportion to the seller's amount when the fee is refunded
/// proportionally, else the seller pays back first, up to its whole amount
/// (the platform keeps its fee until the refund exceeds what the seller got).
///
/// Cumulative on purpose: the seller portion of one refund is the difference
/// of this function before and after it, so any sequence of partial refunds
/// that adds up to the subtotal takes back exactly the seller's amount.
///
/// # Panics
/// When the inputs are out of range (a bug in the caller).
pub fn seller_portion_of_refunded(part: PartAmounts, refunded: i64, proportional: bool) -> i64 {
    assert!(part.subtotal > 0, "a part's subtotal is positive");
    assert!(
        (0..=part.subtotal).contains(&part.seller_amount),
        "a seller's amount lies within the part"
    );
    assert!(
        (0..=part.subtotal).contains(&refunded),
        "a refund lies within the part"
    );
    let portion = if !proportional {
        refunded.min(part.seller_amount)
    } else if part.seller_amount == 0 || refunded == 0 {
        0
    } else {
        let platform_amount = part.subtotal - part.seller_amount;
        allocate(
            refunded,
            &[weight(part.seller_amount), weight(platform_amount)],
        )
        .expect("the seller's weight is positive")[0]
    };
    assert!((0..=refunded).contains(&portion));
    assert!(portion <= part.seller_amount);
    portion
}

/// The seller portion of refunding `amount` more of a part.
///
/// # Panics
/// When the refund would exceed the part (callers check that first).
pub fn refund_seller_portion(part: PartAmounts, amount: i64, proportional: bool) -> i64 {
    let after = part.refunded + amount;
    let portion = seller_portion_of_refunded(part, after, proportional)
        - seller_portion_of_refunded(part, part.refunded, proportional);
    assert!((0..=amount).contains(&portion));
    portion
}

/// The provider's processing fee on the whole charge, split over the parts in
/// proportion to their subtotals.
///
/// # Errors
/// [`MoneyError::InvalidWeights`] for no parts.
pub fn processing_fee_shares(fee: i64, subtotals: &[i64]) -> Result<Vec<i64>, MoneyError> {
    let weights: Vec<u64> = subtotals.iter().map(|&s| weight(s)).collect();
    allocate(fee, &weights)
}

/// How a disputed amount lands on each part: the amount split in proportion
/// to what is left of each part (subtotal − refunded), then the seller's share
/// of each piece in proportion to what the seller still holds of that part.
/// Returns `(piece of the disputed amount, seller's share of it)` per part.
///
/// `seller_holds[i]` is what part `i`'s seller currently keeps of the order.
///
/// # Errors
/// [`MoneyError::InvalidWeights`] when nothing is left of any part.
pub fn dispute_pieces(
    disputed: i64,
    parts: &[PartAmounts],
    seller_holds: &[i64],
) -> Result<Vec<(i64, i64)>, MoneyError> {
    assert_eq!(parts.len(), seller_holds.len());
    let remaining: Vec<i64> = parts.iter().map(|p| p.subtotal - p.refunded).collect();
    let pieces = allocate(
        disputed,
        &remaining.iter().map(|&r| weight(r)).collect::<Vec<_>>(),
    )?;
    Ok(pieces
        .iter()
        .zip(remaining.iter().zip(seller_holds))
        .map(|(&piece, (&left, &holds))| {
            let holds = holds.clamp(0, left);
            let seller = if piece == 0 || holds == 0 {
                0
            } else {
                allocate(piece, &[weight(holds), weight(left - holds)])
                    .expect("a part with something left has a positive weight")[0]
            };
            (piece, seller.min(holds))
        })
        .collect())
}

/// What one part's seller gives for a dispute: `(share of the disputed
/// amount, share of the dispute fee)`, together never more than `held`, what
/// the seller held of the part before the dispute.
///
/// A seller who bears processing fees bears its piece of the dispute fee
/// first: the fee is its own cost under its rule, while the disputed amount is
/// shared with the platform (whose fee is in it), so when the seller holds too
/// little for both, the platform bears more of the disputed amount rather than
/// the seller's fee. Other sellers give only their share of the amount.
pub fn seller_dispute_shares(
    amount_share: i64,
    fee_piece: i64,
    held: i64,
    seller_bears_fees: bool,
) -> (i64, i64) {
    let held = held.max(0);
    let fee = if seller_bears_fees {
        fee_piece.clamp(0, held)
    } else {
        0
    };
    let amount = amount_share.clamp(0, held - fee);
    (amount, fee)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(subtotal: i64, seller_amount: i64, refunded: i64) -> PartAmounts {
        PartAmounts {
            subtotal,
            seller_amount,
            refunded,
        }
    }

    #[test]
    fn proportional_refunds_take_back_the_seller_share_in_proportion() {
        // 10,000 part, fee 1,080 -> seller 8,920. Refunding 2,500 (a quarter)
        // takes 2,230 from the seller; the platform gives back 270 of its fee.
        let p = part(10_000, 8_920, 0);
        assert_eq!(refund_seller_portion(p, 2_500, true), 2_230);
        // Three thirds: the pieces add up to exactly the seller's amount.
        let p = part(100, 91, 0);
        let first = refund_seller_portion(p, 33, true);
        let second = refund_seller_portion(part(100, 91, 33), 33, true);
        let third = refund_seller_portion(part(100, 91, 66), 34, true);
        assert_eq!((first, second, third), (30, 30, 31));
        assert_eq!(first + second + third, 91);
    }

    #[test]
    fn non_proportional_refunds_come_from_the_seller_first() {
        let p = part(10_000, 8_920, 0);
        assert_eq!(refund_seller_portion(p, 2_500, false), 2_500);
        assert_eq!(
            refund_seller_portion(part(10_000, 8_920, 8_000), 2_000, false),
            920
        );
        assert_eq!(
            refund_seller_portion(part(10_000, 8_920, 9_000), 1_000, false),
            0
        );
    }

    #[test]
    fn a_seller_owed_nothing_gives_nothing_back() {
        assert_eq!(refund_seller_portion(part(500, 0, 0), 500, true), 0);
        assert_eq!(refund_seller_portion(part(500, 0, 0), 500, false), 0);
    }

    #[test]
    fn processing_fee_shares_add_up() {
        let shares = processing_fee_shares(350, &[1_000, 2_000, 3_000]).unwrap();
        assert_eq!(shares, vec![58, 117, 175]);
        assert_eq!(shares.iter().sum::<i64>(), 350);
    }

    #[test]
    fn dispute_pieces_follow_what_is_left() {
        // Parts of 6,000 and 4,000 (1,000 of the first refunded); 9,000 disputed.
        let parts = [part(6_000, 5_400, 1_000), part(4_000, 3_600, 0)];
        let pieces = dispute_pieces(9_000, &parts, &[4_500, 3_600]).unwrap();
        assert_eq!(pieces, vec![(5_000, 4_500), (4_000, 3_600)]);
        // Half disputed: half of what each seller holds.
        let pieces = dispute_pieces(4_500, &parts, &[4_500, 3_600]).unwrap();
        assert_eq!(pieces, vec![(2_500, 2_250), (2_000, 1_800)]);
    }

    #[test]
    fn a_seller_who_bears_fees_gives_the_dispute_fee_first_within_what_it_held() {
        // Full dispute: the seller held 8,920 and its share of the amount is
        // all of it; the 1,500 fee comes first, the amount takes the rest.
        assert_eq!(
            seller_dispute_shares(8_920, 1_500, 8_920, true),
            (7_420, 1_500)
        );
        // Partial dispute: both fit.
        assert_eq!(
            seller_dispute_shares(4_460, 1_500, 8_920, true),
            (4_460, 1_500)
        );
        // Holding less than the fee: the fee takes what there is.
        assert_eq!(seller_dispute_shares(900, 1_500, 900, true), (0, 900));
        // A seller who does not bear fees gives only its share of the amount.
        assert_eq!(
            seller_dispute_shares(8_920, 1_500, 8_920, false),
            (8_920, 0)
        );
        // Nothing held, nothing given.
        assert_eq!(seller_dispute_shares(0, 1_500, 0, true), (0, 0));
    }
}
