//! The catalog endpoints: thin handlers that parse, call one domain function,
//! render. Reads carry a strong `ETag` (a hash of the body) and answer a
//! matching `If-None-Match` with 304 and no body.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::cache::{listing_cache, product_cache, ListingScope, Rendered, CACHE_TTL};
use super::import::{self, ImportOutcome, ImportReport, LineError, IMPORT_BYTES_MAX};
use super::listing::Correction;
use super::listing::{
    self, CatalogQuery, CatalogQueryParams, Page, ShopProductQuery, ShopProductsParams,
};
use super::model::{
    is_product_id, CreateProductRequest, NewProduct, ProductPatch, ProductView,
    UpdateProductRequest,
};
use super::removal::{self, Removal};
use super::search::{self, Facets};
use super::stock::{self, NewAdjustment, StockAdjustmentRequest, StockAdjustmentView};
use super::store;
use crate::auth::{Caller, Role};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::routes::{resource, Api};
use crate::http::JsonBody;

/// Mounts the catalog endpoints.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/products").get(list_catalog))
        // Before `{product_id}`, which would otherwise take the path.
        .service(resource("/v1/products/facets").get(catalog_facets))
        .service(
            resource("/v1/products/{product_id}")
                .get(get_product)
                .patch(update_product)
                .delete(remove_product),
        )
        .service(
            resource("/v1/products/{product_id}/stock_adjustments")
                .get(list_stock_adjustments)
                .post(adjust_stock),
        )
        .service(
            resource("/v1/shops/{shop_id}/products")
                .get(list_shop_products)
                .post(create_product),
        )
        .service(resource("/v1/shops/{shop_id}/products/import").post(import_products))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(list_catalog, catalog_facets, get_product, update_product, list_shop_products, create_product,
        remove_product, adjust_stock, list_stock_adjustments, import_products),
    tags((name = "catalog", description = "Products: the buyers' catalog and the sellers' own"))
)]
struct Doc;

/// `Cache-Control` of buyer reads (the answer does not depend on who asks):
/// a browser keeps them as long as this process would; a shared cache (see
/// `config/nginx/bazaar.conf`) 10 s, the same bound as the storefront's
/// pages, and serves them stale for 30 more while it fetches fresh ones.
fn public_cache_control() -> String {
    format!(
        "public, max-age={}, s-maxage=10, stale-while-revalidate=30",
        CACHE_TTL.as_secs()
    )
}

/// `Cache-Control` of a seller's reads: only the seller's own client may
/// store them, and must revalidate (cheap, thanks to the ETag).
const PRIVATE_CACHE_CONTROL: &str = "private, no-cache";

/// Serializes `value` and tags it with a strong ETag: the quoted hex of the
/// first 128 bits of the body's SHA-256.
fn render(value: &impl Serialize) -> Result<Rendered, AppError> {
    let body = serde_json::to_vec(value)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering a product: {e}")))?;
    let digest = Sha256::digest(&body);
    Ok(Rendered {
        etag: format!("\"{}\"", hex::encode(&digest[..16])),
        body: Bytes::from(body),
    })
}

/// 200 with the body, or 304 without it when the client has this version.
fn conditional(req: &HttpRequest, rendered: &Rendered, cache_control: &str) -> HttpResponse {
    let unchanged = crate::http::not_modified(req, &rendered.etag);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, rendered.etag.as_str()))
        .insert_header((header::CACHE_CONTROL, cache_control));
    if unchanged {
        return response.finish();
    }
    response
        .content_type(HeaderValue::from_static("application/json"))
        .body(rendered.body.clone())
}

/// The JSON shape of a page of products.
#[derive(Serialize, ToSchema)]
struct PageView<'a> {
    data: Vec<ProductView<'a>>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
    /// Words of `q` that matched nothing and were searched as the nearest
    /// indexed words instead; absent when there were none.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    corrections: &'a [Correction],
}

fn page_view(page: &Page) -> PageView<'_> {
    PageView {
        data: page.products.iter().map(|p| p.view()).collect(),
        next_cursor: page.next_cursor.as_ref().map(listing::Cursor::encode),
        corrections: &page.corrections,
    }
}

fn product_not_found() -> AppError {
    AppError::NotFound {
        resource: "product",
    }
}

