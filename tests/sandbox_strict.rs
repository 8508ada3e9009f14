//! The sandbox refuses what Stripe refuses and accepts what it accepts, at the API
//! version it claims: `expand[]` paths, the payment method type filters of a
//! PaymentIntent, and a transfer's `amount`.

use crate::sandbox_support;

use sandbox_support::{err, Env, Reply};
use serde_json::Value;

/// Asserts Stripe's refusal of an `expand` path: a 400 `invalid_request_error` with this
/// message and, as Stripe sends it, neither `code` nor `param`.
fn refused_expansion(r: &Reply, message: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    let e = r.body["error"].as_object().expect("an error object");
    assert_eq!(e["type"], "invalid_request_error", "{}", r.body);
    assert_eq!(e["message"], message, "{}", r.body);
    assert!(!e.contains_key("code"), "{}", r.body);
    assert!(!e.contains_key("param"), "{}", r.body);
}

fn id(v: &Value) -> &str {
    v["id"].as_str().expect("an id")
}

#[tokio::test]
async fn expand_takes_only_what_each_object_can_expand() {
    let env = Env::default().await;
    let pi = env.pay(10_000, "usd", "pm_card_visa").await;
    let pi_path = format!("/v1/payment_intents/{}", id(&pi));
    let charge_id = pi["latest_charge"].as_str().unwrap().to_owned();
    let charge_path = format!("/v1/charges/{charge_id}");

    // Two levels through a reference, and fields Stripe expands that the sandbox
    // renders as `null` (they stay `null`).
    let r = env
        .send(
            "GET",
            &pi_path,
            &[
                ("expand[]", "latest_charge.balance_transaction"),
                ("expand[]", "customer"),
                ("expand[]", "transfer_data.destination"),
            ],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["latest_charge"]["id"], charge_id.as_str());
    assert_eq!(
        r.body["latest_charge"]["balance_transaction"]["object"],
        "balance_transaction"
    );
    assert!(r.body["customer"].is_null());

    // A field that does not exist, a scalar, a hash.
    for (path, bad) in [
        (&pi_path, "latest_charg"),
        (&pi_path, "amount"),
        (&charge_path, "metadata"),
    ] {
        let r = env
            .send("GET", path, &[("expand[]", bad)], None, None)
            .await;
        refused_expansion(&r, &format!("This property cannot be expanded ({bad})."));
    }
    // The message names the path up to the segment that cannot be expanded; one bad
    // path refuses the whole request, in the indexed form too.
    let r = env
        .send(
            "GET",
            &pi_path,
            &[
                ("expand[0]", "latest_charge"),
                ("expand[1]", "latest_charge.bogus.balance_transaction"),
            ],
            None,
            None,
        )
        .await;
    refused_expansion(
        &r,
        "This property cannot be expanded (latest_charge.bogus).",
    );

    // Lists: paths start with `data`, and Stripe says so.
    let seller = env.seller().await;
    env.post(
        "/v1/transfers",
        &[
            ("amount", "1000"),
            ("currency", "usd"),
            ("destination", &seller),
            ("source_transaction", &charge_id),
        ],
    )
    .await;
    let r = env
        .send(
            "GET",
            "/v1/transfers",
            &[("expand[]", "destination")],
            None,
            None,
        )
        .await;
    refused_expansion(
        &r,
        "This property cannot be expanded (destination). You may want to try expanding 'data.destination' instead.",
    );
    let r = env
        .send(
            "GET",
            "/v1/transfers",
            &[
                ("expand[]", "data.destination"),
                ("expand[]", "data.reversals.data.balance_transaction"),
            ],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0]["destination"]["id"], seller.as_str());
    // A list field is entered through its `data`.
    let transfer_path = format!("/v1/transfers/{}", id(&r.body["data"][0]));
    let r = env
        .send(
            "GET",
            &transfer_path,
            &[("expand[]", "reversals.balance_transaction")],
            None,
            None,
        )
        .await;
    refused_expansion(
        &r,
        "This property cannot be expanded (reversals.balance_transaction).",
    );

    // Four levels at most, `data` included.
    let r = env
        .send(
            "GET",
            "/v1/balance_transactions",
            &[(
                "expand[]",
                "data.source.destination_payment.balance_transaction",
            )],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = env
        .send(
            "GET",
            "/v1/balance_transactions",
            &[(
                "expand[]",
                "data.source.destination_payment.balance_transaction.source",
            )],
            None,
            None,
        )
        .await;
    let e = err(
        &r,
        400,
        "invalid_request_error",
        "property_expansion_max_depth",
    );
    assert_eq!(
        e["message"],
        "You cannot expand more than 4 levels of a property. Property: data.source.destination_payment.balance_transaction.source"
    );

    // `expand` is a list of strings.
    let r = env
        .send("GET", &charge_path, &[("expand[a]", "b")], None, None)
        .await;
    let e = err(&r, 400, "invalid_request_error", "parameter_invalid_array");
    assert_eq!(e["param"], "expand");
}

