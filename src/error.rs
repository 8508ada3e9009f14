//! The one error vocabulary of the HTTP API.
//!
//! Every handler returns `Result<_, AppError>`; every failure, including the
//! framework's own (unknown route, wrong method, oversized body), is answered as
//! `{"error": {"code", "message", "param"}}` with a stable machine-readable code.
//! Internal causes are logged with the request id and never shown to the caller.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::money::MoneyError;

/// Longest human message echoed back; serde messages can quote user input.
const MESSAGE_CHARS_MAX: usize = 300;

/// An error the API answers with; the variant decides the status.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed (400).
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        param: Option<String>,
    },
    /// The request is well-formed but a value is not acceptable (422).
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        param: Option<String>,
    },
    /// The buyer's payment was declined by the provider (402).
    #[error("{message}")]
    PaymentDeclined { message: String },
    /// No credentials, or credentials we do not accept (401).
    #[error("authentication required")]
    Unauthenticated,
    /// Credentials refused for a reason the client can act on (401), e.g.
    /// `invalid_credentials`, `totp_required`.
    #[error("{message}")]
    UnauthenticatedWith { code: &'static str, message: String },
    /// Authenticated, but the role does not allow this (403).
    #[error("your role does not allow this action")]
    Forbidden,
    /// Authenticated, but the account must do something first (403), e.g.
    /// `totp_enrollment_required`.
    #[error("{message}")]
    ForbiddenWith { code: &'static str, message: String },
    /// A resource does not exist, or is not visible to the caller (404).
    #[error("no such {resource}")]
    NotFound { resource: &'static str },
    /// No route matches the path (404).
    #[error("no route for this path")]
    RouteNotFound,
    /// The route exists but not for this method (405).
    #[error("method not allowed for this route")]
    MethodNotAllowed,
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The body did not arrive within `server.body_timeout_ms` (408).
    #[error("the request body did not arrive within {timeout_ms} ms")]
    RequestTimeout { timeout_ms: u128 },
    /// The body is larger than the configured limit (413).
    #[error("request body is larger than {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },
    /// The body is not in a format we accept (415).
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    /// Too many requests; try again after the given seconds (429).
    #[error("too many requests; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    /// A dependency (database, provider) is not available now (503).
    #[error("{message}")]
    Unavailable { message: String },
    /// This process already works on as many requests of the class as it
    /// takes at once (503; `server.in_flight_*_max`).
    #[error("the server is busy; try again in a moment")]
    Overloaded,
    /// A bug or an unexpected failure; logged, never shown (500).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// A 400 with a code, a message and optionally the offending parameter.
    pub fn bad_request(
        code: &'static str,
        message: impl Into<String>,
        param: Option<String>,
    ) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
            param,
        }
    }

    /// A 422 with a code, a message and optionally the offending parameter.
    pub fn unprocessable(
        code: &'static str,
        message: impl Into<String>,
        param: Option<String>,
    ) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
            param,
        }
    }

    /// The stable machine-readable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Conflict { code, .. }
            | Self::UnauthenticatedWith { code, .. }
            | Self::ForbiddenWith { code, .. } => code,
            Self::PaymentDeclined { .. } => "card_declined",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout { .. } => "request_timeout",
            Self::PayloadTooLarge { .. } => "body_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "service_unavailable",
            Self::Overloaded => "overloaded",
            Self::Internal(cause) if database_outage_in(cause) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The offending field or parameter, when one is to blame.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::BadRequest { param, .. } | Self::Unprocessable { param, .. } => param.as_deref(),
            _ => None,
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for machines (`code`, `param`) and people (`message`).
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `missing_field`, `not_found`.
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// The offending field's path (`lines[1].quantity`) or parameter, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

