//! Turning a rendered template into an answer: caching, validators, the
//! content policy, and errors as pages.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;
use sha2::{Digest, Sha256};

use super::assets;
use crate::error::AppError;

/// Who may keep a copy of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// The same for everyone without cookies: shared caches keep it 10 s
    /// (the bound on how long a product change takes to reach buyers through
    /// them) and serve it stale for 30 more while they fetch a fresh one.
    /// Browsers revalidate each time (cheap: the `ETag` answers 304).
    Public,
    /// Personal: only the browser keeps it, and revalidates.
    Private,
    /// Personal and short-lived (checkout, payment, orders): kept nowhere.
    NoStore,
}

impl Caching {
    fn header(self) -> &'static str {
        match self {
            Self::Public => "public, max-age=0, s-maxage=10, stale-while-revalidate=30",
            Self::Private => "private, no-cache",
            Self::NoStore => "no-store",
        }
    }
}

/// What a page may load: our own stylesheet, script and pictures (and
/// pictures sellers link to over HTTPS); forms post only to us.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self' https: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The content policy of the payment page with the real provider: its
/// script and frames, nothing else of anyone's.
pub const PAYMENT_CSP: &str = "default-src 'none'; style-src 'self'; \
     script-src 'self' https://js.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; \
     img-src 'self' https: data:; connect-src 'self' https://api.stripe.com; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Renders `page` as a 200 answer.
///
/// # Errors
/// The template failed to render (a bug).
pub fn page(
    req: &HttpRequest,
    page: &impl Template,
    caching: Caching,
) -> Result<HttpResponse, AppError> {
    page_with(req, page, caching, StatusCode::OK, PAGE_CSP)
}

/// Renders `page` with a status (a form with errors is a 422) and a content
/// policy. Successful GETs carry an `ETag` and answer a matching
/// `If-None-Match` with 304.
///
/// # Errors
/// The template failed to render (a bug).
pub fn page_with(
    req: &HttpRequest,
    page: &impl Template,
    caching: Caching,
    status: StatusCode,
    csp: &'static str,
) -> Result<HttpResponse, AppError> {
    let body = page
        .render()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering a page: {e}")))?;
    let digest = Sha256::digest(body.as_bytes());
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let conditional = status == StatusCode::OK && req.method() == actix_web::http::Method::GET;
    let unchanged = conditional && crate::http::not_modified(req, &etag);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::build(status)
    };
    response
        .insert_header((header::CACHE_CONTROL, caching.header()))
        .insert_header((header::VARY, "Cookie"))
        .insert_header(("Content-Security-Policy", csp))
        // Our own pages may know where a visitor came from on this site (and
        // browsers then send a real `Origin` with our forms); others may not.
        .insert_header(("Referrer-Policy", "same-origin"));
    if conditional {
        response.insert_header((header::ETAG, etag));
    }
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response
        .content_type(HeaderValue::from_static("text/html; charset=utf-8"))
        .body(body))
}

/// `303 See Other` to `location`: how a form that worked answers.
pub fn see_other(location: &str) -> HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

/// What every page's frame shows: the stylesheet, who is signed in, the
/// form token, and the search box's text.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub stylesheet: &'static str,
    pub script: &'static str,
    pub signed_in: bool,
    /// The signed-in account sells (the header links to its workspace).
    pub seller: bool,
    /// The signed-in account is staff (the header links to the console).
    pub staff: bool,
    /// The CSRF token every POST form carries (empty for a visitor without
    /// cookies, whose forms carry no ambient authority to forge).
    pub csrf: String,
    pub query: String,
}

impl Chrome {
    /// The frame for a visitor we know nothing of: public pages and errors.
    pub fn anonymous() -> Self {
        Self {
            stylesheet: assets::stylesheet_url(),
            script: assets::script_url(),
            signed_in: false,
            seller: false,
            staff: false,
            csrf: String::new(),
            query: String::new(),
        }
    }
}

/// A page's title, description and canonical address.
#[derive(Debug, Clone)]
pub struct Meta {
    pub title: String,
    pub description: String,
    /// Absolute, or empty for pages that are not to be indexed.
    pub canonical: String,
    pub indexable: bool,
}

impl Meta {
    /// A public page, to be indexed at `canonical`.
    pub fn public(req: &HttpRequest, title: String, description: String, path: &str) -> Self {
        Self {
            title,
            description,
            canonical: absolute(req, path),
            indexable: true,
        }
    }

    /// A personal page (cart, checkout, account): never indexed.
    pub fn personal(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            description: "Your Bazaar account and orders.".into(),
            canonical: String::new(),
            indexable: false,
        }
    }
}

/// `path` as an absolute URL on the host the request was made to.
pub fn absolute(req: &HttpRequest, path: &str) -> String {
    let info = req.connection_info();
    format!("{}://{}{path}", info.scheme(), info.host())
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html", config = "src/web/askama.toml")]
struct ErrorPage {
    chrome: Chrome,
    meta: Meta,
    heading: &'static str,
    message: String,
}

/// An [`AppError`] answered as a page instead of JSON.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        Self(error)
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // Logged (with the cause) by the JSON rendering of the same error.
            let _ = self.0.error_response();
        }
        let (heading, message) = match &self.0 {
            AppError::NotFound { resource } => (
                "Page not found",
                format!("We could not find that {resource}. It may have been removed, or the address may be mistyped."),
            ),
            AppError::RouteNotFound => (
                "Page not found",
                "There is no page at this address. Check it, or start again from the home page.".to_owned(),
            ),
            AppError::ForbiddenWith { message, .. } => ("Please try again", message.clone()),
            AppError::Forbidden => (
                "Not available to your account",
                "This page is for another kind of account. Sign in with a buyer account to shop.".to_owned(),
            ),
            AppError::RateLimited { retry_after_s } => (
                "Too many requests",
                format!("Please wait {retry_after_s} seconds and try again."),
            ),
            AppError::Overloaded => (
                "Busy right now",
                "Many people are shopping at this moment. Please try again in a second.".to_owned(),
            ),
            error if status.is_client_error() => ("Something is not right", error.to_string()),
            _ => (
                "Sorry, something went wrong",
                "We could not show this page. Please try again in a moment.".to_owned(),
            ),
        };
        let page = ErrorPage {
            chrome: Chrome::anonymous(),
            meta: Meta {
                title: heading.to_owned(),
                description: message.clone(),
                canonical: String::new(),
                indexable: false,
            },
            heading,
            message,
        };
        let body = page.render().unwrap_or_else(|_| heading.to_owned());
        let mut response = HttpResponse::build(status);
        if let AppError::RateLimited { retry_after_s } = &self.0 {
            response.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((
                header::RETRY_AFTER,
                crate::error::UNAVAILABLE_RETRY_AFTER_S.to_string(),
            ));
        }
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("Content-Security-Policy", PAGE_CSP))
            .insert_header(("Referrer-Policy", "same-origin"))
            .content_type(HeaderValue::from_static("text/html; charset=utf-8"))
            .body(body)
    }
}

/// A page handler's result.
pub type PageResult = Result<HttpResponse, PageError>;

/// The answer to `error` for a request to `path`: an error page for a browser
/// (it accepts HTML) outside the API, the API's JSON error otherwise.
pub fn error_answer(headers: &header::HeaderMap, path: &str, error: AppError) -> HttpResponse {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !path.starts_with("/v1/") {
        PageError(error).error_response()
    } else {
        error.error_response()
    }
}
