//! The API's OpenAPI 3.1 document, served at `GET /openapi.json`.
//!
//! Each module describes its own operations (`#[utoipa::path]` on the
//! handlers, `ToSchema` on the bodies) and hands that part to
//! [`crate::http::routes::Api::describe`] beside the routes it mounts. This
//! module adds what every operation shares, so no handler repeats it:
//! the error shape, the bearer schemes, and — from each operation's
//! `x-roles` — its security and the error answers its inputs can give.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{OpenApi as _, PartialSchema, ToSchema};

use crate::error::{AppError, ErrorBody};

/// The `x-roles` value of an operation anyone may call, signed in or not.
pub const ANYONE: &str = "anyone";

/// The security scheme of session tokens (`bzs_…`, from `POST /v1/sessions`).
pub const SESSION_SCHEME: &str = "session";

/// The security scheme of API keys (`bzk_<prefix>_<secret>`).
pub const API_KEY_SCHEME: &str = "api_key";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Bazaar",
        description = "A multi-party marketplace payments core. Every error is \
            `{\"error\": {\"code\", \"message\", \"param\"}}` (schema `ErrorBody`); \
            `x-roles` on each operation lists the roles it admits (operators pass everywhere).",
    ),
    components(schemas(ErrorBody, crate::error::ErrorDetail))
)]
struct BaseDoc;

#[derive(utoipa::OpenApi)]
#[openapi(paths(openapi_json))]
struct MetaDoc;

/// The whole document: every module's part (`parts`, the route table's
/// document, which the application hands in so this module never imports it
/// back), the shared components and what [`shared_answers`] adds to each
/// operation.
pub fn document(parts: OpenApi) -> OpenApi {
    let mut document = BaseDoc::openapi();
    document.merge(parts);
    // `merge` keeps the base's info; the crate's version is the API's.
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let components = document.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        SESSION_SCHEME.to_owned(),
        bearer(
            "bzs_…",
            "A session token from POST /v1/sessions; expires after auth.session_ttl_s (staff: auth.staff_session_ttl_s).",
        ),
    );
    components.security_schemes.insert(
        API_KEY_SCHEME.to_owned(),
        bearer(
            "bzk_<prefix>_<secret>",
            "An API key from POST /v1/api_keys, for server-to-server calls.",
        ),
    );
    for (name, response) in shared_responses() {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response));
    }
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            shared_answers(operation);
        }
    }
    document
}

fn bearer(format: &str, description: &str) -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format(format)
            .description(Some(description))
            .build(),
    )
}

/// The reusable error answers: (component name, status, what it means).
const SHARED: &[(&str, u16, &str)] = &[
    ("BadRequest", 400, "`malformed_json` (the body is not JSON), `unreadable_body`, `invalid_query` (`param` names the parameter), or `invalid_text`: a path segment, query parameter or form field that is not UTF-8 or holds a control character or a noncharacter (`param` is `path` or the parameter)"),
    ("Unauthenticated", 401, "`unauthenticated`: no bearer token, or one that is unknown, expired or revoked"),
    ("Forbidden", 403, "`forbidden` (the role does not allow this) or `totp_enrollment_required` (staff without a second factor)"),
    ("NotFound", 404, "`not_found`: no such resource, or not one the caller may see"),
    ("RequestTimeout", 408, "`request_timeout`: the body did not arrive within `server.body_timeout_ms`; the connection is closed"),
    ("PayloadTooLarge", 413, "`body_too_large`: over `server.body_bytes_max`"),
    ("UnsupportedMediaType", 415, "`unsupported_media_type`: the body must be `application/json`"),
    ("Unprocessable", 422, "`missing_field`, `unknown_field`, `invalid_type`, `invalid_value` or a domain code; `param` is the field's path"),
    ("RateLimited", 429, "`rate_limited`; retry after `Retry-After` seconds"),
    ("Internal", 500, "`internal_error`: a bug; quote `X-Request-Id` when reporting it"),
    ("Unavailable", 503, "`service_unavailable`: the database (unreachable, locked or restarting) or the provider is not reachable now; retry after `Retry-After` seconds"),
];

fn shared_responses() -> Vec<(&'static str, Response)> {
    SHARED
        .iter()
        .map(|(name, status, description)| {
            let mut response = ResponseBuilder::new().description(*description).content(
                "application/json",
                Content::new(Some(Ref::from_schema_name(ErrorBody::name()))),
            );
            if matches!(*status, 429 | 503) {
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(u64::schema())
                        .description(Some("seconds"))
                        .build(),
                );
            }
            (*name, response.build())
        })
        .collect()
}

/// The roles of an operation, from its `x-roles` extension.
pub fn roles(operation: &Operation) -> Vec<String> {
    operation
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("x-roles"))
        .and_then(|roles| roles.as_array())
        .map(|roles| {
            roles
                .iter()
                .filter_map(|role| role.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Adds to `operation` what follows from its roles and inputs: the bearer
/// schemes unless anyone may call it, and each shared error answer it can give
/// (an answer the handler documents itself is kept).
fn shared_answers(operation: &mut Operation) {
    let roles = roles(operation);
    let public = roles.iter().any(|role| role == ANYONE);
    let mut statuses = vec![500, 503];
    if !public {
        operation.security = Some(vec![
            SecurityRequirement::new(SESSION_SCHEME, Vec::<String>::new()),
            SecurityRequirement::new(API_KEY_SCHEME, Vec::<String>::new()),
        ]);
        statuses.extend([401, 403]);
    }
    let has_json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.contains_key("application/json"));
    if has_json_body {
        statuses.extend([400, 408, 413, 415, 422]);
    }
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    if parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Path)
    {
        // 400 `invalid_text`: a path segment no text may hold.
        statuses.extend([400, 404]);
    }
    if parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Query)
    {
        statuses.extend([400, 422]);
    }
    for status in statuses {
        let Some((name, ..)) = SHARED.iter().find(|(_, s, _)| *s == status) else {
            continue;
        };
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
    }
    if !roles.is_empty() {
        let line = if public {
            "Roles: anyone, signed in or not.".to_owned()
        } else {
            format!("Roles: {} (operators pass everywhere).", roles.join(", "))
        };
        operation.description = Some(match operation.description.take() {
            Some(description) if !description.is_empty() => format!("{description}\n\n{line}"),
            _ => line,
        });
    }
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
    extensions(("x-roles" = json!([ANYONE]))),
)]
pub async fn openapi_json(rendered: web::Data<RenderedDocument>) -> Result<HttpResponse, AppError> {
    let body = (*rendered.0)
        .as_ref()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering the OpenAPI document: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body.clone()))
}

/// The document as [`openapi_json`] serves it, rendered once by whoever
/// mounts the routes (the routes cannot change while the process runs); a
/// rendering failure is kept to answer 500 with.
#[derive(Debug, Clone)]
pub struct RenderedDocument(Arc<Result<String, String>>);

impl RenderedDocument {
    /// Renders `document` as JSON.
    pub fn render(document: &OpenApi) -> Self {
        Self(Arc::new(document.to_json().map_err(|e| e.to_string())))
    }
}

/// This module's part of the document: its own route.
pub fn part() -> OpenApi {
    MetaDoc::openapi()
}