#[tokio::test]
async fn a_bad_expand_on_a_create_changes_nothing_and_is_not_remembered() {
    let env = Env::default().await;
    let form = |expand: &'static str| {
        vec![
            ("amount", "2000"),
            ("currency", "usd"),
            ("payment_method", "pm_card_visa"),
            ("confirm", "true"),
            ("expand[]", expand),
        ]
    };
    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &form("latest_charge.nope"),
            None,
            Some("order_9"),
        )
        .await;
    refused_expansion(&r, "This property cannot be expanded (latest_charge.nope).");
    assert!(env.events(None).await.is_empty());
    assert_eq!(env.balance(None, "usd").await, (0, 0));

    // The refusal was not stored under the key: the corrected request runs.
    let r = env
        .send(
            "POST",
            "/v1/payment_intents",
            &form("latest_charge.balance_transaction"),
            None,
            Some("order_9"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "succeeded");
    // 2.9 % of 20.00 is 0.58, plus 0.30.
    assert_eq!(r.body["latest_charge"]["balance_transaction"]["fee"], 88);
}

/// Creates an unconfirmed PaymentIntent of 10.00 USD paid with a visa.
async fn unconfirmed(env: &Env) -> String {
    let pi = env
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await;
    id(&pi).to_owned()
}

#[tokio::test]
async fn confirm_takes_the_payment_method_type_filters_of_its_version() {
    let env = Env::default().await;

    // Both exist on confirm at 2026-09-30.endive; only card is left for the sandbox.
    let pi = unconfirmed(&env).await;
    let r = env
        .send(
            "POST",
            &format!("/v1/payment_intents/{pi}/confirm"),
            &[
                ("excluded_payment_method_types[]", "ideal"),
                ("excluded_payment_method_types[]", "klarna"),
            ],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "succeeded");
    assert_eq!(r.body["payment_method_types"], serde_json::json!(["card"]));

    // Types that cannot be used are dropped silently, as Stripe does.
    let pi = unconfirmed(&env).await;
    let r = env
        .send(
            "POST",
            &format!("/v1/payment_intents/{pi}/confirm"),
            &[
                ("allowed_payment_method_types[0]", "card"),
                ("allowed_payment_method_types[1]", "ideal"),
            ],
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["payment_method_types"], serde_json::json!(["card"]));

    // Unknown types, a filter that leaves nothing, and the parameter this version
    // removed are refused, and leave the intent unconfirmed.
    let pi = unconfirmed(&env).await;
    let confirm = format!("/v1/payment_intents/{pi}/confirm");
    let r = env
        .send(
            "POST",
            &confirm,
            &[("allowed_payment_method_types[]", "cheque")],
            None,
            None,
        )
        .await;
    let e = err(&r, 400, "invalid_request_error", "parameter_invalid_string");
    assert_eq!(e["param"], "allowed_payment_method_types[0]");
    let r = env
        .send(
            "POST",
            &confirm,
            &[("excluded_payment_method_types[]", "card")],
            None,
            None,
        )
        .await;
    let e = err(
        &r,
        400,
        "invalid_request_error",
        "payment_intent_invalid_parameter",
    );
    assert_eq!(e["param"], "excluded_payment_method_types");
    let r = env
        .send(
            "POST",
            &confirm,
            &[("payment_method_types[]", "card")],
            None,
            None,
        )
        .await;
    let e = err(
        &r,
        400,
        "invalid_request_error",
        "payment_method_types_no_longer_supported",
    );
    assert_eq!(e["param"], "payment_method_types");
    let still = env.get(&format!("/v1/payment_intents/{pi}"), None).await;
    assert_eq!(still["status"], "requires_confirmation");

    // On create: the same removal, and `allowed_…` excludes the other two ways.
    for (extra, code) in [
        (
            ("payment_method_types[]", "card"),
            "payment_method_types_no_longer_supported",
        ),
        (
            ("excluded_payment_method_types[]", "ideal"),
            "parameters_exclusive",
        ),
        (
            ("automatic_payment_methods[enabled]", "true"),
            "parameters_exclusive",
        ),
    ] {
        let mut form = vec![("amount", "1000"), ("currency", "usd"), extra];
        if code == "parameters_exclusive" {
            form.push(("allowed_payment_method_types[]", "card"));
        }
        let r = env
            .send("POST", "/v1/payment_intents", &form, None, None)
            .await;
        err(&r, 400, "invalid_request_error", code);
    }
    let created = env
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("allowed_payment_method_types[]", "card"),
            ],
        )
        .await;
    assert_eq!(created["payment_method_types"], serde_json::json!(["card"]));
}

#[tokio::test]
async fn a_transfer_without_an_amount_is_refused_as_stripe_documents() {
    // Stripe's API reference marks `amount` of POST /v1/transfers "Required" (its
    // OpenAPI file, and so async-stripe, leave it optional).
    let env = Env::default().await;
    let seller = env.seller().await;
    let pi = env.pay(10_000, "usd", "pm_card_visa").await;
    let charge = pi["latest_charge"].as_str().unwrap();
    let r = env
        .send(
            "POST",
            "/v1/transfers",
            &[
                ("currency", "usd"),
                ("destination", &seller),
                ("source_transaction", charge),
            ],
            None,
            None,
        )
        .await;
    let e = err(&r, 400, "invalid_request_error", "parameter_missing");
    assert_eq!(e["param"], "amount");
    assert_eq!(e["message"], "Missing required param: amount.");
    let transfers = env.get("/v1/transfers", None).await;
    assert_eq!(transfers["data"], serde_json::json!([]));
}
