//! `POST /v1/media/images`: a seller sends a picture (the raw body, or a
//! browser form's `file` field) and gets back the URLs of its re-encoded
//! variants.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::images::{self, Rejection};
use super::store::ImageStore;
use crate::auth::{Caller, Role};
use crate::config::{MediaSettings, Settings};
use crate::db::{self, DbPool};
use crate::error::{AppError, ErrorBody};
use crate::http::rate_limit::RateLimits;
use crate::http::routes::{resource, Api};

/// What a multipart body may add around the file (boundaries, headers, a
/// few small fields) beyond `media.max_upload_bytes`.
const MULTIPART_OVERHEAD_BYTES_MAX: usize = 16 * 1024;

/// Mounts the media endpoints.
pub fn routes(api: &mut Api<'_>) {
    api.service(resource("/v1/media/images").post(upload_image))
        .describe(Doc::openapi());
}

#[derive(OpenApi)]
#[openapi(
    paths(upload_image),
    tags((name = "media", description = "Pictures sellers upload for their products"))
)]
struct Doc;

/// One served size of an uploaded picture.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantView {
    /// Its real width in pixels.
    pub width: u32,
    /// `/media/<key>-<W>w-<slot>.webp`.
    pub url: String,
}

/// An uploaded picture, re-encoded.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedImage {
    /// The URL to put in a product's `images[].url` (the `-640` variant,
    /// which always exists).
    pub url: String,
    /// Every size served, smallest first.
    pub variants: Vec<VariantView>,
    /// The picture upright (after EXIF orientation), in pixels.
    pub width: u32,
    pub height: u32,
}

/// `POST /v1/media/images` → 201 with the picture's URLs.
#[utoipa::path(post, path = "/v1/media/images", tag = "media",
    request_body(description = "The picture: the raw body with its type, or a form's `file` field. JPEG (EXIF orientation applied), PNG or WebP; 200×200 to 8000 pixels a side and 40 megapixels; at most `media.max_upload_bytes` (8 MiB by default). It is decoded and re-encoded as WebP: nothing of the file as sent is kept or served.",
        content(("image/jpeg"), ("image/png"), ("image/webp"), ("multipart/form-data"))),
    responses(
        (status = 201, body = UploadedImage),
        (status = 400, description = "`malformed_multipart`", body = ErrorBody),
        (status = 413, description = "`body_too_large`: over `media.max_upload_bytes`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: neither an image type nor multipart/form-data", body = ErrorBody),
        (status = 422, description = "`unsupported_image_type` (SVG, HTML, anything but JPEG, PNG, WebP), `image_type_mismatch` (the bytes are another type than declared), `image_too_large` (judged from the header, before decoding), `image_too_small`, `unreadable_image`, `missing_field` (no `file` in the form)", body = ErrorBody),
        (status = 429, description = "`rate_limited`: over `media.uploads_per_minute`", body = ErrorBody),
    ),
    extensions(("x-roles" = json!(["seller", "operator"]))))]
async fn upload_image(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    limits: web::Data<RateLimits>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    caller.require(&[Role::Seller])?;
    let owner = caller.user_id.0.clone();
    limits.uploads.take(&owner).await?;
    let (declared, body) = read_upload(&req, payload, settings.media.max_upload_bytes).await?;
    let uploaded = accept_upload(&pool, &settings.media, &owner, &declared, body).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::LOCATION, uploaded.url.clone()))
        .json(uploaded))
}

/// Checks, re-encodes, stores and records one picture `owner` sent as
/// `declared` (a `Content-Type` essence). What `POST /v1/media/images` does
/// once the body is read; a seller page's form handler calls it the same
/// way (after its own role check, rate limit and [`read_upload`]).
///
/// # Errors
/// 422 with the [`Rejection`]'s code (`unsupported_image_type`,
/// `image_type_mismatch`, `image_too_large`, `image_too_small`,
/// `unreadable_image`, param `file`); 500/503 when the store or the
/// database fails (nothing is left stored then).
pub async fn accept_upload(
    pool: &DbPool,
    media: &MediaSettings,
    owner: &str,
    declared: &str,
    body: Bytes,
) -> Result<UploadedImage, AppError> {
    let received = body.len();
    let declared = declared.to_owned();
    let decoding = decode_slot()
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let processed = web::block(move || images::process(&body, &declared))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(refused)?;
    drop(decoding);

    let key = super::new_key();
    let store = super::store_at(&media.dir);
    let names: Vec<String> = processed
        .variants
        .iter()
        .map(|v| super::file_name(&key, processed.width, v.slot))
        .collect();
    let mut stored = Vec::with_capacity(names.len());
    for (variant, name) in processed.variants.iter().zip(&names) {
        if let Err(e) = store.put(name, variant.webp.clone(), "image/webp").await {
            forget(&store, &stored).await;
            return Err(AppError::Internal(anyhow::anyhow!("storing {name}: {e}")));
        }
        stored.push(name.clone());
    }
    let dimensions = (processed.width, processed.height);
    let recorded = {
        let (key, owner) = (key.clone(), owner.to_owned());
        db::run(pool, move |conn| {
            super::record_upload(conn, &key, &owner, dimensions, received)
        })
        .await
    };
    if let Err(e) = recorded {
        // Files without a row would be nobody's: remove them with the refusal.
        forget(&store, &stored).await;
        return Err(e);
    }
    tracing::info!(%key, %owner, width = processed.width, height = processed.height, received, "picture uploaded");
    let url_of = |name: &str| format!("{}{name}", crate::catalog::model::MEDIA_PATH_PREFIX);
    let variants: Vec<VariantView> = processed
        .variants
        .iter()
        .zip(&names)
        .map(|(v, name)| VariantView {
            width: v.width,
            url: url_of(name),
        })
        .collect();
    Ok(UploadedImage {
        url: url_of(&super::file_name(&key, processed.width, 640)),
        variants,
        width: processed.width,
        height: processed.height,
    })
}