/// `GET /v1/products`: the public catalog (anonymous allowed).
#[utoipa::path(get, path = "/v1/products", tag = "catalog",
    params(CatalogQueryParams, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, body = PageView, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified: the ETag in If-None-Match is current"),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn list_catalog(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    scope: web::Data<ListingScope>,
    params: web::Query<CatalogQueryParams>,
) -> Result<HttpResponse, AppError> {
    let query = CatalogQuery::try_from(params.into_inner())?;
    cached_listing(&req, &scope, || async move {
        let page = db::run(&pool, move |conn| search::list_catalog(conn, &query)).await?;
        render(&page_view(&page))
    })
    .await
}

/// The public answer for this request's path and query, from the listing
/// cache, or `read` and cached. Only valid requests get here (the query was
/// parsed first), so errors are never cached.
async fn cached_listing<F, Fut>(
    req: &HttpRequest,
    scope: &ListingScope,
    read: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Rendered, AppError>>,
{
    let cache = listing_cache();
    let key = format!("{}|{}?{}", scope.0, req.path(), req.query_string());
    let rendered = match cache.get(&key) {
        Some(hit) => hit,
        None => {
            let seen = cache.generation();
            let rendered = read().await?;
            cache.put(&key, seen, rendered.clone());
            Arc::new(rendered)
        }
    };
    Ok(conditional(req, &rendered, &public_cache_control()))
}

/// `GET /v1/products/facets`: the counts behind the catalog's filters, for
/// the same parameters as `GET /v1/products` (`limit` and `cursor` are
/// ignored). Each facet counts the products matching every parameter but its
/// own.
#[utoipa::path(get, path = "/v1/products/facets", tag = "catalog",
    params(CatalogQueryParams, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, body = Facets, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified: the ETag in If-None-Match is current"),
        (status = 422, body = ErrorBody, description = "`invalid_value` or `currency_required`, with the parameter"),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn catalog_facets(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    scope: web::Data<ListingScope>,
    params: web::Query<CatalogQueryParams>,
) -> Result<HttpResponse, AppError> {
    let query = CatalogQuery::try_from(params.into_inner())?;
    cached_listing(&req, &scope, || async move {
        let facets = db::run(&pool, move |conn| search::facets(conn, &query)).await?;
        render(&facets)
    })
    .await
}

/// `GET /v1/products/{id}`: one product as buyers see it, from the
/// in-process cache when fresh.
#[utoipa::path(get, path = "/v1/products/{product_id}", tag = "catalog",
    params(("product_id" = String, Path), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, body = ProductView, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified: the ETag in If-None-Match is current"),
    ),
    extensions(("x-roles" = json!(["anyone"]))))]
async fn get_product(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    if !is_product_id(&id) {
        return Err(product_not_found());
    }
    let cache = product_cache();
    let rendered = match cache.get(&id) {
        Some(hit) => hit,
        None => {
            let seen = cache.generation();
            let lookup = id.clone();
            let product = db::run(&pool, move |conn| store::visible_product(conn, &lookup)).await?;
            let rendered = render(&product.view())?;
            cache.put(&id, seen, rendered.clone());
            Arc::new(rendered)
        }
    };
    Ok(conditional(&req, &rendered, &public_cache_control()))
}

/// Who is acting on a seller endpoint: their id, and whether they may act on
/// any shop. Writes are for sellers and operators; staff who are not operators
/// (finance, support) may only read.
fn seller_actor(caller: &Caller, write: bool) -> Result<(String, bool), AppError> {
    if write {
        caller.require(&[Role::Seller])?;
        Ok((caller.user_id.0.clone(), caller.is(Role::Operator)))
    } else {
        caller.require(&[Role::Seller, Role::Support, Role::Finance])?;
        Ok((caller.user_id.0.clone(), caller.role.is_staff()))
    }
}

