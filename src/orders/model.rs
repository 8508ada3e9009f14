//! The orders module's types: validated requests, orders as stored, and the
//! JSON shapes buyers, sellers and staff see.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AppError;
pub use crate::http::idempotency_key;
use crate::http::text::{display_unfit, unfit_message, Lines};
use crate::money::Money;

/// Most lines one cart (and so one order) may hold.
pub const CART_LINES_MAX: i64 = 50;
/// Longest free-text refund reason.
pub const REASON_CHARS_MAX: usize = 500;
/// Longest field of a shipping address.
pub const ADDRESS_FIELD_CHARS_MAX: usize = 200;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stock is reserved; the buyer has not paid yet.
    AwaitingPayment,
    /// The payment succeeded; the sellers' shares are routed.
    Paid,
    /// Not paid in time: stock released, PaymentIntent cancelled.
    Expired,
    /// The provider refused the checkout: stock released.
    Canceled,
}

impl OrderStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::Paid => "paid",
            Self::Expired => "expired",
            Self::Canceled => "canceled",
        }
    }

    /// Parses a stored or queried name.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::AwaitingPayment,
            Self::Paid,
            Self::Expired,
            Self::Canceled,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// Longest payment method id accepted.
pub const PAYMENT_METHOD_CHARS_MAX: usize = 100;

/// A payment method id as the provider names them (`pm_card_visa`, `pm_1Q…`).
///
/// # Errors
/// 422 `invalid_value` (param `payment_method`).
pub fn parse_payment_method(value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.len() <= PAYMENT_METHOD_CHARS_MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(AppError::unprocessable(
            "invalid_value",
            "payment_method is a payment method id such as pm_card_visa",
            Some("payment_method".into()),
        ))
    }
}

fn invalid(param: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
}

/// A stable hash of a request, to tell a replay from another request under the same key.
pub fn request_hash<T: Serialize>(request: &T) -> String {
    let canonical = serde_json::to_vec(request).expect("requests serialize");
    hex::encode(Sha256::digest(canonical))
}

/// A shipping address as the buyer sends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Shipping {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country: String,
}

impl Shipping {
    /// Trims and checks every field.
    ///
    /// # Errors
    /// 422 `invalid_value` naming the field (`shipping.city`, …).
    pub fn parse(mut self) -> Result<Self, AppError> {
        let check = |field: &str, value: &mut String, required: bool| {
            *value = value.trim().to_owned();
            let chars = value.chars().count();
            if (required && chars == 0)
                || chars > ADDRESS_FIELD_CHARS_MAX
                || display_unfit(value, Lines::Single).is_some()
            {
                return Err(invalid(
                    &format!("shipping.{field}"),
                    format!("shipping.{field} is 1 to {ADDRESS_FIELD_CHARS_MAX} characters without control, format or line separator characters"),
                ));
            }
            Ok(())
        };
        check("name", &mut self.name, true)?;
        check("line1", &mut self.line1, true)?;
        if let Some(line2) = self.line2.as_mut() {
            check("line2", line2, false)?;
        }
        self.line2 = self.line2.filter(|l| !l.is_empty());
        check("city", &mut self.city, true)?;
        check("postal_code", &mut self.postal_code, true)?;
        self.country = self.country.trim().to_ascii_uppercase();
        if self.country.len() != 2 || !self.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid(
                "shipping.country",
                "shipping.country is an ISO 3166-1 alpha-2 code such as US",
            ));
        }
        Ok(self)
    }
}

/// `POST /v1/checkout`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub shipping: Shipping,
    /// Confirm at once with this payment method (a saved card, or a test
    /// method such as `pm_card_visa` in the sandbox). Without it, the buyer's
    /// browser confirms with the returned `client_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// The total the buyer saw, in minor units of the cart's currency. When
    /// prices changed since, nothing is ordered: 409 `price_changed` with the
    /// new total.
    #[serde(
        default,
        alias = "expected_total",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_total_minor: Option<i64>,
}

