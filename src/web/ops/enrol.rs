//! A staff member's first visit: two-step sign-in is turned on before any
//! console page opens, through `auth::start_totp_enrolment` and
//! `auth::confirm_totp` (the functions behind `/v1/me/totp`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use crate::auth::{self, BrowserSession, RequestContext};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::web::forms::FormErrors;
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::seller::workspace;
use crate::web::two_step::Enrolment;
use crate::web::visitor::Visitor;

#[derive(Template)]
#[template(path = "ops/enrol.html", config = "src/web/askama.toml")]
struct EnrolPage {
    chrome: Chrome,
    meta: Meta,
    enrolment: Option<Enrolment>,
    errors: FormErrors,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    /// The enrolment as the page showed it, only to show it again after a
    /// wrong code: the code is checked against the stored secret.
    #[serde(default)]
    secret: String,
    #[serde(default)]
    otpauth_url: String,
}

/// The signed-in staff member who still has to enrol; anyone else is sent
/// on: to sign in, to the console (already enrolled), or to the 404 page.
#[allow(clippy::result_large_err)]
fn pending(visitor: &Visitor) -> Result<BrowserSession, PageResult> {
    let Some(session) = visitor.session.clone() else {
        let location = format!("/signin?next={}", workspace::encode("/ops"));
        return Err(Ok(visitor.finish(render::see_other(&location).finish())));
    };
    if !session.caller.role.is_staff() {
        return Err(Err(PageError(AppError::RouteNotFound)));
    }
    if !session.totp_enrollment_pending {
        return Err(Ok(visitor.finish(render::see_other("/ops").finish())));
    }
    Ok(session)
}

fn page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    enrolment: Option<Enrolment>,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let page = EnrolPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Turn on two-step sign-in — Bazaar console"),
        enrolment,
        errors,
    };
    workspace::answer(req, visitor, &page, status)
}

/// `GET /ops/enrol`.
pub(super) async fn show(req: HttpRequest, mut visitor: Visitor) -> PageResult {
    if let Err(answer) = pending(&visitor) {
        return answer;
    }
    page(&req, &mut visitor, None, FormErrors::none(), StatusCode::OK)
}

/// `POST /ops/enrol`: a new secret, shown once in this answer.
pub(super) async fn start(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    visitor.check_form(&req, &form.csrf_token)?;
    let session = match pending(&visitor) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let caller = session.caller;
    let auth_settings = settings.auth.clone();
    let started = db::run(&pool, move |conn| {
        auth::start_totp_enrolment(conn, &caller, &auth_settings, db::now())
    })
    .await?;
    let enrolment = Enrolment::new(started.secret, started.otpauth_url);
    page(
        &req,
        &mut visitor,
        Some(enrolment),
        FormErrors::none(),
        StatusCode::OK,
    )
}

/// `POST /ops/enrol/confirm`: the first code turns two-step sign-in on and
/// opens the console in the same session.
pub(super) async fn confirm(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    form: web::Form<ConfirmForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let session = match pending(&visitor) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let caller = session.caller;
    let auth_settings = settings.auth.clone();
    let code = form.code.clone();
    let confirmed = db::run(&pool, move |conn| {
        auth::confirm_totp(conn, &caller, &auth_settings, &code, &context, db::now())
    })
    .await;
    match confirmed {
        Ok(()) => Ok(visitor.finish(render::see_other("/ops?done=enrolled").finish())),
        Err(error) if workspace::is_refusal(&error) => {
            let errors =
                FormErrors::from_error(&error, |param| (param == "code").then_some("code"));
            let enrolment = (error.code() == "totp_invalid")
                .then(|| Enrolment::echoed(&form.secret, &form.otpauth_url))
                .flatten();
            let status = actix_web::ResponseError::status_code(&error);
            page(&req, &mut visitor, enrolment, errors, status)
        }
        Err(error) => Err(PageError(error)),
    }
}
