//! The demo's HTTP client: it calls the marketplace as its buyers, sellers and
//! operator would (JSON, bearer sessions, idempotency keys), and the sandbox
//! provider as a browser's payment form and the provider's test helpers would.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};

/// How long one request may take; the sandbox answers locally, so a slow
/// answer means something is stuck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`wait_for`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Someone signed in.
#[derive(Debug, Clone)]
pub struct Session {
    pub email: String,
    pub token: String,
}

/// The marketplace's API and the sandbox provider beside it.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    sandbox: String,
    sandbox_key: String,
    /// The link a new account's verification email carries: the demo's
    /// people follow it at once, as if they had opened the email.
    verification: Option<(crate::db::DbPool, crate::config::AuthSettings)>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

/// An answer that was not the expected status.
fn refused(what: &str, status: u16, body: &Value) -> anyhow::Error {
    let error = &body["error"];
    anyhow::anyhow!(
        "{what}: {status} {} {}",
        error["code"].as_str().unwrap_or(""),
        error["message"].as_str().unwrap_or(&body.to_string())
    )
}

impl Api {
    /// A client for the marketplace at `base` and the sandbox at `sandbox`.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(
        http: reqwest::ClientBuilder,
        base: String,
        sandbox: String,
        sandbox_key: String,
    ) -> anyhow::Result<Self> {
        let http = http
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(crate::http::slow_clients::CLIENT_POOL_IDLE)
            // The sandbox's onboarding form redirects to the return URL, which
            // is a browser's business, not the demo's.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            base,
            sandbox,
            sandbox_key,
            verification: None,
        })
    }

    /// Lets [`Api::signup`] follow the verification link the marketplace
    /// emails, made on `pool` as the email job makes it.
    #[must_use]
    pub fn following_verification_links(
        mut self,
        pool: crate::db::DbPool,
        auth: crate::config::AuthSettings,
    ) -> Self {
        self.verification = Some((pool, auth));
        self
    }

    /// The marketplace's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The sandbox's base URL.
    pub fn sandbox_url(&self) -> &str {
        &self.sandbox
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, body))
    }

    /// `GET path` as `who`, expecting 200.
    ///
    /// # Errors
    /// Any other answer, or no answer.
    pub async fn get(&self, who: &Session, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self
            .send(Method::GET, path, Some(&who.token), None, None)
            .await?;
        if status != 200 {
            return Err(refused(&format!("GET {path}"), status, &body));
        }
        Ok(body)
    }

    /// `GET path` with no session, answering the status and body.
    ///
    /// # Errors
    /// No answer.
    pub async fn get_public(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        self.send(Method::GET, path, None, None, None).await
    }

    /// `POST path` as `who` (with an `Idempotency-Key` when given), expecting `expect`.
    ///
    /// # Errors
    /// Any other answer, or no answer.
    pub async fn post(
        &self,
        who: Option<&Session>,
        path: &str,
        idempotency_key: Option<&str>,
        body: &Value,
        expect: u16,
    ) -> anyhow::Result<Value> {
        let token = who.map(|w| w.token.as_str());
        let (status, answer) = self
            .send(Method::POST, path, token, idempotency_key, Some(body))
            .await?;
        if status != expect {
            return Err(refused(&format!("POST {path}"), status, &answer));
        }
        Ok(answer)
    }

    /// `PUT path` as `who`, expecting 200.
    ///
    /// # Errors
    /// Any other answer, or no answer.
    pub async fn put(&self, who: &Session, path: &str, body: &Value) -> anyhow::Result<Value> {
        let (status, answer) = self
            .send(Method::PUT, path, Some(&who.token), None, Some(body))
            .await?;
        if status != 200 {
            return Err(refused(&format!("PUT {path}"), status, &answer));
        }
        Ok(answer)
    }

    /// Signs up (`buyer` or `seller`) with `password`, follows the emailed
    /// verification link, and so signs in.
    ///
    /// # Errors
    /// The sign-up or the verification is refused; no way to follow links.
    pub async fn signup(&self, email: &str, password: &str, role: &str) -> anyhow::Result<Session> {
        let body = json!({"email": email, "password": password, "role": role});
        self.post(None, "/v1/users", None, &body, 202).await?;
        let (pool, auth) = self
            .verification
            .clone()
            .context("the demo client cannot follow verification links")?;
        let address = email.to_owned();
        let token = crate::db::run(&pool, move |conn| {
            let parsed = crate::auth::Email::parse(&address)?;
            let user = crate::auth::find_user_by_email(conn, &parsed)?
                .ok_or(crate::error::AppError::NotFound { resource: "user" })?;
            crate::auth::mint_account_token(
                conn,
                &auth,
                user.id.as_str(),
                "verify_email",
                crate::db::now(),
            )
        })
        .await
        .map_err(|e| anyhow::anyhow!("verification link for {email}: {e}"))?
        .with_context(|| format!("{email} is already verified"))?;
        let verified = self
            .post(
                None,
                "/v1/email_verifications/confirm",
                None,
                &json!({ "token": token }),
                200,
            )
            .await?;
        Ok(Session {
            email: email.to_owned(),
            token: verified["token"]
                .as_str()
                .context("verification without a session")?
                .to_owned(),
        })
    }

    /// Signs in, with a TOTP code for staff.
    ///
    /// # Errors
    /// The login is refused.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        totp_code: Option<&str>,
    ) -> anyhow::Result<Session> {
        let mut body = json!({"email": email, "password": password});
        if let Some(code) = totp_code {
            body["totp_code"] = json!(code);
        }
        let session = self.post(None, "/v1/sessions", None, &body, 201).await?;
        Ok(Session {
            email: email.to_owned(),
            token: session["token"]
                .as_str()
                .context("session without token")?
                .to_owned(),
        })
    }

    /// `POST path` (form-encoded) to the sandbox with its API key, expecting success.
    ///
    /// # Errors
    /// The sandbox refused or did not answer.
    pub async fn sandbox_post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.sandbox))
            .bearer_auth(&self.sandbox_key)
            .form(form)
            .send()
            .await
            .with_context(|| format!("sandbox POST {path}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(refused(
                &format!("sandbox POST {path}"),
                status.as_u16(),
                &body,
            ));
        }
        Ok(body)
    }

    /// `GET path` from the sandbox with its API key, expecting success.
    ///
    /// # Errors
    /// The sandbox refused or did not answer.
    pub async fn sandbox_get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.sandbox))
            .bearer_auth(&self.sandbox_key)
            .send()
            .await
            .with_context(|| format!("sandbox GET {path}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(refused(
                &format!("sandbox GET {path}"),
                status.as_u16(),
                &body,
            ));
        }
        Ok(body)
    }

    /// Fills in and submits a sandbox onboarding page's form, as the
    /// seller does in the browser: the business, the person running it, and
    /// a bank account the sandbox pays into (Stripe's test numbers).
    ///
    /// # Errors
    /// The page refused (used or expired link, a field it rejects) or did
    /// not answer.
    pub async fn submit_onboarding_form(&self, url: &str, business: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(url)
            .form(&[
                ("business_name", business),
                ("business_type", "company"),
                ("first_name", "Dana"),
                ("last_name", "Okafor"),
                ("dob", "1984-09-12"),
                ("routing_number", "110000000"),
                ("account_number", "000123456789"),
            ])
            .send()
            .await
            .context("sandbox onboarding form")?;
        let status = response.status();
        // It answers by sending the browser on to the return URL.
        if !(status.is_success() || status.is_redirection()) {
            anyhow::bail!("sandbox onboarding form: {status}");
        }
        Ok(())
    }
}

/// Polls `check` until it yields a value, for at most `timeout`: webhooks and
/// jobs run at their own pace, so the demo waits for what they lead to.
///
/// # Errors
/// `check` failed, or `timeout` passed first (naming `what`).
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() >= timeout {
            anyhow::bail!("gave up after {} s waiting for {what}", timeout.as_secs());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
