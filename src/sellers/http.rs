//! Shop endpoints: thin handlers over [`super::shops`] and the provider.

use crate::auth::policy;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::shops::{self, NewShop, Shop, ShopView};
use crate::auth::{Caller, RequestContext, Role};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;
use crate::payments::Provider;

/// Mounts the shop routes.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/shops").post(create_shop).get(list_shops))
        .service(
            resource("/v1/shops/{id}")
                .get(get_shop)
                .patch(update_shop_profile),
        )
        .service(resource("/v1/shop_profiles").get(list_shop_profiles))
        .service(resource("/v1/shop_profiles/{id}").get(get_shop_profile))
        .service(resource("/v1/shops/{id}/onboarding_link").post(onboarding_link))
        .service(resource("/v1/shops/{id}/sync").post(sync_shop))
        .service(resource("/v1/shops/{id}/freeze").post(freeze_shop))
        .service(resource("/v1/shops/{id}/unfreeze").post(unfreeze_shop))
        .service(resource("/v1/shops/{id}/notices").get(list_notices))
        .service(resource("/v1/shops/{id}/notices/read").post(read_notices))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(create_shop, list_shops, get_shop, list_shop_profiles, get_shop_profile, onboarding_link, sync_shop, freeze_shop, unfreeze_shop, update_shop_profile, list_notices, read_notices),
    tags((name = "shops", description = "Shops and their onboarding as connected accounts"))
)]
struct Doc;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateShopRequest {
    name: String,
    /// Lowercase letters, digits and dashes; unique (409 `slug_taken`).
    slug: String,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    country: String,
    /// ISO 4217, e.g. `USD`.
    default_currency: String,
    support_email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FreezeRequest {
    /// 1 to 500 characters once trimmed, no control characters; shown in the audit log.
    #[schema(min_length = 1)]
    reason: String,
}

/// `{data: [shop…], has_more}`.
#[derive(Serialize, ToSchema)]
struct ShopList<'a> {
    data: Vec<ShopView<'a>>,
    /// Whether another page follows (ask again with `offset` + `limit`).
    has_more: bool,
}

/// A single-use onboarding link at the provider.
#[derive(Serialize, ToSchema)]
struct OnboardingLink {
    url: String,
    /// When the link stops working: ask for a new one after this.
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    expires_at: chrono::NaiveDateTime,
}

fn is_staff(caller: &Caller) -> bool {
    matches!(caller.role, Role::Operator | Role::Finance | Role::Support)
}

/// `POST /v1/shops`: the shop is saved first; if the provider fails, it stays
/// `not_started` and the account is created on the next onboarding-link request.
#[utoipa::path(post, path = "/v1/shops", tag = "shops",
    request_body = CreateShopRequest,
    responses(
        (status = 201, description = "The shop (its account is created at the provider when it can be)", body = ShopView),
        (status = 409, description = "`slug_taken`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn create_shop(
    caller: Caller,
    body: JsonBody<CreateShopRequest>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller])?;
    let body = body.into_inner()?;
    let new = NewShop::parse(
        &body.name,
        &body.slug,
        &body.country,
        &body.default_currency,
        &body.support_email,
    )?;
    let shop = super::open_shop(&pool, provider.get_ref(), &caller.user_id.0, new).await?;
    Ok(HttpResponse::Created().json(ShopView::from(&shop)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// A part of the shop's name (case-insensitive), at most 100 characters.
    q: Option<String>,
    /// `all` (default), `not_started`, `pending`, `active`, `restricted` or `frozen`.
    status: Option<String>,
    /// 1 to 100 (default 100).
    limit: Option<i64>,
    /// Shops to skip (0 to 10000): the next page starts at `offset + limit`.
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/v1/shops", tag = "shops",
    description = "A seller's own shops; every shop for staff. Newest first, filtered by `q` and `status`; `has_more` says another page follows.",
    params(ListQuery),
    responses(
        (status = 200, body = ShopList),
        (status = 400, description = "`invalid_query` naming `q`, `status`, `limit` or `offset`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn list_shops(
    caller: Caller,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_SHOPS)?;
    let owner = (!is_staff(&caller)).then(|| caller.user_id.0.clone());
    let search = super::ShopSearch::parse(
        owner,
        query.q.as_deref(),
        query.status.as_deref(),
        query.limit,
        shops::LIST_LIMIT_MAX,
        query.offset,
    )?;
    let page = db::run(&pool, move |conn| super::search_shops(conn, &search)).await?;
    let data: Vec<ShopView<'_>> = page.shops.iter().map(ShopView::from).collect();
    Ok(HttpResponse::Ok().json(ShopList {
        data,
        has_more: page.has_more,
    }))
}

async fn visible_shop(caller: &Caller, pool: &DbPool, id: String) -> Result<Shop, AppError> {
    let viewer = caller.user_id.0.clone();
    let staff = is_staff(caller);
    db::run(pool, move |conn| shops::shop_for(conn, &id, &viewer, staff)).await
}

#[utoipa::path(get, path = "/v1/shops/{id}", tag = "shops",
    params(("id" = String, Path, description = "The shop's id")),
    responses((status = 200, body = ShopView)),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn get_shop(
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::READ_SHOPS)?;
    let shop = visible_shop(&caller, &pool, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ShopView::from(&shop)))
}