/// `POST /v1/shops/{shop_id}/products` → 201 with the product.
#[utoipa::path(post, path = "/v1/shops/{shop_id}/products", tag = "catalog",
    params(("shop_id" = String, Path)),
    request_body = CreateProductRequest,
    responses(
        (status = 201, body = ProductView, headers(("Location" = String))),
        (status = 409, description = "`sku_taken`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn create_product(
    pool: web::Data<DbPool>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<CreateProductRequest>,
) -> Result<HttpResponse, AppError> {
    let (viewer, staff) = seller_actor(&caller, true)?;
    let new = NewProduct::try_from(body.into_inner()?)?;
    let shop_id = path.into_inner();
    let product = db::run(&pool, move |conn| {
        store::create_product(conn, &shop_id, &viewer, staff, &new)
    })
    .await?;
    tracing::info!(product_id = %product.id, shop_id = %product.shop_id, "product created");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/products/{}", product.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(product.view()))
}

/// `PATCH /v1/products/{id}`: a partial update by the shop's owner.
#[utoipa::path(patch, path = "/v1/products/{product_id}", tag = "catalog",
    params(("product_id" = String, Path)),
    request_body = UpdateProductRequest,
    responses((status = 200, body = ProductView)),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn update_product(
    pool: web::Data<DbPool>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<UpdateProductRequest>,
) -> Result<HttpResponse, AppError> {
    let (viewer, staff) = seller_actor(&caller, true)?;
    let patch = ProductPatch::try_from(body.into_inner()?)?;
    let id = path.into_inner();
    if !is_product_id(&id) {
        return Err(product_not_found());
    }
    let product = db::run(&pool, move |conn| {
        store::update_product(conn, &id, &viewer, staff, &patch)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(product.view()))
}

/// `GET /v1/shops/{shop_id}/products`: the shop's products, inactive and
/// archived ones included, for its owner and staff; searched by title or
/// SKU and filtered by status.
#[utoipa::path(get, path = "/v1/shops/{shop_id}/products", tag = "catalog",
    params(("shop_id" = String, Path), ShopProductsParams, ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, description = "Inactive products included", body = PageView, headers(("ETag" = String))),
        (status = 304, description = "Not modified: the ETag in If-None-Match is current"),
    ),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn list_shop_products(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<ShopProductsParams>,
) -> Result<HttpResponse, AppError> {
    let (viewer, staff) = seller_actor(&caller, false)?;
    let query = ShopProductQuery::try_from(params.into_inner())?;
    let shop_id = path.into_inner();
    let page = db::run(&pool, move |conn| {
        listing::search_shop_products(conn, &shop_id, &viewer, staff, &query)
    })
    .await?;
    let rendered = render(&page_view(&page))?;
    Ok(conditional(&req, &rendered, PRIVATE_CACHE_CONTROL))
}

/// What `DELETE /v1/products/{id}` did.
#[derive(Serialize, ToSchema)]
struct RemovalView {
    id: String,
    /// `deleted`, or `archived` when the product was ordered before.
    outcome: Removal,
}

/// `DELETE /v1/products/{id}`: deletes the product, or archives it when an
/// order refers to it; the answer says which.
#[utoipa::path(delete, path = "/v1/products/{product_id}", tag = "catalog",
    params(("product_id" = String, Path)),
    responses(
        (status = 200, description = "`outcome` is `deleted` or `archived`", body = RemovalView),
        (status = 404, description = "No such product in the caller's shops", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn remove_product(
    pool: web::Data<DbPool>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (viewer, staff) = seller_actor(&caller, true)?;
    let id = path.into_inner();
    if !is_product_id(&id) {
        return Err(product_not_found());
    }
    let lookup = id.clone();
    let outcome = db::run(&pool, move |conn| {
        removal::remove_product(conn, &lookup, &viewer, staff)
    })
    .await?;
    tracing::info!(product_id = %id, outcome = outcome.as_str(), "product removed");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RemovalView { id, outcome }))
}

/// An adjustment and the stock it left.
#[derive(Serialize, ToSchema)]
struct AdjustedView<'a> {
    adjustment: StockAdjustmentView<'a>,
    /// The product's stock now.
    stock: i64,
}

/// `POST /v1/products/{id}/stock_adjustments` → 201: adds `delta` units.
#[utoipa::path(post, path = "/v1/products/{product_id}/stock_adjustments", tag = "catalog",
    params(("product_id" = String, Path)),
    request_body = StockAdjustmentRequest,
    responses(
        (status = 201, body = AdjustedView),
        (status = 404, description = "No such product in the caller's shops", body = ErrorBody),
        (status = 409, description = "`insufficient_stock`: fewer units on hand than the decrease", body = ErrorBody),
        (status = 422, description = "`invalid_value` (`delta`, `reason`, `note`)", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn adjust_stock(
    pool: web::Data<DbPool>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<StockAdjustmentRequest>,
) -> Result<HttpResponse, AppError> {
    let (viewer, staff) = seller_actor(&caller, true)?;
    let id = path.into_inner();
    if !is_product_id(&id) {
        return Err(product_not_found());
    }
    let adjustment = NewAdjustment::try_from(body.into_inner()?)?;
    let recorded = db::run(&pool, move |conn| {
        stock::adjust_stock(conn, &id, &viewer, staff, &adjustment)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(AdjustedView {
            stock: recorded.stock_after,
            adjustment: recorded.view(),
        }))
}

/// The query string of `GET /v1/products/{id}/stock_adjustments`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AdjustmentsParams {
    /// 1 to 100 (default 50): the newest ones.
    limit: Option<i64>,
}

/// `{data: [adjustment…]}`, newest first.
#[derive(Serialize, ToSchema)]
struct AdjustmentList<'a> {
    data: Vec<StockAdjustmentView<'a>>,
}

/// `GET /v1/products/{id}/stock_adjustments`: the newest adjustments first.
#[utoipa::path(get, path = "/v1/products/{product_id}/stock_adjustments", tag = "catalog",
    params(("product_id" = String, Path), AdjustmentsParams),
    responses(
        (status = 200, body = AdjustmentList),
        (status = 404, description = "No such product in the caller's shops", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "finance", "support", "operator"]))))]
