//! The HTTP surface: one dispatcher for the Stripe API (auth, form decoding, the
//! `Stripe-Account` scope, idempotency, expansion) and the onboarding page.

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::expand::{self, Shape};
use super::form;
use super::onboarding;
use super::store::{new_id, Idem, RequestInfo, Store};
use super::transfers::platform_only;
use super::wire::{api_key, keys_match, ApiError, ApiResult, Params};
use super::Shared;

/// Longest `Idempotency-Key`, as Stripe allows.
const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Mounts the sandbox's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/sandbox/onboarding/{token}",
        web::get().to(onboarding_page),
    )
    .route(
        "/sandbox/onboarding/{token}",
        web::post().to(onboarding_submit),
    )
    .default_service(web::to(api));
}

/// What a locked section produced.
struct Answer {
    status: u16,
    body: Value,
    replayed: bool,
}

async fn api(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let request_id = new_id("req");
    let (answer, durable) = handle(&req, &body, &shared, &request_id);
    shared.durable(durable).await;
    let mut response = HttpResponse::build(
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    response
        .insert_header(("Request-Id", request_id.as_str()))
        .insert_header(("Stripe-Version", super::API_VERSION));
    if answer.replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    if let Some(key) = header(&req, "Idempotency-Key") {
        response.insert_header(("Idempotency-Key", key));
    }
    if answer.status >= 400 {
        let retry = matches!(answer.status, 409 | 429);
        response.insert_header(("Stripe-Should-Retry", if retry { "true" } else { "false" }));
    }
    response.json(answer.body)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn error(e: ApiError) -> Answer {
    Answer {
        status: e.status,
        body: e.body(),
        replayed: false,
    }
}

/// Answers a request; with the journal's number to wait for before the answer
/// may leave.
fn handle(
    req: &HttpRequest,
    body: &[u8],
    shared: &Shared,
    request_id: &str,
) -> (Answer, Option<u64>) {
    let refused = |e: ApiError| (error(e), None);
    let authorized = api_key(header(req, "Authorization"))
        .is_some_and(|k| keys_match(&k, &shared.config.secret_key));
    if !authorized {
        return refused(ApiError::unauthorized());
    }
    let method = req.method().clone();
    let raw = if method == Method::POST {
        body
    } else {
        req.query_string().as_bytes()
    };
    let params = match form::decode(raw) {
        Ok(tree) => Params::new(tree),
        Err(e) => return refused(ApiError::invalid("parameter_invalid", e.to_string())),
    };
    let idempotency_key = header(req, "Idempotency-Key").map(str::to_owned);
    if idempotency_key
        .as_ref()
        .is_some_and(|k| k.len() > IDEMPOTENCY_KEY_MAX)
    {
        return refused(ApiError::invalid(
            "idempotency_key_invalid",
            format!("Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters."),
        ));
    }
    let route = format!("{method} {}", req.path());
    let mut store = match shared.store.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    let clock = store.clock();
    store.now = clock;
    store.request = RequestInfo::default();
    store.run_due(clock);
    store.prune();
    store.request = RequestInfo {
        id: Some(request_id.to_owned()),
        idempotency_key: idempotency_key.clone(),
    };
    let answer = match store.acting(header(req, "Stripe-Account")) {
        Err(e) => error(e),
        Ok(acting) => {
            let idem_slot = idempotency_key
                .filter(|_| method == Method::POST)
                .map(|k| format!("{acting}|{k}"));
            match idem_slot.as_ref().and_then(|k| store.idempotency.get(k)) {
                Some(record) if record.route == route && record.params == params.tree() => Answer {
                    status: record.status,
                    body: record.body.clone(),
                    replayed: true,
                },
                Some(_) => error(ApiError::idempotency(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than the one used on the original request.",
                )),
                None => {
                    // Stripe checks `expand` before it runs anything: a bad path changes nothing.
                    let expansions = match shape(&method, req.path()) {
                        Some(shape) => expand::requested(&params, shape),
                        None => Ok(Vec::new()),
                    };
                    let outcome = expansions.and_then(|paths| {
                        let mut v = dispatch(&mut store, &method, req.path(), &acting, &params, &shared.public_url)?;
                        for path in &paths {
                            expand::apply(&store, &mut v, path);
                        }
                        Ok(v)
                    });
                    let answer = match outcome {
                        Ok(v) => Answer { status: 200, body: v, replayed: false },
                        Err(e) => error(e),
                    };
                    if let Some(slot) = idem_slot.filter(|_| matches!(answer.status, 200 | 402)) {
                        let record = Idem {
                            created: store.now,
                            route,
                            params: params.tree(),
                            status: answer.status,
                            body: answer.body.clone(),
                        };
                        store.remember(slot, record);
                    }
                    answer
                }
            }
        }
    };
    // What the request made due at once (a transfer's payment whose funds are
    // available already) is announced now, not at some later request.
    let now = store.now;
    store.run_due(now);
    let durable = shared.hand_on(&mut store);
    (answer, durable)
}

fn dispatch(
    store: &mut Store,
    method: &Method,
    path: &str,
    acting: &str,
    p: &Params,
    public_url: &str,
) -> ApiResult<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    match segments.as_slice() {
        ["v1", "accounts"] if post => {
            platform_only(store, acting)?;
            store.create_account(p)
        }
        ["v1", "account"] if get => {
            p.allow(&[])?;
            store.get_account(acting, acting)
        }
        ["v1", "accounts", id] if get => {
            p.allow(&[])?;
            store.get_account(acting, id)
        }
        ["v1", "accounts", id] if post => store.update_account(acting, id, p),
        ["v1", "account_links"] if post => {
            platform_only(store, acting)?;
            store.create_link(p, public_url)
        }
        ["v1", "test_helpers", "accounts", id, action] if post => {
            platform_only(store, acting)?;
            match *action {
                "complete_onboarding" => {
                    p.allow(&[])?;
                    store.complete_onboarding(id)
                }
                "restrict" => store.restrict(id, p),
                "external_account" => store.set_external_account(id, p),
                _ => Err(unrecognized(method, path)),
            }
        }
        ["v1", "test_helpers", "advance_clock"] if post => {
            platform_only(store, acting)?;
            store.advance_clock(p)
        }
        ["v1", "payment_intents"] if post => store.create_intent(acting, p),
        ["v1", "payment_intents", id] if get => {
            p.allow(&["client_secret"])?;
            store.get_intent(acting, id)
        }
        ["v1", "payment_intents", id, "confirm"] if post => store.confirm_intent(acting, id, p),
        ["v1", "payment_intents", id, "cancel"] if post => store.cancel_intent(acting, id, p),
        ["v1", "charges", id] if get => {
            p.allow(&[])?;
            store.get_charge(acting, id)
        }
        ["v1", "transfers"] if post => store.create_transfer(acting, p),
        ["v1", "transfers"] if get => store.list_transfers(acting, p),
        ["v1", "transfers", id] if get => {
            p.allow(&[])?;
            store.get_transfer(acting, id)
        }
        ["v1", "transfers", id, "reversals"] if post => store.create_reversal(acting, id, p),
        ["v1", "refunds"] if post => store.create_refund(acting, p),
        ["v1", "refunds", id] if get => {
            p.allow(&[])?;
            store.get_refund(acting, id)
        }
        ["v1", "disputes", id] if get => {
            p.allow(&[])?;
            store.get_dispute(acting, id)
        }
        ["v1", "disputes", id] if post => store.update_dispute(acting, id, p),
        ["v1", "disputes", id, "close"] if post => store.close_dispute(acting, id, p),
        ["v1", "balance"] if get => {
            p.allow(&[])?;
            Ok(store.balance_json(acting))
        }
        ["v1", "balance_transactions"] if get => store.list_txns(acting, p),
        ["v1", "balance_transactions", id] if get => {
            p.allow(&[])?;
            store.get_txn(acting, id)
        }
        ["v1", "payouts"] if post => store.create_payout(acting, p),
        ["v1", "payouts"] if get => store.list_payouts(acting, p),
        ["v1", "payouts", id] if get => {
            p.allow(&[])?;
            store.get_payout(acting, id)
        }
        ["v1", "events"] if get => store.list_events(acting, p),
        ["v1", "events", id] if get => {
            p.allow(&[])?;
            store.get_event(acting, id)
        }
        ["v1", "webhook_endpoints"] if post => {
            platform_only(store, acting)?;
            store.create_endpoint(p)
        }
        ["v1", "webhook_endpoints"] if get => {
            platform_only(store, acting)?;
            store.list_endpoints(p)
        }
        ["v1", "webhook_endpoints", id] if get => {
            platform_only(store, acting)?;
            p.allow(&[])?;
            store.get_endpoint(id)
        }
        ["v1", "webhook_endpoints", id] if *method == Method::DELETE => {
            platform_only(store, acting)?;
            store.delete_endpoint(id)
        }
        _ => Err(unrecognized(method, path)),
    }
}

/// What a route answers, for checking its `expand` paths; `None` for a route the
/// sandbox does not have (which [`dispatch`] answers 404).
fn shape(method: &Method, path: &str) -> Option<Shape> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    let shape = match segments.as_slice() {
        ["v1", "accounts"] if post => Shape::Object("account"),
        ["v1", "account"] if get => Shape::Object("account"),
        ["v1", "accounts", _] if get || post => Shape::Object("account"),
        ["v1", "account_links"] if post => Shape::Object("account_link"),
        ["v1", "test_helpers", "accounts", _, _] if post => Shape::Object("account"),
        ["v1", "test_helpers", "advance_clock"] if post => Shape::Object("test_helpers.clock"),
        ["v1", "payment_intents"] if post => Shape::Object("payment_intent"),
        ["v1", "payment_intents", _] if get => Shape::Object("payment_intent"),
        ["v1", "payment_intents", _, "confirm" | "cancel"] if post => {
            Shape::Object("payment_intent")
        }
        ["v1", "charges", _] if get => Shape::Object("charge"),
        ["v1", "transfers"] if post => Shape::Object("transfer"),
        ["v1", "transfers"] if get => Shape::List("transfer"),
        ["v1", "transfers", _] if get => Shape::Object("transfer"),
        ["v1", "transfers", _, "reversals"] if post => Shape::Object("transfer_reversal"),
        ["v1", "refunds"] if post => Shape::Object("refund"),
        ["v1", "refunds", _] if get => Shape::Object("refund"),
        ["v1", "disputes", _] if get || post => Shape::Object("dispute"),
        ["v1", "disputes", _, "close"] if post => Shape::Object("dispute"),
        ["v1", "balance"] if get => Shape::Object("balance"),
        ["v1", "balance_transactions"] if get => Shape::List("balance_transaction"),
        ["v1", "balance_transactions", _] if get => Shape::Object("balance_transaction"),
        ["v1", "payouts"] if post => Shape::Object("payout"),
        ["v1", "payouts"] if get => Shape::List("payout"),
        ["v1", "payouts", _] if get => Shape::Object("payout"),
        ["v1", "events"] if get => Shape::List("event"),
        ["v1", "events", _] if get => Shape::Object("event"),
        ["v1", "webhook_endpoints"] if post => Shape::Object("webhook_endpoint"),
        ["v1", "webhook_endpoints"] if get => Shape::List("webhook_endpoint"),
        ["v1", "webhook_endpoints", _] if get => Shape::Object("webhook_endpoint"),
        ["v1", "webhook_endpoints", _] if *method == Method::DELETE => {
            Shape::Object("deleted_webhook_endpoint")
        }
        _ => return None,
    };
    Some(shape)
}

