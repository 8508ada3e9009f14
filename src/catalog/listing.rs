//! Product listings: the public catalog with its filters, a shop's own list,
//! and the opaque keyset cursor both use.
//!
//! Pages are ordered by `(created_at, id)` ascending and a cursor is the key of
//! the last row served, so the next page starts strictly after it. Rows never
//! change their key (updates leave `created_at` alone), so a walk sees every
//! row that existed when it started exactly once, however many rows are
//! inserted meanwhile; rows inserted during the walk appear at most once.

use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use serde::Deserialize;

use super::model::{is_product_id, Category, Product, PRICE_MINOR_MAX};
use super::schema::products;
use super::store::ProductRow;
use crate::db::DbConnection;
use crate::error::AppError;
use crate::money::Currency;
use crate::sellers::shops;

/// Page size when the request names none.
pub const PAGE_LIMIT_DEFAULT: i64 = 20;
/// Largest page size a request may ask for.
pub const PAGE_LIMIT_MAX: i64 = 100;
/// Longest text query, in characters.
pub const QUERY_CHARS_MAX: usize = 200;
/// Longest cursor we try to decode; real ones are about 110 characters.
const CURSOR_CHARS_MAX: usize = 256;
/// Cursors carry a version so their format can change without breaking clients
/// mid-walk (an old cursor is refused with a clear error instead).
const CURSOR_VERSION: &str = "v1";

fn invalid(param: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
}

/// Where a page starts.
///
/// Listings in `(created_at, id)` order continue after the key of the last
/// row served ([`Cursor::After`]). A ranked text search continues at a
/// position in its ranking ([`Cursor::Ranked`]): ranks are not keys (they
/// depend on the query, and on SQLite on the whole index), so a product edited
/// during a walk of a search may move between its pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    After {
        created_at: NaiveDateTime,
        id: String,
    },
    Ranked {
        offset: i64,
    },
}

/// Deepest position of a ranked search a cursor may ask for: deeper pages of
/// a search are better served by a narrower query.
pub const RANKED_OFFSET_MAX: i64 = 10_000;
const RANKED_CURSOR_VERSION: &str = "r1";

impl Cursor {
    /// The cursor that continues after `product`.
    pub fn after(product: &Product) -> Self {
        Self::After {
            created_at: product.created_at,
            id: product.id.clone(),
        }
    }

    /// The opaque string clients send back: hex of `v1|<micros>|<id>` or
    /// `r1|<offset>`.
    pub fn encode(&self) -> String {
        match self {
            Self::After { created_at, id } => {
                let micros = created_at.and_utc().timestamp_micros();
                hex::encode(format!("{CURSOR_VERSION}|{micros}|{id}"))
            }
            Self::Ranked { offset } => hex::encode(format!("{RANKED_CURSOR_VERSION}|{offset}")),
        }
    }

    /// Parses a cursor this server produced.
    ///
    /// # Errors
    /// 422 `invalid_value`, param `cursor`.
    pub fn decode(value: &str) -> Result<Self, AppError> {
        let bad = || invalid("cursor", "the cursor is not one this API returned");
        if value.len() > CURSOR_CHARS_MAX {
            return Err(bad());
        }
        let bytes = hex::decode(value).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let parts: Vec<&str> = text.split('|').collect();
        match parts.as_slice() {
            [CURSOR_VERSION, micros, id] => {
                let micros: i64 = micros.parse().map_err(|_| bad())?;
                let created_at = DateTime::from_timestamp_micros(micros)
                    .ok_or_else(bad)?
                    .naive_utc();
                if !is_product_id(id) {
                    return Err(bad());
                }
                Ok(Self::After {
                    created_at,
                    id: (*id).to_owned(),
                })
            }
            [RANKED_CURSOR_VERSION, offset] => {
                let offset: i64 = offset.parse().map_err(|_| bad())?;
                if !(1..=RANKED_OFFSET_MAX).contains(&offset) {
                    return Err(bad());
                }
                Ok(Self::Ranked { offset })
            }
            _ => Err(bad()),
        }
    }
}