fn refused(rejection: Rejection) -> AppError {
    AppError::unprocessable(rejection.code(), rejection.to_string(), Some("file".into()))
}

async fn forget(store: &impl ImageStore, names: &[String]) {
    for name in names {
        if let Err(e) = store.delete(name).await {
            tracing::warn!(%name, error = %e, "could not remove a picture's file after a failed upload");
        }
    }
}

/// Decodes at once: one per core. A decode holds up to about 256 MiB (see
/// `images`), so this bounds memory as much as CPU; the rest wait.
fn decode_slot() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        tokio::sync::Semaphore::new(cores)
    })
}

fn content_type_essence(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The declared type and the bytes of the upload (a raw image body, or a
/// multipart form's `file` field), read never past `limit`.
///
/// # Errors
/// 413 `body_too_large`; 415 `unsupported_media_type` for a body that is
/// neither an image type nor a form; 422 `unsupported_image_type` for an
/// image type other than JPEG, PNG, WebP (before reading the body); 400
/// `malformed_multipart`; 422 `missing_field` for a form without `file`.
pub async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<(String, Bytes), AppError> {
    let essence = content_type_essence(req);
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if essence == "multipart/form-data" {
        if declared_length.is_some_and(|n| n > limit + MULTIPART_OVERHEAD_BYTES_MAX) {
            return Err(AppError::PayloadTooLarge { limit_bytes: limit });
        }
        return read_form_file(req, payload, limit).await;
    }
    if !essence.starts_with("image/") {
        return Err(AppError::UnsupportedMediaType {
            message: "send the picture as image/jpeg, image/png or image/webp, or as a form's `file` field (multipart/form-data)".into(),
        });
    }
    // Refused before reading the body: nothing else it could say matters.
    if images::ImageType::from_mime(&essence).is_none() {
        return Err(refused(Rejection::UnsupportedType(format!(
            "`{essence}` is not accepted: send a JPEG, PNG or WebP picture"
        ))));
    }
    if declared_length.is_some_and(|n| n > limit) {
        return Err(AppError::PayloadTooLarge { limit_bytes: limit });
    }
    let body = crate::http::json::read_body(&mut payload.into_inner(), limit).await?;
    Ok((essence, body))
}

fn malformed(e: impl std::fmt::Display) -> AppError {
    AppError::bad_request(
        "malformed_multipart",
        format!("the form could not be read: {e}"),
        None,
    )
}

/// The `file` field of a multipart form and its declared type; other fields
/// are read and dropped (within the same overall bound).
async fn read_form_file(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<(String, Bytes), AppError> {
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut other_bytes = 0usize;
    let mut file = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(malformed)?;
        let is_file = field.name() == Some("file") && file.is_none();
        let declared = field
            .content_type()
            .map(|m| m.essence_str().to_ascii_lowercase())
            .unwrap_or_default();
        let mut body = BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            if is_file {
                if body.len() + chunk.len() > limit {
                    return Err(AppError::PayloadTooLarge { limit_bytes: limit });
                }
                body.extend_from_slice(&chunk);
            } else {
                other_bytes += chunk.len();
                if other_bytes > MULTIPART_OVERHEAD_BYTES_MAX {
                    return Err(AppError::PayloadTooLarge { limit_bytes: limit });
                }
            }
        }
        if is_file {
            file = Some((declared, body.freeze()));
        }
    }
    file.ok_or_else(|| {
        AppError::unprocessable(
            "missing_field",
            "the form has no `file` field with the picture",
            Some("file".into()),
        )
    })
}
