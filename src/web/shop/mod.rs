//! The storefront: buyers browse every shop's products, keep one cart across
//! shops, sign up, check out and pay once, and follow their orders.
//!
//! - [`catalog`]: home, search and listing, product and shop pages (public,
//!   cacheable by an edge for visitors without cookies).
//! - [`cart`]: the cart, kept in a cookie until the visitor signs in, then in
//!   the buyer's cart (the API's), into which it is merged.
//! - [`account`]: sign up, sign in, sign out.
//! - [`recovery`]: the emailed links: confirming an address, a new link, a
//!   forgotten password.
//! - [`profile`]: "Your account": the password, deleting the account.
//! - [`checkout`]: the shipping address, payment, the confirmation.
//! - [`orders`]: a buyer's order history and each order.

mod account;
mod cart;
mod catalog;
mod checkout;
mod orders;
mod profile;
mod recovery;
mod views;

use actix_web::web;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").get(catalog::home))
        .service(web::resource("/search").get(catalog::search))
        .service(web::resource("/products/{id}").get(catalog::product))
        .service(web::resource("/shops/{id}").get(catalog::shop))
        .service(web::resource("/cart").get(cart::show).post(cart::add))
        .service(web::resource("/cart/lines/{id}").post(cart::update))
        .service(web::resource("/cart/lines/{id}/remove").post(cart::remove))
        .service(
            web::resource("/signup")
                .get(account::signup_form)
                .post(account::signup),
        )
        .service(
            web::resource("/signin")
                .get(account::signin_form)
                .post(account::signin),
        )
        .service(web::resource("/signup/sent").get(recovery::signup_sent))
        .service(web::resource("/signup/resend").post(recovery::resend))
        .service(
            web::resource("/verify-email")
                .get(recovery::verify_form)
                .post(recovery::verify),
        )
        .service(
            web::resource("/forgot-password")
                .get(recovery::forgot_form)
                .post(recovery::forgot),
        )
        .service(
            web::resource("/reset-password")
                .get(recovery::reset_form)
                .post(recovery::reset),
        )
        .service(web::resource("/signout").post(account::signout))
        .service(web::resource("/account").get(profile::show))
        .service(web::resource("/account/password").post(profile::change_password))
        .service(web::resource("/account/delete").post(profile::delete))
        .service(web::resource("/account/deleted").get(profile::deleted))
        .service(
            web::resource("/checkout")
                .get(checkout::form)
                .post(checkout::submit),
        )
        .service(web::resource("/orders").get(orders::history))
        .service(web::resource("/orders/{id}").get(orders::detail))
        .service(
            web::resource("/orders/{id}/pay")
                .get(checkout::payment)
                .post(checkout::pay),
        )
        .service(web::resource("/orders/{id}/confirmation").get(checkout::confirmation))
        .service(web::resource("/orders/{id}/status").get(checkout::status));
}