/// A misspelt word of a search and the indexed words searched instead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Correction {
    pub word: String,
    pub replacements: Vec<String>,
}

/// Page size and position, shared by every listing.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// Checks `limit` (1..=[`PAGE_LIMIT_MAX`], default [`PAGE_LIMIT_DEFAULT`])
    /// and decodes `cursor`.
    ///
    /// # Errors
    /// 422 `invalid_value`, param `limit` or `cursor`.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, AppError> {
        let limit = limit.unwrap_or(PAGE_LIMIT_DEFAULT);
        if !(1..=PAGE_LIMIT_MAX).contains(&limit) {
            return Err(invalid(
                "limit",
                format!("limit must be between 1 and {PAGE_LIMIT_MAX}"),
            ));
        }
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(Cursor::decode)
            .transpose()?;
        Ok(Self { limit, after })
    }
}

/// One page of products and where the next one starts (`None`: no more rows
/// when this page was read).
#[derive(Debug, Clone)]
pub struct Page {
    pub products: Vec<Product>,
    pub next_cursor: Option<Cursor>,
    /// Words of a text search that matched nothing and were searched as the
    /// indexed words nearest in spelling instead.
    pub corrections: Vec<Correction>,
}

/// The query string of `GET /v1/products`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogQueryParams {
    /// A shop's id.
    pub shop: Option<String>,
    pub category: Option<String>,
    /// ISO 4217; required with a price bound.
    pub currency: Option<String>,
    /// Minor units, inclusive.
    pub min_price: Option<i64>,
    /// Minor units, inclusive.
    pub max_price: Option<i64>,
    /// Words to find in the title or description, each as the beginning of a
    /// word, in any case; results are ranked (title matches first) and a word
    /// that matches nothing is searched as the nearest indexed spelling.
    pub q: Option<String>,
    /// `true`: only products with stock left.
    pub in_stock: Option<bool>,
    /// 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The query string of `GET /v1/shops/{shop_id}/products`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The query string of `GET /v1/shops/{shop_id}/products`: a page, and
/// what the seller is looking for.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShopProductsParams {
    /// Case-insensitive text in the title or the SKU.
    pub q: Option<String>,
    /// `all` (default), `active`, `archived` or `out_of_stock`.
    pub status: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Which of a shop's products a seller's list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductStatus {
    /// Every product, archived ones included.
    #[default]
    All,
    /// On sale: active (so not archived).
    Active,
    /// Archived: sold before, so kept instead of deleted.
    Archived,
    /// Not archived, with no units left.
    OutOfStock,
}

impl ProductStatus {
    /// Every status, in the order a filter lists them.
    pub const ALL: [Self; 4] = [Self::All, Self::Active, Self::Archived, Self::OutOfStock];

    /// The name in query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Active => "active",
            Self::Archived => "archived",
            Self::OutOfStock => "out_of_stock",
        }
    }

    /// Parses a name; empty is [`ProductStatus::All`].
    ///
    /// # Errors
    /// 422 `invalid_value`, param `status`.
    pub fn parse(value: &str) -> Result<Self, AppError> {
        if value.is_empty() {
            return Ok(Self::All);
        }
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
            .ok_or_else(|| {
                invalid(
                    "status",
                    "status is one of all, active, archived, out_of_stock",
                )
            })
    }
}

/// A validated search of one shop's products.
#[derive(Debug, Clone)]
pub struct ShopProductQuery {
    /// Lowercased; matched as a substring of the title or the SKU.
    pub text: Option<String>,
    pub status: ProductStatus,
    pub page: PageRequest,
}