impl CheckoutRequest {
    /// Checks the request.
    ///
    /// # Errors
    /// 422 `invalid_value` naming the field.
    pub fn parse(mut self) -> Result<Self, AppError> {
        self.shipping = self.shipping.parse()?;
        self.payment_method = self
            .payment_method
            .as_deref()
            .map(parse_payment_method)
            .transpose()?;
        Ok(self)
    }
}

/// One line of a refund request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLineRequest {
    pub line_id: String,
    pub quantity: i64,
}

/// `POST /v1/orders/{id}/refunds`: by lines and quantities, or by an amount
/// on one part.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<RefundLineRequest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    /// Put the refunded units back into stock (line refunds only).
    #[serde(default)]
    pub restock: bool,
    /// Also refund what is left of the shipping of each part the lines
    /// belong to (line refunds only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shipping: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a refund request asks for, validated in shape (amounts are checked
/// against the order when it is reserved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundTarget {
    /// Units of lines, each at its snapshot unit price, and with `shipping`
    /// what is left of their parts' shipping.
    Lines {
        lines: Vec<(String, i64)>,
        shipping: bool,
    },
    /// An amount off one part.
    Amount { part_id: String, amount_minor: i64 },
}

impl RefundRequest {
    /// Splits the request into its target, restock flag and reason.
    ///
    /// # Errors
    /// 422 `invalid_value` naming the field.
    pub fn parse(&self) -> Result<(RefundTarget, bool, Option<String>), AppError> {
        let reason = self
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > REASON_CHARS_MAX)
        {
            return Err(invalid(
                "reason",
                format!("reason is at most {REASON_CHARS_MAX} characters"),
            ));
        }
        if let Some(c) = reason
            .as_deref()
            .and_then(|r| display_unfit(r, Lines::Single))
        {
            return Err(invalid("reason", unfit_message("reason", c)));
        }
        let target = match (&self.lines, &self.part_id, self.amount_minor) {
            (Some(lines), None, None) => {
                if lines.is_empty() || lines.len() > CART_LINES_MAX as usize {
                    return Err(invalid(
                        "lines",
                        format!("lines lists 1 to {CART_LINES_MAX} lines"),
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                for (i, line) in lines.iter().enumerate() {
                    if !(1..=crate::catalog::QUANTITY_MAX).contains(&line.quantity) {
                        return Err(invalid(
                            &format!("lines[{i}].quantity"),
                            format!("quantity is 1 to {}", crate::catalog::QUANTITY_MAX),
                        ));
                    }
                    if !seen.insert(line.line_id.as_str()) {
                        return Err(invalid(
                            &format!("lines[{i}].line_id"),
                            "a line is listed twice",
                        ));
                    }
                }
                RefundTarget::Lines {
                    lines: lines
                        .iter()
                        .map(|l| (l.line_id.clone(), l.quantity))
                        .collect(),
                    shipping: self.shipping,
                }
            }
            (None, Some(part_id), Some(amount_minor)) => {
                if amount_minor <= 0 {
                    return Err(invalid("amount_minor", "amount_minor is positive"));
                }
                if self.shipping {
                    return Err(invalid(
                        "shipping",
                        "shipping applies to refunds by lines; an amount refund names its amount",
                    ));
                }
                if self.restock {
                    return Err(invalid(
                        "restock",
                        "restock applies to refunds by lines, not by amount",
                    ));
                }
                RefundTarget::Amount {
                    part_id: part_id.clone(),
                    amount_minor,
                }
            }
            _ => {
                return Err(invalid(
                    "lines",
                    "refund either `lines` (line_id and quantity each) or `part_id` with `amount_minor`",
                ))
            }
        };
        Ok((target, self.restock, reason))
    }
}

/// What the buyer, seller and staff read of an order line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineView {
    pub id: String,
    pub product_id: String,
    pub sku: String,
    pub title: String,
    pub category: String,
    pub unit_price: Money,
    pub quantity: i64,
    pub amount: Money,
    pub refunded_quantity: i64,
    /// Units sent in the part's shipments so far.
    pub shipped_quantity: i64,
}

/// Where a part's money to its seller stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartSettlementView {
    /// `awaiting_payment`, `held`, `in_progress` or `settled`.
    pub status: &'static str,
    /// What the seller is owed now: seller amount − refunds and disputes taken
    /// back. Negative when refunds took back more than the seller received (a
    /// processing fee the seller bears on refunds): see `owes_back`.
    pub owed: Money,
    /// Transferred to the seller's connected account, net of reversals; it
    /// converges on `owed`, or on 0 when `owed` is negative.
    pub transferred: Money,
    /// What the seller owes the platform for this part beyond what could be
    /// reversed (−`owed` when negative, else 0): a receivable, recovered from
    /// the shop's later sales or by its operator.
    pub owes_back: Money,
    pub hold_reason: Option<String>,
}

