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
//! - Buyers' text search is full-text, ranked, with prefixes, spelling
//!   corrections and facet counts ([`search`]). A seller's search of their own
//!   products is a substring of the title or SKU, case-insensitive through a
//!   lowercased `search_text` column and `LIKE … ESCAPE '\'`; `%` and `_` in
//!   it match themselves.
//!
//! # Caching
//! Buyer reads (`GET /v1/products`, `GET /v1/products/facets`,
//! `GET /v1/products/{id}`) carry a strong `ETag` (a hash of the exact body)
//! and `Cache-Control: public, max-age=2`; `If-None-Match` with a matching
//! tag gets 304 and no body. A seller's list gets `private, no-cache` with an
//! ETag; write answers `no-store`.
//!
//! Those reads are also served from in-process caches ([`cache`]), bounded
//! in entries and bytes, each entry served for at most [`cache::CACHE_TTL`]
//! (2 s). A write in this process invalidates at once; a write in another
//! process sharing the database reaches every process through
//! [`changes`] (PostgreSQL `LISTEN/NOTIFY`; a polled counter on SQLite) within
//! its polling interval. Stock-only changes are not broadcast (checkouts must
//! not pay for it), so a buyer may read a stock level up to 2 s old: stock is
//! only ever decided by [`reserve_stock`] at checkout, never by a cached read.

pub mod cache;
pub mod changes;
pub mod demo;
mod http;
pub mod import;
pub mod listing;
pub mod model;
pub mod removal;
pub mod schema;
pub mod search;
pub mod stock;
mod store;

pub use demo::{load_demo_catalog, DemoCatalog, DemoLoaded, DEMO_CATALOG_JSON};
pub use http::routes;
pub use import::{import_products, ImportOutcome, ImportReport, LineError};
pub use listing::{
    list_shop_products, newest_products, search_shop_products, visible_categories, CatalogQuery,
    Correction, Cursor, Page, PageRequest, ProductStatus, ShopProductQuery,
};
pub use model::{
    CreateProductRequest, Image, ImageRequest, NewProduct, Product, ProductPatch,
    UpdateProductRequest, QUANTITY_MAX,
};
pub use removal::{remove_product, Removal};
pub use search::{count_catalog, list_catalog};
pub use stock::{adjust_stock, list_stock_adjustments, AdjustmentReason, NewAdjustment};
pub use store::{
    create_product, find_product, insert_product, product_for, release_stock, reserve_stock,
    update_product, visible_product,
};
