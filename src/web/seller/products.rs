//! The shop's catalogue: the product list with search and filters, a
//! product's form (create and edit, the API's `NewProduct`/`ProductPatch`
//! parsing, so the rules are the API's), stock by count or by delta, and
//! archiving or deleting.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::workspace::{self, Frame};
use crate::catalog as store;
use crate::catalog::listing::{self, ShopProductQuery};
use crate::catalog::model::{
    CreateProductRequest, ImageRequest, NewProduct, Product, ProductPatch, UpdateProductRequest,
};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::money::Money;
use crate::web::format;
use crate::web::forms::FormErrors;
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

/// Products per page of the list.
const PAGE_SIZE: i64 = 50;

/// One row of the product list.
struct Row {
    id: String,
    title: String,
    sku: String,
    price: String,
    stock: i64,
    status: &'static str,
    thumbnail: Option<(String, String)>,
}

impl Row {
    fn of(product: &Product) -> Self {
        Self {
            id: product.id.clone(),
            title: product.title.clone(),
            sku: product.sku.clone(),
            price: format::price(product.price),
            stock: product.stock,
            status: product_status(product),
            thumbnail: product
                .images
                .first()
                .map(|image| (image.url.clone(), image.alt.clone())),
        }
    }
}

fn product_status(product: &Product) -> &'static str {
    if product.archived_at.is_some() {
        "Archived"
    } else if !product.active {
        "Hidden"
    } else if product.stock <= 0 {
        "Out of stock"
    } else {
        "On sale"
    }
}

#[derive(Template)]
#[template(path = "seller/products.html", config = "src/web/askama.toml")]
struct ListPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    rows: Vec<Row>,
    q: String,
    status: String,
    next: Option<String>,
    notice: &'static str,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    done: String,
}

/// `GET /seller/shops/{id}/products`.
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/products");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let query = query.into_inner();
    let (shop_id, owner) = (shop.id.clone(), shop.owner_user_id.clone());
    let search = ShopProductQuery::parse(
        Some(&query.q),
        Some(&query.status),
        Some(PAGE_SIZE),
        query.cursor.as_deref().filter(|c| !c.is_empty()),
    )?;
    let page = db::run(&pool, move |conn| {
        listing::search_shop_products(conn, &shop_id, &owner, false, &search)
    })
    .await?;
    let next = page.next_cursor.as_ref().map(|cursor| {
        format!(
            "{here}?q={}&status={}&cursor={}",
            workspace::encode(&query.q),
            workspace::encode(&query.status),
            workspace::encode(&cursor.encode())
        )
    });
    let notice = match query.done.as_str() {
        "created" => "Product created.",
        "deleted" => "Product deleted.",
        "archived" => "Product archived: it was ordered before, so it is kept for those orders and no longer sold.",
        _ => "",
    };
    let page = ListPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Products — {} — Bazaar", shop.name)),
        frame: Frame::of(&pool, &shop, "products").await?,
        rows: page.products.iter().map(Row::of).collect(),
        q: query.q,
        status: query.status,
        next,
        notice,
    };
    workspace::answer(&req, &visitor, &page, StatusCode::OK)
}

/// The product form's fields as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct ProductForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    stock: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    image_url: String,
    #[serde(default)]
    image_alt: String,
    /// "on" when ticked; absent when not (HTML checkboxes).
    #[serde(default)]
    active: Option<String>,
}

impl ProductForm {
    fn of(product: &Product) -> Self {
        let image = product.images.first();
        Self {
            csrf_token: String::new(),
            sku: product.sku.clone(),
            title: product.title.clone(),
            description: product.description.clone(),
            price: format::major_units(product.price),
            stock: product.stock.to_string(),
            category: product.category.clone(),
            image_url: image.map(|i| i.url.clone()).unwrap_or_default(),
            image_alt: image.map(|i| i.alt.clone()).unwrap_or_default(),
            active: product.active.then(|| "on".to_owned()),
        }
    }

    fn price_minor(&self, currency: crate::money::Currency) -> Result<i64, AppError> {
        Money::parse_decimal(self.price.trim(), currency)
            .map(|m| m.minor)
            .map_err(|_| {
                AppError::unprocessable(
                    "invalid_value",
                    format!(
                        "enter the price as a number in {}, like 12.50",
                        currency.code()
                    ),
                    Some("price_minor".into()),
                )
            })
    }

