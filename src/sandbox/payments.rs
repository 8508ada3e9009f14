//! PaymentIntents with Stripe's test payment methods, and the charges they make
//! (refunds and disputes live in their own modules).

use serde_json::{json, Value};

use super::balances::NewTxn;
use super::pricing::pricing;
use super::store::{new_id, opt, Charge, Intent, Store};
use super::wire::{ApiError, ApiResult, Params};

/// What a test payment method does when confirmed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeed,
    Dispute,
    Decline {
        code: &'static str,
        decline_code: &'static str,
        message: &'static str,
    },
}

const DECLINED: &str = "Your card was declined.";

/// Stripe's test payment methods the sandbox knows: id, brand, last4, outcome.
const TEST_METHODS: &[(&str, &str, &str, Outcome)] = &[
    ("pm_card_visa", "visa", "4242", Outcome::Succeed),
    ("pm_card_mastercard", "mastercard", "4444", Outcome::Succeed),
    ("pm_card_amex", "amex", "8431", Outcome::Succeed),
    ("pm_card_createDispute", "visa", "0259", Outcome::Dispute),
    (
        "pm_card_chargeDeclined",
        "visa",
        "0002",
        Outcome::Decline {
            code: "card_declined",
            decline_code: "generic_decline",
            message: DECLINED,
        },
    ),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "visa",
        "9995",
        Outcome::Decline {
            code: "card_declined",
            decline_code: "insufficient_funds",
            message: "Your card has insufficient funds.",
        },
    ),
    (
        "pm_card_chargeDeclinedFraudulent",
        "visa",
        "0019",
        Outcome::Decline {
            code: "card_declined",
            decline_code: "fraudulent",
            message: DECLINED,
        },
    ),
    (
        "pm_card_chargeDeclinedExpiredCard",
        "visa",
        "0069",
        Outcome::Decline {
            code: "expired_card",
            decline_code: "expired_card",
            message: "Your card has expired.",
        },
    ),
];

fn test_method(id: &str) -> ApiResult<(&'static str, &'static str, Outcome)> {
    TEST_METHODS
        .iter()
        .find(|(m, ..)| *m == id)
        .map(|(_, brand, last4, outcome)| (*brand, *last4, *outcome))
        .ok_or_else(|| {
            ApiError::no_such("PaymentMethod", id, Some("payment_method")).with_status(400)
        })
}

const PI_CREATE_PARAMS: &[&str] = &[
    "amount",
    "currency",
    "payment_method",
    "confirm",
    "transfer_group",
    "metadata",
    "description",
    "payment_method_types",
    "automatic_payment_methods",
    "receipt_email",
    "capture_method",
    "confirmation_method",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "return_url",
    "off_session",
    "error_on_requires_action",
    "payment_method_options",
    "use_stripe_sdk",
    "allowed_payment_method_types",
    "excluded_payment_method_types",
];
const PI_CONFIRM_PARAMS: &[&str] = &[
    "allowed_payment_method_types",
    "excluded_payment_method_types",
    "payment_method_types",
    "payment_method",
    "return_url",
    "off_session",
    "error_on_requires_action",
    "receipt_email",
    "payment_method_options",
    "use_stripe_sdk",
];

/// The payment method types the sandbox can charge.
const SUPPORTED_TYPES: &[&str] = &["card"];

/// What `allowed_payment_method_types[]` takes at `2026-09-30.endive` (async-stripe
/// 1.0.0-rc.10's `PaymentIntentAllowedPaymentMethodTypes`).
#[rustfmt::skip]
const ALLOWED_TYPES: &[&str] = &[
    "acss_debit", "affirm", "afterpay_clearpay", "alipay", "alma", "amazon_pay",
    "au_becs_debit", "bacs_debit", "bancontact", "billie", "bizum", "blik",
    "boku_promptpay", "boleto", "capchase_pay", "card", "card_present", "cashapp",
    "check_scan", "click_to_pay", "crypto", "customer_balance", "demo_pay", "duitnow",
    "dummy_auth_push", "dummy_passthrough_card", "edenred", "eps", "fpx", "gcash",
    "getbalance", "gift_card", "giropay", "gopay", "grabpay", "id_bank_transfer", "ideal",
    "interac_present", "kakao_pay", "klarna", "knet", "konbini", "kr_card", "kr_market",
    "kriya", "link", "mb_way", "mobilepay", "momo", "mondu", "multibanco", "naver_pay",
    "netbanking", "ng_bank", "ng_bank_transfer", "ng_card", "ng_market", "ng_ussd",
    "ng_wallet", "nz_bank_account", "octopus", "oxxo", "p24", "paper_check", "pay_by_bank",
    "payco", "paynow", "paypal", "paypay", "payto", "pix", "promptpay", "qris", "rechnung",
    "revolut_pay", "samsung_pay", "satispay", "scalapay", "sepa_debit", "sequra",
    "shop_pay", "shopeepay", "sofort", "south_korea_market", "stripe_balance", "sunbit",
    "swish", "tamara", "test_pay", "touch_n_go", "truemoney", "twint", "upi",
    "us_bank_account", "us_cash_voucher", "vipps", "wechat_pay", "wero", "zip",
];

