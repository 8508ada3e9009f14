//! What each fact of an order posts to the ledger (the chart is in the README).
//! Every entry is built here and posted by the function that records the fact,
//! in the same transaction.

use crate::ledger::{Account, NewEntry};
use crate::money::{Currency, Money};

/// One part, as the allocation sees it.
pub struct PartAllocation<'a> {
    pub shop_id: &'a str,
    pub subtotal: i64,
    pub fee: i64,
    pub seller_amount: i64,
}

/// The charge captured: the gross came in, the provider kept its fee.
pub fn charge_captured(
    charge_id: &str,
    order_id: &str,
    gross: Money,
    processing_fee: i64,
) -> NewEntry {
    let fee = Money::new(processing_fee, gross.currency);
    let net = Money::new(gross.minor - processing_fee, gross.currency);
    NewEntry::new(
        format!("charge:{charge_id}"),
        format!("charge captured for order {order_id}"),
    )
    .debit_ref(Account::platform_cash(), net, charge_id)
    .debit(Account::processing_fees(), fee)
    .credit(Account::buyer_clearing(), gross)
}

/// A payment that arrived after its order expired, refunded in full: the
/// charge came in and went back; the provider kept its processing fee.
pub fn late_payment_refunded(
    order_id: &str,
    charge_id: &str,
    provider_refund_id: &str,
    gross: Money,
    processing_fee: i64,
) -> NewEntry {
    let fee = Money::new(processing_fee, gross.currency);
    let net = Money::new(gross.minor - processing_fee, gross.currency);
    NewEntry::new(
        format!("late_payment:{order_id}"),
        format!("late payment {charge_id} for expired order {order_id}, refunded"),
    )
    .debit_ref(Account::platform_cash(), net, charge_id)
    .debit(Account::processing_fees(), fee)
    .credit_ref(Account::platform_cash(), gross, provider_refund_id)
}

/// The order allocated: each seller's amount becomes payable, the platform
/// earns its fees, and processing fees borne by sellers are recovered.
pub fn order_allocated(
    order_id: &str,
    currency: Currency,
    parts: &[PartAllocation<'_>],
) -> NewEntry {
    let money = |minor| Money::new(minor, currency);
    let gross: i64 = parts.iter().map(|p| p.subtotal).sum();
    let mut entry = NewEntry::new(
        format!("allocation:{order_id}"),
        format!("order {order_id} allocated"),
    )
    .debit(Account::buyer_clearing(), money(gross));
    for part in parts {
        let recovered = part.subtotal - part.fee - part.seller_amount;
        entry = entry
            .credit(
                Account::seller_payable(part.shop_id),
                money(part.seller_amount),
            )
            .credit(Account::fee_revenue(), money(part.fee))
            .credit(Account::processing_fees_recovered(), money(recovered));
    }
    entry
}

/// A confirmed movement: ours, the provider's transfer (`tr_`) or reversal
/// (`trr_`), and what it made on the connected account (`py_` / `pyr_`).
pub struct Movement<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub shop_id: &'a str,
    pub provider_id: &'a str,
    pub destination_ref: Option<&'a str>,
}

/// A transfer to a seller's connected account, or a reversal of one.
pub fn movement(m: &Movement<'_>, amount: Money) -> NewEntry {
    let entry = NewEntry::new(
        format!("movement:{}", m.id),
        format!("{} {} for shop {}", m.kind, m.id, m.shop_id),
    );
    let shop_id = m.shop_id;
    // Without the connected account's object (an older provider answer), the
    // memo posting names the transfer: reconciliation then reports it.
    let destination = m.destination_ref.unwrap_or(m.provider_id);
    // The platform's books, and the memo of the seller's side: a transfer's
    // funds arrive pending on its connected account; a reversal takes them
    // from the available balance at once, as the provider does.
    if m.kind == "transfer" {
        entry
            .debit(Account::seller_payable(shop_id), amount)
            .credit_ref(Account::platform_cash(), amount, m.provider_id)
            .debit_ref(
                Account::seller_connected_pending(shop_id),
                amount,
                destination,
            )
            .credit(Account::seller_transferred_in(shop_id), amount)
    } else {
        entry
            .debit_ref(Account::platform_cash(), amount, m.provider_id)
            .credit(Account::seller_payable(shop_id), amount)
            .debit(Account::seller_transferred_in(shop_id), amount)
            .credit_ref(
                Account::seller_connected_balance(shop_id),
                amount,
                destination,
            )
    }
}