    fn stock(&self) -> Result<i64, AppError> {
        self.stock.trim().parse().map_err(|_| {
            AppError::unprocessable(
                "invalid_value",
                "enter the stock as a whole number, like 12",
                Some("stock".into()),
            )
        })
    }

    /// The first picture, and the others the product already had (the form
    /// edits the first one only).
    fn images(&self, others: &[crate::catalog::model::Image]) -> Vec<ImageRequest> {
        let mut images = vec![ImageRequest {
            url: self.image_url.trim().to_owned(),
            alt: self.image_alt.trim().to_owned(),
        }];
        images.extend(others.iter().skip(1).map(|i| ImageRequest {
            url: i.url.clone(),
            alt: i.alt.clone(),
        }));
        images
    }
}

/// The form field an API parameter is typed in.
fn field_of(param: &str) -> Option<&'static str> {
    Some(match param {
        "sku" => "sku",
        "title" => "title",
        "description" => "description",
        "price_minor" | "currency" => "price",
        "stock" => "stock",
        "category" => "category",
        p if p.starts_with("images") && p.ends_with("alt") => "image_alt",
        p if p.starts_with("images") => "image_url",
        _ => return None,
    })
}

#[derive(Template)]
#[template(path = "seller/product_form.html", config = "src/web/askama.toml")]
struct FormPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    /// `None` for a new product.
    product_id: Option<String>,
    price_hint: String,
    form: ProductForm,
    errors: FormErrors,
    notice: &'static str,
    /// The adjustment form as typed (kept when refused).
    stock_form: StockForm,
    reasons: Vec<&'static str>,
    /// The latest stock adjustments, newest first.
    history: Vec<HistoryRow>,
    archived: bool,
}

/// One recorded stock adjustment.
struct HistoryRow {
    when: String,
    delta: String,
    reason: String,
    note: String,
    stock_after: i64,
}

/// Adjustments shown on a product's page.
const HISTORY_ROWS: i64 = 20;

impl FormPage {
    /// The page of an existing product, its form filled from it.
    async fn of(
        pool: &DbPool,
        shop: &crate::sellers::Shop,
        product: &Product,
        errors: FormErrors,
        notice: &'static str,
    ) -> Result<Self, AppError> {
        let (product_id, owner) = (product.id.clone(), shop.owner_user_id.clone());
        let history = db::run(pool, move |conn| {
            store::list_stock_adjustments(conn, &product_id, &owner, false, HISTORY_ROWS)
        })
        .await?;
        Ok(Self {
            chrome: Chrome::anonymous(),
            meta: Meta::personal(&format!("Edit {} — Bazaar", product.title)),
            frame: Frame::of(pool, shop, "products").await?,
            product_id: Some(product.id.clone()),
            price_hint: price_hint(shop),
            form: ProductForm::of(product),
            errors,
            notice,
            stock_form: StockForm::default(),
            reasons: reasons(),
            history: history
                .iter()
                .map(|a| HistoryRow {
                    when: format::date(a.created_at),
                    delta: format!("{:+}", a.delta),
                    reason: a.reason.clone(),
                    note: a.note.clone(),
                    stock_after: a.stock_after,
                })
                .collect(),
            archived: product.archived_at.is_some(),
        })
    }
}

fn price_hint(shop: &crate::sellers::Shop) -> String {
    format!("In {}, like 12.50.", shop.default_currency.code())
}

fn reasons() -> Vec<&'static str> {
    store::AdjustmentReason::ALL
        .into_iter()
        .map(store::AdjustmentReason::as_str)
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn form_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    shop: &crate::sellers::Shop,
    product: Option<&Product>,
    form: ProductForm,
    errors: FormErrors,
    notice: &'static str,
    status: StatusCode,
) -> PageResult {
    let page = match product {
        Some(product) => {
            let mut page = FormPage::of(pool, shop, product, errors, notice).await?;
            page.form = form;
            page
        }
        None => FormPage {
            chrome: Chrome::anonymous(),
            meta: Meta::personal("New product — Bazaar"),
            frame: Frame::of(pool, shop, "products").await?,
            product_id: None,
            price_hint: price_hint(shop),
            form,
            errors,
            notice,
            stock_form: StockForm::default(),
            reasons: reasons(),
            history: Vec::new(),
            archived: false,
        },
    };
    let page = FormPage {
        chrome: visitor.chrome(),
        ..page
    };
    workspace::answer(req, visitor, &page, status)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct NewQuery {
    /// A picture just uploaded for this form.
    #[serde(default)]
    image: String,
}

/// `GET /seller/shops/{id}/products/new`.
pub(super) async fn new(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<NewQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/products/new");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let form = ProductForm {
        stock: "1".into(),
        active: Some("on".into()),
        image_url: query.into_inner().image,
        ..ProductForm::default()
    };
    form_page(
        &req,
        &mut visitor,
        &pool,
        &shop,
        None,
        form,
        FormErrors::none(),
        "",
        StatusCode::OK,
    )
    .await
}

