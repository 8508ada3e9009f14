//! The shop's notifications: the in-app list of what the marketplace told
//! its seller by email (`sellers::notices`, the list `GET
//! /v1/shops/{id}/notices` answers), newest first, and the form that marks
//! them all read.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::workspace::{self, Frame};
use crate::db::{self, DbPool};
use crate::http::query;
use crate::sellers::notices::{self, Notice, NOTICES_PAGE_DEFAULT, NOTICES_PAGE_MAX};
use crate::web::render::{self, Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

/// One notice as the list shows it.
struct NoticeItem {
    id: String,
    title: String,
    body: String,
    href: String,
    /// Where the link leads, for its text.
    link_label: &'static str,
    when: String,
    unread: bool,
}

/// What the link of a notice leads to, from its path.
fn link_label(path: &str) -> &'static str {
    if path.contains("/money/payouts/") {
        "See the payout"
    } else if path.contains("/orders/") {
        "See the order"
    } else {
        "See the shop"
    }
}

impl From<Notice> for NoticeItem {
    fn from(notice: Notice) -> Self {
        Self {
            link_label: link_label(&notice.link_path),
            when: notice.created_at.format("%-d %b %Y, %H:%M UTC").to_string(),
            unread: notice.read_at.is_none(),
            id: notice.id,
            title: notice.title,
            body: notice.body,
            href: notice.link_path,
        }
    }
}

#[derive(Template)]
#[template(path = "seller/notifications.html", config = "src/web/askama.toml")]
struct NotificationsPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    notices: Vec<NoticeItem>,
    unread: i64,
    unread_only: bool,
    /// The next page's address (`None`: this is the last).
    next: Option<String>,
    /// News from the form just sent.
    done: bool,
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    unread: Option<bool>,
    before: Option<String>,
    limit: Option<i64>,
    done: Option<String>,
}

/// `GET /seller/shops/{id}/notifications`.
pub(super) async fn list(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/notifications");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let query = query.into_inner();
    let limit = query::limit(query.limit, NOTICES_PAGE_DEFAULT, NOTICES_PAGE_MAX)?;
    let unread_only = query.unread.unwrap_or(false);
    let (shop_id, before) = (shop.id.clone(), query.before.clone());
    let found = db::run(&pool, move |conn| {
        notices::page(conn, &shop_id, unread_only, before.as_deref(), limit)
    })
    .await?;
    let full = i64::try_from(found.len()).unwrap_or(i64::MAX) == limit;
    let next = found.last().filter(|_| full).map(|last| {
        format!(
            "{here}?before={}{}",
            workspace::encode(&last.id),
            if unread_only { "&unread=true" } else { "" }
        )
    });
    let frame = Frame::of(&pool, &shop, "notifications").await?;
    let page = NotificationsPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Notifications — {} — Bazaar", shop.name)),
        unread: frame.unread,
        frame,
        notices: found.into_iter().map(NoticeItem::from).collect(),
        unread_only,
        next,
        done: query.done.as_deref() == Some("read"),
    };
    workspace::answer(&req, &visitor, &page, StatusCode::OK)
}

/// `POST /seller/shops/{id}/notifications/read`: marks every notice read.
pub(super) async fn mark_all_read(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<super::onboarding::CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/notifications");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let shop_id = shop.id.clone();
    db::run(&pool, move |conn| notices::mark_read(conn, &shop_id, None)).await?;
    let location = format!("/seller/shops/{}/notifications?done=read", shop.id);
    Ok(visitor.finish(render::see_other(&location).finish()))
}
