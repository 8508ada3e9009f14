//! `JsonBody<T>`: the JSON request extractor every handler uses.
//!
//! It replaces actix's `web::Json` so that every way a body can be wrong —
//! wrong content type, too large, not JSON, wrong shape — is answered in the
//! API's error shape, with the path of the offending field in `param`
//! (`lines[0].quantity`), which actix's extractor cannot report.
//!
//! Extraction itself never fails: the extractor reads the body (never past the
//! limit) and keeps the outcome, and the handler asks for it with
//! [`JsonBody::into_inner`] once it has authenticated (the `Caller` extractor)
//! and authorised the caller. So a request without valid credentials is a 401
//! and one from a role that may not call the endpoint a 403, whatever its body,
//! and the schema's field names are told only to callers who may use it.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// The largest body the extractor reads, set once in app data from `server.body_bytes_max`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Used when no [`BodyLimit`] is registered (64 KiB, the configured default).
pub(crate) const BODY_BYTES_MAX_DEFAULT: usize = 64 * 1024;

/// A JSON request body deserialized into `T`, or why it could not be.
///
/// Handlers call [`JsonBody::into_inner`] after their role checks: the
/// extractor defers every body error to that call.
#[derive(Debug)]
pub struct JsonBody<T>(Result<T, AppError>);

/// Reads a whole body of at most `limit` bytes.
///
/// # Errors
/// 413 `body_too_large` past the limit; 400 `unreadable_body` when the
/// connection fails mid-body.
pub(crate) async fn read_body(
    payload: &mut Payload,
    limit: usize,
) -> Result<actix_web::web::Bytes, AppError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            AppError::bad_request(
                "unreadable_body",
                format!("the body could not be read: {e}"),
                None,
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge { limit_bytes: limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

impl<T> JsonBody<T> {
    /// The deserialized value. Call it only after authorising the caller.
    ///
    /// # Errors
    /// What the body was refused for: 415 `unsupported_media_type` for a
    /// content type that is not JSON, 413 `body_too_large` past the limit, 400
    /// `unreadable_body` or `malformed_json`, 422 for JSON of the wrong shape
    /// (see [`parse`]).
    pub fn into_inner(self) -> Result<T, AppError> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .map_or(BODY_BYTES_MAX_DEFAULT, |limit| limit.0);
        let content_type_ok = is_json_content_type(req);
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            // Never an extraction error: the handler authenticates and
            // authorises first, then reads this outcome.
            let outcome = async {
                if !content_type_ok {
                    return Err(AppError::UnsupportedMediaType {
                        message: "send the body as JSON with Content-Type: application/json".into(),
                    });
                }
                if declared_length.is_some_and(|length| length > limit) {
                    return Err(AppError::PayloadTooLarge { limit_bytes: limit });
                }
                let body = read_body(&mut payload, limit).await?;
                parse(&body)
            }
            .await;
            Ok(JsonBody(outcome))
        })
    }
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserializes `body`, naming the offending field on failure.
///
/// # Errors
/// 400 `malformed_json` for bytes that are not JSON; 422 `missing_field`,
/// `unknown_field`, `invalid_type` or `invalid_value` for JSON of the wrong shape;
/// 422 `invalid_value` naming the field for a string holding a NUL (400
/// `invalid_text` when a key does).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    // serde_json takes "\u0000" in a string; PostgreSQL cannot store it, and no
    // field of ours needs it.
    if let Some(error) = json_nul_error(body) {
        return Err(error);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        shape_error(error.inner(), &path)
    })?;
    deserializer
        .end()
        .map_err(|error| shape_error(&error, "."))?;
    Ok(value)
}

fn shape_error(error: &serde_json::Error, path: &str) -> AppError {
    use serde_json::error::Category;
    let message = error.to_string();
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            let message = if message.starts_with("EOF while parsing a value at line 1 column 0") {
                "the request body is empty; send a JSON object".to_owned()
            } else {
                format!("the body is not valid JSON: {message}")
            };
            AppError::bad_request("malformed_json", message, None)
        }
        Category::Data => {
            let named = backticked(&message);
            let (code, param) = if message.starts_with("missing field") {
                ("missing_field", join_path(path, named))
            } else if message.starts_with("unknown field") {
                // The path already ends at the unknown key when it is nested.
                let param = if path == "." {
                    named.map(str::to_owned)
                } else {
                    Some(path.to_owned())
                };
                ("unknown_field", param)
            } else if message.starts_with("invalid type") || message.starts_with("invalid length") {
                ("invalid_type", non_root(path))
            } else {
                ("invalid_value", non_root(path))
            };
            AppError::unprocessable(code, message, param)
        }
    }
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

