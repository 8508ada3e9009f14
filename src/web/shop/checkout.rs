//! Checkout, payment and the confirmation: `orders::checkout` and
//! `orders::pay::pay`, the functions behind `POST /v1/checkout` and
//! `POST /v1/orders/{id}/pay`.
//!
//! The address form shows each shop's shipping to the country selected (the
//! one chosen on the cart page, else the United States) and the total with
//! it, which is the total the buyer agrees to. Submitted with another
//! country, the form comes back with that country's shipping and total to
//! confirm (no script needed); nothing is ordered until then.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::cart::{with_shipping, ShippingSummary};
use super::views::{countries, country_name, CartGroups, Country, COUNTRIES};
use crate::auth::{Caller, Role};
use crate::config::{ProviderKind, Settings};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::rate_limit::RateLimits;
use crate::orders::model::{BuyerOrderView, CheckoutRequest, OrderStatus, Shipping};
use crate::orders::{self, cart, pay};
use crate::payments::Provider;
use crate::web::format::{price, status_label};
use crate::web::forms::{sentence, FormErrors};
use crate::web::render::{self, Caching, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

/// The signed-in buyer, or where to send a visitor first.
fn buyer(visitor: &Visitor, next: &str) -> Result<Result<Caller, HttpResponse>, AppError> {
    match visitor.caller() {
        None => Ok(Err(
            render::see_other(&format!("/signin?next={next}")).finish()
        )),
        Some(caller) => {
            caller.require(&[Role::Buyer])?;
            Ok(Ok(caller.clone()))
        }
    }
}

/// The address form as submitted (or empty).
#[derive(Debug, Default, Deserialize)]
pub(super) struct AddressForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    idempotency_key: String,
    /// The total the page showed, in minor units (one currency only).
    #[serde(default)]
    expected_total: String,
    /// The country whose shipping the page showed (and `expected_total`
    /// includes); another country is shown before anything is ordered.
    #[serde(default)]
    quoted_country: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
}

#[derive(Template)]
#[template(path = "shop/checkout.html", config = "src/web/askama.toml")]
struct CheckoutPage {
    chrome: Chrome,
    meta: Meta,
    cart: CartGroups,
    form: AddressForm,
    countries: Vec<Country>,
    errors: FormErrors,
    /// A line that cannot be bought: the form links back to the cart.
    cart_problem: bool,
    /// Shipping to the country selected.
    shipping: Option<ShippingSummary>,
    /// What changed without a problem (role=status), e.g. a new country's shipping.
    notice: String,
}

/// The buyer's cart with its shipping to `country`.
async fn cart_to(
    pool: &DbPool,
    caller: &Caller,
    country: &str,
) -> Result<cart::CartView, AppError> {
    let buyer_id = caller.user_id.0.clone();
    let cart = db::run(pool, move |conn| cart::cart(conn, &buyer_id)).await?;
    with_shipping(pool, cart, country).await
}

#[allow(clippy::too_many_arguments)]
fn checkout_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    cart: &cart::CartView,
    mut form: AddressForm,
    errors: FormErrors,
    cart_problem: bool,
    notice: String,
    status: StatusCode,
) -> PageResult {
    if form.idempotency_key.is_empty() {
        // One key per rendered form: a double submit makes one order.
        form.idempotency_key = uuid::Uuid::new_v4().to_string();
    }
    if form.country.is_empty() {
        form.country = "US".into();
    }
    // What this page shows is what the buyer agrees to pay: the items and
    // the shipping to the country quoted.
    let totals = match &cart.shipping {
        Some(quote) if quote.ships => &quote.totals,
        _ => &cart.totals,
    };
    form.expected_total = match totals.as_slice() {
        [total] => total.minor.to_string(),
        _ => String::new(),
    };
    form.quoted_country = cart
        .shipping
        .as_ref()
        .map(|quote| quote.country.clone())
        .unwrap_or_default();
    let countries = countries(&form.country);
    let page = CheckoutPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Checkout — Bazaar"),
        cart: CartGroups::of(cart)?,
        form,
        countries,
        errors,
        cart_problem,
        shipping: cart.shipping.as_ref().map(ShippingSummary::of),
        notice,
    };
    Ok(visitor.finish(render::page_with(
        req,
        &page,
        Caching::NoStore,
        status,
        render::PAGE_CSP,
    )?))
}

/// `GET /checkout?country=FR`: the country chosen on the cart page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FormQuery {
    #[serde(default)]
    country: String,
}

