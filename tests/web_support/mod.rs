//! A browser without a browser, for page tests: keeps cookies, follows no
//! redirects by itself, and reads the CSRF token and other values from pages.

#![allow(dead_code)] // each page test binary uses a different part

use std::collections::BTreeMap;

use crate::common::TestApp;

/// A cookie jar and the last page.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookies: BTreeMap<String, String>,
}

/// A page's answer.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Location` of a redirect.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// A header's value, or "".
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The value of the first `name="…" value="…"` input.
    pub fn input(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no input {name} in page:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("closing quote") + start;
        self.body[start..end].to_owned()
    }

    /// The text content of the first element whose opening tag contains
    /// `opening` (tags inside are dropped, entities left as they are).
    pub fn text_of(&self, opening: &str) -> String {
        let start = self
            .body
            .find(opening)
            .unwrap_or_else(|| panic!("no {opening} in page:\n{}", self.body));
        let after = self.body[start..].find('>').unwrap() + start + 1;
        let tag = opening
            .trim_start_matches('<')
            .split([' ', '>'])
            .next()
            .unwrap();
        let end = self.body[after..].find(&format!("</{tag}>")).unwrap() + after;
        strip_tags(&self.body[after..end])
    }

    /// Whether the page shows `text`.
    pub fn shows(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

/// The password `sign_up` uses.
pub const PASSWORD: &str = "a long enough password 42";

/// A link's path and query (`http://host/path?q` → `/path?q`).
pub fn path_of(link: &str) -> String {
    let after_scheme = link.split_once("://").map_or(link, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or_else(|| "/".to_owned(), |at| after_scheme[at..].to_owned())
}

/// `html` without its tags, whitespace collapsed.
pub fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap();
            let (name, content) = pair.split_once('=').unwrap();
            let expired = value.to_ascii_lowercase().contains("max-age=0");
            if expired || content.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), content.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    /// `GET path` with the cookies, as a browser asks for a page.
    pub async fn get(&mut self, path: &str) -> Page {
        let mut request = self
            .app
            .client
            .get(format!("{}{path}", self.app.address))
            .header("accept", "text/html");
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        let response = request.send().await.unwrap();
        self.keep(response).await
    }

    /// Posts a form with the cookies (and no `Origin`, as a same-site form
    /// from an old browser would).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut request = self
            .app
            .client
            .post(format!("{}{path}", self.app.address))
            .header("accept", "text/html")
            .form(form);
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        let response = request.send().await.unwrap();
        self.keep(response).await
    }

    /// Posts a raw body (a multipart upload) with the cookies.
    pub async fn post_body(&mut self, path: &str, content_type: &str, body: Vec<u8>) -> Page {
        let mut request = self
            .app
            .client
            .post(format!("{}{path}", self.app.address))
            .header("accept", "text/html")
            .header("content-type", content_type)
            .body(body);
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        let response = request.send().await.unwrap();
        self.keep(response).await
    }

    /// Posts a form with the CSRF token of the page at `from`.
    pub async fn submit(&mut self, from: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let token = self.get(from).await.input("csrf_token");
        let mut fields: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        self.post(path, &fields).await
    }

    /// Signs up as a new buyer through the page, then follows the emailed
    /// verification link as its reader would (the link's page, then its
    /// button), which signs in and lands on `next`; returns the email.
    pub async fn sign_up(&mut self, next: &str) -> String {
        let email = crate::common::people::unique_email("shopper");
        let sent = self.sign_up_unverified(&email, next).await;
        assert!(sent.shows("Check your email"), "{}", sent.body);
        let link = crate::common::mail::wait_for_link(self.app, &email, "/verify-email").await;
        let page = self.confirm_link(&link).await;
        assert_eq!(page.status, 303, "verification refused: {}", page.body);
        assert_eq!(page.location(), next);
        assert!(
            self.cookies.contains_key("bz_session"),
            "the verification link signs in"
        );
        email
    }

    /// Submits the sign-up form for `email` (no session starts) and follows
    /// its redirect to the "check your email" page.
    pub async fn sign_up_unverified(&mut self, email: &str, next: &str) -> Page {
        let page = self
            .submit(
                "/signup",
                "/signup",
                &[("email", email), ("password", PASSWORD), ("next", next)],
            )
            .await;
        assert_eq!(page.status, 303, "sign-up refused: {}", page.body);
        assert!(
            page.location().starts_with("/signup/sent?"),
            "{}",
            page.location()
        );
        assert!(
            !self.cookies.contains_key("bz_session"),
            "signing up does not sign in"
        );
        let location = page.location().to_owned();
        self.get(&location).await
    }

    /// Opens an emailed link (`http…/verify-email?token=…`) and presses its
    /// confirm button; the answer to the button's POST.
    pub async fn confirm_link(&mut self, link: &str) -> Page {
        let path = path_of(link);
        let page = self.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.shows("Confirm my email address"), "{}", page.body);
        let csrf = page.input("csrf_token");
        let token = page.input("token");
        let next = page.input("next").replace("&amp;", "&");
        self.post(
            "/verify-email",
            &[
                ("csrf_token", csrf.as_str()),
                ("token", token.as_str()),
                ("next", next.as_str()),
            ],
        )
        .await
    }

    /// The session token the browser holds (the API's bearer token too).
    pub fn session_token(&self) -> String {
        self.cookies.get("bz_session").cloned().expect("signed in")
    }
}

/// A browser signed in as `person` through the sign-in page (the password
/// every test account has), on its way to the seller workspace.
#[allow(dead_code)] // not every page test signs a seller in
pub async fn signed_in<'a>(
    app: &'a TestApp,
    person: &crate::common::people::Person,
) -> Browser<'a> {
    let mut browser = Browser::new(app);
    let page = browser
        .submit(
            "/signin",
            "/signin",
            &[
                ("email", person.email.as_str()),
                ("password", crate::common::people::PASSWORD),
                ("next", "/seller"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "sign-in refused: {}", page.body);
    browser
}

/// A browser signed in to the console as the enrolled staff member
/// `person`, through the sign-in page with a code of the next time step
/// (the current one may be used already; a step is accepted once, so sign
/// each person in once per test).
#[allow(dead_code)] // not every page test opens the console
pub async fn console<'a>(app: &'a TestApp, person: &crate::common::people::Person) -> Browser<'a> {
    // The test's own sign-ins may have used the next step already.
    crate::common::people::forget_used_step(app, person).await;
    let mut browser = Browser::new(app);
    let code = crate::common::people::next_code(person);
    let page = browser
        .submit(
            "/signin",
            "/signin",
            &[
                ("email", person.email.as_str()),
                ("password", crate::common::people::PASSWORD),
                ("totp_code", code.as_str()),
                ("next", "/ops"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "console sign-in refused: {}", page.body);
    assert_eq!(page.location(), "/ops");
    browser
}

impl Browser<'_> {
    /// The `Cookie` header this browser sends, for a request made by hand
    /// (a forged cross-site POST carries the victim's cookies too).
    #[allow(dead_code)] // only the CSRF tests forge requests
    pub fn cookie_header_for_tests(&self) -> String {
        self.cookie_header()
    }
}
