//! The public pages: home, search and listing, product, shop. For visitors
//! without cookies they are the same for everyone and an edge may cache them.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::views::{cards, Card, ProductDetail};
use crate::catalog::listing::CatalogQueryParams;
use crate::catalog::search::{FacetValue, PriceBand};
use crate::catalog::Correction;
use crate::catalog::{self, CatalogQuery, Product};
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::money::{Currency, Money};
use crate::sellers::{self, PublicShop};
use crate::web::format::{self, category_name, major_units};
use crate::web::forms::FormErrors;
use crate::web::render::{self, Caching, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

/// Products on the home page's "New arrivals".
const NEW_ARRIVALS: i64 = 8;
/// Products per listing page.
const LISTING_PAGE: i64 = 24;

fn caching(visitor: &Visitor) -> Caching {
    if visitor.is_known() {
        Caching::Private
    } else {
        Caching::Public
    }
}

fn names_of(
    conn: &mut DbConnection,
    products: &[Product],
) -> Result<HashMap<String, String>, AppError> {
    let mut ids: Vec<&str> = products.iter().map(|p| p.shop_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    sellers::shop_names(conn, &ids)
}

/// A category link.
struct CategoryLink {
    slug: String,
    name: String,
}

#[derive(Template)]
#[template(path = "shop/home.html", config = "src/web/askama.toml")]
struct HomePage {
    chrome: Chrome,
    meta: Meta,
    categories: Vec<CategoryLink>,
    arrivals: Vec<Card>,
    shops: Vec<PublicShop>,
}

pub(super) async fn home(
    req: HttpRequest,
    visitor: Visitor,
    pool: web::Data<DbPool>,
) -> PageResult {
    let (categories, arrivals, shops) = db::run(&pool, |conn| {
        let newest = catalog::newest_products(conn, NEW_ARRIVALS)?;
        let names = names_of(conn, &newest)?;
        Ok((
            catalog::visible_categories(conn)?,
            cards(&newest, &names),
            sellers::public_shops(conn)?,
        ))
    })
    .await?;
    let page = HomePage {
        chrome: visitor.public_chrome(),
        meta: Meta::public(
            &req,
            "Bazaar — shop independent sellers".into(),
            "Buy from independent shops in one cart and pay once: apparel, home, books, electronics and more.".into(),
            "/",
        ),
        categories: categories
            .into_iter()
            .map(|slug| CategoryLink {
                name: category_name(&slug),
                slug,
            })
            .collect(),
        arrivals,
        shops,
    };
    Ok(visitor.finish(render::page(&req, &page, caching(&visitor))?))
}

/// The search form as submitted: prices in major units, as people type them.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct SearchForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    shop: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    min_price: String,
    #[serde(default)]
    max_price: String,
    #[serde(default)]
    in_stock: String,
    #[serde(default)]
    cursor: String,
}

impl SearchForm {
    /// The API's query for this form: the same parameters, prices converted
    /// to minor units of the chosen currency.
    fn query(&self) -> Result<CatalogQuery, AppError> {
        let currency = (!self.currency.is_empty())
            .then(|| Currency::parse(&self.currency))
            .transpose()
            .map_err(|e| {
                AppError::unprocessable(e.code(), e.to_string(), Some("currency".into()))
            })?;
        let bound = |param: &str, text: &str| -> Result<Option<i64>, AppError> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            let Some(currency) = currency else {
                return Err(AppError::unprocessable(
                    "currency_required",
                    "choose a currency to filter by price",
                    Some("currency".into()),
                ));
            };
            Money::parse_decimal(text, currency)
                .map(|m| Some(m.minor))
                .map_err(|_| {
                    AppError::unprocessable(
                        "invalid_value",
                        format!(
                            "enter a price such as {}",
                            major_units(Money::new(1250, currency))
                        ),
                        Some(param.to_owned()),
                    )
                })
        };
        let params = CatalogQueryParams {
            shop: Some(self.shop.clone()),
            category: Some(self.category.clone()),
            currency: Some(self.currency.clone()).filter(|c| !c.is_empty()),
            min_price: bound("min_price", &self.min_price)?,
            max_price: bound("max_price", &self.max_price)?,
            q: Some(self.q.clone()),
            in_stock: Some(!self.in_stock.is_empty()),
            limit: Some(LISTING_PAGE),
            cursor: Some(self.cursor.clone()).filter(|c| !c.is_empty()),
        };
        CatalogQuery::try_from(params)
    }

    /// This search's URL with another cursor.
    fn with_cursor(&self, cursor: &str) -> String {
        let pairs = [
            ("q", self.q.as_str()),
            ("category", &self.category),
            ("shop", &self.shop),
            ("currency", &self.currency),
            ("min_price", &self.min_price),
            ("max_price", &self.max_price),
            ("in_stock", &self.in_stock),
            ("cursor", cursor),
        ];
        let query: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        format!("/search?{}", query.join("&"))
    }
}

fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An option of a select.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "shop/search.html", config = "src/web/askama.toml")]
struct SearchPage {
    chrome: Chrome,
    meta: Meta,
    heading: String,
    form: SearchForm,
    errors: FormErrors,
    categories: Vec<Choice>,
    shops: Vec<Choice>,
    currencies: Vec<Choice>,
    results: Vec<Card>,
    count: i64,
    next: Option<String>,
    /// Links narrowing the search to a price band, with their counts.
    price_bands: Vec<BandLink>,
    /// Products with stock left (`None` when the form is invalid).
    in_stock_count: Option<i64>,
    corrections: Vec<Correction>,
}

/// A link to the search narrowed to one price band.
struct BandLink {
    label: String,
    href: String,
    count: i64,
    current: bool,
}

/// `label (count)`, or `label` when there is no count.
fn with_count(label: String, count: Option<i64>) -> String {
    match count {
        Some(count) => format!("{label} ({count})"),
        None => label,
    }
}

fn count_of(values: &[FacetValue], value: &str) -> i64 {
    values
        .iter()
        .find(|v| v.value == value)
        .map_or(0, |v| v.count)
}

fn band_links(form: &SearchForm, bands: &[PriceBand]) -> Vec<BandLink> {
    bands
        .iter()
        .filter_map(|band| {
            let currency = Currency::parse(&band.currency).ok()?;
            let low = Money::new(band.min_price, currency);
            let high = band.max_price.map(|max| Money::new(max, currency));
            let label = match high {
                _ if band.min_price == 0 => format!(
                    "Under {}",
                    format::price(Money::new(high?.minor + 1, currency))
                ),
                Some(high) => format!("{} to {}", format::price(low), format::price(high)),
                None => format!("{} and over", format::price(low)),
            };
            let min = major_units(low);
            let max = high.map(major_units).unwrap_or_default();
            let current = form.currency == band.currency
                && form.min_price.trim() == min
                && form.max_price.trim() == max;
            let mut narrowed = SearchForm {
                currency: band.currency.clone(),
                min_price: min,
                max_price: max,
                ..form.clone()
            };
            narrowed.cursor.clear();
            Some(BandLink {
                label,
                href: narrowed.with_cursor(""),
                count: band.count,
                current,
            })
        })
        .collect()
}

fn search_field(param: &str) -> Option<&'static str> {
    Some(match param {
        "q" => "q",
        "category" => "category",
        "shop" => "shop",
        "currency" => "currency",
        "min_price" => "min_price",
        "max_price" => "max_price",
        "cursor" => "q",
        _ => return None,
    })
}