impl ShopProductQuery {
    /// Checks each parameter, as the query string and the seller's page give them.
    ///
    /// # Errors
    /// 422 `invalid_value` with param `q`, `status`, `limit` or `cursor`.
    pub fn parse(
        q: Option<&str>,
        status: Option<&str>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Self, AppError> {
        Ok(Self {
            text: query_text(q)?,
            status: ProductStatus::parse(status.unwrap_or(""))?,
            page: PageRequest::parse(limit, cursor)?,
        })
    }
}

impl TryFrom<ShopProductsParams> for ShopProductQuery {
    type Error = AppError;

    fn try_from(params: ShopProductsParams) -> Result<Self, AppError> {
        Self::parse(
            params.q.as_deref(),
            params.status.as_deref(),
            params.limit,
            params.cursor.as_deref(),
        )
    }
}

/// A text query trimmed and lowercased; `None` when blank.
fn query_text(q: Option<&str>) -> Result<Option<String>, AppError> {
    q.map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| {
            if q.chars().count() > QUERY_CHARS_MAX {
                Err(invalid(
                    "q",
                    format!("a query has at most {QUERY_CHARS_MAX} characters"),
                ))
            } else {
                Ok(q.to_lowercase())
            }
        })
        .transpose()
}

impl TryFrom<PageParams> for PageRequest {
    type Error = AppError;

    fn try_from(params: PageParams) -> Result<Self, AppError> {
        PageRequest::parse(params.limit, params.cursor.as_deref())
    }
}

/// A validated catalog search.
#[derive(Debug, Clone)]
pub struct CatalogQuery {
    pub shop: Option<String>,
    pub category: Option<Category>,
    pub currency: Option<Currency>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Lowercased; searched as words, ranked ([`search`]).
    pub text: Option<String>,
    /// Only products with stock left.
    pub in_stock: bool,
    pub page: PageRequest,
}

impl CatalogQuery {
    /// Every product buyers may see, one page at a time.
    pub fn everything(page: PageRequest) -> Self {
        Self {
            shop: None,
            category: None,
            currency: None,
            min_price: None,
            max_price: None,
            text: None,
            in_stock: false,
            page,
        }
    }
}

impl TryFrom<CatalogQueryParams> for CatalogQuery {
    type Error = AppError;

    fn try_from(params: CatalogQueryParams) -> Result<Self, AppError> {
        let currency = params
            .currency
            .as_deref()
            .map(|code| {
                Currency::parse(code).map_err(|e| {
                    AppError::unprocessable(e.code(), e.to_string(), Some("currency".into()))
                })
            })
            .transpose()?;
        let price_bound = |param: &str, value: Option<i64>| match value {
            Some(v) if !(0..=PRICE_MINOR_MAX).contains(&v) => Err(invalid(
                param,
                format!("{param} must be between 0 and {PRICE_MINOR_MAX} minor units"),
            )),
            other => Ok(other),
        };
        let min_price = price_bound("min_price", params.min_price)?;
        let max_price = price_bound("max_price", params.max_price)?;
        if (min_price.is_some() || max_price.is_some()) && currency.is_none() {
            return Err(AppError::unprocessable(
                "currency_required",
                "a price bound is in minor units of a currency: add `currency`",
                Some("currency".into()),
            ));
        }
        if let (Some(min), Some(max)) = (min_price, max_price) {
            if min > max {
                return Err(invalid("max_price", "max_price is below min_price"));
            }
        }
        let text = query_text(params.q.as_deref())?;
        Ok(Self {
            shop: params.shop.filter(|s| !s.is_empty()),
            category: params
                .category
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(Category::parse)
                .transpose()?,
            currency,
            min_price,
            max_price,
            text,
            in_stock: params.in_stock.unwrap_or(false),
            page: PageRequest::parse(params.limit, params.cursor.as_deref())?,
        })
    }
}

