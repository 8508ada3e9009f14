//! Refunds of charges: full or partial, never more than what is left. The processing
//! fee is not returned, as with Stripe.

use serde_json::{json, Value};

use super::balances::NewTxn;
use super::store::{new_id, opt, Refund, Store};
use super::wire::{ApiError, ApiResult, Params};

impl Store {
    /// `POST /v1/refunds`: full or partial, never more than what is left.
    pub fn create_refund(&mut self, acting: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&[
            "charge",
            "payment_intent",
            "amount",
            "reason",
            "metadata",
            "refund_application_fee",
            "reverse_transfer",
            "instructions_email",
            "currency",
        ])?;
        let charge_id = match (p.str("charge")?, p.str("payment_intent")?) {
            (Some(_), Some(_)) => {
                return Err(ApiError::param(
                    "parameters_exclusive",
                    "payment_intent",
                    "You may only specify one of these parameters: charge, payment_intent.",
                ))
            }
            (Some(c), None) => c,
            (None, Some(pi)) => {
                let intent = self
                    .intents
                    .get(&pi)
                    .filter(|i| i.account == acting)
                    .ok_or_else(|| {
                        ApiError::no_such("payment_intent", &pi, Some("payment_intent"))
                    })?;
                match (&intent.latest_charge, intent.status.as_str()) {
                    (Some(c), "succeeded") => c.clone(),
                    _ => {
                        return Err(ApiError::param(
                            "payment_intent_unexpected_state",
                            "payment_intent",
                            format!("PaymentIntent {pi} has no successful charge to refund."),
                        ))
                    }
                }
            }
            (None, None) => return Err(ApiError::missing("charge")),
        };
        let charge = self
            .charges
            .get(&charge_id)
            .filter(|c| {
                c.account == acting && c.status == "succeeded" && c.payment_intent.is_some()
            })
            .ok_or_else(|| ApiError::no_such("charge", &charge_id, Some("charge")))?
            .clone();
        let reason = p.choice(
            "reason",
            &["duplicate", "fraudulent", "requested_by_customer"],
        )?;
        p.bool("refund_application_fee")?;
        p.bool("reverse_transfer")?;
        let metadata = p.metadata()?.unwrap_or_default();
        if p.str("currency")?
            .is_some_and(|c| c.to_lowercase() != charge.currency)
        {
            return Err(ApiError::param(
                "currency_mismatch",
                "currency",
                format!(
                    "The refund's currency must be the charge's ({}).",
                    charge.currency
                ),
            ));
        }
        let left = charge.amount - charge.amount_refunded;
        if charge.dispute.is_some() {
            return Err(ApiError::param(
                "charge_disputed",
                "charge",
                format!("Charge {charge_id} has been charged back; it cannot be refunded."),
            ));
        }
        if left == 0 {
            return Err(ApiError::param(
                "charge_already_refunded",
                "charge",
                format!("Charge {charge_id} has already been refunded."),
            ));
        }
        let amount = p.amount("amount")?.unwrap_or(left);
        if amount > left {
            return Err(ApiError::param(
                "amount_too_large",
                "amount",
                format!(
                    "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
                ),
            ));
        }
        let refund_id = new_id("re");
        let txn = self.add_txn(NewTxn {
            account: acting.to_owned(),
            amount: -amount,
            fee: 0,
            fee_details: Vec::new(),
            currency: charge.currency.clone(),
            kind: "refund",
            category: "refund",
            source: Some(refund_id.clone()),
            available_on: self.now,
            description: Some(format!("REFUND FOR CHARGE ({charge_id})")),
        });
        let seq = self.next_seq();
        self.refunds.insert(
            refund_id.clone(),
            Refund {
                id: refund_id.clone(),
                seq,
                account: acting.to_owned(),
                created: self.now,
                amount,
                currency: charge.currency.clone(),
                charge: charge_id.clone(),
                payment_intent: charge.payment_intent.clone(),
                reason,
                metadata,
                txn,
            },
        );
        let before = self.charge_json(&charge_id);
        let c = self.charges.get_mut(&charge_id).expect("exists");
        c.amount_refunded += amount;
        c.refunds.push(refund_id.clone());
        let refund = self.refund_json(&refund_id);
        self.emit("refund.created", acting, refund.clone(), None);
        let previous = json!({
            "amount_refunded": before["amount_refunded"],
            "refunded": before["refunded"],
            "refunds": before["refunds"],
        });
        self.emit(
            "charge.refunded",
            acting,
            self.charge_json(&charge_id),
            Some(previous),
        );
        Ok(refund)
    }

    /// `GET /v1/refunds/{id}`.
    pub fn get_refund(&self, acting: &str, id: &str) -> ApiResult<Value> {
        self.refunds
            .get(id)
            .filter(|r| r.account == acting)
            .ok_or_else(|| ApiError::no_such("refund", id, Some("id")))?;
        Ok(self.refund_json(id))
    }

    /// The refund as the API shows it.
    pub fn refund_json(&self, id: &str) -> Value {
        let Some(r) = self.refunds.get(id) else {
            return Value::Null;
        };
        json!({
            "id": r.id,
            "object": "refund",
            "amount": r.amount,
            "balance_transaction": r.txn,
            "charge": r.charge,
            "created": r.created,
            "currency": r.currency,
            "destination_details": {"type": "card", "card": {"type": "refund"}},
            "metadata": r.metadata,
            "payment_intent": opt(&r.payment_intent),
            "reason": opt(&r.reason),
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "succeeded",
            "transfer_reversal": null,
        })
    }
}
