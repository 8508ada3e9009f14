//! What each email says: one type per template, filled in by the capability
//! whose change causes the email, in that change's transaction.
//!
//! Amounts arrive already formatted (`12.34 USD`, from `Money`'s `Display`):
//! the templates never do arithmetic, so an email can only show the numbers
//! the books hold.

use serde::{Deserialize, Serialize};

/// One product line of an order, as an email shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineItem {
    pub title: String,
    pub sku: String,
    pub quantity: i64,
    pub unit_price: String,
    pub amount: String,
}

/// One shop's lines of an order and their subtotal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopLines {
    pub shop_name: String,
    pub lines: Vec<LineItem>,
    /// The shop's shipping, included in `subtotal`; `None` when it is free.
    #[serde(default)]
    pub shipping: Option<String>,
    pub subtotal: String,
}

/// To the buyer, when the order is paid.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderConfirmation {
    pub order_id: String,
    pub shops: Vec<ShopLines>,
    pub total: String,
    /// The shipping address, one line per element.
    pub ship_to: Vec<String>,
}

/// To a seller, when an order with its lines is paid: only its own lines.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SellerNewOrder {
    pub order_id: String,
    pub shop_name: String,
    pub lines: Vec<LineItem>,
    pub subtotal: String,
    pub platform_fee: String,
    /// What the shop is owed for the part, after fees.
    pub seller_amount: String,
    pub ship_to: Vec<String>,
    /// The part's shipping, included in `subtotal`; `None` when it is free.
    #[serde(default)]
    pub shipping: Option<String>,
    /// The deadline to ship by (`None` for parts sold before deadlines).
    #[serde(default)]
    pub ship_by: Option<String>,
}

/// To the buyer, when a refund succeeded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundIssued {
    pub order_id: String,
    pub refund_id: String,
    pub amount: String,
    pub refunded_total: String,
    pub order_total: String,
}

/// To a seller, about one payout of its connected account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayoutNotice {
    pub shop_name: String,
    pub payout_id: String,
    pub amount: String,
    /// The expected (paid) or planned (failed) arrival, as a date.
    pub arrival_date: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// What the seller must do, for a failed payout.
    pub action: Option<String>,
}

/// To a seller whose shop cannot sell until onboarding is finished again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopNotice {
    pub shop_id: String,
    pub shop_name: String,
    /// The connected account a fresh onboarding link is made for when sending.
    pub account_id: String,
    /// What the provider still needs, as it names it (`external_account`, …).
    pub requirements: Vec<String>,
    pub disabled_reason: Option<String>,
}

/// To an account's owner whose password someone keeps getting wrong.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignInAttempts {
    /// Failed sign-ins inside the window, from every address.
    pub failures: i64,
    pub window_minutes: i64,
    /// The client address of the latest one.
    pub last_address: String,
    /// Whether the account asks for a second factor (then no one is let in
    /// with the password alone).
    pub has_second_factor: bool,
}

/// An email carrying a single-use link for the account (verify the address,
/// reset the password). The link's token is made when the email is sent, so
/// the outbox never holds it (see [`super::Notifier`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountLink {
    pub user_id: String,
    /// Where the storefront goes after the address is verified (a local path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// To an address that already has an account, when someone signs up with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountExists {
    /// The client address the sign-up came from.
    pub from_address: String,
}

/// To an account's owner after its password changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordChanged {
    /// `changed` (signed in) or `reset` (by an emailed link).
    pub how: String,
    /// The client address the change came from.
    pub from_address: String,
    /// Other sessions that were signed out.
    pub sessions_ended: i64,
}

/// Some units of one product line: a parcel's or a return's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineCount {
    pub title: String,
    pub sku: String,
    pub quantity: i64,
}

/// To the buyer, when a parcel of one shop's items left.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartShipped {
    pub order_id: String,
    pub shop_name: String,
    /// What the parcel holds.
    pub lines: Vec<LineCount>,
    pub carrier: String,
    pub tracking_number: String,
    /// Where to follow the parcel (`None`: the carrier gave no link).
    pub tracking_url: Option<String>,
    /// Whether more of the shop's items will come in another parcel.
    pub more_to_follow: bool,
}

/// To the buyer, when a shop's parcels arrived or count as arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartDelivered {
    pub order_id: String,
    pub shop_name: String,
    /// When it was marked delivered, as a date and time.
    pub delivered_at: String,
    /// Nobody confirmed it: it counts as delivered `automatic_after_days`
    /// days after it shipped.
    pub automatic: bool,
    pub automatic_after_days: i64,
    /// Days after delivery the buyer may ask for a return (0: the shop takes
    /// no returns).
    pub return_window_days: i64,
    /// The last moment to ask for a return (`None` when no returns).
    pub return_until: Option<String>,
    /// Where the shop answers buyers.
    pub shop_email: String,
}

