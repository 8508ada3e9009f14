//! The shop's public profile (name, description, logo, support email,
//! return policy) through `sellers::profile::update_shop_profile`, the
//! function behind `PATCH /v1/shops/{id}`; and pictures uploaded through
//! `media::accept_upload`, the function behind `POST /v1/media/images`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::workspace::{self, Frame};
use crate::auth::RequestContext;
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::sellers::profile::{self, ProfilePatch, ShopProfileRequest};
use crate::web::forms::FormErrors;
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct ProfileForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    logo_url: String,
    #[serde(default)]
    support_email: String,
    #[serde(default)]
    return_policy: String,
}

#[derive(Template)]
#[template(path = "seller/profile.html", config = "src/web/askama.toml")]
struct ProfilePage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    form: ProfileForm,
    errors: FormErrors,
    notice: &'static str,
}

async fn profile_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    shop: &crate::sellers::Shop,
    (form, errors, notice): (ProfileForm, FormErrors, &'static str),
    status: StatusCode,
) -> PageResult {
    let page = ProfilePage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Shop profile — {} — Bazaar", shop.name)),
        frame: Frame::of(pool, shop, "profile").await?,
        form,
        errors,
        notice,
    };
    workspace::answer(req, visitor, &page, status)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ProfileQuery {
    #[serde(default)]
    done: String,
    /// A logo just uploaded for this form.
    #[serde(default)]
    image: String,
}

/// `GET /seller/shops/{id}/profile`.
pub(super) async fn show(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<ProfileQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/profile");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (shop_id, owner) = (shop.id.clone(), shop.owner_user_id.clone());
    let stored = db::run(&pool, move |conn| {
        profile::shop_profile(conn, &shop_id, &owner, false)
    })
    .await?;
    let query = query.into_inner();
    let form = ProfileForm {
        csrf_token: String::new(),
        name: stored.name,
        description: stored.description,
        logo_url: if query.image.is_empty() {
            stored.logo_url.unwrap_or_default()
        } else {
            query.image
        },
        support_email: stored.support_email,
        return_policy: stored.return_policy,
    };
    let notice = match query.done.as_str() {
        "saved" => "Profile saved. Buyers see it on your shop's page.",
        _ => "",
    };
    profile_page(
        &req,
        &mut visitor,
        &pool,
        &shop,
        (form, FormErrors::none(), notice),
        StatusCode::OK,
    )
    .await
}

/// `POST /seller/shops/{id}/profile`.
pub(super) async fn save(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    path: web::Path<String>,
    pool: web::Data<DbPool>,
    form: web::Form<ProfileForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/profile");
    let (session, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let request = ShopProfileRequest {
        name: Some(form.name.clone()),
        description: Some(form.description.clone()),
        logo_url: Some(form.logo_url.trim().to_owned()),
        support_email: Some(form.support_email.trim().to_owned()),
        return_policy: Some(form.return_policy.clone()),
    };
    let saved = match ProfilePatch::try_from(request) {
        Ok(patch) => {
            let (shop_id, actor) = (shop.id.clone(), session.caller.user_id.clone());
            db::run(&pool, move |conn| {
                profile::update_shop_profile(conn, &shop_id, &actor, false, &context, &patch)
            })
            .await
        }
        Err(error) => Err(error),
    };
    match saved {
        Ok(_) => {
            let location = format!("/seller/shops/{}/profile?done=saved", shop.id);
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::from_error(&error, |param| match param {
                "name" => Some("name"),
                "description" => Some("description"),
                "logo_url" => Some("logo_url"),
                "support_email" => Some("support_email"),
                "return_policy" => Some("return_policy"),
                _ => None,
            });
            let status = actix_web::ResponseError::status_code(&error);
            profile_page(&req, &mut visitor, &pool, &shop, (form, errors, ""), status).await
        }
        Err(error) => Err(PageError(error)),
    }
}

#[derive(Template)]
#[template(path = "seller/picture.html", config = "src/web/askama.toml")]
struct PicturePage {
    chrome: Chrome,
    meta: Meta,
    frame: Frame,
    /// Where the picture goes once uploaded (a local path of this shop).
    back_to: String,
    errors: FormErrors,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PictureQuery {
    /// `new`, `profile`, or a product id.
    #[serde(default, rename = "for")]
    purpose: String,
    #[serde(default)]
    csrf_token: String,
}

/// Where an uploaded picture is used: the page that asked for it.
fn back_to(shop_id: &str, purpose: &str) -> String {
    match purpose {
        "profile" => format!("/seller/shops/{shop_id}/profile"),
        "" | "new" => format!("/seller/shops/{shop_id}/products/new"),
        product
            if product
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            format!("/seller/shops/{shop_id}/products/{product}")
        }
        _ => format!("/seller/shops/{shop_id}/products/new"),
    }
}

async fn picture_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    shop: &crate::sellers::Shop,
    purpose: &str,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let page = PicturePage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Upload a picture — Bazaar"),
        frame: Frame::of(pool, shop, "products").await?,
        back_to: purpose.to_owned(),
        errors,
    };
    workspace::answer(req, visitor, &page, status)
}

/// `GET /seller/shops/{id}/pictures?for=…`: the upload form.
pub(super) async fn picture_form(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<PictureQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/pictures");
    let (_, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    picture_page(
        &req,
        &mut visitor,
        &pool,
        &shop,
        &query.purpose,
        FormErrors::none(),
        StatusCode::OK,
    )
    .await
}

/// `POST /seller/shops/{id}/pictures?for=…&csrf_token=…`: a multipart
/// upload (the token rides in the address: the body is the file). Back to
/// the asking page with the picture's address filled in.
#[allow(clippy::too_many_arguments)]
pub(super) async fn upload(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<PictureQuery>,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    limits: web::Data<crate::http::rate_limit::RateLimits>,
    payload: web::Payload,
) -> PageResult {
    visitor.check_form(&req, &query.csrf_token)?;
    let id = path.into_inner();
    let here = format!("/seller/shops/{id}/pictures");
    let (session, shop) = match workspace::seller_shop(&visitor, &pool, id, &here).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let owner = session.caller.user_id.0.clone();
    let uploaded = async {
        limits.uploads.take(&owner).await?;
        let (declared, body) =
            crate::media::read_upload(&req, payload, settings.media.max_upload_bytes).await?;
        crate::media::accept_upload(&pool, &settings.media, &owner, &declared, body).await
    }
    .await;
    match uploaded {
        Ok(picture) => {
            let location = format!(
                "{}?image={}",
                back_to(&shop.id, &query.purpose),
                workspace::encode(&picture.url)
            );
            Ok(visitor.finish(render::see_other(&location).finish()))
        }
        Err(error) if workspace::is_refusal(&error) => {
            let errors = FormErrors::field("file", crate::web::forms::sentence(&error.to_string()));
            let status = actix_web::ResponseError::status_code(&error);
            picture_page(
                &req,
                &mut visitor,
                &pool,
                &shop,
                &query.purpose,
                errors,
                status,
            )
            .await
        }
        Err(error) => Err(PageError(error)),
    }
}
