//! From "Sell on Bazaar" to a live shop: a seller account (the same
//! `auth::signup` as the API, as a seller), a shop (`sellers::open_shop`),
//! the provider's hosted onboarding (`sellers::onboarding_link`) and the
//! page the provider sends the seller back to (`sellers::sync_shop`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::workspace::{self, encode, Frame};
use crate::auth::{self, RequestContext, Role};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::http::rate_limit::RateLimits;
use crate::payments::Provider;
use crate::sellers::{self, shops, OnboardingStatus, Shop};
use crate::web::forms::FormErrors;
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

#[derive(Template)]
#[template(path = "seller/sell.html", config = "src/web/askama.toml")]
struct SellPage {
    chrome: Chrome,
    meta: Meta,
    email: String,
    /// Signed in with an account that buys: it cannot sell too.
    buyer: bool,
    errors: FormErrors,
}

fn sell_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    email: String,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let page = SellPage {
        chrome: visitor.chrome(),
        meta: Meta {
            title: "Sell on Bazaar".into(),
            description: "Open a shop on Bazaar: list your products, get paid for every order."
                .into(),
            canonical: render::absolute(req, "/sell"),
            indexable: true,
        },
        email,
        buyer: visitor.session.is_some(),
        errors,
    };
    workspace::answer(req, visitor, &page, status)
}