/// A refund paid to the buyer: each seller owes back its portion, the platform
/// bears the rest.
pub fn refund(
    refund_id: &str,
    provider_refund_id: &str,
    currency: Currency,
    parts: &[(&str, i64, i64)],
) -> NewEntry {
    let money = |minor| Money::new(minor, currency);
    let total: i64 = parts.iter().map(|(_, amount, _)| amount).sum();
    let mut entry = NewEntry::new(format!("refund:{refund_id}"), format!("refund {refund_id}"))
        .credit_ref(Account::platform_cash(), money(total), provider_refund_id);
    for (shop_id, amount, seller_portion) in parts {
        entry = entry
            .debit(Account::seller_payable(shop_id), money(*seller_portion))
            .debit(Account::refunds_borne(), money(amount - seller_portion));
    }
    entry
}

/// A refund made outside Bazaar (in the provider's dashboard): the platform
/// bears it until an operator decides otherwise.
pub fn outside_refund(refund_id: &str, provider_refund_id: &str, amount: Money) -> NewEntry {
    NewEntry::new(
        format!("refund:{refund_id}"),
        format!("refund {provider_refund_id} made outside Bazaar"),
    )
    .debit(Account::refunds_borne(), amount)
    .credit_ref(Account::platform_cash(), amount, provider_refund_id)
}

/// What a dispute took from one part's seller.
pub struct DisputedPart<'a> {
    pub shop_id: &'a str,
    /// The seller's share of the disputed amount.
    pub amount: i64,
    /// The seller's share of the dispute fee (by its fee rule).
    pub fee: i64,
}

/// The provider withdrew the disputed amount; sellers owe back their shares.
pub fn dispute_opened(dispute_id: &str, disputed: Money, parts: &[DisputedPart<'_>]) -> NewEntry {
    let money = |minor| Money::new(minor, disputed.currency);
    let recovered: i64 = parts.iter().map(|p| p.amount).sum();
    let mut entry = NewEntry::new(
        format!("dispute_opened:{dispute_id}"),
        format!("dispute {dispute_id} opened"),
    )
    .credit_ref(Account::platform_cash(), disputed, dispute_id)
    .debit(Account::disputes_open(), money(disputed.minor - recovered));
    for part in parts {
        entry = entry.debit(Account::seller_payable(part.shop_id), money(part.amount));
    }
    entry
}

/// The provider withdrew the dispute fee; sellers who bear fees owe back theirs.
pub fn dispute_fee(dispute_id: &str, fee: Money, parts: &[DisputedPart<'_>]) -> NewEntry {
    let money = |minor| Money::new(minor, fee.currency);
    let mut entry = NewEntry::new(
        format!("dispute_fee:{dispute_id}"),
        format!("dispute {dispute_id} fee"),
    )
    .credit_ref(Account::platform_cash(), fee, dispute_id)
    .debit(Account::dispute_fees(), fee);
    for part in parts {
        entry = entry
            .debit(Account::seller_payable(part.shop_id), money(part.fee))
            .credit(Account::dispute_fees(), money(part.fee));
    }
    entry
}

/// Won: the provider gave back the disputed amount (and `fee_returned`); the
/// sellers are owed again what they gave.
pub fn dispute_won(
    dispute_id: &str,
    disputed: Money,
    fee_returned: i64,
    parts: &[DisputedPart<'_>],
) -> NewEntry {
    let money = |minor| Money::new(minor, disputed.currency);
    let recovered: i64 = parts.iter().map(|p| p.amount).sum();
    let mut entry = NewEntry::new(
        format!("dispute_won:{dispute_id}"),
        format!("dispute {dispute_id} won"),
    )
    .debit_ref(
        Account::platform_cash(),
        money(disputed.minor + fee_returned),
        dispute_id,
    )
    .credit(Account::disputes_open(), money(disputed.minor - recovered))
    .credit(Account::dispute_fees(), money(fee_returned));
    for part in parts {
        entry = entry
            .credit(
                Account::seller_payable(part.shop_id),
                money(part.amount + part.fee),
            )
            .debit(Account::dispute_fees(), money(part.fee));
    }
    entry
}

/// Lost: what sellers did not give back is the platform's loss.
pub fn dispute_lost(dispute_id: &str, disputed: Money, parts: &[DisputedPart<'_>]) -> NewEntry {
    let recovered: i64 = parts.iter().map(|p| p.amount).sum();
    let loss = Money::new(disputed.minor - recovered, disputed.currency);
    NewEntry::new(
        format!("dispute_lost:{dispute_id}"),
        format!("dispute {dispute_id} lost"),
    )
    .debit(Account::dispute_losses(), loss)
    .credit(Account::disputes_open(), loss)
}
