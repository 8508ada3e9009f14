//! The seller workspace: a seller opens a shop, finishes onboarding at the
//! provider, runs the catalogue, ships orders and follows the money.
//!
//! - [`onboarding`]: "Sell on Bazaar" (sign-up as a seller), opening a shop,
//!   the way to the provider's onboarding and back.
//! - [`workspace`]: what every workspace page shares: the owner check (any
//!   other shop is a 404, as in the API), the shop's navigation and the
//!   banner that says what the shop's state asks of the seller.
//! - [`overview`]: the shop's home.
//! - [`products`]: the catalogue: list, search, the product form, stock.
//! - [`import`]: the CSV import of products and stock, checked before applied.
//! - [`profile`]: the shop's public profile, and uploading pictures.
//! - [`orders`] and [`fulfil`]: the shop's parts of orders, one part's
//!   money, and its forms: ship, deliver, cancel, decide a return.
//! - [`money`] (drawing with [`crate::web::chart`]): balance, payouts, statements, sales.
//! - [`notifications`]: the in-app list of what the seller was emailed.
//! - [`security`]: the account's API keys and two-step sign-in.
//!
//! Every page calls the domain functions the API calls; none holds a rule
//! of its own.

mod fulfil;
mod import;
mod money;
mod notifications;
mod onboarding;
mod orders;
mod overview;
mod products;
mod profile;
mod security;
pub(crate) mod workspace;

use actix_web::web;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/sell")
            .get(onboarding::sell)
            .post(onboarding::signup),
    )
    .service(
        web::resource("/seller")
            .get(onboarding::home)
            .post(onboarding::open_shop),
    )
    .service(web::resource("/seller/shops/{id}").get(overview::show))
    .service(
        web::resource("/seller/shops/{id}/products")
            .get(products::list)
            .post(products::create),
    )
    .service(web::resource("/seller/shops/{id}/products/new").get(products::new))
    .service(
        web::resource("/seller/shops/{id}/products/import")
            .get(import::form)
            .post(import::submit),
    )
    .service(
        web::resource("/seller/shops/{id}/products/{product_id}")
            .get(products::edit)
            .post(products::update),
    )
    .service(web::resource("/seller/shops/{id}/products/{product_id}/stock").post(products::adjust))
    .service(
        web::resource("/seller/shops/{id}/products/{product_id}/remove").post(products::remove),
    )
    .service(web::resource("/seller/shops/{id}/orders").get(orders::list))
    .service(web::resource("/seller/shops/{id}/orders/{order_id}").get(orders::show))
    .service(web::resource("/seller/shops/{id}/orders/{order_id}/ship").post(fulfil::ship))
    .service(
        web::resource("/seller/shops/{id}/orders/{order_id}/delivered").post(fulfil::delivered),
    )
    .service(web::resource("/seller/shops/{id}/orders/{order_id}/cancel").post(fulfil::cancel))
    .service(web::resource("/seller/shops/{id}/orders/{order_id}/refund").post(fulfil::refund))
    .service(
        web::resource("/seller/shops/{id}/orders/{order_id}/returns/{return_id}/{decision}")
            .post(fulfil::decide_return),
    )
    .service(web::resource("/seller/shops/{id}/money").get(money::show))
    .service(web::resource("/seller/shops/{id}/money/statement").get(money::statement))
    .service(web::resource("/seller/shops/{id}/money/statement.csv").get(money::statement_csv))
    .service(web::resource("/seller/shops/{id}/money/payouts/{payout_id}").get(money::payout))
    .service(
        web::resource("/seller/shops/{id}/money/payouts/{payout_id}/statement.csv")
            .get(money::payout_csv),
    )
    .service(web::resource("/seller/shops/{id}/notifications").get(notifications::list))
    .service(
        web::resource("/seller/shops/{id}/notifications/read").post(notifications::mark_all_read),
    )
    .service(
        web::resource("/seller/shops/{id}/profile")
            .get(profile::show)
            .post(profile::save),
    )
    .service(
        web::resource("/seller/shops/{id}/pictures")
            .get(profile::picture_form)
            .post(profile::upload),
    )
    .service(web::resource("/seller/shops/{id}/security").get(security::show))
    .service(web::resource("/seller/shops/{id}/security/keys").post(security::create_key))
    .service(
        web::resource("/seller/shops/{id}/security/keys/{key_id}/revoke")
            .post(security::revoke_key),
    )
    .service(web::resource("/seller/shops/{id}/security/totp").post(security::start_totp))
    .service(web::resource("/seller/shops/{id}/security/totp/confirm").post(security::confirm_totp))
    .service(web::resource("/seller/shops/{id}/security/totp/disable").post(security::disable_totp))
    .service(web::resource("/seller/shops/{id}/onboarding").post(onboarding::start))
    .service(web::resource("/seller/shops/{id}/onboarding/return").get(onboarding::returned))
    .service(web::resource("/seller/shops/{id}/onboarding/refresh").get(onboarding::refresh));
}