pub(super) async fn form(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    query: web::Query<FormQuery>,
) -> PageResult {
    let caller = match buyer(&visitor, "/checkout")? {
        Ok(caller) => caller,
        Err(redirect) => return Ok(visitor.finish(redirect)),
    };
    let country = crate::shipping::model::parse_country(&query.country)
        .filter(|code| COUNTRIES.iter().any(|(c, _)| c == code))
        .unwrap_or_else(|| "US".to_owned());
    let cart = cart_to(&pool, &caller, &country).await?;
    let form = AddressForm {
        country,
        ..AddressForm::default()
    };
    checkout_page(
        &req,
        &mut visitor,
        &cart,
        form,
        FormErrors::none(),
        false,
        String::new(),
        StatusCode::OK,
    )
}

/// The address fields: (API parameter, field id, what to ask for when empty).
const ADDRESS_FIELDS: &[(&str, &str, &str)] = &[
    ("shipping.name", "name", "Enter your full name"),
    (
        "shipping.line1",
        "line1",
        "Enter the first line of your address",
    ),
    (
        "shipping.line2",
        "line2",
        "Shorten the second line of your address",
    ),
    ("shipping.city", "city", "Enter your town or city"),
    (
        "shipping.postal_code",
        "postal_code",
        "Enter your postal code",
    ),
    ("shipping.country", "country", "Choose your country"),
];

/// Every problem of the address at once (the API stops at the first): each
/// field checked alone by the same parser the API uses.
fn address_errors(form: &AddressForm) -> FormErrors {
    let mut errors = FormErrors::none();
    let valid = Shipping {
        name: "A".into(),
        line1: "A".into(),
        line2: None,
        city: "A".into(),
        postal_code: "A".into(),
        country: "US".into(),
    };
    for (param, field, ask) in ADDRESS_FIELDS {
        let mut probe = valid.clone();
        let value = match *field {
            "name" => &form.name,
            "line1" => &form.line1,
            "line2" => &form.line2,
            "city" => &form.city,
            "postal_code" => &form.postal_code,
            _ => &form.country,
        };
        match *field {
            "name" => probe.name = value.clone(),
            "line1" => probe.line1 = value.clone(),
            "line2" => probe.line2 = Some(value.clone()),
            "city" => probe.city = value.clone(),
            "postal_code" => probe.postal_code = value.clone(),
            _ => probe.country = value.clone(),
        }
        if let Err(error) = probe.parse() {
            if error.param() == Some(*param) {
                let message = if value.trim().is_empty() {
                    (*ask).to_owned()
                } else {
                    sentence(&error.to_string().replace(param, "this field"))
                };
                errors.fields.push(crate::web::forms::FieldError {
                    field: (*field).to_owned(),
                    message,
                });
            }
        }
    }
    errors
}

