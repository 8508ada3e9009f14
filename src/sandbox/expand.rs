//! `expand[]`: which paths Stripe lets a caller expand on each object, and expanding them.
//!
//! Stripe checks every path before it runs the request, so a bad one is a 400 that
//! changes nothing (and is never stored under an `Idempotency-Key`):
//! - a segment that is not expandable where it stands (a field that does not exist, a
//!   scalar such as `description`, a hash such as `metadata`) answers `This property
//!   cannot be expanded (<path up to that segment>).`, with neither `code` nor `param`;
//! - on a list endpoint every path starts with `data`; any other first segment gets
//!   `You may want to try expanding 'data.<segment>' instead.` added;
//! - more than four segments (`data` counts) answer `property_expansion_max_depth`.
//!
//! What is expandable comes from Stripe's `x-expandableFields` as async-stripe
//! 1.0.0-rc.10 renders them for the version the sandbox speaks (`2026-09-30.endive`):
//! references to other objects (`latest_charge`), lists (`refunds`, `reversals`) and
//! embedded objects (`transfer_data`, `shipping`). References to objects the sandbox
//! does not model (`customer`, `review`, `payment_method`…) and embedded objects it does
//! not describe field by field are accepted as the last segment only: their value stays
//! as the sandbox renders it (an id or `null`), and deeper paths are refused, since the
//! sandbox cannot tell a real field of theirs from a typo.

use serde_json::{json, Value};

use super::store::Store;
use super::wire::{ApiError, ApiResult, Params};

/// Deepest path Stripe expands (`a.b.c.d`), the `data` of a list included.
pub const EXPAND_DEPTH_MAX: usize = 4;
/// Most paths in one request; Stripe's own limit is not documented, this bounds the work.
pub const EXPAND_PATHS_MAX: usize = 100;

/// What an endpoint answers: one object of a schema, or a list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One object (`payment_intent`, `charge`…).
    Object(&'static str),
    /// A list whose `data` holds objects of the schema.
    List(&'static str),
}

/// An expandable field and what it leads to.
#[derive(Clone, Copy)]
enum Field {
    /// An id naming an object of one of these schemas.
    Ref(&'static [&'static str]),
    /// An object carried inline.
    Embedded(&'static str),
    /// A list object whose `data` holds objects of one of these schemas.
    List(&'static [&'static str]),
}

use Field::{Embedded, List, Ref};

/// Every object a balance transaction's `source` can name.
const TXN_SOURCES: &[&str] = &[
    "application_fee",
    "charge",
    "connect_collection_transfer",
    "customer_cash_balance_transaction",
    "dispute",
    "fee_refund",
    "issuing.authorization",
    "issuing.dispute",
    "issuing.transaction",
    "payout",
    "refund",
    "reserve_transaction",
    "tax_deducted_at_source",
    "topup",
    "transfer",
    "transfer_reversal",
];