/// One shop's part of an order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartView {
    pub id: String,
    pub shop_id: String,
    /// The shop's name, as buyers see it.
    pub shop_name: String,
    /// For the buyer: the order's status, or `refunded` /
    /// `partially_refunded` once money of this part came back.
    pub status: &'static str,
    /// What the buyer pays for the part: `items` + `shipping`.
    pub subtotal: Money,
    /// What the part's lines come to.
    pub items: Money,
    /// The part's shipping (the seller's, like the items).
    pub shipping: Money,
    /// The platform's fee on the part.
    pub fee: Money,
    pub fee_rule_version_id: String,
    /// `platform` or `seller`.
    pub processing_fee_payer: String,
    pub refund_fee_proportionally: bool,
    /// Who bears the processing fee the provider keeps when the part is
    /// refunded: `platform` or `seller`.
    pub kept_processing_fee_payer: String,
    /// The part's place in the order (the cart's order of its shops): largest-
    /// remainder ties go to the earlier part.
    pub position: i32,
    /// This part's share of the provider's processing fee (set when paid).
    pub processing_fee: Money,
    /// What the seller is owed for the part (set when paid).
    pub seller_amount: Money,
    pub refunded: Money,
    pub settlement: PartSettlementView,
    pub fulfilment: PartFulfilmentView,
    pub lines: Vec<LineView>,
}

/// Where a part's parcels stand, and when its seller's share is released.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartFulfilmentView {
    /// `unfulfilled`, `partially_shipped`, `shipped`, `delivered` or `canceled`.
    pub status: String,
    /// The seller ships by then (payment + the shop's handling days).
    pub ship_by: Option<String>,
    /// Whether the ship-by date passed with units unshipped, as the sweep
    /// found (the buyer may then cancel the part).
    pub late: bool,
    pub shipped_at: Option<String>,
    pub delivered_at: Option<String>,
    /// `seller`, `buyer`, `staff` or `automatic` (`release_after_days` after shipment).
    pub delivered_by: Option<String>,
    /// `on_payment`, `on_shipment` or `on_delivery`.
    pub release_policy: String,
    /// Days after shipment a part nobody confirmed counts as delivered.
    pub release_after_days: i32,
    /// From then on the seller's share may be transferred; `None`: the
    /// platform holds it.
    pub released_at: Option<String>,
    pub canceled_at: Option<String>,
    pub cancel_reason: Option<String>,
}

/// The payment side of an order, for its buyer and staff.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    pub intent_id: Option<String>,
    /// Hand this to the provider's payment element in the browser.
    pub client_secret: Option<String>,
    pub status: Option<String>,
    pub last_error: Option<String>,
    pub charge_id: Option<String>,
    pub processing_fee: Option<Money>,
}