async fn list_stock_adjustments(
    pool: web::Data<DbPool>,
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<AdjustmentsParams>,
) -> Result<HttpResponse, AppError> {
    let (viewer, staff) = seller_actor(&caller, false)?;
    let id = path.into_inner();
    if !is_product_id(&id) {
        return Err(product_not_found());
    }
    let limit = params
        .into_inner()
        .limit
        .unwrap_or(ADJUSTMENTS_LIMIT_DEFAULT);
    let adjustments = db::run(&pool, move |conn| {
        stock::list_stock_adjustments(conn, &id, &viewer, staff, limit)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, PRIVATE_CACHE_CONTROL))
        .json(AdjustmentList {
            data: adjustments.iter().map(|a| a.view()).collect(),
        }))
}

/// Adjustments listed when the request names no `limit`.
const ADJUSTMENTS_LIMIT_DEFAULT: i64 = 50;

/// The query string of the import.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ImportParams {
    /// `true`: check the file and report what would change, changing nothing.
    dry_run: Option<bool>,
}

/// The 422 of an import with bad lines: nothing was applied.
#[derive(Serialize, ToSchema)]
struct ImportRejected {
    error: ImportRejectedDetail,
}

#[derive(Serialize, ToSchema)]
struct ImportRejectedDetail {
    /// `invalid_import`.
    code: &'static str,
    message: String,
    /// Every bad cell or line (at most 500), in line order.
    errors: Vec<LineError>,
}

/// `POST /v1/shops/{shop_id}/products/import`: creates and updates the
/// shop's products from a CSV file, all or nothing.
#[utoipa::path(post, path = "/v1/shops/{shop_id}/products/import", tag = "catalog",
    params(("shop_id" = String, Path), ImportParams),
    request_body(content = String, content_type = "text/csv",
        description = "Header `sku,title,description,price_minor,currency,stock,category,image_url,image_alt` (any order; only `sku` required), at most 5000 lines and 1 MiB. A new SKU needs every column but `description`; for an existing SKU an empty cell keeps the stored value."),
    responses(
        (status = 200, description = "What was (or, with `dry_run`, would be) created, updated or left unchanged, line by line", body = ImportReport),
        (status = 404, description = "No such shop among the caller's", body = ErrorBody),
        (status = 413, description = "`body_too_large`: over 1 MiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `text/csv`", body = ErrorBody),
        (status = 422, description = "`invalid_import` with every line error (nothing applied), or `too_many_lines`", body = ImportRejected),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn import_products(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    caller: Caller,
    path: web::Path<String>,
    params: web::Query<ImportParams>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let (viewer, staff) = seller_actor(&caller, true)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("text/csv") {
        return Err(AppError::UnsupportedMediaType {
            message: "send the file as text/csv".into(),
        });
    }
    let csv = crate::http::json::read_body(&mut payload.into_inner(), IMPORT_BYTES_MAX).await?;
    let dry_run = params.into_inner().dry_run.unwrap_or(false);
    let shop_id = path.into_inner();
    let outcome = db::run(&pool, move |conn| {
        import::import_products(conn, &shop_id, &viewer, staff, &csv, dry_run)
    })
    .await?;
    match outcome {
        ImportOutcome::Done(report) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(report)),
        ImportOutcome::Invalid(errors) => {
            let lines: std::collections::BTreeSet<u64> = errors.iter().map(|e| e.line).collect();
            Ok(HttpResponse::UnprocessableEntity()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(ImportRejected {
                    error: ImportRejectedDetail {
                        code: "invalid_import",
                        message: format!(
                            "{} line(s) have errors; nothing was imported",
                            lines.len()
                        ),
                        errors,
                    },
                }))
        }
    }
}