/// `text` as a LIKE pattern matching it anywhere, with `\`, `%` and `_` escaped
/// so they match themselves (the query uses `ESCAPE '\'`).
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Applies the keyset position and the page size (one extra row, to know
/// whether another page follows), then loads the page.
fn load_page(
    conn: &mut DbConnection,
    query: products::BoxedQuery<'_, <DbConnection as diesel::Connection>::Backend>,
    page: &PageRequest,
) -> Result<Page, AppError> {
    let mut query = query;
    match &page.after {
        None => {}
        Some(Cursor::Ranked { .. }) => {
            return Err(invalid(
                "cursor",
                "this cursor continues a text search: send it with the same `q`",
            ))
        }
        Some(Cursor::After { created_at, id }) => {
            // `(created_at, id) > (t, x)`, spelt `created_at >= t AND (created_at > t
            // OR id > x)`: the same rows as `created_at > t OR (created_at = t AND
            // id > x)`, but with a leading range both planners start the index scan
            // from. PostgreSQL cannot use the bare OR as an index condition and
            // walked the index from the first product for every deeper page.
            query = query.filter(
                products::created_at.ge(*created_at).and(
                    products::created_at
                        .gt(*created_at)
                        .or(products::id.gt(id.clone())),
                ),
            );
        }
    }
    let limit = usize::try_from(page.limit).expect("limit was checked positive");
    let rows: Vec<ProductRow> = query
        .order((products::created_at.asc(), products::id.asc()))
        .limit(page.limit + 1)
        .select(ProductRow::as_select())
        .load(conn)?;
    let more = rows.len() > limit;
    let products = rows
        .into_iter()
        .take(limit)
        .map(Product::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = more.then(|| Cursor::after(products.last().expect("limit >= 1")));
    Ok(Page {
        products,
        next_cursor,
        corrections: Vec::new(),
    })
}

type Backend = <DbConnection as diesel::Connection>::Backend;

/// `boxed` narrowed to what buyers may see and `query` asks for: one place
/// for the rule, shared by the page and its count.
fn visible_matching<'a, ST>(
    mut boxed: products::BoxedQuery<'a, Backend, ST>,
    query: &CatalogQuery,
) -> products::BoxedQuery<'a, Backend, ST> {
    boxed = boxed
        .filter(products::active.eq(true))
        .filter(products::shop_id.eq_any(shops::sellable_shop_ids()));
    if let Some(shop) = &query.shop {
        boxed = boxed.filter(products::shop_id.eq(shop.clone()));
    }
    if let Some(category) = &query.category {
        boxed = boxed.filter(products::category.eq(category.as_str().to_owned()));
    }
    if let Some(currency) = query.currency {
        boxed = boxed.filter(products::currency.eq(currency.code()));
    }
    if let Some(min) = query.min_price {
        boxed = boxed.filter(products::price_minor.ge(min));
    }
    if let Some(max) = query.max_price {
        boxed = boxed.filter(products::price_minor.le(max));
    }
    if query.in_stock {
        boxed = boxed.filter(products::stock.gt(0));
    }
    // Text is searched by [`search`], never here.
    debug_assert!(query.text.is_none());
    boxed
}

/// The public catalog without text (text is [`super::search`]'s): active
/// products of shops that can sell, filtered, in `(created_at, id)` order.
///
/// # Errors
/// A database failure.
pub(super) fn list_keyset(conn: &mut DbConnection, query: &CatalogQuery) -> Result<Page, AppError> {
    let boxed = visible_matching(products::table.into_boxed(), query);
    load_page(conn, boxed, &query.page)
}

/// How many products [`list_keyset`] walks through for `query`, all pages
/// together (the cursor and page size are ignored).
///
/// # Errors
/// A database failure.
pub(super) fn count_keyset(conn: &mut DbConnection, query: &CatalogQuery) -> Result<i64, AppError> {
    let boxed = visible_matching(
        products::table
            .select(diesel::dsl::count_star())
            .into_boxed(),
        query,
    );
    Ok(boxed.get_result(conn)?)
}