/// `GET /sell`: what selling here means, and a seller account's sign-up.
pub(super) async fn sell(req: HttpRequest, mut visitor: Visitor) -> PageResult {
    if visitor.caller().is_some_and(|c| c.role == Role::Seller) {
        return Ok(visitor.finish(render::see_other("/seller").finish()));
    }
    sell_page(
        &req,
        &mut visitor,
        String::new(),
        FormErrors::none(),
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub(super) struct SignupForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /sell`: a seller account; the emailed link opens it and leads to
/// the workspace.
pub(super) async fn signup(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    limits: web::Data<RateLimits>,
    form: web::Form<SignupForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let accepted = auth::sign_up(
        &pool,
        &limits,
        context,
        (&form.email, &form.password),
        Role::Seller,
        Some("/seller".to_owned()),
    )
    .await;
    match accepted {
        Ok(accepted) => {
            let location = format!(
                "/signup/sent?email={}&next={}",
                encode(&accepted.email),
                encode("/seller")
            );
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::from_error(&error, |param| match param {
                "email" => Some("email"),
                "password" => Some("password"),
                _ => None,
            });
            sell_page(
                &req,
                &mut visitor,
                form.email,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(error) => Err(PageError(error)),
    }
}

#[derive(Template)]
#[template(path = "seller/open_shop.html", config = "src/web/askama.toml")]
struct OpenShopPage {
    chrome: Chrome,
    meta: Meta,
    shops: Vec<(String, String, &'static str)>,
    form: ShopForm,
    errors: FormErrors,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct ShopForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    default_currency: String,
    #[serde(default)]
    support_email: String,
}

fn open_shop_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    shops: &[Shop],
    form: ShopForm,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let page = OpenShopPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Your shops — Bazaar"),
        shops: shops
            .iter()
            .map(|s| (s.id.clone(), s.name.clone(), s.status()))
            .collect(),
        form,
        errors,
    };
    workspace::answer(req, visitor, &page, status)
}

/// `GET /seller`: the seller's shop (straight to it when there is one), or
/// the form that opens one.
pub(super) async fn home(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match workspace::signed_in_seller(&visitor, "/seller") {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let owner = session.caller.user_id.0.clone();
    let shops = db::run(&pool, move |conn| shops::list_shops(conn, Some(&owner))).await?;
    if let [shop] = shops.as_slice() {
        let location = format!("/seller/shops/{}", shop.id);
        return Ok(visitor.finish(render::see_other(&location).finish()));
    }
    let form = ShopForm {
        support_email: session.caller.email.clone(),
        ..ShopForm::default()
    };
    open_shop_page(
        &req,
        &mut visitor,
        &shops,
        form,
        FormErrors::none(),
        StatusCode::OK,
    )
}

/// `POST /seller`: opens a shop and its account at the provider.
pub(super) async fn open_shop(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    form: web::Form<ShopForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let session = match workspace::signed_in_seller(&visitor, "/seller") {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let opened = match shops::NewShop::parse(
        &form.name,
        &form.slug,
        &form.country,
        &form.default_currency,
        &form.support_email,
    ) {
        Ok(new) => {
            sellers::open_shop(&pool, provider.get_ref(), &session.caller.user_id.0, new).await
        }
        Err(error) => Err(error),
    };
    match opened {
        Ok(shop) => {
            let location = format!("/seller/shops/{}", shop.id);
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::from_error(&error, |param| match param {
                "name" => Some("name"),
                "slug" => Some("slug"),
                "country" => Some("country"),
                "default_currency" => Some("default_currency"),
                "support_email" => Some("support_email"),
                _ => None,
            });
            let owner = session.caller.user_id.0.clone();
            let shops = db::run(&pool, move |conn| shops::list_shops(conn, Some(&owner))).await?;
            let status = if error.code() == "slug_taken" {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let errors = if error.code() == "slug_taken" {
                FormErrors::field("slug", crate::web::forms::sentence(&error.to_string()))
            } else {
                errors
            };
            open_shop_page(&req, &mut visitor, &shops, form, errors, status)
        }
        Err(error) => Err(PageError(error)),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf_token: String,
}

/// A fresh link for the seller's shop, answered as a redirect to it.
async fn to_provider(
    req: &HttpRequest,
    visitor: &Visitor,
    pool: &DbPool,
    provider: &dyn Provider,
    settings: &Settings,
    limits: &RateLimits,
    shop: Shop,
) -> Result<actix_web::HttpResponse, AppError> {
    let user = shop.owner_user_id.clone();
    limits.provider_calls.take(&user).await?;
    let urls = sellers::onboarding_urls(
        &settings.provider,
        &workspace::public_base(req, settings),
        &shop.id,
    );
    let link = sellers::onboarding_link(pool, provider, shop, urls).await?;
    Ok(visitor.finish(render::see_other(&link.url).finish()))
}

/// `POST /seller/shops/{id}/onboarding`: to the provider's onboarding.
#[allow(clippy::too_many_arguments)]
pub(super) async fn start(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    Ok(to_provider(
        &req,
        &visitor,
        &pool,
        provider.get_ref(),
        &settings,
        &limits,
        shop,
    )
    .await?)
}

/// `GET /seller/shops/{id}/onboarding/refresh`: the provider sends a seller
/// here when a link expired or was used; a fresh one, at once.
pub(super) async fn refresh(
    req: HttpRequest,
    visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/onboarding/refresh");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    Ok(to_provider(
        &req,
        &visitor,
        &pool,
        provider.get_ref(),
        &settings,
        &limits,
        shop,
    )
    .await?)
}

#[derive(Template)]
#[template(path = "seller/onboarding_return.html", config = "src/web/askama.toml")]
struct ReturnPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    live: bool,
    needed: Vec<String>,
    /// The provider could not be asked just now: the state shown is the
    /// last one it told us.
    stale: bool,
}

/// `GET /seller/shops/{id}/onboarding/return`: where the provider sends the
/// seller back. The shop is brought up to date with the provider first, so
/// the page says what is still needed or that the shop is live.
pub(super) async fn returned(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    limits: web::Data<RateLimits>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/onboarding/return");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let synced = match limits.provider_calls.take(&shop.owner_user_id).await {
        Ok(()) => sellers::sync_shop(&pool, provider.get_ref(), shop.clone(), None).await,
        Err(error) => Err(error),
    };
    let (shop, stale) = match synced {
        Ok(shop) => (shop, false),
        Err(error) => {
            // The webhook brings the same news shortly; the page still helps.
            tracing::warn!(%error, shop_id = shop.id, "shop not synced on the onboarding return");
            (shop, true)
        }
    };
    let page = ReturnPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Back from onboarding — Bazaar"),
        frame: Frame::of(&pool, &shop, "overview").await?,
        live: shop.onboarding_status == OnboardingStatus::Active && !shop.frozen,
        needed: workspace::needs(&shop.requirements_due),
        stale,
    };
    workspace::answer(&req, &visitor, &page, StatusCode::OK)
}
