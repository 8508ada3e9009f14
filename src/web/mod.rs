//! The web layer: pages for people, served by the same process as the API.
//!
//! One folder per audience: [`shop`] (the storefront, for buyers); the seller
//! workspace is [`seller`]; the operator console is [`ops`]. [`two_step`]
//! is turning on two-step sign-in, shared by the workspace and the console.
//!
//! Decisions:
//! - A page is a handler that renders HTML: it parses the form into the same
//!   request type the JSON handler takes and calls the same domain function.
//!   No page calls the JSON API, and no page holds its own copy of a rule.
//! - Templates are askama's, checked at compile time, HTML-escaped by
//!   default, in `src/web/templates/` (settings: `src/web/askama.toml`).
//! - Browsers hold a session cookie (`HttpOnly`, `SameSite=Lax`, `Secure`
//!   under TLS) carrying the same session token the API takes as a bearer,
//!   and a random browser id that the CSRF token of every form is derived
//!   from ([`visitor`]).
//! - Forms post and redirect (POST/redirect/GET) and work without scripts;
//!   the one small script only enhances (the confirmation page's refresh).
//! - Public pages (home, search, product, shop) hold nothing personal for a
//!   visitor without cookies, and carry `s-maxage` and
//!   `stale-while-revalidate` so an edge cache can serve them; anyone with a
//!   cookie gets a private copy ([`render::Caching`]).

pub mod assets;
pub(crate) mod chart;
pub mod format;
pub mod forms;
pub mod ops;
pub mod render;
pub mod seller;
mod seo;
pub mod shop;
pub(crate) mod two_step;
pub mod visitor;

use actix_web::web;

/// Mounts every page, the assets and the crawler files. Mounted after the
/// API, so `/v1/…` paths never reach a page.
pub fn routes(cfg: &mut web::ServiceConfig) {
    assets::routes(cfg);
    seo::routes(cfg);
    shop::routes(cfg);
    seller::routes(cfg);
    ops::routes(cfg);
}