/// What `excluded_payment_method_types[]` takes at `2026-09-30.endive`
/// (`PaymentIntentExcludedPaymentMethodTypes`).
#[rustfmt::skip]
const EXCLUDED_TYPES: &[&str] = &[
    "acss_debit", "affirm", "afterpay_clearpay", "alipay", "alma", "amazon_pay",
    "au_becs_debit", "bacs_debit", "bancontact", "billie", "bizum", "blik", "boleto", "card",
    "cashapp", "crypto", "customer_balance", "eps", "fpx", "giropay", "grabpay", "ideal",
    "kakao_pay", "klarna", "konbini", "kr_card", "mb_way", "mobilepay", "multibanco",
    "naver_pay", "nz_bank_account", "oxxo", "p24", "pay_by_bank", "payco", "paynow",
    "paypal", "paypay", "payto", "pix", "promptpay", "revolut_pay", "samsung_pay",
    "satispay", "scalapay", "sepa_debit", "sequra", "sofort", "sunbit", "swish", "twint",
    "upi", "us_bank_account", "wechat_pay", "zip",
];

/// A list parameter whose every element must be one of `choices`.
fn type_list(p: &Params, key: &str, choices: &[&str]) -> ApiResult<Vec<String>> {
    let items = p.list(key)?;
    if let Some(i) = items.iter().position(|t| !choices.contains(&t.as_str())) {
        let param = format!("{key}[{i}]");
        return Err(ApiError::param(
            "parameter_invalid_string",
            &param,
            format!("Invalid {param}: must be one of {}", choices.join(", ")),
        ));
    }
    Ok(items)
}

/// The payment method types create or confirm asks for, from
/// `allowed_payment_method_types` or `excluded_payment_method_types`; `None` when
/// neither is given. `automatic` says whether `automatic_payment_methods` was given.
///
/// At `2026-09-30.endive` `payment_method_types` is no longer writable (400
/// `payment_method_types_no_longer_supported`), and `allowed_…` excludes both
/// `excluded_…` and `automatic_payment_methods` (changelogs 2026-07-29.dahlia and
/// 2026-09-30.endive). Stripe drops the allowed types that cannot be used; only card
/// can in the sandbox.
fn method_types(p: &Params, automatic: bool) -> ApiResult<Option<Vec<String>>> {
    if p.has("payment_method_types") {
        return Err(ApiError::param(
            "payment_method_types_no_longer_supported",
            "payment_method_types",
            format!(
                "payment_method_types can no longer be set on API version {}; use allowed_payment_method_types or excluded_payment_method_types.",
                super::API_VERSION
            ),
        ));
    }
    let allowed = type_list(p, "allowed_payment_method_types", ALLOWED_TYPES)?;
    let excluded = type_list(p, "excluded_payment_method_types", EXCLUDED_TYPES)?;
    if !allowed.is_empty() && (!excluded.is_empty() || automatic) {
        let other = if automatic {
            "automatic_payment_methods"
        } else {
            "excluded_payment_method_types"
        };
        return Err(ApiError::param(
            "parameters_exclusive",
            "allowed_payment_method_types",
            format!("You cannot pass both allowed_payment_method_types and {other}."),
        ));
    }
    let (param, types): (&str, Vec<String>) = if !allowed.is_empty() {
        let kept = SUPPORTED_TYPES
            .iter()
            .filter(|t| allowed.iter().any(|a| a == *t))
            .map(|t| (*t).to_owned())
            .collect();
        ("allowed_payment_method_types", kept)
    } else if !excluded.is_empty() {
        let kept = SUPPORTED_TYPES
            .iter()
            .filter(|t| !excluded.iter().any(|e| e == *t))
            .map(|t| (*t).to_owned())
            .collect();
        ("excluded_payment_method_types", kept)
    } else {
        return Ok(None);
    };
    if types.is_empty() {
        return Err(ApiError::param(
            "payment_intent_invalid_parameter",
            param,
            "No payment method type is left: the sandbox supports only card payments.",
        ));
    }
    Ok(Some(types))
}