fn unrecognized(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        404,
        "invalid_request_error",
        "resource_missing",
        format!("Unrecognized request URL ({method}: {path})."),
    )
}

async fn onboarding_page(token: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    let mut store = match shared.store.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    store.now = store.clock();
    match store.onboarding_known(&token) {
        Ok(known) => html(StatusCode::OK, onboarding::page(&known, &known.values, &[])),
        Err(refresh) => gone(refresh),
    }
}

/// The form's POST: a refused submission shows the form again (422) and changes
/// nothing, the link included, so the seller can correct it and submit again.
async fn onboarding_submit(
    token: web::Path<String>,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    // Bodies the decoder refuses (too many fields, broken keys) hold no form to correct.
    let Ok(tree) = form::decode(&body) else {
        return html(StatusCode::BAD_REQUEST, onboarding::unreadable_page());
    };
    let values = onboarding::Values::from_form(&tree);
    let (result, durable) = submit_locked(&token, &values, &shared);
    shared.durable(durable).await;
    match result {
        Ok(Some(return_url)) => HttpResponse::SeeOther()
            .insert_header(("Location", return_url))
            .finish(),
        Ok(None) => html(StatusCode::OK, onboarding::done_page()),
        Err(response) => response,
    }
}

/// The form's submission under the store's lock; with the journal's number to
/// wait for before answering.
fn submit_locked(
    token: &str,
    values: &onboarding::Values,
    shared: &Shared,
) -> (Result<Option<String>, HttpResponse>, Option<u64>) {
    let mut store = match shared.store.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    let clock = store.clock();
    store.now = clock;
    store.request = RequestInfo::default();
    store.run_due(clock);
    let result = match store.onboarding_known(token) {
        Err(refresh) => Err(gone(refresh)),
        Ok(known) => match onboarding::parse(values, &known, onboarding::today(clock)) {
            Err(errors) => Err(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                onboarding::page(&known, values, &errors),
            )),
            Ok(details) => store.submit_onboarding(token, details).map_err(gone),
        },
    };
    let durable = shared.hand_on(&mut store);
    (result, durable)
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// An expired, used or unknown link: back to `refresh_url` if there is one.
fn gone(refresh: Option<String>) -> HttpResponse {
    match refresh {
        Some(url) => HttpResponse::Found()
            .insert_header(("Location", url))
            .finish(),
        None => html(StatusCode::NOT_FOUND, onboarding::gone_page()),
    }
}
