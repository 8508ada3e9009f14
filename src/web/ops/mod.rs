//! The operator console: staff (operators, finance, support) run the
//! marketplace and its books from the browser.
//!
//! - [`console`]: what every console page shares: the staff check (with
//!   the page's rule from `auth::policy`, the same rule the API handler
//!   takes), the navigation limited to what the role may open.
//! - [`enrol`]: a staff member's first visit turns on two-step sign-in.
//! - [`home`]: what needs attention now.
//!
//! Signing in is the site's one sign-in form (`/signin`, which asks staff
//! for their code); `/ops/signin` leads there and back.
//!
//! Every page calls the domain functions the API calls; none holds a rule
//! of its own. A link or a button shows only when the role may use it, and
//! its handler checks the same rule again.

pub(crate) mod console;
mod enrol;
mod fees;
mod home;
mod money;
mod operations;
mod orders;
mod shops;
mod users;

use actix_web::{web, HttpResponse};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ops").get(home::show))
        .service(web::resource("/ops/signin").get(signin))
        .service(
            web::resource("/ops/enrol")
                .get(enrol::show)
                .post(enrol::start),
        )
        .service(web::resource("/ops/enrol/confirm").post(enrol::confirm));
    shops::routes(cfg);
    users::routes(cfg);
    fees::routes(cfg);
    orders::routes(cfg);
    money::routes(cfg);
    operations::routes(cfg);
}

/// `GET /ops/signin`: the site's sign-in form, coming back to the console.
async fn signin() -> HttpResponse {
    crate::web::render::see_other("/signin?next=%2Fops").finish()
}
