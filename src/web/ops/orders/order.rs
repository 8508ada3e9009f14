//! One order whole, for staff: its lines by shop, each part's money,
//! settlement and transfers, its refunds and disputes, and (with
//! `policy::READ_ORDER_LEDGER`) its ledger postings and P&L as
//! `GET /v1/orders/{id}/ledger` reads them; with the forms of
//! [`super::actions`] for the roles that may use them.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use chrono::NaiveDateTime;
use serde::Deserialize;

use super::super::console::{self, Console};
use crate::auth::{policy, Caller};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::ledger::reports::ProfitAndLoss;
use crate::ledger::PostingView;
use crate::money::{Currency, Money};
use crate::orders::model::{OrderStatus, OrderView};
use crate::orders::store::{self, MovementRow};
use crate::web::format::{date, date_of, price, status_label};
use crate::web::forms::FormErrors;
use crate::web::render::{Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

/// A line of a part, with its refund field.
struct LineRow {
    title: String,
    sku: String,
    unit_price: String,
    quantity: i64,
    shipped: i64,
    refunded: i64,
    amount: String,
    /// Units not refunded yet: what the refund form offers.
    refundable: i64,
    field: String,
    value: String,
}

/// A figure of a part's money.
struct Figure {
    label: &'static str,
    amount: String,
    note: String,
}

/// A transfer to the shop or a reversal from it.
struct Movement {
    kind: &'static str,
    amount: String,
    status: &'static str,
    at: String,
    failure: Option<String>,
}

/// One shop's part of the order.
struct PartBox {
    id: String,
    shop_name: String,
    shop_href: String,
    fulfilment: String,
    settlement: &'static str,
    hold_reason: Option<String>,
    lines: Vec<LineRow>,
    figures: Vec<Figure>,
    movements: Vec<Movement>,
    /// Left to refund of the part, formatted; `None` when nothing is.
    refundable: Option<String>,
}

struct RefundBox {
    amount: String,
    status: &'static str,
    reason: String,
    created: String,
    what: String,
    failure: Option<String>,
}

struct DisputeBox {
    id: String,
    amount: String,
    fee: String,
    provider_status: String,
    outcome: &'static str,
    opened: String,
    /// When the evidence is due, or "Not given".
    due: String,
}

struct PostingRow {
    at: String,
    entry: String,
    account: String,
    debit: String,
    credit: String,
}

/// Debits and credits of the order's postings in one currency.
struct Total {
    currency: String,
    debits: String,
    credits: String,
    balanced: bool,
}

struct PnlBox {
    currency: String,
    figures: Vec<Figure>,
}

struct Ledger {
    postings: Vec<PostingRow>,
    totals: Vec<Total>,
    pnl: Vec<PnlBox>,
}

#[derive(Template)]
#[template(path = "ops/order.html", config = "src/web/askama.toml")]
struct OrderPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    id: String,
    base: String,
    done: Option<&'static str>,
    errors: FormErrors,
    buyer_email: String,
    buyer_href: String,
    status: &'static str,
    placed: String,
    paid: String,
    total: String,
    refunded: String,
    processing_fee: String,
    payment_status: String,
    disputed: bool,
    parts: Vec<PartBox>,
    refunds: Vec<RefundBox>,
    disputes: Vec<DisputeBox>,
    ledger: Option<Ledger>,
    can_sync: bool,
    can_sync_dispute: bool,
    may_refund: bool,
    /// Why no refund form shows, when the role may refund.
    no_refund: Option<&'static str>,
    amount_hint: String,
    lines_key: String,
    amount_key: String,
    reason: String,
    amount_reason: String,
    amount: String,
    part_choice: String,
    restock: bool,
    refund_shipping: bool,
}

/// What a submitted form asked, to show it again beside its errors.
#[derive(Debug, Default)]
pub(super) struct Submitted {
    pub(super) fields: Vec<(String, String)>,
}

impl Submitted {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn settlement_label(status: &str) -> &'static str {
    match status {
        "awaiting_payment" => "Not paid yet",
        "held" => "Held: the transfer to the shop is blocked",
        "awaiting_release" => "Kept by the platform until shipment or delivery",
        "in_progress" => "Transfer in progress",
        "settled" => "Settled",
        _ => "Unknown",
    }
}

fn movement_status(status: &str) -> &'static str {
    match status {
        "succeeded" => "Succeeded",
        "pending" => "Pending",
        "failed" => "Failed",
        _ => "Unknown",
    }
}

fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "open" => "Open",
        "won" => "Won",
        "lost" => "Lost",
        _ => "Unknown",
    }
}