impl Store {
    /// `POST /v1/payment_intents` (with `confirm=true`, also confirms).
    pub fn create_intent(&mut self, acting: &str, p: &Params) -> ApiResult<Value> {
        p.allow(PI_CREATE_PARAMS)?;
        let amount = p.req_amount("amount")?;
        let currency = p.req_str("currency")?.to_lowercase();
        let price = pricing(&currency, "currency")?;
        if amount < price.minimum {
            return Err(ApiError::param(
                "amount_too_small",
                "amount",
                format!("Amount must be at least {} {currency}", price.minimum),
            ));
        }
        if let Some(pm) = p.str("payment_method")? {
            test_method(&pm)?;
        }
        p.choice("capture_method", &["automatic", "automatic_async"])?;
        p.choice("confirmation_method", &["automatic", "manual"])?;
        let automatic = match p.obj("automatic_payment_methods")? {
            Some(a) => {
                a.allow(&["enabled", "allow_redirects"])?;
                a.choice("allow_redirects", &["always", "never"])?;
                a.bool("enabled")?.unwrap_or(false)
            }
            None => false,
        };
        let types = method_types(p, p.has("automatic_payment_methods"))?
            .unwrap_or_else(|| SUPPORTED_TYPES.iter().map(|t| (*t).to_owned()).collect());
        for flag in ["off_session", "error_on_requires_action", "use_stripe_sdk"] {
            p.bool(flag)?;
        }
        p.obj("payment_method_options")?;
        let confirm = p.bool("confirm")?.unwrap_or(false);
        let payment_method = p.str("payment_method")?;
        let id = new_id("pi");
        let seq = self.next_seq();
        let intent = Intent {
            id: id.clone(),
            seq,
            account: acting.to_owned(),
            created: self.now,
            amount,
            currency,
            status: if payment_method.is_some() {
                "requires_confirmation".into()
            } else {
                "requires_payment_method".into()
            },
            metadata: p.metadata()?.unwrap_or_default(),
            description: p.str("description")?,
            transfer_group: p.str("transfer_group")?,
            payment_method,
            payment_method_types: types,
            automatic_payment_methods: automatic,
            receipt_email: p.str("receipt_email")?,
            latest_charge: None,
            last_payment_error: None,
            canceled_at: None,
            cancellation_reason: None,
            client_secret: format!("{id}_secret_{}", &new_id("s")[2..]),
        };
        self.intents.insert(id.clone(), intent);
        let created = self.intent_json(&id);
        self.emit("payment_intent.created", acting, created.clone(), None);
        if confirm {
            return self.confirm(&id);
        }
        Ok(created)
    }

    fn own_intent(&self, acting: &str, id: &str) -> ApiResult<&Intent> {
        self.intents
            .get(id)
            .filter(|i| i.account == acting)
            .ok_or_else(|| ApiError::no_such("payment_intent", id, Some("intent")))
    }

    /// `GET /v1/payment_intents/{id}`.
    pub fn get_intent(&self, acting: &str, id: &str) -> ApiResult<Value> {
        self.own_intent(acting, id)?;
        Ok(self.intent_json(id))
    }

    /// `POST /v1/payment_intents/{id}/confirm`.
    pub fn confirm_intent(&mut self, acting: &str, id: &str, p: &Params) -> ApiResult<Value> {
        p.allow(PI_CONFIRM_PARAMS)?;
        let intent = self.own_intent(acting, id)?;
        if !matches!(
            intent.status.as_str(),
            "requires_payment_method" | "requires_confirmation"
        ) {
            return Err(unexpected_state(intent, "confirm"));
        }
        let pm = match p.str("payment_method")? {
            Some(pm) => pm,
            None => intent.payment_method.clone().ok_or_else(|| {
                ApiError::param(
                    "payment_intent_unexpected_state",
                    "payment_method",
                    "You cannot confirm this PaymentIntent because it's missing a payment method.",
                )
            })?,
        };
        test_method(&pm)?;
        let types = method_types(p, false)?;
        for flag in ["off_session", "error_on_requires_action", "use_stripe_sdk"] {
            p.bool(flag)?;
        }
        let receipt_email = p.str("receipt_email")?;
        let intent = self.intents.get_mut(id).expect("checked above");
        intent.payment_method = Some(pm);
        if let Some(types) = types {
            intent.payment_method_types = types;
        }
        if receipt_email.is_some() {
            intent.receipt_email = receipt_email;
        }
        self.confirm(id)
    }