pub(super) async fn search(
    req: HttpRequest,
    visitor: Visitor,
    pool: web::Data<DbPool>,
    form: web::Query<SearchForm>,
) -> PageResult {
    let form = form.into_inner();
    let query = form.query();
    let (categories, shops, outcome) = {
        db::run(&pool, move |conn| {
            let categories = catalog::visible_categories(conn)?;
            let shops = sellers::public_shops(conn)?;
            let outcome = match query {
                Ok(query) => {
                    let (page, facets) = catalog::search::page_and_facets(conn, &query)?;
                    let names = names_of(conn, &page.products)?;
                    Ok((
                        cards(&page.products, &names),
                        facets,
                        page.next_cursor.map(|c| c.encode()),
                    ))
                }
                Err(error) => Err(error),
            };
            Ok((categories, shops, outcome))
        })
        .await?
    };
    let (results, facets, next, errors) = match outcome {
        Ok((results, facets, next)) => (results, Some(facets), next, FormErrors::none()),
        Err(error @ (AppError::Unprocessable { .. } | AppError::BadRequest { .. })) => (
            Vec::new(),
            None,
            None,
            FormErrors::from_error(&error, search_field),
        ),
        Err(other) => return Err(PageError(other)),
    };
    let heading = match (form.category.is_empty(), form.q.trim().is_empty()) {
        (false, true) => category_name(&form.category),
        (true, true) => "All products".to_owned(),
        _ => "Search results".to_owned(),
    };
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut chrome = visitor.public_chrome();
    chrome.query = form.q.clone();
    let page = SearchPage {
        meta: Meta::public(
            &req,
            format!("{heading} — Bazaar"),
            format!("{heading} from independent shops on Bazaar."),
            &form.with_cursor(""),
        ),
        chrome,
        heading,
        categories: categories
            .into_iter()
            .map(|slug| Choice {
                selected: slug == form.category,
                label: with_count(
                    category_name(&slug),
                    facets.as_ref().map(|f| count_of(&f.categories, &slug)),
                ),
                value: slug,
            })
            .collect(),
        shops: shops
            .into_iter()
            .map(|shop| Choice {
                selected: shop.id == form.shop,
                label: with_count(
                    shop.name,
                    facets.as_ref().map(|f| {
                        f.shops
                            .iter()
                            .find(|s| s.id == shop.id)
                            .map_or(0, |s| s.count)
                    }),
                ),
                value: shop.id,
            })
            .collect(),
        price_bands: facets
            .as_ref()
            .map(|f| band_links(&form, &f.price_bands))
            .unwrap_or_default(),
        in_stock_count: facets.as_ref().map(|f| f.in_stock),
        corrections: facets
            .as_ref()
            .map(|f| f.corrections.clone())
            .unwrap_or_default(),
        count: facets.as_ref().map_or(0, |f| f.total),
        currencies: ["USD", "EUR", "GBP"]
            .iter()
            .map(|code| Choice {
                selected: *code == form.currency,
                label: (*code).to_owned(),
                value: (*code).to_owned(),
            })
            .collect(),
        next: next.map(|cursor| form.with_cursor(&cursor)),
        results,
        errors,
        form,
    };
    Ok(visitor.finish(render::page_with(
        &req,
        &page,
        caching(&visitor),
        status,
        render::PAGE_CSP,
    )?))
}

#[derive(Template)]
#[template(path = "shop/product.html", config = "src/web/askama.toml")]
struct ProductPage {
    chrome: Chrome,
    meta: Meta,
    product: ProductDetail,
    json_ld: String,
    max_quantity: i64,
}

/// schema.org `Product` with its `Offer`, safe inside `<script>`.
fn product_json_ld(req: &HttpRequest, product: &Product, shop_name: &str) -> String {
    let value = serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "description": product.description,
        "sku": product.sku,
        "category": category_name(&product.category),
        "image": product.images.iter().map(|i| if i.url.starts_with('/') { render::absolute(req, &i.url) } else { i.url.clone() }).collect::<Vec<_>>(),
        "offers": {
            "@type": "Offer",
            "url": render::absolute(req, &format!("/products/{}", product.id)),
            "price": major_units(product.price),
            "priceCurrency": product.price.currency.code(),
            "availability": if product.stock > 0 { "https://schema.org/InStock" } else { "https://schema.org/OutOfStock" },
            "seller": {"@type": "Organization", "name": shop_name},
        },
    });
    // `</script>` inside a string must not end the element.
    value.to_string().replace('<', "\\u003c")
}