fn join_path(path: &str, field: Option<&str>) -> Option<String> {
    match (path, field) {
        (".", field) => field.map(str::to_owned),
        (path, Some(field)) => Some(format!("{path}.{field}")),
        (path, None) => Some(path.to_owned()),
    }
}

fn non_root(path: &str) -> Option<String> {
    (path != ".").then(|| path.to_owned())
}

/// Whether `body`, a JSON document, escapes a NUL in a string (`"\u0000"`).
/// JSON cannot hold one unescaped: serde_json refuses raw control characters
/// in strings. Scans bytes only.
pub fn json_escaped_nul(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            i += 1;
            continue;
        }
        if body.get(i + 1) == Some(&b'u') {
            if body.get(i + 2..i + 6) == Some(&b"0000"[..]) {
                return true;
            }
            i += 6;
        } else {
            // Any other escape is two bytes (`\\`, `\"`, `\n`, …).
            i += 2;
        }
    }
    false
}

/// Where in a JSON document the first string or key holding a NUL is
/// (`lines[0].name`, `.` for the root) and whether a key holds it; `None`
/// when none does.
pub fn json_nul_path(value: &serde_json::Value) -> Option<(String, bool)> {
    fn join(path: &str, key: &str) -> String {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    }
    fn walk(value: &serde_json::Value, path: &str) -> Option<(String, bool)> {
        match value {
            serde_json::Value::String(text) => {
                text.contains('\0').then(|| (path.to_owned(), false))
            }
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &format!("{path}[{i}]"))),
            serde_json::Value::Object(fields) => fields.iter().find_map(|(key, field)| {
                if key.contains('\0') {
                    Some((path.to_owned(), true))
                } else {
                    walk(field, &join(path, key))
                }
            }),
            _ => None,
        }
    }
    walk(value, "").map(|(path, in_key)| {
        if path.is_empty() {
            (".".to_owned(), in_key)
        } else {
            (path, in_key)
        }
    })
}

/// The error for a JSON body with a NUL in a string, which no field takes
/// (PostgreSQL cannot store one; other control characters are each display
/// field's to refuse, with its own code): 422 `invalid_value` naming the field
/// when a value holds it, 400 `invalid_text` when a key (or the body as a
/// whole) does.
pub fn json_nul_error(body: &[u8]) -> Option<AppError> {
    if !json_escaped_nul(body) {
        return None;
    }
    // Rare, so parsed a second time to find where: not JSON is left to the parser.
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let (path, in_key) = json_nul_path(&value)?;
    Some(if in_key || path == "." {
        AppError::bad_request(
            "invalid_text",
            "the body holds a NUL character (U+0000)",
            None,
        )
    } else {
        AppError::unprocessable(
            "invalid_value",
            format!("{path} must not contain a NUL character (U+0000)"),
            Some(path),
        )
    })
}

/// Serializes a stored row as the shape answers show it (its `json()`), and
/// describes it in the OpenAPI document by that shape, so the two cannot differ.
macro_rules! answered_as {
    ($row:ty => $answer:ident) => {
        impl serde::Serialize for $row {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let answer = self.json().map_err(serde::ser::Error::custom)?;
                serde::Serialize::serialize(&answer, serializer)
            }
        }

        impl utoipa::PartialSchema for $row {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <$answer<'static> as utoipa::PartialSchema>::schema()
            }
        }

        impl utoipa::ToSchema for $row {
            fn name() -> std::borrow::Cow<'static, str> {
                <$answer<'static> as utoipa::ToSchema>::name()
            }

            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                <$answer<'static> as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use answered_as;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_nuls_are_found_in_strings_and_keys_not_in_escaped_backslashes() {
        assert!(json_escaped_nul(br#"{"a": "x\u0000"}"#));
        assert!(!json_escaped_nul(br#"{"a": "x\\u0000"}"#));
        assert!(!json_escaped_nul(
            br#"{"a": "x\u0007 \u000A \t \u00e9 \\"}"#
        ));
        let error = json_nul_error(br#"{"lines": [{"name": "ok"}, {"name": "x\u0000"}]}"#)
            .expect("refused");
        assert_eq!(
            (error.code(), error.param()),
            ("invalid_value", Some("lines[1].name"))
        );
        let error = json_nul_error(br#"{"shipping": {"c\u0000": "x"}}"#).expect("refused");
        assert_eq!((error.code(), error.param()), ("invalid_text", None));
        assert!(
            json_nul_error(br#"{"a": "\u0000"#).is_none(),
            "left to the parser"
        );
    }
}
