//! Who is looking at a page: the browser's session (a cookie holding the same
//! session token the API takes as a bearer), its guest cart, and the CSRF
//! token its forms carry.
//!
//! CSRF: every browser that has been given a form gets a random id in an
//! `HttpOnly` cookie; a form's token is an HMAC of that id under the
//! installation's key (kept in the database, so every process agrees). A
//! POST is refused when its `Origin` is another site, or when it carries our
//! cookies without the matching token. A POST with no cookie of ours at all
//! (a first "add to cart" from a cached public page) carries no authority to
//! forge, so it needs no token; it is given a browser id then.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::render::Chrome;
use crate::auth::{self, BrowserSession, Caller};
use crate::config::Settings;
use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;
use crate::orders::model::CART_LINES_MAX;

/// The session token.
pub const SESSION_COOKIE: &str = "bz_session";
/// The random browser id CSRF tokens are derived from.
pub const BROWSER_COOKIE: &str = "bz_browser";
/// A visitor's cart before signing in: `prd_…:quantity` pairs joined by `~`.
pub const CART_COOKIE: &str = "bz_cart";
/// The form field holding the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
/// A browser id is this many random bytes, hex-encoded.
const BROWSER_ID_BYTES: usize = 16;
/// How long the browser id and the guest cart are kept: 30 days.
const VISITOR_COOKIE_DAYS: i64 = 30;
/// The installation's CSRF key's name in `web_secrets`.
const CSRF_KEY_NAME: &str = "csrf";

/// The key CSRF tokens are signed with.
#[derive(Clone)]
pub struct CsrfKey(Vec<u8>);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

/// The installation's CSRF key, made on first use.
///
/// # Errors
/// A database failure (for example, migrations not applied yet).
pub fn csrf_key(conn: &mut DbConnection) -> Result<CsrfKey, AppError> {
    decode_key(&crate::db::installation_secret(conn, CSRF_KEY_NAME)?)
}

fn decode_key(secret: &str) -> Result<CsrfKey, AppError> {
    hex::decode(secret)
        .map(CsrfKey)
        .map_err(|_| AppError::Internal(anyhow::anyhow!("stored csrf key is not hex")))
}

fn csrf_failed() -> AppError {
    AppError::ForbiddenWith {
        code: "csrf_failed",
        message: "This form has expired or did not come from this site. Go back, reload the page and try again.".into(),
    }
}

/// A visitor's cart before signing in, from its cookie. Anything malformed
/// is dropped: the cookie is the visitor's to tamper with, and every line is
/// checked again when shown, moved or bought.
pub fn parse_guest_cart(value: &str) -> Vec<(String, i64)> {
    let mut lines: Vec<(String, i64)> = Vec::new();
    for pair in value.split('~') {
        let Some((product_id, quantity)) = pair.split_once(':') else {
            continue;
        };
        let Ok(quantity) = quantity.parse::<i64>() else {
            continue;
        };
        if !crate::catalog::model::is_product_id(product_id)
            || quantity < 1
            || lines.iter().any(|(p, _)| p == product_id)
        {
            continue;
        }
        lines.push((product_id.to_owned(), quantity));
        if lines.len() >= usize::try_from(CART_LINES_MAX).unwrap_or(usize::MAX) {
            break;
        }
    }
    lines
}

fn guest_cart_value(lines: &[(String, i64)]) -> String {
    lines
        .iter()
        .map(|(product_id, quantity)| format!("{product_id}:{quantity}"))
        .collect::<Vec<_>>()
        .join("~")
}