/// A refund as shown on its order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundView {
    pub id: String,
    pub order_id: String,
    pub amount: Money,
    pub status: String,
    pub reason: Option<String>,
    pub restock: bool,
    pub provider_refund_id: Option<String>,
    pub failure_message: Option<String>,
    /// Per part: what the buyer got back, and the seller's portion of it.
    pub parts: Vec<RefundPartView>,
    pub lines: Vec<RefundLineView>,
    pub created_at: String,
}

/// One part's share of a refund.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundPartView {
    pub part_id: String,
    pub amount: Money,
    pub seller_portion: Money,
    pub platform_portion: Money,
}

/// Units of one line in a refund.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefundLineView {
    pub line_id: String,
    pub quantity: i64,
}

/// A dispute on an order's charge.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DisputeView {
    pub id: String,
    pub amount: Money,
    pub fee: Money,
    pub provider_status: String,
    /// `open`, `won` or `lost`.
    pub outcome: String,
    /// When the provider wants the platform's evidence (RFC 3339), if it said.
    pub evidence_due_by: Option<String>,
}

/// An order as its buyer and staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: String,
    pub status: OrderStatus,
    pub cancel_reason: Option<String>,
    pub buyer_user_id: String,
    pub buyer_email: String,
    pub total: Money,
    pub refunded: Money,
    pub shipping: Shipping,
    pub payment: PaymentView,
    pub parts: Vec<PartView>,
    pub refunds: Vec<RefundView>,
    pub disputes: Vec<DisputeView>,
    /// Whether a dispute is open on the order's charge.
    pub disputed: bool,
    pub late_payment_refund_id: Option<String>,
    pub expires_at: String,
    pub paid_at: Option<String>,
    pub created_at: String,
}

/// An order as its buyer sees it: lines, totals, refunds and statuses; not
/// the sellers' fees, processing fees, payout amounts or transfers. Every
/// field is also in [`OrderView`], with the same meaning.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BuyerOrderView {
    pub id: String,
    pub status: OrderStatus,
    pub cancel_reason: Option<String>,
    pub buyer_user_id: String,
    pub buyer_email: String,
    pub total: Money,
    pub refunded: Money,
    pub shipping: Shipping,
    pub payment: BuyerPaymentView,
    pub parts: Vec<BuyerPartView>,
    pub refunds: Vec<BuyerRefundView>,
    pub expires_at: String,
    pub paid_at: Option<String>,
    pub created_at: String,
}

/// The payment of an order, for its buyer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BuyerPaymentView {
    /// The PaymentIntent the buyer pays through.
    pub intent_id: Option<String>,
    /// Hand this to the provider's payment element in the browser.
    pub client_secret: Option<String>,
    pub status: Option<String>,
    /// Why the last attempt failed (a declined card), if it did.
    pub last_error: Option<String>,
}

/// One shop's part of an order, for the buyer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BuyerPartView {
    pub id: String,
    pub shop_id: String,
    pub shop_name: String,
    /// The order's status, or `refunded` / `partially_refunded`.
    pub status: &'static str,
    /// What the buyer pays for the part: `items` + `shipping`.
    pub subtotal: Money,
    /// What the part's lines come to.
    pub items: Money,
    /// The part's shipping.
    pub shipping: Money,
    pub refunded: Money,
    pub fulfilment: PartFulfilmentView,
    pub lines: Vec<LineView>,
}

/// A refund of the buyer's order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BuyerRefundView {
    pub id: String,
    pub order_id: String,
    pub amount: Money,
    pub status: String,
    pub reason: Option<String>,
    pub lines: Vec<RefundLineView>,
    pub created_at: String,
}