/// `POST /seller/shops/{id}/products`.
pub(super) async fn create(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<ProductForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/products/new");
    let (session, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let request = (|| {
        Ok::<_, AppError>(CreateProductRequest {
            sku: form.sku.trim().to_owned(),
            title: form.title.clone(),
            description: form.description.clone(),
            price_minor: form.price_minor(shop.default_currency)?,
            currency: shop.default_currency.code().to_owned(),
            stock: form.stock()?,
            category: form.category.trim().to_owned(),
            images: form.images(&[]),
            active: form.active.is_some(),
        })
    })();
    let created = match request.and_then(NewProduct::try_from) {
        Ok(new) => {
            let (shop_id, owner) = (shop.id.clone(), session.caller.user_id.0.clone());
            db::run(&pool, move |conn| {
                store::create_product(conn, &shop_id, &owner, false, &new)
            })
            .await
        }
        Err(error) => Err(error),
    };
    match created {
        Ok(product) => {
            let location = format!(
                "/seller/shops/{}/products/{}?done=created",
                shop.id, product.id
            );
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::from_error(&error, field_of);
            let status = actix_web::ResponseError::status_code(&error);
            form_page(
                &req,
                &mut visitor,
                &pool,
                &shop,
                None,
                form,
                errors,
                "",
                status,
            )
            .await
        }
        Err(error) => Err(PageError(error)),
    }
}

/// The product `product_id` of the signed-in seller's shop `shop_id`.
async fn owned_product(
    pool: &DbPool,
    shop: &crate::sellers::Shop,
    product_id: String,
) -> Result<Product, AppError> {
    let (shop_id, owner) = (shop.id.clone(), shop.owner_user_id.clone());
    let product = db::run(pool, move |conn| {
        store::product_for(conn, &product_id, &owner, false)
    })
    .await?;
    // A product of another of the same seller's shops belongs elsewhere.
    if product.shop_id == shop_id {
        Ok(product)
    } else {
        Err(AppError::NotFound {
            resource: "product",
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Flash {
    #[serde(default)]
    done: String,
    /// A picture just uploaded for this product.
    #[serde(default)]
    image: String,
}

/// `GET /seller/shops/{id}/products/{product_id}`.
pub(super) async fn edit(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<(String, String)>,
    flash: web::Query<Flash>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let (id, product_id) = path.into_inner();
    let here = format!("/seller/shops/{id}/products/{product_id}");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let product = owned_product(&pool, &shop, product_id).await?;
    let notice = match flash.done.as_str() {
        "created" => "Product created.",
        "saved" => "Changes saved.",
        "stock" => "Stock adjusted.",
        _ => "",
    };
    let mut page = FormPage {
        chrome: visitor.chrome(),
        ..FormPage::of(&pool, &shop, &product, FormErrors::none(), notice).await?
    };
    if !flash.image.is_empty() {
        page.form.image_url.clone_from(&flash.image);
        page.notice = "Picture uploaded: describe it, then save the product.";
    }
    workspace::answer(&req, &visitor, &page, StatusCode::OK)
}

/// `POST /seller/shops/{id}/products/{product_id}`: saves the form as a
/// partial update (the SKU is fixed once the product exists).
pub(super) async fn update(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    form: web::Form<ProductForm>,
) -> PageResult {
    let mut form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let (id, product_id) = path.into_inner();
    let here = format!("/seller/shops/{id}/products/{product_id}");
    let (session, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let product = owned_product(&pool, &shop, product_id).await?;
    form.sku = product.sku.clone();
    let request = (|| {
        Ok::<_, AppError>(UpdateProductRequest {
            title: Some(form.title.clone()),
            description: Some(form.description.clone()),
            price_minor: Some(form.price_minor(shop.default_currency)?),
            stock: Some(form.stock()?),
            category: Some(form.category.trim().to_owned()),
            images: Some(form.images(&product.images)),
            active: Some(form.active.is_some()),
        })
    })();
    let saved = match request.and_then(ProductPatch::try_from) {
        Ok(patch) => {
            let (product_id, owner) = (product.id.clone(), session.caller.user_id.0.clone());
            db::run(&pool, move |conn| {
                store::update_product(conn, &product_id, &owner, false, &patch)
            })
            .await
        }
        Err(error) => Err(error),
    };
    match saved {
        Ok(product) => {
            let location = format!(
                "/seller/shops/{}/products/{}?done=saved",
                shop.id, product.id
            );
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::from_error(&error, field_of);
            let status = actix_web::ResponseError::status_code(&error);
            form_page(
                &req,
                &mut visitor,
                &pool,
                &shop,
                Some(&product),
                form,
                errors,
                "",
                status,
            )
            .await
        }
        Err(error) => Err(PageError(error)),
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct StockForm {
    #[serde(default)]
    csrf_token: String,
    /// Signed: `+12` received, `-1` damaged.
    #[serde(default)]
    delta: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

/// `POST /seller/shops/{id}/products/{product_id}/stock`: an adjustment by
/// delta (`catalog::adjust_stock`: atomic and recorded, so it cannot race
/// a checkout).
pub(super) async fn adjust(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    form: web::Form<StockForm>,
) -> PageResult {
    let stock_form = form.into_inner();
    visitor.check_form(&req, &stock_form.csrf_token)?;
    let (id, product_id) = path.into_inner();
    let here = format!("/seller/shops/{id}/products/{product_id}");
    let (session, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let product = owned_product(&pool, &shop, product_id).await?;
    let delta = stock_form
        .delta
        .trim()
        .trim_start_matches('+')
        .parse::<i64>()
        .map_err(|_| {
            AppError::unprocessable(
                "invalid_value",
                "enter the change as a whole number: 12 for goods received, -1 for one damaged",
                Some("delta".into()),
            )
        });
    let adjusted = match delta.and_then(|delta| {
        store::NewAdjustment::parse(delta, &stock_form.reason, stock_form.note.trim())
    }) {
        Ok(adjustment) => {
            let (product_id, owner) = (product.id.clone(), session.caller.user_id.0.clone());
            db::run(&pool, move |conn| {
                store::adjust_stock(conn, &product_id, &owner, false, &adjustment)
            })
            .await
        }
        Err(error) => Err(error),
    };
    match adjusted {
        Ok(_) => {
            let location = format!(
                "/seller/shops/{}/products/{}?done=stock",
                shop.id, product.id
            );
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::from_error(&error, |param| match param {
                "delta" => Some("delta"),
                "reason" => Some("reason"),
                "note" => Some("note"),
                _ => None,
            });
            // `insufficient_stock` names no field: it is about the change.
            let errors = if errors.fields.is_empty() {
                FormErrors::field("delta", crate::web::forms::sentence(&error.to_string()))
            } else {
                errors
            };
            let status = actix_web::ResponseError::status_code(&error);
            let mut page = FormPage::of(&pool, &shop, &product, errors, "").await?;
            page.stock_form = stock_form;
            page.chrome = visitor.chrome();
            workspace::answer(&req, &visitor, &page, status)
        }
        Err(error) => Err(PageError(error)),
    }
}

/// `POST /seller/shops/{id}/products/{product_id}/remove`: deleted when no
/// order refers to it, archived otherwise (`catalog::remove_product`).
pub(super) async fn remove(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<(String, String)>,
    pool: web::Data<DbPool>,
    form: web::Form<super::onboarding::CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let (id, product_id) = path.into_inner();
    let here = format!("/seller/shops/{id}/products/{product_id}");
    let (session, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let product = owned_product(&pool, &shop, product_id).await?;
    let owner = session.caller.user_id.0.clone();
    let removal = db::run(&pool, move |conn| {
        store::remove_product(conn, &product.id, &owner, false)
    })
    .await?;
    let location = format!(
        "/seller/shops/{}/products?done={}",
        shop.id,
        removal.as_str()
    );
    Ok(visitor.finish(render::see_other(&location).finish()))
}
