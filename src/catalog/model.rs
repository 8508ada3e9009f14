//! The catalog's domain types. Each one is built only by parsing, so holding a
//! [`Sku`] or a [`NewProduct`] means its value is within the limits below; a
//! bad value is a 422 naming the field in `param`.
//!
//! Request bodies (`CreateProductRequest`, `UpdateProductRequest`) are plain
//! serde types with `deny_unknown_fields`; `TryFrom` turns them into
//! [`NewProduct`] and [`ProductPatch`].

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::http::text::{display_text, Lines};
use crate::money::{Currency, Money};

/// Longest product title, in characters.
pub const TITLE_CHARS_MAX: usize = 200;
/// Longest product description, in characters.
pub const DESCRIPTION_CHARS_MAX: usize = 5000;
/// Longest SKU, in characters (ASCII only).
pub const SKU_CHARS_MAX: usize = 64;
/// Longest category slug, in characters (ASCII only).
pub const CATEGORY_CHARS_MAX: usize = 64;
/// Highest price in minor units (ten billion dollars in cents); well inside
/// `i64`, so a line total of [`QUANTITY_MAX`] units cannot overflow either.
pub const PRICE_MINOR_MAX: i64 = 1_000_000_000_000;
/// Most units of one product a seller can have in stock.
pub const STOCK_MAX: i64 = 1_000_000;
/// Most units reserved or released in one call.
pub const QUANTITY_MAX: i64 = 1_000;
/// Most images per product.
pub const IMAGES_MAX: usize = 10;
/// Longest image URL, in characters.
pub const IMAGE_URL_CHARS_MAX: usize = 2048;
/// Longest image alt text, in characters.
pub const IMAGE_ALT_CHARS_MAX: usize = 300;

fn invalid(param: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
}