/// To the buyer and to the seller, when a shop's part of an order was
/// cancelled before it shipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartCanceled {
    pub order_id: String,
    pub shop_name: String,
    /// The units that will not ship.
    pub lines: Vec<LineCount>,
    pub reason: String,
    /// The part had passed its ship-by date unshipped.
    pub late: bool,
    /// The buyer cancelled it (a late part is theirs to cancel).
    pub by_buyer: bool,
    pub ship_by: Option<String>,
    /// What the cancellation refunds: everything left of the part, shipping
    /// included (`None`: everything was refunded before).
    pub refund: Option<String>,
    /// What earlier refunds gave back of the part (`None`: nothing).
    pub refunded_before: Option<String>,
    /// What the buyer paid for the part, shipping included.
    pub paid: String,
}

/// To the seller, about a part with units still to ship by its ship-by date:
/// the date is near (`PartShipSoon`) or passed (`PartLate`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnshippedPart {
    pub order_id: String,
    pub shop_name: String,
    pub ship_by: String,
    /// The units still to ship.
    pub lines: Vec<LineCount>,
    pub ship_to: Vec<String>,
}

/// To the seller, when a refund takes money back from its share of an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SellerRefund {
    pub order_id: String,
    pub refund_id: String,
    pub shop_name: String,
    /// What the buyer got back of the shop's part, shipping included.
    pub amount: String,
    /// What of that comes out of the seller's share (the rest was the
    /// platform's fee).
    pub seller_share: String,
}

/// To the seller, when a dispute of an order's payment takes money back
/// from its share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DisputeOpened {
    pub order_id: String,
    pub dispute_id: String,
    pub shop_name: String,
    /// What the buyer disputed, of the whole order.
    pub disputed: String,
    /// What is taken back from the seller's share, the fee included.
    pub taken: String,
    /// Of `taken`, the provider's dispute fee (`None`: the platform bears it).
    pub fee: Option<String>,
}

/// To the seller, when a dispute that took money back from it is decided.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DisputeClosed {
    pub order_id: String,
    pub dispute_id: String,
    pub shop_name: String,
    /// Won: what was taken is given back; lost: it stays taken.
    pub won: bool,
    /// What the dispute took from the seller's share.
    pub taken: String,
}

/// To a webhook endpoint's owner: it was disabled (410 Gone, or failing
/// for days) and receives nothing until enabled again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEndpointDisabled {
    pub endpoint_id: String,
    pub url: String,
    /// The shop whose events it received; `None`: platform-wide.
    pub shop_id: Option<String>,
    pub reason: String,
}

/// About one return, to the buyer or to the seller as it moves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReturnNotice {
    pub order_id: String,
    pub return_id: String,
    pub shop_name: String,
    /// Where the shop answers buyers.
    pub shop_email: String,
    /// The units to return.
    pub lines: Vec<LineCount>,
    /// The buyer's reason.
    pub reason: String,
    /// The seller's reason, for a refused return.
    pub refusal_reason: Option<String>,
    /// Where to send the items, one line per element (approved).
    pub return_address: Vec<String>,
    /// The parcel back (shipped back).
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
}

/// An email to queue: which template, to whom, with what.
#[derive(Debug, Clone)]
pub enum Message {
    OrderConfirmation(OrderConfirmation),
    SellerNewOrder(SellerNewOrder),
    RefundIssued(RefundIssued),
    PayoutPaid(PayoutNotice),
    PayoutFailed(PayoutNotice),
    /// Onboarding has requirements due again after the shop could sell.
    OnboardingIncomplete(ShopNotice),
    /// The provider disabled the account.
    AccountRestricted(ShopNotice),
    /// Someone failed to sign in to the account repeatedly.
    SignInAttempts(SignInAttempts),
    /// To the buyer: a parcel left.
    PartShipped(PartShipped),
    /// To the buyer: a shop's parcels arrived.
    PartDelivered(PartDelivered),
    /// To the buyer: a shop's part was cancelled, and what is refunded.
    PartCanceled(PartCanceled),
    /// To the seller: its part was cancelled, and why.
    SellerPartCanceled(PartCanceled),
    /// To the seller: its part is past its ship-by date.
    PartLate(UnshippedPart),
    /// To the seller: its part's ship-by date is near.
    PartShipSoon(UnshippedPart),
    /// To the seller: a refund takes money back from its share.
    SellerRefund(SellerRefund),
    /// To the seller: a dispute takes money back from its share.
    DisputeOpened(DisputeOpened),
    /// To the seller: a dispute that took from its share is decided.
    DisputeClosed(DisputeClosed),
    /// To the seller: the buyer asks to return lines.
    ReturnRequested(ReturnNotice),
    /// To the buyer: the receipt of their return request.
    ReturnReceipt(ReturnNotice),
    /// To the buyer: the return is approved, with where to send the items.
    ReturnApproved(ReturnNotice),
    /// To the buyer: the return is refused, with the seller's reason.
    ReturnRefused(ReturnNotice),
    /// To the seller: the buyer sent the items back.
    ReturnShippedBack(ReturnNotice),
    /// To the buyer: the shop received the items; the refund follows.
    ReturnReceived(ReturnNotice),
    /// To a new account: the link that verifies its address.
    VerifyEmail(AccountLink),
    /// To an account's owner who asked: the link that sets a new password.
    ResetPassword(AccountLink),
    /// To an account's owner: someone signed up with this address.
    AccountExists(AccountExists),
    /// To an account's owner: the password changed.
    PasswordChanged(PasswordChanged),
    /// To a webhook endpoint's owner: it was disabled.
    WebhookEndpointDisabled(WebhookEndpointDisabled),
}