/// The newest products buyers may see, newest first.
///
/// # Errors
/// A database failure.
pub fn newest_products(conn: &mut DbConnection, limit: i64) -> Result<Vec<Product>, AppError> {
    let query = CatalogQuery::everything(PageRequest {
        limit: limit.clamp(1, PAGE_LIMIT_MAX),
        after: None,
    });
    let rows: Vec<ProductRow> = visible_matching(products::table.into_boxed(), &query)
        .order((products::created_at.desc(), products::id.desc()))
        .limit(query.page.limit)
        .select(ProductRow::as_select())
        .load(conn)?;
    rows.into_iter().map(Product::try_from).collect()
}

/// The categories that have products buyers may see, by name.
///
/// # Errors
/// A database failure.
pub fn visible_categories(conn: &mut DbConnection) -> Result<Vec<String>, AppError> {
    Ok(products::table
        .filter(products::active.eq(true))
        .filter(products::shop_id.eq_any(shops::sellable_shop_ids()))
        .select(products::category)
        .distinct()
        .order(products::category.asc())
        .load(conn)?)
}

/// All products of one shop, inactive ones included, for its owner or staff.
///
/// # Errors
/// 404 when the shop does not exist or belongs to someone else.
pub fn list_shop_products(
    conn: &mut DbConnection,
    shop_id: &str,
    viewer: &str,
    staff: bool,
    page: &PageRequest,
) -> Result<Page, AppError> {
    let query = ShopProductQuery {
        text: None,
        status: ProductStatus::All,
        page: page.clone(),
    };
    search_shop_products(conn, shop_id, viewer, staff, &query)
}

diesel::define_sql_function! {
    /// SQL `lower()`: ASCII only on SQLite, which is what SKUs hold; titles
    /// outside ASCII match case-insensitively on PostgreSQL only.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The products of one shop that `query` asks for, for its owner or staff,
/// in the same pages and order as [`list_shop_products`].
///
/// # Errors
/// 404 when the shop does not exist or belongs to someone else.
pub fn search_shop_products(
    conn: &mut DbConnection,
    shop_id: &str,
    viewer: &str,
    staff: bool,
    query: &ShopProductQuery,
) -> Result<Page, AppError> {
    let shop = shops::shop_for(conn, shop_id, viewer, staff)?;
    let mut boxed = products::table
        .filter(products::shop_id.eq(shop.id))
        .into_boxed();
    boxed = match query.status {
        ProductStatus::All => boxed,
        ProductStatus::Active => boxed.filter(products::active.eq(true)),
        ProductStatus::Archived => boxed.filter(products::archived_at.is_not_null()),
        ProductStatus::OutOfStock => boxed
            .filter(products::archived_at.is_null())
            .filter(products::stock.eq(0)),
    };
    if let Some(text) = &query.text {
        let pattern = contains_pattern(text);
        boxed = boxed.filter(
            lower(products::title)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(products::sku).like(pattern).escape('\\')),
        );
    }
    load_page(conn, boxed, &query.page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(contains_pattern("50%"), "%50\\%%");
        assert_eq!(contains_pattern("a_b\\c"), "%a\\_b\\\\c%");
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let cursor = Cursor::After {
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456)
                .unwrap()
                .naive_utc(),
            id: super::super::model::new_product_id(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        let ranked = Cursor::Ranked { offset: 40 };
        assert_eq!(Cursor::decode(&ranked.encode()).unwrap(), ranked);
        for junk in [
            "",
            "zz",
            &hex::encode("v2|1|prd_x"),
            &hex::encode("v1|x|y"),
            &hex::encode("r1|0"),
            &hex::encode("r1|-5"),
            &hex::encode("r1|10001"),
            &hex::encode("r1|5|6"),
        ] {
            assert!(Cursor::decode(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn price_bounds_need_a_currency() {
        let params = CatalogQueryParams {
            min_price: Some(100),
            ..CatalogQueryParams::default()
        };
        let error = CatalogQuery::try_from(params).unwrap_err();
        assert_eq!(error.code(), "currency_required");
    }
}