impl From<OrderView> for BuyerOrderView {
    fn from(order: OrderView) -> Self {
        Self {
            id: order.id,
            status: order.status,
            cancel_reason: order.cancel_reason,
            buyer_user_id: order.buyer_user_id,
            buyer_email: order.buyer_email,
            total: order.total,
            refunded: order.refunded,
            shipping: order.shipping,
            payment: BuyerPaymentView {
                intent_id: order.payment.intent_id,
                client_secret: order.payment.client_secret,
                status: order.payment.status,
                last_error: order.payment.last_error,
            },
            parts: order
                .parts
                .into_iter()
                .map(|part| BuyerPartView {
                    id: part.id,
                    shop_id: part.shop_id,
                    shop_name: part.shop_name,
                    status: part.status,
                    subtotal: part.subtotal,
                    items: part.items,
                    shipping: part.shipping,
                    refunded: part.refunded,
                    fulfilment: part.fulfilment,
                    lines: part.lines,
                })
                .collect(),
            refunds: order
                .refunds
                .into_iter()
                .map(|refund| BuyerRefundView {
                    id: refund.id,
                    order_id: refund.order_id,
                    amount: refund.amount,
                    status: refund.status,
                    reason: refund.reason,
                    lines: refund.lines,
                    created_at: refund.created_at,
                })
                .collect(),
            expires_at: order.expires_at,
            paid_at: order.paid_at,
            created_at: order.created_at,
        }
    }
}

/// One shop's part of an order as its seller sees it: its own lines, where to
/// ship, and the money; never other shops' lines or the buyer's payment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SellerOrderView {
    pub order_id: String,
    pub order_status: OrderStatus,
    pub shipping: Shipping,
    pub part: PartView,
    pub disputed: bool,
    pub created_at: String,
    pub paid_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> Shipping {
        Shipping {
            name: " Ann Buyer ".into(),
            line1: "1 Main St".into(),
            line2: Some("  ".into()),
            city: "Springfield".into(),
            postal_code: "12345".into(),
            country: "us".into(),
        }
    }

    #[test]
    fn addresses_are_trimmed_and_checked() {
        let parsed = address().parse().unwrap();
        assert_eq!(parsed.name, "Ann Buyer");
        assert_eq!(parsed.line2, None);
        assert_eq!(parsed.country, "US");
        let mut bad = address();
        bad.city = "\u{7}".into();
        assert_eq!(
            bad.parse().unwrap_err().to_string(),
            "shipping.city is 1 to 200 characters without control, format or line separator characters"
        );
        let mut bad = address();
        bad.name = "Ann \u{202E}reyuB".into();
        assert_eq!(bad.parse().unwrap_err().param(), Some("shipping.name"));
        let mut bad = address();
        bad.country = "USA".into();
        assert!(bad.parse().is_err());
    }

    #[test]
    fn idempotency_keys_are_required_and_bounded() {
        assert_eq!(idempotency_key(Some(" k-1 ")).unwrap(), "k-1");
        assert_eq!(
            idempotency_key(None).unwrap_err().code(),
            "idempotency_key_required"
        );
        assert_eq!(
            idempotency_key(Some(&"x".repeat(256))).unwrap_err().code(),
            "invalid_idempotency_key"
        );
        assert_eq!(
            idempotency_key(Some("a b")).unwrap_err().code(),
            "invalid_idempotency_key"
        );
    }

    #[test]
    fn refund_requests_name_one_target() {
        let by_amount = RefundRequest {
            lines: None,
            part_id: Some("opt_1".into()),
            amount_minor: Some(500),
            restock: false,
            shipping: false,
            reason: None,
        };
        assert!(matches!(
            by_amount.parse().unwrap().0,
            RefundTarget::Amount {
                amount_minor: 500,
                ..
            }
        ));
        let both = RefundRequest {
            lines: Some(vec![RefundLineRequest {
                line_id: "oln_1".into(),
                quantity: 1,
            }]),
            ..by_amount.clone()
        };
        assert!(both.parse().is_err());
        let zero = RefundRequest {
            amount_minor: Some(0),
            ..by_amount
        };
        assert!(zero.parse().is_err());
    }
}