pub(super) async fn submit(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    form: web::Form<AddressForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let caller = match buyer(&visitor, "/checkout")? {
        Ok(caller) => caller,
        Err(redirect) => return Ok(visitor.finish(redirect)),
    };
    let country = crate::shipping::model::parse_country(&form.country);
    if let Some(country) = country.as_ref().filter(|c| {
        !form.quoted_country.is_empty() && **c != form.quoted_country.trim().to_ascii_uppercase()
    }) {
        // The page showed another country's shipping: show this one's, and
        // the total with it, before anything is ordered.
        let cart = cart_to(&pool, &caller, country).await?;
        let notice = format!(
            "Shipping is now to {}: check the total, then continue to payment.",
            country_name(country)
        );
        let mut form = form;
        form.idempotency_key.clear();
        return checkout_page(
            &req,
            &mut visitor,
            &cart,
            form,
            FormErrors::none(),
            false,
            notice,
            StatusCode::OK,
        );
    }
    limits.checkout.take(&caller.user_id.0).await?;
    let request = CheckoutRequest {
        shipping: Shipping {
            name: form.name.clone(),
            line1: form.line1.clone(),
            line2: Some(form.line2.clone()),
            city: form.city.clone(),
            postal_code: form.postal_code.clone(),
            country: form.country.clone(),
        },
        payment_method: None,
        expected_total_minor: form.expected_total.trim().parse().ok(),
    };
    let outcome = match request.parse() {
        Ok(request) => {
            let key = crate::http::idempotency_key(Some(&form.idempotency_key))?;
            let buyer = orders::Buyer {
                user_id: caller.user_id.0.clone(),
                email: caller.email.clone(),
            };
            orders::checkout(
                &pool,
                provider.get_ref(),
                &settings.orders,
                buyer,
                key,
                request,
            )
            .await
        }
        Err(error) => Err(error),
    };
    let error = match outcome {
        Ok(outcome) => {
            let next = format!("/orders/{}/pay", outcome.order.id);
            return Ok(visitor.finish(render::see_other(&next).finish()));
        }
        Err(error) => error,
    };
    let status = actix_web::ResponseError::status_code(&error);
    if !status.is_client_error() || status == StatusCode::FORBIDDEN {
        return Err(PageError(error));
    }
    let quoted = if form.country.trim().is_empty() {
        "US"
    } else {
        form.country.as_str()
    };
    let cart = cart_to(&pool, &caller, quoted).await?;
    let (errors, cart_problem) = if error.code() == "cannot_ship_to" {
        let refusing = cart
            .shipping
            .as_ref()
            .map(|quote| ShippingSummary::of(quote).refusing)
            .filter(|names| !names.is_empty())
            .unwrap_or_else(|| "A shop".to_owned());
        (
            FormErrors::field(
                "country",
                format!(
                    "{refusing} cannot ship to {}: choose another country, or remove its items from your cart",
                    country_name(&form.country)
                ),
            ),
            true,
        )
    } else if error.param().is_some_and(|p| p.starts_with("shipping.")) {
        (address_errors(&form), false)
    } else {
        (
            FormErrors {
                fields: Vec::new(),
                general: Some(sentence(&error.to_string())),
            },
            matches!(
                error.code(),
                "out_of_stock"
                    | "product_unavailable"
                    | "cart_empty"
                    | "mixed_currencies"
                    | "price_changed"
            ),
        )
    };
    let mut form = form;
    // A new attempt is a new order: the next submit gets a fresh key.
    form.idempotency_key.clear();
    checkout_page(
        &req,
        &mut visitor,
        &cart,
        form,
        errors,
        cart_problem,
        String::new(),
        status,
    )
}

/// A test card the sandbox knows, as the payment page offers it.
struct TestCard {
    id: &'static str,
    label: &'static str,
}

/// The sandbox's test payment methods, as its docs name them.
const TEST_CARDS: &[TestCard] = &[
    TestCard {
        id: "pm_card_visa",
        label: "Visa ending 4242 (payment succeeds)",
    },
    TestCard {
        id: "pm_card_chargeDeclined",
        label: "Declined card (payment fails)",
    },
    TestCard {
        id: "pm_card_createDispute",
        label: "Card that will be disputed (payment succeeds)",
    },
];

#[derive(Template)]
#[template(path = "shop/payment.html", config = "src/web/askama.toml")]
struct PaymentPage {
    chrome: Chrome,
    meta: Meta,
    order: OrderSummary,
    sandbox: bool,
    cards: &'static [TestCard],
    chosen: String,
    attempt: String,
    problem: String,
    client_secret: String,
    publishable_key: String,
}

/// What the payment and confirmation pages show of an order.
struct OrderSummary {
    id: String,
    total: String,
    status: String,
    paid: bool,
    payable: bool,
    shops: Vec<(String, String)>,
}

impl OrderSummary {
    fn of(order: &BuyerOrderView) -> Self {
        Self {
            id: order.id.clone(),
            total: price(order.total),
            status: status_label(order.status.as_str()).to_owned(),
            paid: order.status == OrderStatus::Paid,
            payable: order.status == OrderStatus::AwaitingPayment,
            shops: order
                .parts
                .iter()
                .map(|p| (p.shop_name.clone(), price(p.subtotal)))
                .collect(),
        }
    }
}

async fn buyer_order(
    pool: &DbPool,
    caller: &Caller,
    id: String,
) -> Result<BuyerOrderView, AppError> {
    let viewer = caller.user_id.0.clone();
    db::run(pool, move |conn| {
        Ok(BuyerOrderView::from(
            orders::store::order_for(conn, &id, &viewer, false)?.view()?,
        ))
    })
    .await
}

#[allow(clippy::too_many_arguments)]
fn payment_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    settings: &Settings,
    order: &BuyerOrderView,
    chosen: &str,
    problem: String,
    status: StatusCode,
) -> PageResult {
    let sandbox = settings.provider.kind == ProviderKind::Sandbox;
    let page = PaymentPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Payment — Bazaar"),
        order: OrderSummary::of(order),
        sandbox,
        cards: TEST_CARDS,
        chosen: if chosen.is_empty() {
            TEST_CARDS[0].id.to_owned()
        } else {
            chosen.to_owned()
        },
        attempt: uuid::Uuid::new_v4().to_string(),
        problem,
        client_secret: order.payment.client_secret.clone().unwrap_or_default(),
        publishable_key: settings
            .provider
            .publishable_key
            .clone()
            .unwrap_or_default(),
    };
    let csp = if sandbox {
        render::PAGE_CSP
    } else {
        render::PAYMENT_CSP
    };
    Ok(visitor.finish(render::page_with(
        req,
        &page,
        Caching::NoStore,
        status,
        csp,
    )?))
}