/// A stock-keeping unit: 1..=64 of `[A-Za-z0-9._-]`, unique within a shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    /// Parses a SKU exactly as given (no trimming: a SKU is an identifier).
    ///
    /// # Errors
    /// 422 `invalid_value`, param `sku`.
    pub fn parse(value: &str) -> Result<Self, AppError> {
        let ok = !value.is_empty()
            && value.len() <= SKU_CHARS_MAX
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(invalid(
                "sku",
                format!("a SKU has 1 to {SKU_CHARS_MAX} of A-Z, a-z, 0-9, '.', '_' and '-'"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The SKU as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category slug: 1..=64 of `[a-z0-9-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category(String);

impl Category {
    /// Parses a category slug; `param` names the field for the error.
    ///
    /// # Errors
    /// 422 `invalid_value` with `param`.
    pub fn parse_as(param: &str, value: &str) -> Result<Self, AppError> {
        let ok = !value.is_empty()
            && value.len() <= CATEGORY_CHARS_MAX
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(invalid(
                param,
                format!("a category is a slug of 1 to {CATEGORY_CHARS_MAX} of a-z, 0-9 and '-'"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// Parses the `category` field.
    ///
    /// # Errors
    /// 422 `invalid_value`, param `category`.
    pub fn parse(value: &str) -> Result<Self, AppError> {
        Self::parse_as("category", value)
    }

    /// The slug as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product title: 1..=200 characters fit to show on one line, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// # Errors
    /// 422 `invalid_value`, param `title`.
    pub fn parse(value: &str) -> Result<Self, AppError> {
        display_text("title", value, 1, TITLE_CHARS_MAX, Lines::Single).map(Self)
    }

    /// The title as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product description: up to 5000 characters, LF line breaks allowed (CRLF kept as LF).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    /// # Errors
    /// 422 `invalid_value`, param `description`.
    pub fn parse(value: &str) -> Result<Self, AppError> {
        display_text("description", value, 0, DESCRIPTION_CHARS_MAX, Lines::Multi).map(Self)
    }

    /// The description as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price in minor units: 1..=[`PRICE_MINOR_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceMinor(i64);

impl PriceMinor {
    /// # Errors
    /// 422 `price_out_of_range`, param `price_minor`.
    pub fn parse(value: i64) -> Result<Self, AppError> {
        if !(1..=PRICE_MINOR_MAX).contains(&value) {
            return Err(AppError::unprocessable(
                "price_out_of_range",
                format!("price_minor must be between 1 and {PRICE_MINOR_MAX} minor units"),
                Some("price_minor".into()),
            ));
        }
        Ok(Self(value))
    }

    /// The amount in minor units.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Units in stock: 0..=[`STOCK_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock(i64);

impl Stock {
    /// # Errors
    /// 422 `negative_stock` below zero, `invalid_value` above [`STOCK_MAX`];
    /// param `stock`.
    pub fn parse(value: i64) -> Result<Self, AppError> {
        if value < 0 {
            return Err(AppError::unprocessable(
                "negative_stock",
                "stock cannot be negative",
                Some("stock".into()),
            ));
        }
        if value > STOCK_MAX {
            return Err(invalid("stock", format!("stock is at most {STOCK_MAX}")));
        }
        Ok(Self(value))
    }

    /// The number of units.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A product image: an http(s) URL, or a path under `/media/` (a picture this
/// marketplace serves itself), and its alt text (required: screen readers and
/// search engines need it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Image {
    pub url: String,
    pub alt: String,
}

/// 1..=[`IMAGES_MAX`] images, each checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images(Vec<Image>);

impl Images {
    /// # Errors
    /// 422 `invalid_value`, param `images` or `images[i].url` / `images[i].alt`.
    pub fn parse(images: Vec<ImageRequest>) -> Result<Self, AppError> {
        if images.is_empty() || images.len() > IMAGES_MAX {
            return Err(invalid(
                "images",
                format!("a product has 1 to {IMAGES_MAX} images"),
            ));
        }
        images
            .into_iter()
            .enumerate()
            .map(|(i, image)| {
                let url_param = format!("images[{i}].url");
                let url = image.url.trim();
                if !is_web_url(url) {
                    return Err(invalid(
                        &url_param,
                        format!(
                            "an image URL is an http(s) URL, or a path under /media/, \
                             of at most {IMAGE_URL_CHARS_MAX} characters"
                        ),
                    ));
                }
                let alt = display_text(
                    &format!("images[{i}].alt"),
                    &image.alt,
                    1,
                    IMAGE_ALT_CHARS_MAX,
                    Lines::Single,
                )?;
                Ok(Image {
                    url: url.to_owned(),
                    alt,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The images, in order.
    pub fn as_slice(&self) -> &[Image] {
        &self.0
    }

    /// The stored form: JSON text `[{"url", "alt"}]`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a Vec of string pairs always serializes")
    }
}

/// `http://` or `https://` with a non-empty host, or `/media/` and a file
/// name; no spaces or control characters.
pub fn is_web_url(url: &str) -> bool {
    if url.chars().count() > IMAGE_URL_CHARS_MAX
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    if let Some(name) = url.strip_prefix(MEDIA_PATH_PREFIX) {
        return is_media_name(name);
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    !host.is_empty() && !host.starts_with(':')
}

/// Where the pictures this marketplace serves itself live.
pub const MEDIA_PATH_PREFIX: &str = "/media/";

/// A served picture's file name: letters, digits, `-`, `_` and one `.` before
/// the extension; nothing that could climb out of the folder.
pub fn is_media_name(name: &str) -> bool {
    let Some((stem, extension)) = name.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && !extension.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        && extension.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One image in a request body; `alt` is required.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageRequest {
    pub url: String,
    pub alt: String,
}

fn default_active() -> bool {
    true
}

/// `POST /v1/shops/{shop_id}/products`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    pub sku: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub stock: i64,
    pub category: String,
    pub images: Vec<ImageRequest>,
    #[serde(default = "default_active")]
    pub active: bool,
}

/// `PATCH /v1/products/{id}`: every field optional; absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price_minor: Option<i64>,
    pub stock: Option<i64>,
    pub category: Option<String>,
    pub images: Option<Vec<ImageRequest>>,
    pub active: Option<bool>,
}

/// A validated new product. Its currency must still match the shop's
/// ([`super::insert_product`] checks, since only the shop knows).
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub sku: Sku,
    pub title: Title,
    pub description: Description,
    pub price: Money,
    pub stock: Stock,
    pub category: Category,
    pub images: Images,
    pub active: bool,
}

impl TryFrom<CreateProductRequest> for NewProduct {
    type Error = AppError;

    fn try_from(request: CreateProductRequest) -> Result<Self, AppError> {
        let price_minor = PriceMinor::parse(request.price_minor)?;
        let currency = Currency::parse(&request.currency).map_err(|e| {
            AppError::unprocessable(e.code(), e.to_string(), Some("currency".into()))
        })?;
        Ok(Self {
            sku: Sku::parse(&request.sku)?,
            title: Title::parse(&request.title)?,
            description: Description::parse(&request.description)?,
            price: Money::new(price_minor.get(), currency),
            stock: Stock::parse(request.stock)?,
            category: Category::parse(&request.category)?,
            images: Images::parse(request.images)?,
            active: request.active,
        })
    }
}

/// A validated partial update.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub price_minor: Option<PriceMinor>,
    pub stock: Option<Stock>,
    pub category: Option<Category>,
    pub images: Option<Images>,
    pub active: Option<bool>,
}

impl ProductPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.price_minor.is_none()
            && self.stock.is_none()
            && self.category.is_none()
            && self.images.is_none()
            && self.active.is_none()
    }
}

impl TryFrom<UpdateProductRequest> for ProductPatch {
    type Error = AppError;

    fn try_from(request: UpdateProductRequest) -> Result<Self, AppError> {
        Ok(Self {
            title: request.title.as_deref().map(Title::parse).transpose()?,
            description: request
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()?,
            price_minor: request.price_minor.map(PriceMinor::parse).transpose()?,
            stock: request.stock.map(Stock::parse).transpose()?,
            category: request
                .category
                .as_deref()
                .map(Category::parse)
                .transpose()?,
            images: request.images.map(Images::parse).transpose()?,
            active: request.active,
        })
    }
}

/// A product as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub shop_id: String,
    pub sku: String,
    pub title: String,
    pub description: String,
    pub price: Money,
    pub stock: i64,
    pub category: String,
    pub images: Vec<Image>,
    pub active: bool,
    /// When the seller removed it from sale for good (it was sold, so it
    /// could not be deleted); `None` for a product that was never archived
    /// or was unarchived since.
    pub archived_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The JSON shape of a product in every response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductView<'a> {
    pub id: &'a str,
    pub shop_id: &'a str,
    pub sku: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    pub price: Money,
    pub stock: i64,
    pub in_stock: bool,
    pub category: &'a str,
    pub images: &'a [Image],
    pub active: bool,
    /// RFC 3339; `null` unless the product is archived.
    pub archived_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

use crate::db::rfc3339;

impl Product {
    /// The product's JSON shape.
    pub fn view(&self) -> ProductView<'_> {
        ProductView {
            id: &self.id,
            shop_id: &self.shop_id,
            sku: &self.sku,
            title: &self.title,
            description: &self.description,
            price: self.price,
            stock: self.stock,
            in_stock: self.stock > 0,
            category: &self.category,
            images: &self.images,
            active: self.active,
            archived_at: self.archived_at.map(rfc3339),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

/// Product ids are `prd_` + 32 lowercase hex characters.
pub(crate) const PRODUCT_ID_PREFIX: &str = "prd_";

/// A fresh product id.
pub(crate) fn new_product_id() -> String {
    format!("{PRODUCT_ID_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

/// Whether `id` has the shape of a product id; anything else cannot exist,
/// so callers answer 404 without asking the database.
pub fn is_product_id(id: &str) -> bool {
    id.strip_prefix(PRODUCT_ID_PREFIX).is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_identifiers() {
        assert!(Sku::parse("TSHIRT-red_XL.2").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("has space").is_err());
        assert!(Sku::parse(&"a".repeat(SKU_CHARS_MAX)).is_ok());
        assert!(Sku::parse(&"a".repeat(SKU_CHARS_MAX + 1)).is_err());
    }

    #[test]
    fn categories_are_lowercase_slugs() {
        assert!(Category::parse("home-garden2").is_ok());
        assert!(Category::parse("Home").is_err());
        assert!(Category::parse("a_b").is_err());
    }

    #[test]
    fn image_urls_are_http_with_a_host() {
        assert!(is_web_url("https://cdn.example.com/a.png"));
        assert!(is_web_url("HTTP://example.com"));
        assert!(!is_web_url("https://"));
        assert!(!is_web_url("https:///path"));
        assert!(!is_web_url("ftp://example.com/a.png"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("https://exa mple.com"));
        assert!(is_web_url("/media/mug-forest-640.webp"));
        assert!(!is_web_url("/media/../secret.webp"));
        assert!(!is_web_url("/media/a/b.webp"));
        assert!(!is_web_url("/media/.webp"));
        assert!(!is_web_url("/other/a.webp"));
        assert!(!is_web_url(&format!(
            "https://e.com/{}",
            "a".repeat(IMAGE_URL_CHARS_MAX)
        )));
    }

    #[test]
    fn prices_and_stock_have_ranges() {
        assert!(PriceMinor::parse(0).is_err());
        assert!(PriceMinor::parse(PRICE_MINOR_MAX).is_ok());
        assert!(PriceMinor::parse(PRICE_MINOR_MAX + 1).is_err());
        assert_eq!(Stock::parse(-1).unwrap_err().code(), "negative_stock");
        assert!(Stock::parse(0).is_ok());
        assert_eq!(
            Stock::parse(STOCK_MAX + 1).unwrap_err().code(),
            "invalid_value"
        );
    }

    #[test]
    fn product_ids_have_one_shape() {
        assert!(is_product_id(&new_product_id()));
        assert!(!is_product_id("prd_xyz"));
        assert!(!is_product_id("shop_0123456789abcdef0123456789abcdef"));
    }
}