/// The expandable fields of each schema. A schema missing here (or a field missing from
/// its entry) is not expandable any further.
const SCHEMAS: &[(&str, &[(&str, Field)])] = &[
    (
        "payment_intent",
        &[
            ("amount_details", Embedded("payment_flows_amount_details")),
            ("application", Ref(&["application"])),
            ("customer", Ref(&["customer"])),
            ("hooks", Embedded("payment_flows_async_workflows")),
            ("last_payment_error", Embedded("api_errors")),
            ("latest_charge", Ref(&["charge"])),
            ("managed_payments", Embedded("managed_payments")),
            ("next_action", Embedded("payment_intent_next_action")),
            ("on_behalf_of", Ref(&["account"])),
            ("payment_details", Embedded("payment_flows_payment_details")),
            ("payment_method", Ref(&["payment_method"])),
            (
                "payment_method_options",
                Embedded("payment_intent_payment_method_options"),
            ),
            ("payment_record", Ref(&["payment_record"])),
            ("presentment_details", Embedded("presentment_details")),
            ("processing", Embedded("payment_intent_processing")),
            ("review", Ref(&["review"])),
            ("shipping", Embedded("shipping")),
            ("source", Ref(&["payment_source"])),
            ("transfer_data", Embedded("transfer_data")),
        ],
    ),
    (
        "payment_flows_amount_details",
        &[
            ("error", Embedded("amount_details_error")),
            (
                "line_items",
                List(&["payment_intent_amount_details_line_item"]),
            ),
            ("shipping", Embedded("amount_details_shipping")),
            ("tax", Embedded("amount_details_tax")),
            ("tip", Embedded("amount_details_tip")),
        ],
    ),
    (
        "api_errors",
        &[
            ("payment_intent", Embedded("payment_intent")),
            ("payment_method", Embedded("payment_method")),
            ("setup_intent", Embedded("setup_intent")),
        ],
    ),
    (
        "payment_intent_processing",
        &[("card", Embedded("payment_intent_card_processing"))],
    ),
    ("shipping", &[("address", Embedded("address"))]),
    ("billing_details", &[("address", Embedded("address"))]),
    (
        "transfer_data",
        &[
            ("destination", Ref(&["account"])),
            ("payment_data", Embedded("payment_data")),
        ],
    ),
    (
        "charge",
        &[
            ("application", Ref(&["application"])),
            ("application_fee", Ref(&["application_fee"])),
            ("balance_transaction", Ref(&["balance_transaction"])),
            ("billing_details", Embedded("billing_details")),
            ("customer", Ref(&["customer"])),
            ("fraud_details", Embedded("charge_fraud_details")),
            ("level3", Embedded("level3")),
            ("on_behalf_of", Ref(&["account"])),
            ("outcome", Embedded("charge_outcome")),
            ("payment_intent", Ref(&["payment_intent"])),
            ("payment_method_details", Embedded("payment_method_details")),
            ("presentment_details", Embedded("presentment_details")),
            ("radar_options", Embedded("radar_options")),
            ("refunds", List(&["refund"])),
            ("review", Ref(&["review"])),
            ("shipping", Embedded("shipping")),
            ("source_transfer", Ref(&["transfer"])),
            ("transfer", Ref(&["transfer"])),
            ("transfer_data", Embedded("charge_transfer_data")),
        ],
    ),
    (
        "charge_transfer_data",
        &[("destination", Ref(&["account"]))],
    ),
    ("charge_outcome", &[("rule", Ref(&["rule"]))]),
    ("level3", &[("line_items", Embedded("level3_line_items"))]),
    (
        "transfer",
        &[
            ("balance_transaction", Ref(&["balance_transaction"])),
            ("destination", Ref(&["account"])),
            ("destination_payment", Ref(&["charge"])),
            ("reversals", List(&["transfer_reversal"])),
            ("source_transaction", Ref(&["charge"])),
        ],
    ),
    (
        "transfer_reversal",
        &[
            ("balance_transaction", Ref(&["balance_transaction"])),
            ("destination_payment_refund", Ref(&["refund"])),
            ("source_refund", Ref(&["refund"])),
            ("transfer", Ref(&["transfer"])),
        ],
    ),
    (
        "refund",
        &[
            ("balance_transaction", Ref(&["balance_transaction"])),
            ("charge", Ref(&["charge"])),
            ("customer", Ref(&["customer"])),
            (
                "destination_details",
                Embedded("refund_destination_details"),
            ),
            ("next_action", Embedded("refund_next_action")),
            ("payment_intent", Ref(&["payment_intent"])),
            ("payment_method", Ref(&["payment_method"])),
            ("presentment_details", Embedded("presentment_details")),
            ("source_transfer_reversal", Ref(&["transfer_reversal"])),
            ("transfer_reversal", Ref(&["transfer_reversal"])),
        ],
    ),
    (
        "refund_next_action",
        &[(
            "display_details",
            Embedded("refund_next_action_display_details"),
        )],
    ),
    (
        "refund_next_action_display_details",
        &[("email_sent", Embedded("email_sent"))],
    ),
    (
        "dispute",
        &[
            ("balance_transactions", Embedded("balance_transaction")),
            ("charge", Ref(&["charge"])),
            ("evidence", Embedded("dispute_evidence")),
            ("evidence_details", Embedded("dispute_evidence_details")),
            ("payment_intent", Ref(&["payment_intent"])),
            (
                "payment_method_details",
                Embedded("dispute_payment_method_details"),
            ),
        ],
    ),
    (
        "dispute_evidence",
        &[
            ("cancellation_policy", Ref(&["file"])),
            ("customer_communication", Ref(&["file"])),
            ("customer_signature", Ref(&["file"])),
            ("duplicate_charge_documentation", Ref(&["file"])),
            ("enhanced_evidence", Embedded("dispute_enhanced_evidence")),
            ("receipt", Ref(&["file"])),
            ("refund_policy", Ref(&["file"])),
            ("service_documentation", Ref(&["file"])),
            ("shipping_documentation", Ref(&["file"])),
            ("uncategorized_file", Ref(&["file"])),
        ],
    ),
    (
        "dispute_evidence_details",
        &[(
            "enhanced_eligibility",
            Embedded("dispute_enhanced_eligibility"),
        )],
    ),
    (
        "balance_transaction",
        &[
            ("fee_details", Embedded("fee")),
            ("source", Ref(TXN_SOURCES)),
        ],
    ),
    (
        "payout",
        &[
            ("application_fee", Ref(&["application_fee"])),
            ("balance_transaction", Ref(&["balance_transaction"])),
            ("destination", Ref(&["bank_account", "card"])),
            ("original_payout", Ref(&["payout"])),
            ("reversed_by", Ref(&["payout"])),
            ("trace_id", Embedded("payouts_trace_id")),
        ],
    ),
    (
        "account",
        &[
            ("business_profile", Embedded("account_business_profile")),
            ("capabilities", Embedded("account_capabilities")),
            ("company", Embedded("legal_entity_company")),
            ("controller", Embedded("account_controller")),
            ("external_accounts", List(&["bank_account", "card"])),
            ("future_requirements", Embedded("account_requirements")),
            ("groups", Embedded("account_group_membership")),
            ("individual", Embedded("person")),
            ("requirements", Embedded("account_requirements")),
            ("settings", Embedded("account_settings")),
            ("tos_acceptance", Embedded("account_tos_acceptance")),
        ],
    ),
    (
        "account_business_profile",
        &[
            ("annual_revenue", Embedded("account_annual_revenue")),
            (
                "monthly_estimated_revenue",
                Embedded("account_monthly_estimated_revenue"),
            ),
            ("support_address", Embedded("address")),
        ],
    ),
    (
        "account_requirements",
        &[
            ("alternatives", Embedded("account_requirements_alternative")),
            ("errors", Embedded("account_requirements_error")),
        ],
    ),
    (
        "bank_account",
        &[
            ("account", Ref(&["account"])),
            ("customer", Ref(&["customer"])),
            (
                "future_requirements",
                Embedded("external_account_requirements"),
            ),
            ("requirements", Embedded("external_account_requirements")),
        ],
    ),
    (
        "external_account_requirements",
        &[("errors", Embedded("account_requirements_error"))],
    ),
    (
        "event",
        &[
            ("data", Embedded("notification_event_data")),
            ("request", Embedded("notification_event_request")),
        ],
    ),
    (
        "balance",
        &[
            ("available", Embedded("balance_amount")),
            ("connect_reserved", Embedded("balance_amount")),
            ("instant_available", Embedded("balance_amount_net")),
            ("issuing", Embedded("balance_detail")),
            ("pending", Embedded("balance_amount")),
            (
                "refund_and_dispute_prefunding",
                Embedded("balance_detail_ungated"),
            ),
        ],
    ),
    (
        "balance_amount",
        &[("source_types", Embedded("balance_amount_by_source_type"))],
    ),
    (
        "balance_amount_net",
        &[
            ("net_available", Embedded("balance_net_available")),
            ("source_types", Embedded("balance_amount_by_source_type")),
        ],
    ),
    (
        "balance_net_available",
        &[("source_types", Embedded("balance_amount_by_source_type"))],
    ),
    (
        "balance_detail",
        &[("available", Embedded("balance_amount"))],
    ),
];