    /// Runs the payment: a succeeded or failed charge, events, and a dispute if asked for.
    fn confirm(&mut self, id: &str) -> ApiResult<Value> {
        let intent = self.intents.get(id).cloned().expect("caller checked");
        let pm = intent.payment_method.clone().unwrap_or_default();
        let (_, _, outcome) = test_method(&pm)?;
        let charge_id = new_id("ch");
        let seq = self.next_seq();
        let mut charge = Charge {
            id: charge_id.clone(),
            seq,
            account: intent.account.clone(),
            created: self.now,
            amount: intent.amount,
            currency: intent.currency.clone(),
            status: "succeeded".into(),
            payment_intent: Some(id.to_owned()),
            payment_method: Some(pm),
            txn: None,
            amount_refunded: 0,
            refunds: Vec::new(),
            dispute: None,
            failure_code: None,
            failure_message: None,
            decline_code: None,
            metadata: intent.metadata.clone(),
            description: intent.description.clone(),
            transfer_group: intent.transfer_group.clone(),
            source_transfer: None,
            available_on: self.now + self.timing.funds_delay_s,
            transferred: 0,
        };
        if let Outcome::Decline {
            code,
            decline_code,
            message,
        } = outcome
        {
            charge.status = "failed".into();
            charge.failure_code = Some(code.into());
            charge.failure_message = Some(message.into());
            charge.decline_code = Some(decline_code.into());
            self.charges.insert(charge_id.clone(), charge);
            let error = json!({
                "charge": charge_id,
                "code": code,
                "decline_code": decline_code,
                "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
                "message": message,
                "type": "card_error",
            });
            let i = self.intents.get_mut(id).expect("exists");
            i.status = "requires_payment_method".into();
            i.latest_charge = Some(charge_id.clone());
            i.last_payment_error = Some(error);
            let owner = intent.account.clone();
            self.emit("charge.failed", &owner, self.charge_json(&charge_id), None);
            let pi = self.intent_json(id);
            self.emit("payment_intent.payment_failed", &owner, pi.clone(), None);
            return Err(ApiError::new(402, "card_error", code, message)
                .with("decline_code", json!(decline_code))
                .with("charge", json!(charge_id))
                .with("payment_intent", pi));
        }
        let price = pricing(&intent.currency, "currency")?;
        let fee = price.processing_fee(intent.amount);
        let txn = self.add_txn(NewTxn {
            account: intent.account.clone(),
            amount: intent.amount,
            fee,
            fee_details: vec![(fee, "stripe_fee".into(), "Stripe processing fees".into())],
            currency: intent.currency.clone(),
            kind: "charge",
            category: "charge",
            source: Some(charge_id.clone()),
            available_on: charge.available_on,
            description: intent.description.clone(),
        });
        charge.txn = Some(txn);
        self.charges.insert(charge_id.clone(), charge);
        let i = self.intents.get_mut(id).expect("exists");
        i.status = "succeeded".into();
        i.latest_charge = Some(charge_id.clone());
        i.last_payment_error = None;
        let owner = intent.account.clone();
        self.emit(
            "charge.succeeded",
            &owner,
            self.charge_json(&charge_id),
            None,
        );
        let pi = self.intent_json(id);
        self.emit("payment_intent.succeeded", &owner, pi.clone(), None);
        if outcome == Outcome::Dispute {
            self.open_dispute(&charge_id);
        }
        Ok(pi)
    }

    /// `POST /v1/payment_intents/{id}/cancel`.
    pub fn cancel_intent(&mut self, acting: &str, id: &str, p: &Params) -> ApiResult<Value> {
        p.allow(&["cancellation_reason"])?;
        let reason = p.choice(
            "cancellation_reason",
            &[
                "duplicate",
                "fraudulent",
                "requested_by_customer",
                "abandoned",
            ],
        )?;
        let intent = self.own_intent(acting, id)?;
        if matches!(intent.status.as_str(), "succeeded" | "canceled") {
            return Err(unexpected_state(intent, "cancel"));
        }
        let now = self.now;
        let i = self.intents.get_mut(id).expect("checked above");
        i.status = "canceled".into();
        i.canceled_at = Some(now);
        i.cancellation_reason = reason;
        let pi = self.intent_json(id);
        self.emit("payment_intent.canceled", acting, pi.clone(), None);
        Ok(pi)
    }

    /// `GET /v1/charges/{id}` (also `py_` payments of a connected account).
    pub fn get_charge(&self, acting: &str, id: &str) -> ApiResult<Value> {
        self.charges
            .get(id)
            .filter(|c| c.account == acting)
            .ok_or_else(|| ApiError::no_such("charge", id, Some("id")))?;
        Ok(self.charge_json(id))
    }