pub(super) async fn payment(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    id: web::Path<String>,
) -> PageResult {
    let id = id.into_inner();
    let caller = match buyer(&visitor, &format!("/orders/{id}/pay"))? {
        Ok(caller) => caller,
        Err(redirect) => return Ok(visitor.finish(redirect)),
    };
    let order = buyer_order(&pool, &caller, id).await?;
    if order.status == OrderStatus::Paid {
        return Ok(visitor
            .finish(render::see_other(&format!("/orders/{}/confirmation", order.id)).finish()));
    }
    let problem = order
        .payment
        .last_error
        .as_deref()
        .map(|e| format!("Your last payment did not go through: {}", sentence(e)))
        .unwrap_or_default();
    payment_page(
        &req,
        &mut visitor,
        &settings,
        &order,
        "",
        problem,
        StatusCode::OK,
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct PayForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    payment_method: String,
    #[serde(default)]
    attempt: String,
}

#[allow(clippy::too_many_arguments)] // an actix handler: one argument per extractor
pub(super) async fn pay(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    id: web::Path<String>,
    form: web::Form<PayForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = id.into_inner();
    let caller = match buyer(&visitor, &format!("/orders/{id}/pay"))? {
        Ok(caller) => caller,
        Err(redirect) => return Ok(visitor.finish(redirect)),
    };
    limits.checkout.take(&caller.user_id.0).await?;
    let attempt = crate::http::idempotency_key(Some(&form.attempt))?;
    let paid = match pay::parse_payment_method(&form.payment_method) {
        Ok(method) => {
            pay::pay(
                &pool,
                provider.get_ref(),
                &caller.user_id.0,
                &id,
                &method,
                &attempt,
            )
            .await
        }
        Err(error) => Err(error),
    };
    let problem = match paid {
        Ok(order) => {
            let next = format!("/orders/{}/confirmation", order.id);
            return Ok(visitor.finish(render::see_other(&next).finish()));
        }
        Err(AppError::PaymentDeclined { message }) => format!(
            "Your card was declined: {} Choose another card and try again.",
            sentence(&message)
        ),
        Err(error @ (AppError::Unprocessable { .. } | AppError::Conflict { .. })) => {
            sentence(&error.to_string())
        }
        Err(error) => return Err(PageError(error)),
    };
    let order = buyer_order(&pool, &caller, id).await?;
    payment_page(
        &req,
        &mut visitor,
        &settings,
        &order,
        &form.payment_method,
        problem,
        StatusCode::PAYMENT_REQUIRED,
    )
}

#[derive(Template)]
#[template(path = "shop/confirmation.html", config = "src/web/askama.toml")]
struct ConfirmationPage {
    chrome: Chrome,
    meta: Meta,
    order: OrderSummary,
    email: String,
}

pub(super) async fn confirmation(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    id: web::Path<String>,
) -> PageResult {
    let id = id.into_inner();
    let caller = match buyer(&visitor, &format!("/orders/{id}/confirmation"))? {
        Ok(caller) => caller,
        Err(redirect) => return Ok(visitor.finish(redirect)),
    };
    let order = buyer_order(&pool, &caller, id).await?;
    let page = ConfirmationPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Thank you for your order — Bazaar"),
        order: OrderSummary::of(&order),
        email: caller.email.clone(),
    };
    Ok(visitor.finish(render::page_with(
        &req,
        &page,
        Caching::NoStore,
        StatusCode::OK,
        render::PAGE_CSP,
    )?))
}

/// The order's status for the confirmation page's script: `{"paid", "label"}`.
pub(super) async fn status(
    visitor: Visitor,
    pool: web::Data<DbPool>,
    id: web::Path<String>,
) -> PageResult {
    let Some(caller) = visitor.caller().cloned() else {
        return Err(PageError(AppError::Unauthenticated));
    };
    let order = buyer_order(&pool, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "paid": order.status == OrderStatus::Paid,
            "label": status_label(order.status.as_str()),
        })))
}
