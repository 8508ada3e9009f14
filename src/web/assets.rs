//! Static assets: the stylesheet and script under content-hashed URLs (cached
//! for a year, immutable: a change makes a new URL), and the pictures this
//! marketplace serves itself under `/media/` (the demo catalog's, and the
//! re-encoded uploads in the media store).

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::catalog::model::is_media_name;

const STYLESHEET: &str = include_str!("assets/app.css");
const SCRIPT: &str = include_str!("assets/app.js");

/// What an immutable asset answers with.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Pictures keep their names when regenerated: a day, then revalidate.
const MEDIA_CACHE: &str = "public, max-age=86400";

/// The demo catalog's pictures (`fixtures/images/`), inside the binary.
#[derive(rust_embed::Embed)]
#[folder = "fixtures/images/"]
struct Media;

fn hashed(name: &str, extension: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!("/assets/{name}.{}.{extension}", hex::encode(&digest[..8]))
}

/// The stylesheet's URL, named by its content.
pub fn stylesheet_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| hashed("app", "css", STYLESHEET))
}

/// The script's URL, named by its content.
pub fn script_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| hashed("app", "js", SCRIPT))
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/assets/{name}").get(asset))
        .service(web::resource("/media/{name}").get(media));
}

async fn asset(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    let (body, content_type) = if path == stylesheet_url() {
        (STYLESHEET, "text/css; charset=utf-8")
    } else if path == script_url() {
        (SCRIPT, "text/javascript; charset=utf-8")
    } else {
        return HttpResponse::NotFound()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/plain; charset=utf-8")
            .body("no such asset (an older version's URL?)");
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .content_type(content_type)
        .body(body)
}

/// A picture under `/media/`: a demo one from the binary, or an upload's
/// re-encoded variant from the media store (`media.dir`). Both are answered
/// alike: an ETag of the content, a day's caching, 304 when unchanged.
async fn media(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let name = name.into_inner();
    let servable = is_media_name(&name) && name.ends_with(".webp");
    let content = if !servable {
        None
    } else if let Some(file) = Media::get(&name) {
        Some(file.data.into_owned())
    } else {
        uploaded(&req, &name).await
    };
    let Some(content) = content else {
        return HttpResponse::NotFound()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/plain; charset=utf-8")
            .body("no such picture");
    };
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&content)[..16]));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, MEDIA_CACHE))
        .insert_header((header::ETAG, etag));
    if fresh {
        return response.finish();
    }
    response.content_type("image/webp").body(content)
}

/// An upload's variant from the store; only names an upload could have
/// (so a guessed name never reaches the disk), and only WebP (all the
/// store holds, and the one type this handler answers with).
async fn uploaded(req: &HttpRequest, name: &str) -> Option<Vec<u8>> {
    use crate::media::store::ImageStore;
    if !crate::media::is_uploaded_name(name) {
        return None;
    }
    let settings = req.app_data::<web::Data<crate::config::Settings>>()?;
    match crate::media::store_at(&settings.media.dir).get(name).await {
        Ok(Some(stored)) if stored.content_type == "image/webp" => Some(stored.bytes),
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(%name, %error, "media store unreadable");
            None
        }
    }
}

/// The `srcset` of a picture: the served sizes of our own pictures
/// (`-320`, `-640`, `-960` beside a `-640.webp` URL), or the one URL of a
/// picture hosted elsewhere.
pub fn srcset(url: &str) -> String {
    match url.strip_suffix("-640.webp") {
        Some(stem) if url.starts_with(crate::catalog::model::MEDIA_PATH_PREFIX) => {
            // An upload's name records its width: only the sizes it has.
            crate::media::uploaded_srcset(stem).unwrap_or_else(|| {
                format!("{stem}-320.webp 320w, {stem}-640.webp 640w, {stem}-960.webp 960w")
            })
        }
        _ => format!("{url} 640w"),
    }
}