fn field(schema: &str, name: &str) -> Option<Field> {
    SCHEMAS
        .iter()
        .find(|(s, _)| *s == schema)
        .and_then(|(_, fields)| fields.iter().find(|(f, _)| *f == name))
        .map(|(_, f)| *f)
}

/// Where a path can stand after some of its segments: in an object, or at a list.
#[derive(Clone, Copy)]
enum Node {
    Object(&'static str),
    List(&'static [&'static str]),
}

/// The request's `expand` paths, each checked against what the endpoint answers.
///
/// # Errors
///
/// `expand` that is not a list of strings, a path deeper than [`EXPAND_DEPTH_MAX`], or a
/// path Stripe refuses to expand on `shape`.
pub fn requested(p: &Params, shape: Shape) -> ApiResult<Vec<String>> {
    let paths = p.list("expand")?;
    if paths.len() > EXPAND_PATHS_MAX {
        return Err(ApiError::param(
            "parameter_invalid_array",
            "expand",
            format!("Invalid array: expand can have at most {EXPAND_PATHS_MAX} elements."),
        ));
    }
    for path in &paths {
        check(shape, path)?;
    }
    Ok(paths)
}

/// Checks one path the way Stripe does, before the request runs.
fn check(shape: Shape, path: &str) -> ApiResult<()> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.len() > EXPAND_DEPTH_MAX {
        return Err(ApiError::invalid(
            "property_expansion_max_depth",
            format!(
                "You cannot expand more than {EXPAND_DEPTH_MAX} levels of a property. Property: {path}"
            ),
        ));
    }
    let mut at: Vec<Node> = match shape {
        Shape::Object(schema) => vec![Node::Object(schema)],
        Shape::List(schema) => {
            if segments[0] != "data" {
                return Err(cannot_expand_on_list(segments[0]));
            }
            vec![Node::Object(schema)]
        }
    };
    let skip = usize::from(matches!(shape, Shape::List(_)));
    for (i, segment) in segments.iter().enumerate().skip(skip) {
        let mut next = Vec::new();
        for node in &at {
            match *node {
                Node::Object(schema) => match field(schema, segment) {
                    Some(Ref(targets)) => next.extend(targets.iter().map(|t| Node::Object(t))),
                    Some(Embedded(schema)) => next.push(Node::Object(schema)),
                    Some(List(items)) => next.push(Node::List(items)),
                    None => {}
                },
                Node::List(items) if *segment == "data" => {
                    next.extend(items.iter().map(|t| Node::Object(t)));
                }
                Node::List(_) => {}
            }
        }
        if next.is_empty() {
            return Err(cannot_expand(&segments[..=i].join(".")));
        }
        at = next;
    }
    Ok(())
}

