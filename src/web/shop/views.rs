//! What storefront templates show, built from the domain's types: money
//! already formatted, pictures with their sizes, shop names beside products.

use std::collections::HashMap;

use crate::catalog::Product;
use crate::orders::cart::CartView;
use crate::web::assets;
use crate::web::format::price;

/// The countries the address form offers (ISO 3166-1 alpha-2, by name);
/// the API takes any code.
pub(super) const COUNTRIES: &[(&str, &str)] = &[
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("CA", "Canada"),
    ("DK", "Denmark"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("IE", "Ireland"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("NL", "Netherlands"),
    ("NZ", "New Zealand"),
    ("NO", "Norway"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("ES", "Spain"),
    ("SE", "Sweden"),
    ("CH", "Switzerland"),
    ("GB", "United Kingdom"),
    ("US", "United States"),
];

/// An option of the country select.
pub(super) struct Country {
    pub code: &'static str,
    pub name: &'static str,
    pub selected: bool,
}

/// The country select's options, `selected` chosen.
pub(super) fn countries(selected: &str) -> Vec<Country> {
    COUNTRIES
        .iter()
        .map(|(code, name)| Country {
            code,
            name,
            selected: *code == selected,
        })
        .collect()
}

/// A country's name as the select shows it, else its code.
pub(super) fn country_name(code: &str) -> String {
    COUNTRIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| code.to_owned(), |(_, name)| (*name).to_owned())
}

/// Products at or under this stock say how many are left.
const FEW_LEFT_MAX: i64 = 5;

/// A picture as `<img>` needs it.
#[derive(Debug, Clone)]
pub struct Picture {
    pub src: String,
    pub srcset: String,
    pub alt: String,
}

impl Picture {
    fn of(product: &Product) -> Option<Self> {
        product.images.first().map(|image| Self {
            src: image.url.clone(),
            srcset: assets::srcset(&image.url),
            alt: image.alt.clone(),
        })
    }
}

/// How a product's stock reads.
pub fn stock_label(stock: i64) -> String {
    match stock {
        i64::MIN..=0 => "Out of stock".into(),
        1..=FEW_LEFT_MAX => format!("Only {stock} left"),
        _ => "In stock".into(),
    }
}

/// A product in a list.
#[derive(Debug, Clone)]
pub struct Card {
    pub id: String,
    pub title: String,
    pub price: String,
    pub shop_id: String,
    pub shop_name: String,
    pub stock: String,
    pub in_stock: bool,
    pub picture: Option<Picture>,
}

/// Cards for `products`, with their shops' names.
pub fn cards(products: &[Product], shop_names: &HashMap<String, String>) -> Vec<Card> {
    products
        .iter()
        .map(|product| Card {
            id: product.id.clone(),
            title: product.title.clone(),
            price: price(product.price),
            shop_id: product.shop_id.clone(),
            shop_name: shop_names
                .get(&product.shop_id)
                .cloned()
                .unwrap_or_default(),
            stock: stock_label(product.stock),
            in_stock: product.stock > 0,
            picture: Picture::of(product),
        })
        .collect()
}

/// A product's page view.
#[derive(Debug, Clone)]
pub struct ProductDetail {
    pub card: Card,
    pub description: String,
    pub sku: String,
    pub category: String,
    pub pictures: Vec<Picture>,
}

impl ProductDetail {
    pub fn of(product: &Product, shop_name: &str) -> Self {
        let names = HashMap::from([(product.shop_id.clone(), shop_name.to_owned())]);
        Self {
            card: cards(std::slice::from_ref(product), &names).remove(0),
            description: product.description.clone(),
            sku: product.sku.clone(),
            category: product.category.clone(),
            pictures: product
                .images
                .iter()
                .map(|image| Picture {
                    src: image.url.clone(),
                    srcset: assets::srcset(&image.url),
                    alt: image.alt.clone(),
                })
                .collect(),
        }
    }
}

/// One cart line as the cart page shows it.
#[derive(Debug, Clone)]
pub struct CartLine {
    pub id: String,
    pub product_id: String,
    pub title: String,
    pub unit_price: String,
    pub quantity: i64,
    pub amount: String,
    pub available: bool,
}

/// One shop's lines in the cart, with their subtotal.
#[derive(Debug, Clone)]
pub struct CartShop {
    pub shop_id: String,
    pub shop_name: String,
    pub lines: Vec<CartLine>,
    pub subtotal: String,
}

/// A cart grouped by shop, in the order shops first appear.
#[derive(Debug, Clone)]
pub struct CartGroups {
    pub shops: Vec<CartShop>,
    /// One total per currency.
    pub totals: Vec<String>,
    pub unavailable: usize,
}

impl CartGroups {
    pub fn of(cart: &CartView) -> Result<Self, crate::error::AppError> {
        let mut shops: Vec<(CartShop, Option<crate::money::Money>)> = Vec::new();
        for line in &cart.lines {
            let index = match shops.iter().position(|(s, _)| s.shop_id == line.shop_id) {
                Some(index) => index,
                None => {
                    shops.push((
                        CartShop {
                            shop_id: line.shop_id.clone(),
                            shop_name: line.shop_name.clone(),
                            lines: Vec::new(),
                            subtotal: String::new(),
                        },
                        None,
                    ));
                    shops.len() - 1
                }
            };
            let (shop, subtotal) = &mut shops[index];
            *subtotal = Some(match subtotal {
                Some(sum) => sum.checked_add(line.amount)?,
                None => line.amount,
            });
            shop.lines.push(CartLine {
                id: line.id.clone(),
                product_id: line.product_id.clone(),
                title: line.title.clone(),
                unit_price: price(line.unit_price),
                quantity: line.quantity,
                amount: price(line.amount),
                available: line.available,
            });
        }
        Ok(Self {
            shops: shops
                .into_iter()
                .map(|(mut shop, subtotal)| {
                    shop.subtotal = subtotal.map(price).unwrap_or_default();
                    shop
                })
                .collect(),
            totals: cart.totals.iter().copied().map(price).collect(),
            unavailable: cart.lines.iter().filter(|l| !l.available).count(),
        })
    }
}