impl ErrorBody {
    /// Builds the body, cutting an over-long message at a character boundary.
    pub fn new(code: &str, message: &str, param: Option<&str>) -> Self {
        let message = match message.char_indices().nth(MESSAGE_CHARS_MAX) {
            Some((cut, _)) => format!("{}…", &message[..cut]),
            None => message.to_owned(),
        };
        Self {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                param: param.map(str::to_owned),
            },
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PaymentDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::Unauthenticated | Self::UnauthenticatedWith { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::ForbiddenWith { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(cause) if database_outage_in(cause) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            // A database failure that reached here inside another error (a
            // module's own error type, `anyhow` context): still an outage.
            Self::Internal(cause) if database_outage_in(cause) => {
                tracing::warn!(error = ?cause, "service unavailable: database");
                DATABASE_OUTAGE_MESSAGE.to_owned()
            }
            Self::Internal(cause) => {
                // The request span carries the request id, which the caller also gets
                // in X-Request-Id: that is how support finds this line.
                tracing::error!(error = ?cause, "internal error");
                "internal error; quote the X-Request-Id response header when reporting it"
                    .to_owned()
            }
            Self::Unavailable { message } => {
                tracing::warn!(%message, "service unavailable");
                message.clone()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Self::RateLimited { retry_after_s } = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_s)));
        } else if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((
                header::RETRY_AFTER,
                HeaderValue::from(UNAVAILABLE_RETRY_AFTER_S),
            ));
        }
        response.json(ErrorBody::new(self.code(), &message, self.param()))
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        if database_outage(&error) {
            tracing::warn!(%error, "database unavailable");
            return Self::Unavailable {
                message: DATABASE_OUTAGE_MESSAGE.into(),
            };
        }
        match error {
            Error::NotFound => Self::NotFound {
                resource: "resource",
            },
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::Conflict {
                code: "already_exists",
                message: "a resource with these values already exists".into(),
            },
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => Self::Unavailable {
                message: "the database was busy; try again".into(),
            },
            other => Self::Internal(other.into()),
        }
    }
}

/// Seconds a 503 asks the client to wait (`Retry-After`): a lost connection is
/// replaced and a lock is released within about that.
pub const UNAVAILABLE_RETRY_AFTER_S: u64 = 1;

const DATABASE_OUTAGE_MESSAGE: &str = "the database is not available right now; try again";

/// What the database says when it is locked, unreachable or going away, in
/// lower case. SQLite: its write lock held past `database.busy_timeout_ms`
/// (`SQLITE_BUSY`, `SQLITE_LOCKED`). PostgreSQL: the backend terminated
/// (`57P01`..`57P03`: administrator command, crash, shutdown) or the socket
/// lost; libpq gives no SQLSTATE for the latter, only these messages.
const OUTAGE_MESSAGES: &[&str] = &[
    "database is locked",
    "database table is locked",
    "database schema is locked",
    "terminating connection",
    "server closed the connection",
    "connection to server",
    "no connection to the server",
    "could not receive data from server",
    "could not send data to server",
    "ssl connection has been closed",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "connection timed out",
    "connection refused",
    "broken pipe",
    "connection reset",
];

/// Whether `error` means the database is unreachable or locked now (answered
/// 503, for the client to retry), not that the query or the data is wrong.
pub fn database_outage(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        // A rollback that failed because the connection had gone; the pool
        // discards the connection.
        | Error::BrokenTransactionManager => true,
        Error::DatabaseError(_, info) => {
            let message = info.message().to_ascii_lowercase();
            OUTAGE_MESSAGES.iter().any(|known| message.contains(known))
        }
        Error::RollbackErrorOnCommit { commit_error, .. } => database_outage(commit_error),
        _ => false,
    }
}

/// Whether a database outage ([`database_outage`], or no pooled connection)
/// is anywhere in the chain of `cause`.
fn database_outage_in(cause: &anyhow::Error) -> bool {
    cause.chain().any(|source| {
        source
            .downcast_ref::<diesel::result::Error>()
            .is_some_and(database_outage)
            || source.is::<r2d2::Error>()
    })
}

impl From<r2d2::Error> for AppError {
    fn from(error: r2d2::Error) -> Self {
        tracing::warn!(%error, "no database connection available");
        Self::Unavailable {
            message: "the database is not reachable right now; try again".into(),
        }
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::Internal(anyhow::anyhow!("blocking task failed: {error}"))
    }
}

impl From<MoneyError> for AppError {
    fn from(error: MoneyError) -> Self {
        Self::unprocessable(error.code(), error.to_string(), None)
    }
}
