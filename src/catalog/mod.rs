//! The catalog: products of shops, with prices, stock, images and search.
//!
//! - A product belongs to one shop and is priced in the shop's default
//!   currency (`currency_mismatch` otherwise); its SKU is unique in the shop.
//! - Sellers create, update and deactivate their products; another seller's
//!   product is a 404, never a 403. Operators may act on any shop; finance
//!   and support may read a shop's list.
//! - Buyers (anonymous allowed) see only active products of shops that can
//!   sell ([`crate::sellers::shops::sellable_shop_ids`]), in pages ordered by
//!   `(created_at, id)` with an opaque keyset cursor ([`listing`]).
//! - Stock never goes negative: a CHECK in SQL, and the only decrements are
//!   [`reserve_stock`] and a seller's [`adjust_stock`], each one conditional
//!   `UPDATE`. Orders snapshot prices, so a
//!   price change never touches an existing order.
//! - A product that was ever ordered is archived, never deleted
//!   ([`remove_product`]); sellers import products from CSV ([`import`]).
//! - Text search is case-insensitive through a lowercased `search_text`
//!   column and `LIKE … ESCAPE '\'` (MultiConnection has no `ilike`); `%` and
//!   `_` in a query match themselves.
//!
//! # Caching
//! Buyer reads (`GET /v1/products`, `GET /v1/products/{id}`) carry a strong
//! `ETag` (a hash of the exact body) and `Cache-Control: public, max-age=2`;
//! `If-None-Match` with a matching tag gets 304 and no body. A seller's list
//! gets `private, no-cache` with an ETag; write answers `no-store`.
//!
//! `GET /v1/products/{id}` is also served from an in-process cache
//! ([`cache`]): at most [`cache::PRODUCT_CACHE_ENTRIES_MAX`] entries, each
//! served for at most [`cache::PRODUCT_CACHE_TTL`] (2 s). Every catalog write
//! in this process (update, deactivate, reserve, release) invalidates the
//! product at once; writes by another process sharing the database, and
//! changes to the shop (frozen, restricted), are seen within the TTL. So a
//! buyer may read a stock level or visibility up to 2 s old: stock is only
//! ever decided by [`reserve_stock`] at checkout, never by a cached read.

pub mod cache;
pub mod demo;
mod http;
pub mod import;
pub mod listing;
pub mod model;
pub mod removal;
pub mod schema;
pub mod stock;
mod store;

pub use demo::{load_demo_catalog, DemoCatalog, DemoLoaded, DEMO_CATALOG_JSON};
pub use http::routes;
pub use import::{import_products, ImportOutcome, ImportReport, LineError};
pub use listing::{
    count_catalog, list_catalog, list_shop_products, newest_products, search_shop_products,
    visible_categories, CatalogQuery, Cursor, Page, PageRequest, ProductStatus, ShopProductQuery,
};
pub use model::{
    CreateProductRequest, Image, ImageRequest, NewProduct, Product, ProductPatch,
    UpdateProductRequest, QUANTITY_MAX,
};
pub use removal::{remove_product, Removal};
pub use stock::{adjust_stock, list_stock_adjustments, AdjustmentReason, NewAdjustment};
pub use store::{
    create_product, find_product, insert_product, product_for, release_stock, reserve_stock,
    update_product, visible_product,
};