/// `{data: [profile…]}`.
#[derive(Serialize, ToSchema)]
struct ProfileList {
    data: Vec<super::PublicShop>,
}

/// `GET /v1/shop_profiles`: the public profiles of every shop that sells now.
#[utoipa::path(get, path = "/v1/shop_profiles", tag = "shops",
    responses((status = 200, body = ProfileList)),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn list_shop_profiles(pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let data = db::run(&pool, super::public_shops).await?;
    Ok(HttpResponse::Ok().json(ProfileList { data }))
}

/// `GET /v1/shop_profiles/{id}`: a shop as buyers see it (404 unless it sells now).
#[utoipa::path(get, path = "/v1/shop_profiles/{id}", tag = "shops",
    params(("id" = String, Path, description = "The shop's id")),
    responses(
        (status = 200, body = super::PublicShop),
        (status = 404, description = "No shop that sells has this id", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn get_shop_profile(
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let profile = db::run(&pool, move |conn| super::public_shop(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(profile))
}

/// `POST /v1/shops/{id}/onboarding_link`: a fresh link each time (they expire).
#[utoipa::path(post, path = "/v1/shops/{id}/onboarding_link", tag = "shops",
    params(("id" = String, Path, description = "The shop's id")),
    responses(
        (status = 200, body = OnboardingLink),
        (status = 422, description = "The provider refused the request", body = ErrorBody),
        (status = 429, description = "`rate_limited`: `limits.provider_calls_per_minute`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn onboarding_link(
    req: actix_web::HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    settings: web::Data<Settings>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller])?;
    limits.provider_calls.take(&caller.user_id.0).await?;
    let shop = visible_shop(&caller, &pool, path.into_inner()).await?;
    let base = settings
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| crate::web::render::absolute(&req, ""));
    let urls = super::onboarding_urls(&settings.provider, &base, &shop.id);
    let link = super::onboarding_link(&pool, provider.get_ref(), shop, urls).await?;
    Ok(HttpResponse::Ok().json(OnboardingLink {
        expires_at: crate::db::now() + link.lifetime(),
        url: link.url,
    }))
}

/// `POST /v1/shops/{id}/sync`: fetches the account's state from the provider and
/// applies it — what a missed or late `account.updated` would have done.
#[utoipa::path(post, path = "/v1/shops/{id}/sync", tag = "shops",
    params(("id" = String, Path, description = "The shop's id")),
    responses((status = 200, description = "The shop after applying the provider's account state", body = ShopView), (status = 429, description = "`rate_limited`: `limits.provider_calls_per_minute`", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait")))),
    extensions(("x-roles" = json!(["seller", "support", "operator"]))))]
async fn sync_shop(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    provider: web::Data<dyn Provider>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::SYNC_SHOP)?;
    limits.provider_calls.take(&caller.user_id.0).await?;
    let shop = visible_shop(&caller, &pool, path.into_inner()).await?;
    // Staff syncing a shop is an operator action: audited with what it changed.
    let audit = caller
        .role
        .is_staff()
        .then(|| (caller.user_id.clone(), context));
    let shop = super::sync_shop(&pool, provider.get_ref(), shop, audit).await?;
    Ok(HttpResponse::Ok().json(ShopView::from(&shop)))
}

#[utoipa::path(post, path = "/v1/shops/{id}/freeze", tag = "shops",
    params(("id" = String, Path, description = "The shop's id")),
    request_body = FreezeRequest,
    responses((status = 200, body = ShopView)),
    extensions(("x-roles" = json!(["operator"]))))]
async fn freeze_shop(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<FreezeRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::FREEZE_SHOP)?;
    let change = super::FreezeChange::Freeze {
        reason: body.into_inner()?.reason,
    };
    let (actor, shop_id) = (caller.user_id.clone(), path.into_inner());
    let shop = db::run(&pool, move |conn| {
        super::set_frozen_audited(conn, &shop_id, &actor, &context, &change)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ShopView::from(&shop)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UnfreezeRequest {
    /// Optional; when given, 1 to 500 characters as for a freeze, kept in the audit log.
    reason: Option<String>,
}

#[utoipa::path(post, path = "/v1/shops/{id}/unfreeze", tag = "shops",
    params(("id" = String, Path, description = "The shop's id")),
    request_body(content = Option<UnfreezeRequest>, description = "Optional: `{}`, `{reason}` or no body"),
    responses((status = 200, body = ShopView)),
    extensions(("x-roles" = json!(["operator"]))))]
async fn unfreeze_shop(
    req: actix_web::HttpRequest,
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<UnfreezeRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(policy::FREEZE_SHOP)?;
    // The body is optional: a request without one (no content type) lifts
    // the freeze without a reason, as this endpoint always has.
    let reason = if req
        .headers()
        .contains_key(actix_web::http::header::CONTENT_TYPE)
    {
        body.into_inner()?.reason
    } else {
        None
    };
    let change = super::FreezeChange::Unfreeze { reason };
    let (actor, shop_id) = (caller.user_id.clone(), path.into_inner());
    let shop = db::run(&pool, move |conn| {
        super::set_frozen_audited(conn, &shop_id, &actor, &context, &change)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ShopView::from(&shop)))
}

