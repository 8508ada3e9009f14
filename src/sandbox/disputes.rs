//! Disputes: opened by the `pm_card_createDispute` test card, their withdrawals and
//! fees, evidence, and closing as won (money and fee returned) or lost.

use serde_json::{json, Map, Value};

use super::balances::NewTxn;
use super::pricing::pricing;
use super::store::{new_id, opt, Dispute, Store};
use super::wire::{merge_metadata, ApiError, ApiResult, Params};

/// Seconds a dispute's evidence is due after it opens.
const EVIDENCE_DUE_S: i64 = 7 * 86_400;

impl Store {
    /// Opens a fraudulent-use dispute on a charge and withdraws its amount plus the fee.
    pub(crate) fn open_dispute(&mut self, charge_id: &str) {
        let Some(charge) = self.charges.get(charge_id).cloned() else {
            return;
        };
        let fee = pricing(&charge.currency, "currency").map_or(0, |p| p.dispute_fee);
        let id = new_id("dp");
        let seq = self.next_seq();
        self.disputes.insert(
            id.clone(),
            Dispute {
                id: id.clone(),
                seq,
                account: charge.account.clone(),
                created: self.now,
                amount: charge.amount,
                currency: charge.currency.clone(),
                charge: charge_id.to_owned(),
                payment_intent: charge.payment_intent.clone(),
                status: "needs_response".into(),
                reason: "fraudulent".into(),
                evidence: Map::new(),
                submission_count: 0,
                metadata: Map::new(),
                txns: Vec::new(),
            },
        );
        if let Some(c) = self.charges.get_mut(charge_id) {
            c.dispute = Some(id.clone());
        }
        self.emit(
            "charge.dispute.created",
            &charge.account,
            self.dispute_json(&id),
            None,
        );
        let txn = self.add_txn(NewTxn {
            account: charge.account.clone(),
            amount: -charge.amount,
            fee,
            fee_details: vec![(fee, "stripe_fee".into(), "Dispute fee".into())],
            currency: charge.currency.clone(),
            kind: "adjustment",
            category: "dispute",
            source: Some(id.clone()),
            available_on: self.now,
            description: Some(format!("Chargeback withdrawal for {charge_id}")),
        });
        if let Some(d) = self.disputes.get_mut(&id) {
            d.txns.push(txn);
        }
        self.emit(
            "charge.dispute.funds_withdrawn",
            &charge.account,
            self.dispute_json(&id),
            None,
        );
    }

    fn own_dispute(&self, acting: &str, id: &str) -> ApiResult<&Dispute> {
        self.disputes
            .get(id)
            .filter(|d| d.account == acting)
            .ok_or_else(|| ApiError::no_such("dispute", id, Some("dispute")))
    }

    /// `GET /v1/disputes/{id}`.
    pub fn get_dispute(&self, acting: &str, id: &str) -> ApiResult<Value> {
        self.own_dispute(acting, id)?;
        Ok(self.dispute_json(id))
    }

