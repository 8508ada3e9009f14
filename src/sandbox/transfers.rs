//! Transfers from the platform to connected accounts, and their reversals.
//!
//! A transfer with `source_transaction` draws on that charge's funds: it may be made
//! before they are available (the money then becomes available to the seller when the
//! charge's does), but never for more than the charge has left after refunds and earlier
//! transfers (net of their reversals).

use serde_json::{json, Value};

use super::balances::NewTxn;
use super::pricing::pricing;
use super::store::{list, new_id, opt, Charge, ListItem, Page, Reversal, Store, Transfer};
use super::wire::{ApiError, ApiResult, Params};

impl Store {
    /// `POST /v1/transfers`.
    pub fn create_transfer(&mut self, acting: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&[
            "amount",
            "currency",
            "destination",
            "source_transaction",
            "transfer_group",
            "metadata",
            "description",
            "source_type",
        ])?;
        platform_only(self, acting)?;
        let amount = p.req_amount("amount")?;
        let currency = p.req_str("currency")?.to_lowercase();
        pricing(&currency, "currency")?;
        let destination = p.req_str("destination")?;
        p.choice("source_type", &["card", "bank_account", "fpx"])?;
        let metadata = p.metadata()?.unwrap_or_default();
        // Every parameter is read before anything changes: errors leave no trace.
        let description = p.str("description")?;
        let transfer_group = p.str("transfer_group")?;
        if self
            .accounts
            .get(&destination)
            .is_none_or(|a| a.is_platform)
        {
            return Err(ApiError::param(
                "resource_missing",
                "destination",
                format!("No such destination: '{destination}'"),
            ));
        }
        if !self.transfers_active(&destination) {
            return Err(ApiError::param(
                "insufficient_capabilities_for_transfer",
                "destination",
                "Your destination account needs to have at least one of the following capabilities enabled: transfers, legacy_payments",
            ));
        }
        let source = match p.str("source_transaction")? {
            Some(id) => Some(self.transfer_source(acting, &id, amount, &currency)?),
            None => {
                let available = self.available(acting, &currency);
                if available < amount {
                    return Err(ApiError::invalid(
                        "balance_insufficient",
                        format!("You have insufficient available funds in your Stripe account ({available} {currency} available)."),
                    ));
                }
                None
            }
        };
        let available_on = source
            .as_ref()
            .map_or(self.now, |c| c.available_on.max(self.now));
        let id = new_id("tr");
        let payment_id = new_id("py");
        let txn = self.add_txn(NewTxn {
            account: acting.to_owned(),
            amount: -amount,
            fee: 0,
            fee_details: Vec::new(),
            currency: currency.clone(),
            kind: "transfer",
            category: "transfer",
            source: Some(id.clone()),
            available_on,
            description: description.clone(),
        });
        let payment_txn = self.add_txn(NewTxn {
            account: destination.clone(),
            amount,
            fee: 0,
            fee_details: Vec::new(),
            currency: currency.clone(),
            kind: "payment",
            category: "charge",
            source: Some(payment_id.clone()),
            available_on,
            description: None,
        });
        let seq = self.next_seq();
        self.charges.insert(
            payment_id.clone(),
            Charge {
                id: payment_id.clone(),
                seq,
                account: destination.clone(),
                created: self.now,
                amount,
                currency: currency.clone(),
                status: "succeeded".into(),
                payment_intent: None,
                payment_method: None,
                txn: Some(payment_txn),
                amount_refunded: 0,
                refunds: Vec::new(),
                dispute: None,
                failure_code: None,
                failure_message: None,
                decline_code: None,
                metadata: Default::default(),
                description: None,
                transfer_group: transfer_group.clone(),
                source_transfer: Some(id.clone()),
                available_on,
                transferred: 0,
            },
        );
        if let Some(c) = source.as_ref().and_then(|c| self.charges.get_mut(&c.id)) {
            c.transferred += amount;
        }
        let seq = self.next_seq();
        self.transfers.insert(
            id.clone(),
            Transfer {
                id: id.clone(),
                seq,
                account: acting.to_owned(),
                created: self.now,
                amount,
                amount_reversed: 0,
                currency,
                destination,
                destination_payment: payment_id,
                source_transaction: source.map(|c| c.id),
                transfer_group,
                description,
                metadata,
                txn,
                reversals: Vec::new(),
            },
        );
        let json = self.transfer_json(&id);
        self.emit("transfer.created", acting, json.clone(), None);
        Ok(json)
    }

    /// Checks a `source_transaction` and returns its charge.
    fn transfer_source(
        &self,
        acting: &str,
        id: &str,
        amount: i64,
        currency: &str,
    ) -> ApiResult<Charge> {
        let charge = self
            .charges
            .get(id)
            .filter(|c| {
                c.account == acting && c.status == "succeeded" && c.payment_intent.is_some()
            })
            .ok_or_else(|| {
                ApiError::param(
                    "resource_missing",
                    "source_transaction",
                    format!("No such charge: '{id}'"),
                )
            })?;
        if charge.currency != currency {
            return Err(ApiError::param(
                "currency_mismatch",
                "currency",
                format!(
                    "The currency of source_transaction's balance transaction ({}) must be the same as the transfer currency ({currency}).",
                    charge.currency
                ),
            ));
        }
        let left = charge.amount - charge.amount_refunded - charge.transferred;
        if amount > left {
            return Err(ApiError::param(
                "amount_too_large",
                "amount",
                format!(
                    "Transfer amount ({amount}) is more than what is left on source_transaction {id} ({left})."
                ),
            ));
        }
        Ok(charge.clone())
    }

    /// `GET /v1/transfers/{id}`.
    pub fn get_transfer(&self, acting: &str, id: &str) -> ApiResult<Value> {
        self.own_transfer(acting, id)?;
        Ok(self.transfer_json(id))
    }

    fn own_transfer(&self, acting: &str, id: &str) -> ApiResult<&Transfer> {
        self.transfers
            .get(id)
            .filter(|t| t.account == acting)
            .ok_or_else(|| ApiError::no_such("transfer", id, Some("id")))
    }

    /// `GET /v1/transfers`: filters `destination`, `transfer_group`.
    pub fn list_transfers(&self, acting: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&[
            "destination",
            "transfer_group",
            "created",
            "limit",
            "starting_after",
            "ending_before",
        ])?;
        let page = Page::from_params(p)?;
        let created = p.range("created")?.unwrap_or_default();
        let destination = p.str("destination")?;
        let group = p.str("transfer_group")?;
        let items = self
            .transfers
            .values()
            .filter(|t| t.account == acting)
            .filter(|t| destination.as_ref().is_none_or(|d| *d == t.destination))
            .filter(|t| group.is_none() || group == t.transfer_group)
            .filter(|t| created.contains(t.created))
            .map(|t| ListItem {
                created: t.created,
                seq: t.seq,
                id: t.id.clone(),
                json: self.transfer_json(&t.id),
            })
            .collect();
        list(items, &page, "/v1/transfers")
    }

    /// `POST /v1/transfers/{id}/reversals`: by default, whatever is not yet reversed.
    pub fn create_reversal(&mut self, acting: &str, id: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&[
            "amount",
            "metadata",
            "description",
            "refund_application_fee",
        ])?;
        let transfer = self.own_transfer(acting, id)?.clone();
        p.bool("refund_application_fee")?;
        let metadata = p.metadata()?.unwrap_or_default();
        let description = p.str("description")?;
        let left = transfer.amount - transfer.amount_reversed;
        if left == 0 {
            return Err(ApiError::param(
                "amount_too_large",
                "amount",
                format!("Transfer {id} has already been fully reversed."),
            ));
        }
        let amount = p.amount("amount")?.unwrap_or(left);
        if amount > left {
            return Err(ApiError::param(
                "amount_too_large",
                "amount",
                format!(
                    "Reversal amount ({amount}) is more than what is left to reverse ({left})."
                ),
            ));
        }
        let before = self.transfer_json(id);
        let reversal_id = new_id("trr");
        let refund_id = new_id("pyr");
        let txn = self.add_txn(NewTxn {
            account: acting.to_owned(),
            amount,
            fee: 0,
            fee_details: Vec::new(),
            currency: transfer.currency.clone(),
            kind: "transfer_refund",
            category: "transfer_reversal",
            source: Some(reversal_id.clone()),
            available_on: self.now,
            description,
        });
        self.add_txn(NewTxn {
            account: transfer.destination.clone(),
            amount: -amount,
            fee: 0,
            fee_details: Vec::new(),
            currency: transfer.currency.clone(),
            kind: "payment_refund",
            category: "refund",
            source: Some(refund_id.clone()),
            available_on: self.now,
            description: None,
        });
        let seq = self.next_seq();
        self.reversals.insert(
            reversal_id.clone(),
            Reversal {
                id: reversal_id.clone(),
                seq,
                created: self.now,
                amount,
                currency: transfer.currency.clone(),
                transfer: id.to_owned(),
                txn,
                destination_refund: refund_id,
                metadata,
            },
        );
        let t = self.transfers.get_mut(id).expect("checked above");
        t.amount_reversed += amount;
        t.reversals.push(reversal_id.clone());
        if let Some(c) = transfer
            .source_transaction
            .as_ref()
            .and_then(|c| self.charges.get_mut(c))
        {
            c.transferred -= amount;
        }
        if let Some(py) = self.charges.get_mut(&transfer.destination_payment) {
            py.amount_refunded += amount;
        }
        let previous = json!({
            "amount_reversed": before["amount_reversed"],
            "reversed": before["reversed"],
            "reversals": before["reversals"],
        });
        let after = self.transfer_json(id);
        self.emit(
            "transfer.reversed",
            acting,
            after.clone(),
            Some(previous.clone()),
        );
        self.emit("transfer.updated", acting, after, Some(previous));
        Ok(self.reversal_json(&reversal_id))
    }

    /// The transfer as the API shows it, with its reversals.
    pub fn transfer_json(&self, id: &str) -> Value {
        let Some(t) = self.transfers.get(id) else {
            return Value::Null;
        };
        let reversals: Vec<Value> = t
            .reversals
            .iter()
            .rev()
            .map(|r| self.reversal_json(r))
            .collect();
        json!({
            "id": t.id,
            "object": "transfer",
            "amount": t.amount,
            "amount_reversed": t.amount_reversed,
            "balance_transaction": t.txn,
            "created": t.created,
            "currency": t.currency,
            "description": opt(&t.description),
            "destination": t.destination,
            "destination_payment": t.destination_payment,
            "livemode": false,
            "metadata": t.metadata,
            "reversals": {"object": "list", "data": reversals, "has_more": false, "url": format!("/v1/transfers/{}/reversals", t.id)},
            "reversed": t.amount_reversed == t.amount,
            "source_transaction": opt(&t.source_transaction),
            "source_type": "card",
            "transfer_group": opt(&t.transfer_group),
        })
    }

    /// The transfer reversal as the API shows it.
    pub fn reversal_json(&self, id: &str) -> Value {
        let Some(r) = self.reversals.get(id) else {
            return Value::Null;
        };
        json!({
            "id": r.id,
            "object": "transfer_reversal",
            "amount": r.amount,
            "balance_transaction": r.txn,
            "created": r.created,
            "currency": r.currency,
            "destination_payment_refund": r.destination_refund,
            "metadata": r.metadata,
            "source_refund": null,
            "transfer": r.transfer,
        })
    }
}

/// Refuses a request made with `Stripe-Account` where only the platform may act.
pub fn platform_only(store: &Store, acting: &str) -> ApiResult<()> {
    if acting == store.platform {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "platform_account_required",
            "Only the platform can perform this request; do not send Stripe-Account.",
        ))
    }
}
