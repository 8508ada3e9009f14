//! Test binary `catalog`: the catalog, pictures, shipping rates and the storefront (pages and the browser journeys).
//!
//! Each module is one file of `tests/`; a binary per capability, not per
//! file, because each binary links the whole crate (see docs/testing.md).

include!("support.rs");

#[path = "../catalog_domain.rs"]
mod catalog_domain;
#[path = "../catalog_http.rs"]
mod catalog_http;
#[path = "../catalog_search.rs"]
mod catalog_search;
#[path = "../catalog_seller_tools.rs"]
mod catalog_seller_tools;
#[path = "../edge_cache.rs"]
mod edge_cache;
#[path = "../media_uploads.rs"]
mod media_uploads;
#[path = "../shipping_rates.rs"]
mod shipping_rates;
#[path = "../storefront_browser.rs"]
mod storefront_browser;
#[path = "../storefront_pages.rs"]
mod storefront_pages;