impl Message {
    /// The template's name (the files `templates/emails/{name}.*`), as the
    /// outbox stores it.
    pub fn template(&self) -> &'static str {
        match self {
            Self::OrderConfirmation(_) => "order_confirmation",
            Self::SellerNewOrder(_) => "seller_new_order",
            Self::RefundIssued(_) => "refund_issued",
            Self::PayoutPaid(_) => "payout_paid",
            Self::PayoutFailed(_) => "payout_failed",
            Self::OnboardingIncomplete(_) => "onboarding_incomplete",
            Self::AccountRestricted(_) => "account_restricted",
            Self::SignInAttempts(_) => "sign_in_attempts",
            Self::PartShipped(_) => "part_shipped",
            Self::PartDelivered(_) => "part_delivered",
            Self::PartCanceled(_) => "part_canceled",
            Self::SellerPartCanceled(_) => "seller_part_canceled",
            Self::PartLate(_) => "part_late",
            Self::PartShipSoon(_) => "part_ship_soon",
            Self::SellerRefund(_) => "seller_refund",
            Self::DisputeOpened(_) => "dispute_opened",
            Self::DisputeClosed(_) => "dispute_closed",
            Self::ReturnRequested(_) => "return_requested",
            Self::ReturnReceipt(_) => "return_receipt",
            Self::ReturnApproved(_) => "return_approved",
            Self::ReturnRefused(_) => "return_refused",
            Self::ReturnShippedBack(_) => "return_shipped_back",
            Self::ReturnReceived(_) => "return_received",
            Self::VerifyEmail(_) => "verify_email",
            Self::ResetPassword(_) => "reset_password",
            Self::AccountExists(_) => "account_exists",
            Self::PasswordChanged(_) => "password_changed",
            Self::WebhookEndpointDisabled(_) => "webhook_endpoint_disabled",
        }
    }

    /// The template's data, as the outbox stores it (read back by
    /// [`Message::from_stored`]).
    pub fn data(&self) -> serde_json::Value {
        let value = match self {
            Self::OrderConfirmation(d) => serde_json::to_value(d),
            Self::SellerNewOrder(d) => serde_json::to_value(d),
            Self::RefundIssued(d) => serde_json::to_value(d),
            Self::PayoutPaid(d) | Self::PayoutFailed(d) => serde_json::to_value(d),
            Self::OnboardingIncomplete(d) | Self::AccountRestricted(d) => serde_json::to_value(d),
            Self::SignInAttempts(d) => serde_json::to_value(d),
            Self::PartShipped(d) => serde_json::to_value(d),
            Self::PartDelivered(d) => serde_json::to_value(d),
            Self::PartCanceled(d) | Self::SellerPartCanceled(d) => serde_json::to_value(d),
            Self::PartLate(d) => serde_json::to_value(d),
            Self::PartShipSoon(d) => serde_json::to_value(d),
            Self::SellerRefund(d) => serde_json::to_value(d),
            Self::DisputeOpened(d) => serde_json::to_value(d),
            Self::DisputeClosed(d) => serde_json::to_value(d),
            Self::ReturnRequested(d)
            | Self::ReturnReceipt(d)
            | Self::ReturnApproved(d)
            | Self::ReturnRefused(d)
            | Self::ReturnShippedBack(d)
            | Self::ReturnReceived(d) => serde_json::to_value(d),
            Self::VerifyEmail(d) | Self::ResetPassword(d) => serde_json::to_value(d),
            Self::AccountExists(d) => serde_json::to_value(d),
            Self::PasswordChanged(d) => serde_json::to_value(d),
            Self::WebhookEndpointDisabled(d) => serde_json::to_value(d),
        };
        value.expect("plain structs of strings serialize")
    }

    /// The message an outbox row holds: its template's name and its data as
    /// [`Message::data`] wrote it.
    ///
    /// # Errors
    /// The template is unknown, or the data does not fit its message (a
    /// field missing or of another type).
    pub fn from_stored(template: &str, data: &str) -> anyhow::Result<Self> {
        fn read<T: serde::de::DeserializeOwned>(data: &str) -> anyhow::Result<T> {
            Ok(serde_json::from_str(data)?)
        }
        Ok(match template {
            "order_confirmation" => Self::OrderConfirmation(read(data)?),
            "seller_new_order" => Self::SellerNewOrder(read(data)?),
            "refund_issued" => Self::RefundIssued(read(data)?),
            "payout_paid" => Self::PayoutPaid(read(data)?),
            "payout_failed" => Self::PayoutFailed(read(data)?),
            "onboarding_incomplete" => Self::OnboardingIncomplete(read(data)?),
            "account_restricted" => Self::AccountRestricted(read(data)?),
            "sign_in_attempts" => Self::SignInAttempts(read(data)?),
            "part_shipped" => Self::PartShipped(read(data)?),
            "part_delivered" => Self::PartDelivered(read(data)?),
            "part_canceled" => Self::PartCanceled(read(data)?),
            "seller_part_canceled" => Self::SellerPartCanceled(read(data)?),
            "part_late" => Self::PartLate(read(data)?),
            "part_ship_soon" => Self::PartShipSoon(read(data)?),
            "seller_refund" => Self::SellerRefund(read(data)?),
            "dispute_opened" => Self::DisputeOpened(read(data)?),
            "dispute_closed" => Self::DisputeClosed(read(data)?),
            "return_requested" => Self::ReturnRequested(read(data)?),
            "return_receipt" => Self::ReturnReceipt(read(data)?),
            "return_approved" => Self::ReturnApproved(read(data)?),
            "return_refused" => Self::ReturnRefused(read(data)?),
            "return_shipped_back" => Self::ReturnShippedBack(read(data)?),
            "return_received" => Self::ReturnReceived(read(data)?),
            "verify_email" => Self::VerifyEmail(read(data)?),
            "reset_password" => Self::ResetPassword(read(data)?),
            "account_exists" => Self::AccountExists(read(data)?),
            "password_changed" => Self::PasswordChanged(read(data)?),
            "webhook_endpoint_disabled" => Self::WebhookEndpointDisabled(read(data)?),
            other => anyhow::bail!("unknown email template {other:?}"),
        })
    }

    /// The connected account whose fresh onboarding link the email carries,
    /// made when sending (links expire within minutes, so one made at the
    /// change would be dead); `None` for emails without one.
    pub fn onboarding_account(&self) -> Option<&str> {
        match self {
            Self::OnboardingIncomplete(shop) | Self::AccountRestricted(shop) => {
                Some(&shop.account_id)
            }
            _ => None,
        }
    }

    /// The account whose single-use link the email carries, and the link's
    /// purpose (`verify_email`, `reset_password`); `None` for the others.
    pub fn account_link(&self) -> Option<(&AccountLink, &'static str)> {
        match self {
            Self::VerifyEmail(link) => Some((link, "verify_email")),
            Self::ResetPassword(link) => Some((link, "reset_password")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_message_reads_back() {
        let message = Message::PayoutFailed(PayoutNotice {
            shop_name: "Acme".into(),
            payout_id: "po_1".into(),
            amount: "1.00 USD".into(),
            arrival_date: "2026-12-02".into(),
            failure_code: Some("account_closed".into()),
            failure_message: None,
            action: Some("update the bank account".into()),
        });
        let stored = message.data().to_string();
        let read = Message::from_stored(message.template(), &stored).unwrap();
        assert!(matches!(read, Message::PayoutFailed(_)));
        assert_eq!(read.data(), message.data());
    }

    #[test]
    fn stored_data_that_does_not_fit_is_an_error() {
        let missing = serde_json::json!({"order_id": "ord_1"}).to_string();
        let error = Message::from_stored("refund_issued", &missing).unwrap_err();
        assert!(format!("{error:#}").contains("missing field"), "{error:#}");
        assert!(Message::from_stored("no_such_email", "{}").is_err());
    }

    #[test]
    fn only_shop_notices_carry_an_onboarding_link() {
        let notice = ShopNotice {
            shop_id: "shop_1".into(),
            shop_name: "Acme".into(),
            account_id: "acct_1".into(),
            requirements: vec![],
            disabled_reason: None,
        };
        let message = Message::AccountRestricted(notice);
        assert_eq!(message.onboarding_account(), Some("acct_1"));
        let refund = Message::RefundIssued(RefundIssued {
            order_id: "ord_1".into(),
            refund_id: "re_1".into(),
            amount: "1.00 USD".into(),
            refunded_total: "1.00 USD".into(),
            order_total: "3.00 USD".into(),
        });
        assert_eq!(refund.onboarding_account(), None);
    }
}