fn fulfilment_label(status: &str) -> String {
    match status {
        "unfulfilled" => "Not shipped",
        "partially_shipped" => "Partly shipped",
        "shipped" => "Shipped",
        "delivered" => "Delivered",
        "canceled" => "Cancelled",
        other => other,
    }
    .to_owned()
}

/// A ledger account as people read it, with shop names for shop ids:
/// `platform:fee_revenue:USD` → `Platform — fee revenue (USD)`.
fn account_label(account_id: &str, shops: &HashMap<String, String>) -> String {
    let (code, currency) = account_id.rsplit_once(':').unwrap_or((account_id, ""));
    let named = match code.split_once(':') {
        Some(("platform", rest)) => format!("Platform — {}", rest.replace('_', " ")),
        Some(("shop", rest)) => match rest.split_once(':') {
            Some((id, name)) => format!(
                "{} — {}",
                shops.get(id).map_or(id, String::as_str),
                name.replace('_', " ")
            ),
            None => rest.to_owned(),
        },
        _ => code.replace('_', " "),
    };
    format!("{named} ({currency})")
}

fn amount_in(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(currency) => price(Money::new(minor, currency)),
        Err(_) => format!("{minor} {currency}"),
    }
}

fn ledger_of(
    postings: &[PostingView],
    pnl: &[ProfitAndLoss],
    shops: &HashMap<String, String>,
) -> Ledger {
    let mut sums: Vec<(String, i64, i64)> = Vec::new();
    let rows = postings
        .iter()
        .map(|p| {
            let currency = p.account_id.rsplit_once(':').map_or("", |(_, c)| c);
            match sums.iter_mut().find(|(c, _, _)| c == currency) {
                Some((_, debits, credits)) => {
                    *debits += p.debit_minor;
                    *credits += p.credit_minor;
                }
                None => sums.push((currency.to_owned(), p.debit_minor, p.credit_minor)),
            }
            let shown = |minor: i64| {
                if minor == 0 {
                    String::new()
                } else {
                    amount_in(minor, currency)
                }
            };
            PostingRow {
                at: date(p.created_at),
                entry: p.description.clone(),
                account: account_label(&p.account_id, shops),
                debit: shown(p.debit_minor),
                credit: shown(p.credit_minor),
            }
        })
        .collect();
    let pnl = pnl
        .iter()
        .map(|p| {
            let figure = |label: &'static str, minor: i64| Figure {
                label,
                amount: amount_in(minor, &p.currency),
                note: String::new(),
            };
            PnlBox {
                currency: p.currency.clone(),
                figures: vec![
                    figure("Platform fees earned", p.fees_earned),
                    figure(
                        "Processing fees recovered from sellers",
                        p.processing_fees_recovered,
                    ),
                    figure("Processing fees paid to the provider", p.processing_fees),
                    figure("Refunds borne by the platform", p.refunds_borne),
                    figure("Dispute fees", p.dispute_fees),
                    figure("Dispute losses", p.dispute_losses),
                    figure("Adjustments", p.adjustments),
                    figure("Net", p.net),
                ],
            }
        })
        .collect();
    Ledger {
        postings: rows,
        totals: sums
            .into_iter()
            .map(|(currency, debits, credits)| Total {
                debits: amount_in(debits, &currency),
                credits: amount_in(credits, &currency),
                balanced: debits == credits,
                currency,
            })
            .collect(),
        pnl,
    }
}

/// Everything the order's page shows, read in one go.
struct OrderState {
    view: OrderView,
    movements: Vec<MovementRow>,
    opened: HashMap<String, NaiveDateTime>,
    ledger: Option<(Vec<PostingView>, Vec<ProfitAndLoss>)>,
}

/// The order as staff read it, with its ledger when `caller` may read it.
///
/// # Errors
/// 404 when there is no such order.
async fn order_state(pool: &DbPool, id: String, caller: &Caller) -> Result<OrderState, AppError> {
    let (viewer, with_ledger) = (
        caller.user_id.0.clone(),
        caller.may(policy::READ_ORDER_LEDGER),
    );
    db::run(pool, move |conn| {
        let record = store::order_for(conn, &id, &viewer, true)?;
        let ledger = if with_ledger {
            // The same reads as `GET /v1/orders/{id}/ledger`.
            let causes = crate::orders::reports::ledger_causes(conn, &id)?;
            Some(crate::ledger::reports::entries_with_causes(conn, &causes)?)
        } else {
            None
        };
        Ok(OrderState {
            view: record.view()?,
            movements: record.movements.clone(),
            opened: record
                .disputes
                .iter()
                .map(|d| (d.id.clone(), d.created_at))
                .collect(),
            ledger,
        })
    })
    .await
}

fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "refunded" => "The buyer is refunded.",
        "refund_pending" => "The refund is recorded; the payments provider sends it shortly.",
        "synced" => "The order is read again from the payments provider.",
        "dispute_synced" => "The dispute is read again from the payments provider.",
        _ => return None,
    })
}

/// Renders the order's page, with `errors` from a refused form (`status`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn render_order(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    caller: &Caller,
    id: String,
    done: Option<&'static str>,
    errors: FormErrors,
    submitted: &Submitted,
    status: StatusCode,
) -> PageResult {
    let state = order_state(pool, id, caller).await?;
    let console = Console::of(caller, "orders");
    let view = &state.view;
    let shop_names: HashMap<String, String> = view
        .parts
        .iter()
        .map(|p| (p.shop_id.clone(), p.shop_name.clone()))
        .collect();
    let titles: HashMap<&str, &str> = view
        .parts
        .iter()
        .flat_map(|p| p.lines.iter())
        .map(|l| (l.id.as_str(), l.title.as_str()))
        .collect();
    let part_shop: HashMap<&str, &str> = view
        .parts
        .iter()
        .map(|p| (p.id.as_str(), p.shop_name.as_str()))
        .collect();
    let kind = submitted.get("kind").unwrap_or_default();
    let parts: Vec<PartBox> = view
        .parts
        .iter()
        .map(|part| {
            let money = |m: Money| price(m);
            let mut figures = vec![
                Figure {
                    label: "Items",
                    amount: money(part.items),
                    note: String::new(),
                },
                Figure {
                    label: "Shipping",
                    amount: money(part.shipping),
                    note: String::new(),
                },
                Figure {
                    label: "Subtotal (what the buyer paid for this part)",
                    amount: money(part.subtotal),
                    note: String::new(),
                },
                Figure {
                    label: "Platform fee",
                    amount: money(part.fee),
                    note: String::new(),
                },
                Figure {
                    label: "Processing fee",
                    amount: money(part.processing_fee),
                    note: format!("borne by the {}", part.processing_fee_payer),
                },
                Figure {
                    label: "Seller share",
                    amount: money(part.seller_amount),
                    note: String::new(),
                },
                Figure {
                    label: "Refunded to the buyer",
                    amount: money(part.refunded),
                    note: String::new(),
                },
                Figure {
                    label: "Owed to the shop now",
                    amount: money(part.settlement.owed),
                    note: String::new(),
                },
                Figure {
                    label: "Transferred to the shop (net of reversals)",
                    amount: money(part.settlement.transferred),
                    note: String::new(),
                },
            ];
            if part.settlement.owes_back.minor != 0 {
                figures.push(Figure {
                    label: "The shop owes the platform",
                    amount: money(part.settlement.owes_back),
                    note: "recovered from its later sales".into(),
                });
            }
            let left = part.subtotal.minor - part.refunded.minor;
            PartBox {
                id: part.id.clone(),
                shop_name: part.shop_name.clone(),
                shop_href: format!("/ops/shops/{}", part.shop_id),
                fulfilment: fulfilment_label(&part.fulfilment.status),
                settlement: settlement_label(part.settlement.status),
                hold_reason: part.settlement.hold_reason.clone(),
                lines: part
                    .lines
                    .iter()
                    .map(|l| {
                        let field = format!("refund_qty_{}", l.id);
                        LineRow {
                            title: l.title.clone(),
                            sku: l.sku.clone(),
                            unit_price: price(l.unit_price),
                            quantity: l.quantity,
                            shipped: l.shipped_quantity,
                            refunded: l.refunded_quantity,
                            amount: price(l.amount),
                            refundable: (l.quantity - l.refunded_quantity).max(0),
                            value: submitted
                                .get(&field)
                                .filter(|_| kind == "lines")
                                .unwrap_or("0")
                                .to_owned(),
                            field,
                        }
                    })
                    .collect(),
                figures,
                movements: state
                    .movements
                    .iter()
                    .filter(|m| m.part_id == part.id)
                    .map(|m| Movement {
                        kind: if m.kind == "reversal" {
                            "Reversal from the shop"
                        } else {
                            "Transfer to the shop"
                        },
                        amount: price(Money::new(m.amount_minor, part.subtotal.currency)),
                        status: movement_status(&m.status),
                        at: date(m.created_at),
                        failure: m.failure_message.clone(),
                    })
                    .collect(),
                refundable: (left > 0).then(|| price(Money::new(left, part.subtotal.currency))),
            }
        })
        .collect();
    let refunds = view
        .refunds
        .iter()
        .map(|r| {
            let mut what: Vec<String> = r
                .lines
                .iter()
                .map(|l| {
                    format!(
                        "{} × {}",
                        l.quantity,
                        titles.get(l.line_id.as_str()).unwrap_or(&"item")
                    )
                })
                .collect();
            what.extend(r.parts.iter().map(|p| {
                format!(
                    "{}: {} (seller {}, platform {})",
                    part_shop.get(p.part_id.as_str()).unwrap_or(&"shop"),
                    price(p.amount),
                    price(p.seller_portion),
                    price(p.platform_portion)
                )
            }));
            RefundBox {
                amount: price(r.amount),
                status: status_label(&r.status),
                reason: r.reason.clone().unwrap_or_default(),
                created: date_of(&r.created_at),
                what: what.join("; "),
                failure: r.failure_message.clone(),
            }
        })
        .collect();
    let disputes = view
        .disputes
        .iter()
        .map(|d| DisputeBox {
            id: d.id.clone(),
            amount: price(d.amount),
            fee: price(d.fee),
            provider_status: d.provider_status.replace('_', " "),
            outcome: outcome_label(&d.outcome),
            due: d
                .evidence_due_by
                .as_deref()
                .map_or_else(|| "Not given".to_owned(), date_of),
            opened: state
                .opened
                .get(&d.id)
                .map(|at| date(*at))
                .unwrap_or_default(),
        })
        .collect();
    let ledger = state
        .ledger
        .as_ref()
        .map(|(postings, pnl)| ledger_of(postings, pnl, &shop_names));
    let paid = view.status == OrderStatus::Paid;
    let may_refund = console.may(policy::REFUND);
    let no_refund = if !paid {
        Some("Only paid orders are refunded.")
    } else if view.disputes.iter().any(|d| d.outcome != "won") {
        Some("The payment is disputed: the dispute decides what the buyer gets back.")
    } else if parts.iter().all(|p| p.refundable.is_none()) {
        Some("Everything the buyer paid is refunded.")
    } else {
        None
    };
    let key_for = |form: &str| {
        submitted
            .get("idempotency_key")
            .filter(|_| kind == form)
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
    };
    let page = OrderPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Order {} — Bazaar console", view.id)),
        can_sync: console.may(policy::SYNC_ORDER),
        can_sync_dispute: console.may(policy::SYNC_DISPUTE),
        may_refund,
        no_refund,
        console,
        base: format!("/ops/orders/{}", view.id),
        id: view.id.clone(),
        done,
        errors,
        buyer_email: view.buyer_email.clone(),
        buyer_href: format!("/ops/users/{}", view.buyer_user_id),
        status: status_label(view.status.as_str()),
        placed: date_of(&view.created_at),
        paid: view.paid_at.as_deref().map(date_of).unwrap_or_default(),
        total: price(view.total),
        refunded: price(view.refunded),
        processing_fee: view.payment.processing_fee.map(price).unwrap_or_default(),
        payment_status: view
            .payment
            .status
            .clone()
            .unwrap_or_default()
            .replace('_', " "),
        disputed: view.disputed,
        parts,
        refunds,
        disputes,
        ledger,
        amount_hint: format!("In {}, like 12.50", view.total.currency.code()),
        lines_key: key_for("lines"),
        amount_key: key_for("amount"),
        reason: submitted.get("reason").unwrap_or_default().to_owned(),
        amount_reason: submitted
            .get("amount_reason")
            .unwrap_or_default()
            .to_owned(),
        amount: submitted.get("amount").unwrap_or_default().to_owned(),
        part_choice: submitted.get("part_id").unwrap_or_default().to_owned(),
        restock: kind == "lines" && submitted.get("restock").is_some(),
        refund_shipping: kind == "lines" && submitted.get("refund_shipping").is_some(),
    };
    console::answer(req, visitor, &page, status)
}

#[derive(Debug, Deserialize)]
pub(super) struct OrderQuery {
    #[serde(default)]
    done: String,
}

/// `GET /ops/orders/{id}` (`policy::READ_ORDERS`; the ledger with
/// `policy::READ_ORDER_LEDGER`).
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<OrderQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/ops/orders/{id}");
    let session = match console::staff(&visitor, &here, policy::READ_ORDERS) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    render_order(
        &req,
        &mut visitor,
        &pool,
        &session.caller,
        id,
        done_message(&query.done),
        FormErrors::none(),
        &Submitted::default(),
        StatusCode::OK,
    )
    .await
}