    /// The PaymentIntent as the API shows it.
    pub fn intent_json(&self, id: &str) -> Value {
        let Some(i) = self.intents.get(id) else {
            return Value::Null;
        };
        let received = if i.status == "succeeded" { i.amount } else { 0 };
        json!({
            "id": i.id,
            "object": "payment_intent",
            "amount": i.amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": received,
            "application": null,
            "application_fee_amount": null,
            "automatic_payment_methods": if i.automatic_payment_methods { json!({"allow_redirects": "never", "enabled": true}) } else { Value::Null },
            "canceled_at": i.canceled_at,
            "cancellation_reason": opt(&i.cancellation_reason),
            "capture_method": "automatic",
            "client_secret": i.client_secret,
            "confirmation_method": "automatic",
            "created": i.created,
            "currency": i.currency,
            "customer": null,
            "description": opt(&i.description),
            "last_payment_error": i.last_payment_error.clone().unwrap_or(Value::Null),
            "latest_charge": opt(&i.latest_charge),
            "livemode": false,
            "metadata": i.metadata,
            "next_action": null,
            "on_behalf_of": null,
            "payment_method": opt(&i.payment_method),
            "payment_method_options": {},
            "payment_method_types": i.payment_method_types,
            "processing": null,
            "receipt_email": opt(&i.receipt_email),
            "review": null,
            "setup_future_usage": null,
            "shipping": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": i.status,
            "transfer_data": null,
            "transfer_group": opt(&i.transfer_group),
        })
    }

    /// The charge (or `py_` payment) as the API shows it.
    pub fn charge_json(&self, id: &str) -> Value {
        let Some(c) = self.charges.get(id) else {
            return Value::Null;
        };
        let succeeded = c.status == "succeeded";
        let card = c
            .payment_method
            .as_deref()
            .and_then(|pm| test_method(pm).ok());
        let details = match card {
            Some((brand, last4, _)) => json!({
                "type": "card",
                "card": {
                    "brand": brand, "country": "US", "exp_month": 12, "exp_year": 2034,
                    "funding": "credit", "last4": last4, "network": brand,
                    "checks": {"address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass"},
                },
            }),
            None => json!({"type": "stripe_account", "stripe_account": {}}),
        };
        let outcome = if succeeded {
            json!({"network_status": "approved_by_network", "reason": null, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"})
        } else {
            json!({"network_status": "declined_by_network", "reason": c.decline_code, "risk_level": "normal", "seller_message": "The bank did not return any further details with this decline.", "type": "issuer_declined"})
        };
        let refunds: Vec<Value> = c
            .refunds
            .iter()
            .rev()
            .map(|r| self.refund_json(r))
            .collect();
        json!({
            "id": c.id,
            "object": "charge",
            "amount": c.amount,
            "amount_captured": if succeeded { c.amount } else { 0 },
            "amount_refunded": c.amount_refunded,
            "application": null,
            "application_fee": null,
            "application_fee_amount": null,
            "balance_transaction": opt(&c.txn),
            "billing_details": {
                "address": {"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null},
                "email": null, "name": null, "phone": null, "tax_id": null,
            },
            "calculated_statement_descriptor": "BAZAAR SANDBOX",
            "captured": succeeded,
            "created": c.created,
            "currency": c.currency,
            "customer": null,
            "description": opt(&c.description),
            "disputed": c.dispute.is_some(),
            "failure_balance_transaction": null,
            "failure_code": opt(&c.failure_code),
            "failure_message": opt(&c.failure_message),
            "fraud_details": {},
            "livemode": false,
            "metadata": c.metadata,
            "on_behalf_of": null,
            "outcome": outcome,
            "paid": succeeded,
            "payment_intent": opt(&c.payment_intent),
            "payment_method": opt(&c.payment_method),
            "payment_method_details": details,
            "receipt_email": null,
            "receipt_number": null,
            "refunded": c.amount_refunded == c.amount,
            "refunds": {"object": "list", "data": refunds, "has_more": false, "url": format!("/v1/charges/{}/refunds", c.id)},
            "review": null,
            "source_transfer": opt(&c.source_transfer),
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": c.status,
            "transfer_data": null,
            "transfer_group": opt(&c.transfer_group),
        })
    }
}

fn unexpected_state(intent: &Intent, action: &str) -> ApiError {
    ApiError::invalid(
        "payment_intent_unexpected_state",
        format!(
            "You cannot {action} this PaymentIntent because it has a status of {}.",
            intent.status
        ),
    )
}