pub(super) async fn product(
    req: HttpRequest,
    visitor: Visitor,
    pool: web::Data<DbPool>,
    id: web::Path<String>,
) -> PageResult {
    let id = id.into_inner();
    let (product, shop) = db::run(&pool, move |conn| {
        if !catalog::model::is_product_id(&id) {
            return Err(AppError::NotFound {
                resource: "product",
            });
        }
        let product = catalog::visible_product(conn, &id)?;
        let shop = sellers::public_shop(conn, &product.shop_id)?;
        Ok((product, shop))
    })
    .await?;
    let detail = ProductDetail::of(&product, &shop.name);
    let page = ProductPage {
        chrome: visitor.public_chrome(),
        meta: Meta::public(
            &req,
            format!("{} — {} — Bazaar", product.title, shop.name),
            product.description.chars().take(155).collect(),
            &format!("/products/{}", product.id),
        ),
        json_ld: product_json_ld(&req, &product, &shop.name),
        max_quantity: product.stock.clamp(1, catalog::QUANTITY_MAX),
        product: detail,
    };
    Ok(visitor.finish(render::page(&req, &page, caching(&visitor))?))
}

#[derive(Template)]
#[template(path = "shop/shop.html", config = "src/web/askama.toml")]
struct ShopPage {
    chrome: Chrome,
    meta: Meta,
    shop: PublicShop,
    member_since: String,
    /// The shop's description and return policy, one paragraph a line: the
    /// seller wrote plain text, and its line breaks are theirs.
    description: Vec<String>,
    return_policy: Vec<String>,
    products: Vec<Card>,
    count: i64,
    next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ShopQuery {
    #[serde(default)]
    cursor: String,
}

/// Plain text as paragraphs: one per non-blank line.
fn paragraphs(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) async fn shop(
    req: HttpRequest,
    visitor: Visitor,
    pool: web::Data<DbPool>,
    id: web::Path<String>,
    query: web::Query<ShopQuery>,
) -> PageResult {
    let id = id.into_inner();
    let cursor = query.into_inner().cursor;
    let (shop, products, count, next) = db::run(&pool, move |conn| {
        let shop = sellers::public_shop(conn, &id)?;
        let params = CatalogQueryParams {
            shop: Some(shop.id.clone()),
            limit: Some(LISTING_PAGE),
            cursor: Some(cursor).filter(|c| !c.is_empty()),
            ..CatalogQueryParams::default()
        };
        let query =
            CatalogQuery::try_from(params).map_err(|_| AppError::NotFound { resource: "page" })?;
        let page = catalog::list_catalog(conn, &query)?;
        let count = catalog::count_catalog(conn, &query)?;
        let names = HashMap::from([(shop.id.clone(), shop.name.clone())]);
        let next = page
            .next_cursor
            .map(|c| format!("/shops/{}?cursor={}", shop.id, c.encode()));
        Ok((shop, cards(&page.products, &names), count, next))
    })
    .await?;
    let page = ShopPage {
        chrome: visitor.public_chrome(),
        meta: Meta::public(
            &req,
            format!("{} — Bazaar", shop.name),
            format!(
                "{} sells on Bazaar: {count} products, shipped from {}.",
                shop.name, shop.country
            ),
            &format!("/shops/{}", shop.id),
        ),
        member_since: crate::web::format::date_of(&shop.member_since),
        description: paragraphs(&shop.description),
        return_policy: paragraphs(&shop.return_policy),
        shop,
        products,
        count,
        next,
    };
    Ok(visitor.finish(render::page(&req, &page, caching(&visitor))?))
}
