//! The shop's home: its banners, and the steps from an empty shop to a
//! selling one.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;

use super::workspace::{self, Frame};
use crate::db::{self, DbPool};
use crate::web::render::{Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

/// One step of setting up a shop.
struct Step {
    label: &'static str,
    done: bool,
    href: String,
}

#[derive(Template)]
#[template(path = "seller/overview.html", config = "src/web/askama.toml")]
struct OverviewPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    status: &'static str,
    steps: Vec<Step>,
}

/// `GET /seller/shops/{id}`.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (shop_id, owner) = (shop.id.clone(), shop.owner_user_id.clone());
    let has_products = !db::run(&pool, move |conn| {
        let first = crate::catalog::listing::PageRequest::parse(Some(1), None)?;
        crate::catalog::listing::list_shop_products(conn, &shop_id, &owner, false, &first)
    })
    .await?
    .products
    .is_empty();
    let base = format!("/seller/shops/{}", shop.id);
    let steps = vec![
        Step {
            label: "Open the shop",
            done: true,
            href: base.clone(),
        },
        Step {
            label: "Set up payments with the provider",
            done: shop.onboarding_status == crate::sellers::OnboardingStatus::Active,
            href: base.clone(),
        },
        Step {
            label: "Add your first product",
            done: has_products,
            href: format!("{base}/products/new"),
        },
    ];
    let page = OverviewPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("{} — your shop — Bazaar", shop.name)),
        frame: Frame::of(&pool, &shop, "overview").await?,
        status: workspace::status_label(shop.status()),
        steps,
    };
    workspace::answer(&req, &visitor, &page, StatusCode::OK)
}