/// Stripe's answer to a path that cannot be expanded: no `code`, no `param`.
fn cannot_expand(path: &str) -> ApiError {
    ApiError::uncoded(format!("This property cannot be expanded ({path})."))
}

/// The same on a list endpoint, whose paths all start with `data`.
fn cannot_expand_on_list(segment: &str) -> ApiError {
    ApiError::uncoded(format!(
        "This property cannot be expanded ({segment}). You may want to try expanding 'data.{segment}' instead."
    ))
}

/// Replaces the id at `path` (`balance_transaction`, `latest_charge.balance_transaction`,
/// `data.source` in lists) by the object it names. Ids of objects the sandbox does not
/// hold stay ids; the path was checked by [`requested`].
pub fn apply(store: &Store, value: &mut Value, path: &str) {
    apply_at(store, value, path, 0);
}

fn apply_at(store: &Store, value: &mut Value, path: &str, depth: usize) {
    if depth >= EXPAND_DEPTH_MAX {
        return;
    }
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    if let Value::Array(items) = value {
        // An embedded array of objects (a dispute's `balance_transactions`).
        for item in items {
            apply_at(store, item, path, depth);
        }
        return;
    }
    if head == "data" && value.get("object") == Some(&json!("list")) {
        if let (Some(rest), Some(Value::Array(items))) = (rest, value.get_mut("data")) {
            for item in items {
                apply_at(store, item, rest, depth + 1);
            }
        }
        return;
    }
    let Some(field) = value.get_mut(head) else {
        return;
    };
    if let Some(id) = field.as_str() {
        let object = object_json(store, id);
        if !object.is_null() {
            *field = object;
        }
    }
    if let Some(rest) = rest {
        apply_at(store, field, rest, depth + 1);
    }
}