/// Whether `id` looks like a browser id we made.
fn is_browser_id(id: &str) -> bool {
    id.len() == BROWSER_ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The person behind a page request.
pub struct Visitor {
    /// The signed-in account, if any.
    pub session: Option<BrowserSession>,
    /// The visitor's cart before signing in.
    pub guest_cart: Vec<(String, i64)>,
    browser_id: Option<String>,
    /// A browser id made during this request, to be set as a cookie.
    minted: bool,
    /// Whether the request carried any cookie of ours.
    had_cookies: bool,
    /// A session cookie that no longer names a live session, to be cleared.
    stale_session: bool,
    secure: bool,
    key: CsrfKey,
}

impl Visitor {
    /// The signed-in caller, if any.
    pub fn caller(&self) -> Option<&Caller> {
        self.session.as_ref().map(|s| &s.caller)
    }

    /// Whether the visitor sent any cookie of ours (a public cache must not
    /// serve them the anonymous copy, nor keep theirs).
    pub fn is_known(&self) -> bool {
        self.had_cookies
    }

    fn token_for(&self, browser_id: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key.0).expect("HMAC takes keys of any length");
        mac.update(browser_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The frame of a personal page: gives the browser an id (so its forms
    /// carry a token) if it had none.
    pub fn chrome(&mut self) -> Chrome {
        if self.browser_id.is_none() {
            self.browser_id = Some(hex::encode(rand::random::<[u8; BROWSER_ID_BYTES]>()));
            self.minted = true;
        }
        self.public_chrome()
    }

    /// The frame of a public page: no new cookie; the token of the browser's
    /// id if it has one.
    pub fn public_chrome(&self) -> Chrome {
        Chrome {
            signed_in: self.session.is_some(),
            seller: self
                .session
                .as_ref()
                .is_some_and(|s| s.caller.role == crate::auth::Role::Seller),
            staff: self
                .session
                .as_ref()
                .is_some_and(|s| s.caller.role.is_staff()),
            csrf: self
                .browser_id
                .as_deref()
                .map(|id| self.token_for(id))
                .unwrap_or_default(),
            ..Chrome::anonymous()
        }
    }

    /// Checks a POST: same-site `Origin`, and the token when the request
    /// carries our cookies.
    ///
    /// # Errors
    /// 403 `csrf_failed`.
    pub fn check_form(&mut self, req: &HttpRequest, token: &str) -> Result<(), AppError> {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().map_err(|_| csrf_failed())?;
            let info = req.connection_info();
            let expected = format!("{}://{}", info.scheme(), info.host());
            // Browsers send `Origin: null` from pages with a strict referrer
            // policy; `Sec-Fetch-Site` (which no page can set) then vouches.
            let same_site_null = origin == "null"
                && req
                    .headers()
                    .get("sec-fetch-site")
                    .is_some_and(|v| v.as_bytes() == b"same-origin");
            if origin != expected && !same_site_null {
                return Err(csrf_failed());
            }
        }
        if !self.had_cookies {
            // Nothing of ours to forge against; this browser gets an id now.
            self.chrome();
            return Ok(());
        }
        let Some(browser_id) = self.browser_id.as_deref() else {
            return Err(csrf_failed());
        };
        let expected = self.token_for(browser_id);
        let equal: bool =
            subtle::ConstantTimeEq::ct_eq(token.as_bytes(), expected.as_bytes()).into();
        if equal {
            Ok(())
        } else {
            Err(csrf_failed())
        }
    }

    fn cookie<'c>(&self, name: &'c str, value: String, max_age: CookieDuration) -> Cookie<'c> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(max_age)
            .finish()
    }

    /// Sets the cookies this request decided on (a new browser id, a cleared
    /// stale session) on `response`.
    pub fn finish(&self, mut response: HttpResponse) -> HttpResponse {
        if self.minted {
            if let Some(id) = &self.browser_id {
                let cookie = self.cookie(
                    BROWSER_COOKIE,
                    id.clone(),
                    CookieDuration::days(VISITOR_COOKIE_DAYS),
                );
                let _ = response.add_cookie(&cookie);
            }
        }
        if self.stale_session {
            let _ = response.add_cookie(&self.cookie(
                SESSION_COOKIE,
                String::new(),
                CookieDuration::ZERO,
            ));
        }
        response
    }

    /// Starts a browser session with a new session token.
    pub fn sign_in(&self, response: &mut HttpResponse, token: &str, ttl: std::time::Duration) {
        let seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let _ = response.add_cookie(&self.cookie(
            SESSION_COOKIE,
            token.to_owned(),
            CookieDuration::seconds(seconds),
        ));
    }

    /// Ends the browser session (the session itself is revoked by the caller).
    pub fn sign_out(&self, response: &mut HttpResponse) {
        let _ =
            response.add_cookie(&self.cookie(SESSION_COOKIE, String::new(), CookieDuration::ZERO));
    }

    /// Stores the guest cart (or clears it, when empty).
    pub fn store_guest_cart(&self, response: &mut HttpResponse, lines: &[(String, i64)]) {
        let max_age = if lines.is_empty() {
            CookieDuration::ZERO
        } else {
            CookieDuration::days(VISITOR_COOKIE_DAYS)
        };
        let _ = response.add_cookie(&self.cookie(CART_COOKIE, guest_cart_value(lines), max_age));
    }
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

impl FromRequest for Visitor {
    type Error = AppError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let missing = || AppError::Internal(anyhow::anyhow!("web layer app data missing"));
            let pool = req
                .app_data::<web::Data<DbPool>>()
                .ok_or_else(missing)?
                .clone();
            let settings = req.app_data::<web::Data<Settings>>().ok_or_else(missing)?;
            let key = req.app_data::<web::Data<CsrfKey>>().ok_or_else(missing)?;
            let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
            let browser_id = req
                .cookie(BROWSER_COOKIE)
                .map(|c| c.value().to_owned())
                .filter(|id| is_browser_id(id));
            let guest_cart = req
                .cookie(CART_COOKIE)
                .map(|c| parse_guest_cart(c.value()))
                .unwrap_or_default();
            let had_cookies = token.is_some()
                || req.cookie(BROWSER_COOKIE).is_some()
                || req.cookie(CART_COOKIE).is_some();
            let session = match token.clone().filter(|t| !t.is_empty()) {
                Some(token) => {
                    let now = db::now();
                    db::run(&pool, move |conn| auth::browser_session(conn, &token, now)).await?
                }
                None => None,
            };
            Ok(Visitor {
                stale_session: token.is_some_and(|t| !t.is_empty()) && session.is_none(),
                session,
                guest_cart,
                browser_id,
                minted: false,
                had_cookies,
                secure: settings.server.tls.is_some(),
                key: key.get_ref().clone(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_carts_keep_only_well_formed_lines() {
        let a = format!("prd_{}", "a".repeat(32));
        let b = format!("prd_{}", "b".repeat(32));
        let value = format!("{a}:2~junk~{b}:x~{b}:0~{b}:1~{a}:5~prd_short:1");
        assert_eq!(
            parse_guest_cart(&value),
            vec![(a.clone(), 2), (b.clone(), 1)]
        );
        assert_eq!(guest_cart_value(&[(a.clone(), 2)]), format!("{a}:2"));
        assert!(parse_guest_cart("").is_empty());
    }
}