/// `PATCH /v1/shops/{id}`: the shop's profile as buyers see it, changed by
/// its owner (audited as `shop.profile_update`).
#[utoipa::path(patch, path = "/v1/shops/{id}", tag = "shops",
    params(("id" = String, Path, description = "The shop's id")),
    request_body = super::profile::ShopProfileRequest,
    responses(
        (status = 200, description = "The profile after the change", body = super::profile::ShopProfile),
        (status = 404, description = "No such shop among the caller's", body = ErrorBody),
        (status = 422, description = "`invalid_value` naming the field in `param`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn update_shop_profile(
    caller: Caller,
    context: RequestContext,
    path: web::Path<String>,
    body: JsonBody<super::profile::ShopProfileRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller])?;
    let patch = super::profile::ProfilePatch::try_from(body.into_inner()?)?;
    let (actor, staff, shop_id) = (
        caller.user_id.clone(),
        caller.is(Role::Operator),
        path.into_inner(),
    );
    let profile = db::run(&pool, move |conn| {
        super::profile::update_shop_profile(conn, &shop_id, &actor, staff, &context, &patch)
    })
    .await?;
    Ok(HttpResponse::Ok().json(profile))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct NoticesQuery {
    /// `true`: only the notices not yet marked read.
    unread: Option<bool>,
    /// 1 to 100 (default 50).
    limit: Option<i64>,
    /// The id of the last notice seen: the page continues after it
    /// (`next_cursor` of the previous page).
    before: Option<String>,
}

/// `{data: [notice…], unread, next_cursor}`.
#[derive(Serialize, ToSchema)]
struct NoticePage {
    data: Vec<super::notices::Notice>,
    /// The shop's unread notices, all pages together.
    unread: i64,
    /// Pass as `before` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// `GET /v1/shops/{id}/notices`: what the marketplace told the shop's
/// seller by email, newest first.
#[utoipa::path(get, path = "/v1/shops/{id}/notices", tag = "shops",
    params(("id" = String, Path, description = "The shop's id"), NoticesQuery),
    responses(
        (status = 200, body = NoticePage),
        (status = 400, description = "`invalid_query`: a bad `limit` or an unknown `before`", body = ErrorBody),
        (status = 404, description = "No such shop among the caller's", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn list_notices(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<NoticesQuery>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller, Role::Finance, Role::Support])?;
    let limit = crate::http::query::limit(
        query.limit,
        super::notices::NOTICES_PAGE_DEFAULT,
        super::notices::NOTICES_PAGE_MAX,
    )?;
    let shop = visible_shop(&caller, &pool, path.into_inner()).await?;
    let query = query.into_inner();
    let (data, unread) = db::run(&pool, move |conn| {
        let data = super::notices::page(
            conn,
            &shop.id,
            query.unread.unwrap_or(false),
            query.before.as_deref(),
            limit,
        )?;
        Ok((data, super::notices::unread_count(conn, &shop.id)?))
    })
    .await?;
    let full = i64::try_from(data.len()).unwrap_or(i64::MAX) == limit;
    let next_cursor = data.last().filter(|_| full).map(|n| n.id.clone());
    Ok(HttpResponse::Ok().json(NoticePage {
        data,
        unread,
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReadNoticesRequest {
    /// The notices to mark read (at most 100); absent: all of the shop's.
    ids: Option<Vec<String>>,
}

/// How many notices a "mark read" changed.
#[derive(Serialize, ToSchema)]
struct NoticesRead {
    marked_read: usize,
    /// The shop's unread notices after the change.
    unread: i64,
}

/// `POST /v1/shops/{id}/notices/read`: marks the shop's notices read (those
/// named, or all): the shop's owner, or an operator acting for them.
#[utoipa::path(post, path = "/v1/shops/{id}/notices/read", tag = "shops",
    params(("id" = String, Path, description = "The shop's id")),
    request_body(content = ReadNoticesRequest, description = "`{}` marks all read"),
    responses(
        (status = 200, body = NoticesRead),
        (status = 404, description = "No such shop among the caller's", body = ErrorBody),
        (status = 422, description = "`too_many_ids`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn read_notices(
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<ReadNoticesRequest>,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller])?;
    let request = body.into_inner()?;
    let (viewer, operator, shop_id) = (
        caller.user_id.0.clone(),
        caller.is(Role::Operator),
        path.into_inner(),
    );
    let read = db::run(&pool, move |conn| {
        let shop = shops::shop_for(conn, &shop_id, &viewer, operator)?;
        let marked_read = super::notices::mark_read(conn, &shop.id, request.ids.as_deref())?;
        let unread = super::notices::unread_count(conn, &shop.id)?;
        Ok(NoticesRead {
            marked_read,
            unread,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(read))
}