fn object_json(store: &Store, id: &str) -> Value {
    let prefix = id.split('_').next().unwrap_or_default();
    match prefix {
        "txn" => store.txn_json(id),
        "ch" | "py" => store.charge_json(id),
        "pi" => store.intent_json(id),
        "re" => store.refund_json(id),
        "dp" => store.dispute_json(id),
        "tr" => store.transfer_json(id),
        "trr" => store.reversal_json(id),
        "po" => store.payout_json(id),
        "acct" => store.account_json(id),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(shape: Shape, path: &str) -> String {
        let e = check(shape, path).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(!e.error.contains_key("param"), "{:?}", e.error);
        e.error["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn references_lists_and_embedded_objects_expand() {
        let pi = Shape::Object("payment_intent");
        for ok in [
            "latest_charge",
            "latest_charge.balance_transaction",
            "latest_charge.balance_transaction.source",
            "latest_charge.refunds.data.balance_transaction",
            "customer",
            "payment_method",
            "transfer_data.destination",
            "last_payment_error.payment_intent.latest_charge",
        ] {
            assert!(check(pi, ok).is_ok(), "{ok}");
        }
        let txns = Shape::List("balance_transaction");
        assert!(check(txns, "data").is_ok());
        assert!(check(txns, "data.source").is_ok());
        // A source can be a transfer, whose `destination` expands.
        assert!(check(txns, "data.source.destination").is_ok());
        let transfer = Shape::Object("transfer");
        assert!(check(transfer, "reversals.data.balance_transaction").is_ok());
        assert!(check(transfer, "destination_payment.balance_transaction").is_ok());
    }

    #[test]
    fn everything_else_is_refused_naming_the_path_so_far() {
        let pi = Shape::Object("payment_intent");
        assert_eq!(
            message(pi, "latest_charg"),
            "This property cannot be expanded (latest_charg)."
        );
        assert_eq!(
            message(pi, "description"),
            "This property cannot be expanded (description)."
        );
        assert_eq!(
            message(pi, "metadata"),
            "This property cannot be expanded (metadata)."
        );
        assert_eq!(
            message(pi, "latest_charge.bogus.x"),
            "This property cannot be expanded (latest_charge.bogus)."
        );
        // A list field is entered through its `data`.
        assert_eq!(
            message(Shape::Object("transfer"), "reversals.balance_transaction"),
            "This property cannot be expanded (reversals.balance_transaction)."
        );
        // Objects the sandbox does not model expand only as the last segment.
        assert_eq!(
            message(pi, "customer.default_source"),
            "This property cannot be expanded (customer.default_source)."
        );
        assert_eq!(
            message(Shape::List("transfer"), "destination"),
            "This property cannot be expanded (destination). You may want to try expanding 'data.destination' instead."
        );
        assert_eq!(message(pi, ""), "This property cannot be expanded ().");
    }

    #[test]
    fn four_levels_at_most_counting_data() {
        let list = Shape::List("balance_transaction");
        assert!(check(list, "data.source.destination_payment.balance_transaction").is_ok());
        let e = check(
            list,
            "data.source.destination_payment.balance_transaction.source",
        )
        .unwrap_err();
        assert_eq!(e.error["code"], "property_expansion_max_depth");
        assert_eq!(
            e.error["message"],
            "You cannot expand more than 4 levels of a property. Property: data.source.destination_payment.balance_transaction.source"
        );
    }
}