    /// `POST /v1/disputes/{id}`: evidence, metadata, submit. In test mode the text
    /// `winning_evidence` wins the dispute and `losing_evidence` loses it.
    pub fn update_dispute(&mut self, acting: &str, id: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&["evidence", "metadata", "submit"])?;
        let dispute = self.own_dispute(acting, id)?;
        if is_closed(&dispute.status) {
            return Err(closed(id));
        }
        let mut evidence = dispute.evidence.clone();
        if let Some(e) = p.obj("evidence")? {
            e.allow(EVIDENCE_FIELDS)?;
            e.obj("enhanced_evidence")?;
            for field in EVIDENCE_FIELDS
                .iter()
                .filter(|f| **f != "enhanced_evidence")
            {
                if let Some(v) = e.str(field)? {
                    evidence.insert((*field).into(), json!(v));
                }
            }
        }
        let mut metadata = dispute.metadata.clone();
        if let Some(update) = p.metadata()? {
            merge_metadata(&mut metadata, update)?;
        }
        let submit = p.bool("submit")?.unwrap_or(true);
        let before = self.dispute_json(id);
        let d = self.disputes.get_mut(id).expect("checked above");
        d.evidence = evidence;
        d.metadata = metadata;
        let verdict = d
            .evidence
            .get("uncategorized_text")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if submit {
            d.submission_count += 1;
            d.status = "under_review".into();
        }
        let previous = json!({"evidence": before["evidence"], "status": before["status"], "metadata": before["metadata"]});
        self.emit(
            "charge.dispute.updated",
            acting,
            self.dispute_json(id),
            Some(previous),
        );
        match (submit, verdict.as_deref()) {
            (true, Some("winning_evidence")) => self.close_dispute_as(id, "won"),
            (true, Some("losing_evidence")) => self.close_dispute_as(id, "lost"),
            _ => {}
        }
        Ok(self.dispute_json(id))
    }

    /// `POST /v1/disputes/{id}/close`: accepts the dispute as lost.
    pub fn close_dispute(&mut self, acting: &str, id: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&[])?;
        let dispute = self.own_dispute(acting, id)?;
        if is_closed(&dispute.status) {
            return Err(closed(id));
        }
        self.close_dispute_as(id, "lost");
        Ok(self.dispute_json(id))
    }

    fn close_dispute_as(&mut self, id: &str, status: &str) {
        let Some(d) = self.disputes.get(id).cloned() else {
            return;
        };
        let before_status = d.status.clone();
        if status == "won" {
            let fee = pricing(&d.currency, "currency").map_or(0, |p| p.dispute_fee);
            let txn = self.add_txn(NewTxn {
                account: d.account.clone(),
                amount: d.amount,
                fee: -fee,
                fee_details: vec![(-fee, "stripe_fee".into(), "Dispute fee refund".into())],
                currency: d.currency.clone(),
                kind: "adjustment",
                category: "dispute_reversal",
                source: Some(id.to_owned()),
                available_on: self.now,
                description: Some(format!("Chargeback reversal for {}", d.charge)),
            });
            if let Some(dm) = self.disputes.get_mut(id) {
                dm.txns.push(txn);
                dm.status = "won".into();
            }
            self.emit(
                "charge.dispute.funds_reinstated",
                &d.account,
                self.dispute_json(id),
                None,
            );
        } else if let Some(dm) = self.disputes.get_mut(id) {
            dm.status = status.into();
        }
        self.emit(
            "charge.dispute.closed",
            &d.account,
            self.dispute_json(id),
            Some(json!({"status": before_status})),
        );
    }

    /// The dispute as the API shows it, with its balance transactions in full.
    pub fn dispute_json(&self, id: &str) -> Value {
        let Some(d) = self.disputes.get(id) else {
            return Value::Null;
        };
        let mut evidence: Map<String, Value> = EVIDENCE_FIELDS
            .iter()
            .filter(|f| **f != "enhanced_evidence")
            .map(|f| {
                (
                    (*f).to_owned(),
                    d.evidence.get(*f).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        evidence.insert("enhanced_evidence".into(), json!({}));
        let txns: Vec<Value> = d.txns.iter().map(|t| self.txn_json(t)).collect();
        json!({
            "id": d.id,
            "object": "dispute",
            "amount": d.amount,
            "balance_transactions": txns,
            "charge": d.charge,
            "created": d.created,
            "currency": d.currency,
            "enhanced_eligibility_types": [],
            "evidence": evidence,
            "evidence_details": {
                "due_by": d.created + EVIDENCE_DUE_S,
                "enhanced_eligibility": {},
                "has_evidence": !d.evidence.is_empty(),
                "past_due": false,
                "submission_count": d.submission_count,
            },
            "is_charge_refundable": false,
            "livemode": false,
            "metadata": d.metadata,
            "payment_intent": opt(&d.payment_intent),
            "payment_method_details": {"type": "card", "card": {"brand": "visa", "case_type": "chargeback", "network": "visa", "network_reason_code": "10.4"}},
            "reason": d.reason,
            "status": d.status,
        })
    }
}

const EVIDENCE_FIELDS: &[&str] = &[
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "enhanced_evidence",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
];

fn is_closed(status: &str) -> bool {
    matches!(status, "won" | "lost" | "warning_closed")
}

fn closed(id: &str) -> ApiError {
    ApiError::invalid(
        "status_transition_invalid",
        format!("Dispute {id} is already closed."),
    )
}
