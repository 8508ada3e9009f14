//! Every event type the marketplace emits, and the filters integrators write
//! over them (`order.*`).

use serde::Serialize;

use crate::error::AppError;

/// One kind of event. The wire name is `as_str` (`order.paid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.paid")]
    OrderPaid,
    #[serde(rename = "order.canceled")]
    OrderCanceled,
    #[serde(rename = "order.refunded")]
    OrderRefunded,
    #[serde(rename = "order.part.transfer_sent")]
    PartTransferSent,
    #[serde(rename = "order.part.transfer_reversed")]
    PartTransferReversed,
    #[serde(rename = "order.part.shipped")]
    PartShipped,
    #[serde(rename = "order.part.delivered")]
    PartDelivered,
    #[serde(rename = "order.part.canceled")]
    PartCanceled,
    #[serde(rename = "return.requested")]
    ReturnRequested,
    #[serde(rename = "return.approved")]
    ReturnApproved,
    #[serde(rename = "return.refused")]
    ReturnRefused,
    #[serde(rename = "return.shipped_back")]
    ReturnShippedBack,
    #[serde(rename = "return.received")]
    ReturnReceived,
    #[serde(rename = "dispute.opened")]
    DisputeOpened,
    #[serde(rename = "dispute.closed")]
    DisputeClosed,
    #[serde(rename = "payout.paid")]
    PayoutPaid,
    #[serde(rename = "payout.failed")]
    PayoutFailed,
    #[serde(rename = "shop.created")]
    ShopCreated,
    #[serde(rename = "shop.activated")]
    ShopActivated,
    #[serde(rename = "shop.restricted")]
    ShopRestricted,
    #[serde(rename = "shop.frozen")]
    ShopFrozen,
    #[serde(rename = "shop.unfrozen")]
    ShopUnfrozen,
    #[serde(rename = "product.created")]
    ProductCreated,
    #[serde(rename = "product.updated")]
    ProductUpdated,
    #[serde(rename = "product.out_of_stock")]
    ProductOutOfStock,
    #[serde(rename = "fee_rule.version_created")]
    FeeRuleVersionCreated,
    /// Sent only to one webhook endpoint, on an operator's or seller's
    /// request; never in the feed.
    #[serde(rename = "webhook_endpoint.test")]
    EndpointTest,
}

impl EventType {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [Self; 28] = [
        Self::OrderCreated,
        Self::OrderPaid,
        Self::OrderCanceled,
        Self::OrderRefunded,
        Self::PartTransferSent,
        Self::PartTransferReversed,
        Self::PartShipped,
        Self::PartDelivered,
        Self::PartCanceled,
        Self::ReturnRequested,
        Self::ReturnApproved,
        Self::ReturnRefused,
        Self::ReturnShippedBack,
        Self::ReturnReceived,
        Self::DisputeOpened,
        Self::DisputeClosed,
        Self::PayoutPaid,
        Self::PayoutFailed,
        Self::ShopCreated,
        Self::ShopActivated,
        Self::ShopRestricted,
        Self::ShopFrozen,
        Self::ShopUnfrozen,
        Self::ProductCreated,
        Self::ProductUpdated,
        Self::ProductOutOfStock,
        Self::FeeRuleVersionCreated,
        Self::EndpointTest,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order.created",
            Self::OrderPaid => "order.paid",
            Self::OrderCanceled => "order.canceled",
            Self::OrderRefunded => "order.refunded",
            Self::PartTransferSent => "order.part.transfer_sent",
            Self::PartTransferReversed => "order.part.transfer_reversed",
            Self::PartShipped => "order.part.shipped",
            Self::PartDelivered => "order.part.delivered",
            Self::PartCanceled => "order.part.canceled",
            Self::ReturnRequested => "return.requested",
            Self::ReturnApproved => "return.approved",
            Self::ReturnRefused => "return.refused",
            Self::ReturnShippedBack => "return.shipped_back",
            Self::ReturnReceived => "return.received",
            Self::DisputeOpened => "dispute.opened",
            Self::DisputeClosed => "dispute.closed",
            Self::PayoutPaid => "payout.paid",
            Self::PayoutFailed => "payout.failed",
            Self::ShopCreated => "shop.created",
            Self::ShopActivated => "shop.activated",
            Self::ShopRestricted => "shop.restricted",
            Self::ShopFrozen => "shop.frozen",
            Self::ShopUnfrozen => "shop.unfrozen",
            Self::ProductCreated => "product.created",
            Self::ProductUpdated => "product.updated",
            Self::ProductOutOfStock => "product.out_of_stock",
            Self::FeeRuleVersionCreated => "fee_rule.version_created",
            Self::EndpointTest => "webhook_endpoint.test",
        }
    }

    /// The type of a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Longest list of type filters one request or endpoint may carry.
pub const FILTERS_MAX: usize = 32;

/// A set of type filters: exact names (`order.paid`), a prefix ending in `*`
/// (`order.*`, `order.part.*`), or `*` for everything. Empty means everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeFilter {
    patterns: Vec<String>,
}

impl TypeFilter {
    /// Parses filters (already split), refusing any that matches no type.
    ///
    /// # Errors
    /// 422 `invalid_value` on `param` for an unknown type or a pattern that
    /// matches none, or too many filters.
    pub fn parse<S: AsRef<str>>(patterns: &[S], param: &str) -> Result<Self, AppError> {
        if patterns.len() > FILTERS_MAX {
            return Err(AppError::unprocessable(
                "invalid_value",
                format!("at most {FILTERS_MAX} event type filters"),
                Some(param.to_owned()),
            ));
        }
        let mut kept = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            let pattern = pattern.as_ref().trim();
            let matches_some = EventType::ALL
                .into_iter()
                .any(|t| pattern_matches(pattern, t.as_str()));
            if pattern.is_empty() || !matches_some {
                return Err(AppError::unprocessable(
                    "invalid_value",
                    format!(
                        "`{pattern}` names no event type; use a type such as order.paid, \
                         a prefix such as order.*, or *"
                    ),
                    Some(param.to_owned()),
                ));
            }
            if !kept.iter().any(|k| k == pattern) {
                kept.push(pattern.to_owned());
            }
        }
        Ok(Self { patterns: kept })
    }

    /// Whether an event of type `name` passes.
    pub fn admits(&self, name: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| pattern_matches(p, name))
    }

    /// The patterns as given (deduplicated), for storing and answering.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The exact types it admits, in [`EventType::ALL`] order.
    pub fn types(&self) -> Vec<EventType> {
        EventType::ALL
            .into_iter()
            .filter(|t| self.admits(t.as_str()))
            .collect()
    }
}

fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_and_serializes_as_its_wire_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
    }

    #[test]
    fn filters_match_exact_names_prefixes_and_everything() {
        let f = TypeFilter::parse(&["order.*", "payout.paid"], "types").unwrap();
        assert!(f.admits("order.paid"));
        assert!(f.admits("order.part.transfer_sent"));
        assert!(f.admits("payout.paid"));
        assert!(!f.admits("payout.failed"));
        assert!(!f.admits("shop.created"));
        let part = TypeFilter::parse(&["order.part.*"], "types").unwrap();
        assert!(part.admits("order.part.shipped"));
        assert!(!part.admits("order.paid"));
        assert!(TypeFilter::parse(&["*"], "types")
            .unwrap()
            .admits("shop.frozen"));
        assert!(TypeFilter::default().admits("anything"));
        for bad in ["order", "orders.*", "", "x.paid"] {
            assert!(TypeFilter::parse(&[bad], "types").is_err(), "{bad}");
        }
    }
}
