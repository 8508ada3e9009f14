//! The CSV import of products and stock (`catalog::import_products`, the
//! function behind `POST /v1/shops/{id}/products/import`): pasted into the
//! page, checked first (a dry run that lists what would change), applied
//! all or nothing, with every bad line named by its number.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::workspace::{self, Frame};
use crate::catalog::{self, ImportOutcome, ImportReport, LineError};
use crate::db::{self, DbPool};
use crate::web::forms::FormErrors;
use crate::web::render::{Chrome, Meta, PageResult};
use crate::web::visitor::Visitor;

#[derive(Template)]
#[template(path = "seller/import.html", config = "src/web/askama.toml")]
struct ImportPage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    csv: String,
    report: Option<Summary>,
    line_errors: Vec<LineError>,
    errors: FormErrors,
}

/// A report as the page reads it.
struct Summary {
    dry_run: bool,
    created: usize,
    updated: usize,
    unchanged: usize,
    /// `(line, sku, what happens, the columns it sets)`.
    lines: Vec<(u64, String, &'static str, String)>,
}

impl Summary {
    fn of(report: &ImportReport) -> Self {
        Self {
            dry_run: report.dry_run,
            created: report.created,
            updated: report.updated,
            unchanged: report.unchanged,
            lines: report
                .lines
                .iter()
                .map(|line| {
                    let action = match serde_json::to_value(line.action) {
                        Ok(serde_json::Value::String(a)) if a == "create" => "new product",
                        Ok(serde_json::Value::String(a)) if a == "update" => "changed",
                        _ => "unchanged",
                    };
                    (line.line, line.sku.clone(), action, line.changes.join(", "))
                })
                .collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ImportForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    csv: String,
    /// `check` (a dry run) or `apply`.
    #[serde(default)]
    action: String,
}

async fn import_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    shop: &crate::sellers::Shop,
    view: (String, Option<ImportReport>, Vec<LineError>, FormErrors),
    status: StatusCode,
) -> PageResult {
    let (csv, report, line_errors, errors) = view;
    let page = ImportPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Import products — {} — Bazaar", shop.name)),
        frame: Frame::of(pool, shop, "products").await?,
        csv,
        report: report.as_ref().map(Summary::of),
        line_errors,
        errors,
    };
    workspace::answer(req, visitor, &page, status)
}

/// `GET /seller/shops/{id}/products/import`.
pub(super) async fn form(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/products/import");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let view = (String::new(), None, Vec::new(), FormErrors::none());
    import_page(&req, &mut visitor, &pool, &shop, view, StatusCode::OK).await
}

/// `POST /seller/shops/{id}/products/import`: checks or applies the file.
pub(super) async fn submit(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<ImportForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/products/import");
    let (session, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let dry_run = form.action != "apply";
    let (shop_id, owner, csv) = (
        shop.id.clone(),
        session.caller.user_id.0.clone(),
        form.csv.clone(),
    );
    let outcome = db::run(&pool, move |conn| {
        catalog::import_products(conn, &shop_id, &owner, false, csv.as_bytes(), dry_run)
    })
    .await;
    let (view, status) = match outcome {
        Ok(ImportOutcome::Done(report)) => (
            (form.csv, Some(report), Vec::new(), FormErrors::none()),
            StatusCode::OK,
        ),
        Ok(ImportOutcome::Invalid(lines)) => {
            let errors = FormErrors::field(
                "csv",
                format!(
                    "{} problem{} in the file: nothing was imported. Each is listed below with its line.",
                    lines.len(),
                    if lines.len() == 1 { "" } else { "s" }
                ),
            );
            (
                (form.csv, None, lines, errors),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(error) if workspace::is_refusal(&error) => {
            let status = actix_web::ResponseError::status_code(&error);
            let errors = FormErrors::field("csv", crate::web::forms::sentence(&error.to_string()));
            ((form.csv, None, Vec::new(), errors), status)
        }
        Err(error) => return Err(error.into()),
    };
    import_page(&req, &mut visitor, &pool, &shop, view, status).await
}
