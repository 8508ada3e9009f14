//! The wire vocabulary shared by every endpoint: errors in Stripe's format, typed access
//! to decoded form parameters (with unknown-parameter checks) and request authentication.

use serde_json::{json, Map, Value};

/// Longest string accepted for any free-text parameter.
pub const STRING_MAX: usize = 5_000;
/// Most metadata keys on one object, as Stripe allows.
pub const METADATA_KEYS_MAX: usize = 50;
/// Longest metadata key.
pub const METADATA_KEY_MAX: usize = 40;
/// Longest metadata value.
pub const METADATA_VALUE_MAX: usize = 500;
/// Largest amount in minor units (Stripe allows eight digits).
pub const AMOUNT_MAX: i64 = 99_999_999;

/// An error answer: the HTTP status and the body's `error` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status (400, 401, 402, 404, 409, 429).
    pub status: u16,
    /// The `error` object: `type`, `code`, `message`, optional `param` and friends.
    pub error: Map<String, Value>,
}

impl ApiError {
    /// An error of any type and status.
    pub fn new(status: u16, kind: &str, code: &str, message: impl Into<String>) -> Self {
        let mut error = Map::new();
        error.insert("type".into(), json!(kind));
        error.insert("code".into(), json!(code));
        error.insert("message".into(), json!(message.into()));
        Self { status, error }
    }

    /// A 400 `invalid_request_error` with no `code` (Stripe sends some, such as a
    /// refused `expand`, that way).
    pub fn uncoded(message: impl Into<String>) -> Self {
        let mut e = Self::invalid("", message);
        e.error.remove("code");
        e
    }

    /// A 400 `invalid_request_error` about the request as a whole.
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", code, message)
    }

    /// A 400 `invalid_request_error` about one parameter.
    pub fn param(code: &str, param: &str, message: impl Into<String>) -> Self {
        Self::invalid(code, message).with("param", json!(param))
    }

    /// `parameter_missing` for `param`.
    pub fn missing(param: &str) -> Self {
        Self::param(
            "parameter_missing",
            param,
            format!("Missing required param: {param}."),
        )
    }

    /// `parameter_unknown` for `param`.
    pub fn unknown(param: &str) -> Self {
        Self::param(
            "parameter_unknown",
            param,
            format!("Received unknown parameter: {param}"),
        )
    }

    /// A 404 `resource_missing` for an object of `kind` with id `id`.
    pub fn no_such(kind: &str, id: &str, param: Option<&str>) -> Self {
        let e = Self::new(
            404,
            "invalid_request_error",
            "resource_missing",
            format!("No such {kind}: '{id}'"),
        );
        match param {
            Some(p) => e.with("param", json!(p)),
            None => e,
        }
    }

    /// A 401 for a missing or wrong API key.
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "invalid_request_error",
            "api_key_invalid",
            "Invalid API Key provided. Send `Authorization: Bearer <secret key>`.",
        )
    }

    /// A 400 `idempotency_error`.
    pub fn idempotency(message: impl Into<String>) -> Self {
        Self::new(400, "idempotency_error", "idempotency_key_reused", message)
    }

    /// Adds one more field to the `error` object.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.error.insert(key.into(), value);
        self
    }

    /// The same error with another HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The whole response body.
    pub fn body(&self) -> Value {
        json!({ "error": Value::Object(self.error.clone()) })
    }
}

/// The result type of every endpoint.
pub type ApiResult<T> = Result<T, ApiError>;

/// Decoded parameters of one request (or one nested object of it), with typed getters
/// that answer Stripe-format errors naming the full parameter (`business_profile[url]`).
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: Map<String, Value>,
    prefix: String,
}

impl Params {
    /// Wraps a decoded form tree; anything but an object is treated as empty.
    pub fn new(tree: Value) -> Self {
        match tree {
            Value::Object(map) => Self {
                map,
                prefix: String::new(),
            },
            _ => Self::default(),
        }
    }

    /// The decoded tree, for idempotency comparisons.
    pub fn tree(&self) -> Value {
        Value::Object(self.map.clone())
    }

    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}[{key}]", self.prefix)
        }
    }

    /// Refuses any key not in `allowed` (`expand` is always allowed at the top level).
    pub fn allow(&self, allowed: &[&str]) -> ApiResult<()> {
        for key in self.map.keys() {
            let top_level_expand = self.prefix.is_empty() && key == "expand";
            if !top_level_expand && !allowed.contains(&key.as_str()) {
                return Err(ApiError::unknown(&self.name(key)));
            }
        }
        Ok(())
    }

    /// Whether `key` was sent at all.
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// An optional string, at most [`STRING_MAX`] long.
    pub fn str(&self, key: &str) -> ApiResult<Option<String>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= STRING_MAX => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(ApiError::param(
                "parameter_invalid_string",
                &self.name(key),
                format!(
                    "{} is too long (at most {STRING_MAX} characters).",
                    self.name(key)
                ),
            )),
            Some(_) => Err(ApiError::param(
                "parameter_invalid_string",
                &self.name(key),
                format!("Invalid string: {} must be a string.", self.name(key)),
            )),
        }
    }

    /// A required non-empty string.
    pub fn req_str(&self, key: &str) -> ApiResult<String> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(ApiError::param(
                "parameter_invalid_string_empty",
                &self.name(key),
                format!("You passed an empty string for '{}'.", self.name(key)),
            )),
            None => Err(ApiError::missing(&self.name(key))),
        }
    }

    /// An optional string that must be one of `choices`.
    pub fn choice(&self, key: &str, choices: &[&str]) -> ApiResult<Option<String>> {
        match self.str(key)? {
            Some(s) if !choices.contains(&s.as_str()) => Err(ApiError::param(
                "parameter_invalid_string",
                &self.name(key),
                format!(
                    "Invalid {}: must be one of {}",
                    self.name(key),
                    choices.join(", ")
                ),
            )),
            other => Ok(other),
        }
    }

    /// An optional integer.
    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) => s.trim().parse::<i64>().map(Some).map_err(|_| {
                ApiError::param(
                    "parameter_invalid_integer",
                    &self.name(key),
                    format!("Invalid integer: {s}"),
                )
            }),
        }
    }

    /// An optional positive amount in minor units, at most [`AMOUNT_MAX`].
    pub fn amount(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.int(key)? {
            Some(a) if a <= 0 => Err(ApiError::param(
                "parameter_invalid_integer",
                &self.name(key),
                format!("Invalid {}: must be a positive integer.", self.name(key)),
            )),
            Some(a) if a > AMOUNT_MAX => Err(ApiError::param(
                "amount_too_large",
                &self.name(key),
                format!("Amount must be no more than {AMOUNT_MAX}."),
            )),
            other => Ok(other),
        }
    }

    /// A required positive amount.
    pub fn req_amount(&self, key: &str) -> ApiResult<i64> {
        self.amount(key)?
            .ok_or_else(|| ApiError::missing(&self.name(key)))
    }

    /// An optional boolean (`true`/`false`).
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.str(key)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::param(
                "parameter_invalid_boolean",
                &self.name(key),
                format!("Invalid boolean: {other}"),
            )),
        }
    }

    /// An optional nested object.
    pub fn obj(&self, key: &str) -> ApiResult<Option<Params>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Params {
                map: m.clone(),
                prefix: self.name(key),
            })),
            // An empty string unsets a hash in Stripe's API.
            Some(Value::String(s)) if s.is_empty() => Ok(Some(Params {
                map: Map::new(),
                prefix: self.name(key),
            })),
            Some(_) => Err(ApiError::param(
                "parameter_invalid_object",
                &self.name(key),
                format!("Invalid object: {} must be a hash.", self.name(key)),
            )),
        }
    }

    /// An optional list of strings (`a[]=x`, `a[0]=x`, or a single `a=x`).
    pub fn list(&self, key: &str) -> ApiResult<Vec<String>> {
        let bad = || {
            ApiError::param(
                "parameter_invalid_array",
                &self.name(key),
                format!(
                    "Invalid array: {} must be a list of strings.",
                    self.name(key)
                ),
            )
        };
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
                .collect(),
            Some(_) => Err(bad()),
        }
    }

    /// An optional time filter: an integer (exact) or `[gt]`, `[gte]`, `[lt]`, `[lte]`.
    pub fn range(&self, key: &str) -> ApiResult<Option<Range>> {
        if !self.has(key) {
            return Ok(None);
        }
        if let Ok(Some(exact)) = self.int(key) {
            return Ok(Some(Range {
                gte: Some(exact),
                lte: Some(exact),
                ..Range::default()
            }));
        }
        let Some(r) = self.obj(key)? else {
            return Ok(None);
        };
        r.allow(&["gt", "gte", "lt", "lte"])?;
        Ok(Some(Range {
            gt: r.int("gt")?,
            gte: r.int("gte")?,
            lt: r.int("lt")?,
            lte: r.int("lte")?,
        }))
    }

    /// Optional `metadata`: an object of strings within Stripe's limits. An empty value
    /// means "delete this key" and is kept as `""` for [`merge_metadata`].
    pub fn metadata(&self) -> ApiResult<Option<Map<String, Value>>> {
        let name = self.name("metadata");
        let entries: Vec<(String, Value)> = match self.map.get("metadata") {
            None => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(Some(Map::new())),
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            // `metadata[0]=x` decodes to an array; Stripe treats "0" as a key.
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.clone()))
                .collect(),
            Some(_) => {
                return Err(ApiError::param(
                    "parameter_invalid_object",
                    &name,
                    "Invalid metadata: must be a hash of strings.",
                ))
            }
        };
        if entries.len() > METADATA_KEYS_MAX {
            return Err(ApiError::param(
                "parameter_invalid_object",
                &name,
                format!("Metadata can have at most {METADATA_KEYS_MAX} keys."),
            ));
        }
        let mut out = Map::new();
        for (k, v) in entries {
            let Value::String(s) = v else {
                return Err(ApiError::param(
                    "parameter_invalid_string",
                    &format!("{name}[{k}]"),
                    "Metadata values must be strings.",
                ));
            };
            if k.is_empty() || k.chars().count() > METADATA_KEY_MAX {
                return Err(ApiError::param(
                    "parameter_invalid_string",
                    &format!("{name}[{k}]"),
                    format!("Metadata keys must be 1 to {METADATA_KEY_MAX} characters."),
                ));
            }
            if s.chars().count() > METADATA_VALUE_MAX {
                return Err(ApiError::param(
                    "parameter_invalid_string",
                    &format!("{name}[{k}]"),
                    format!("Metadata values can be at most {METADATA_VALUE_MAX} characters."),
                ));
            }
            out.insert(k, Value::String(s));
        }
        Ok(Some(out))
    }
}

/// A time filter of a list endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub gt: Option<i64>,
    pub gte: Option<i64>,
    pub lt: Option<i64>,
    pub lte: Option<i64>,
}

impl Range {
    /// Whether `t` lies within every given bound.
    pub fn contains(&self, t: i64) -> bool {
        self.gt.is_none_or(|b| t > b)
            && self.gte.is_none_or(|b| t >= b)
            && self.lt.is_none_or(|b| t < b)
            && self.lte.is_none_or(|b| t <= b)
    }
}

/// Applies a metadata update the way Stripe does: keys with an empty value are deleted,
/// others set; an empty update clears nothing. Returns the metadata before, if it changed.
pub fn merge_metadata(
    current: &mut Map<String, Value>,
    update: Map<String, Value>,
) -> ApiResult<Option<Map<String, Value>>> {
    let before = current.clone();
    for (k, v) in update {
        if v.as_str() == Some("") {
            current.remove(&k);
        } else {
            current.insert(k, v);
        }
    }
    if current.len() > METADATA_KEYS_MAX {
        *current = before;
        return Err(ApiError::param(
            "parameter_invalid_object",
            "metadata",
            format!("Metadata can have at most {METADATA_KEYS_MAX} keys."),
        ));
    }
    Ok((before != *current).then_some(before))
}

/// Extracts the API key from `Authorization: Bearer <key>` or HTTP Basic with the key as user.
pub fn api_key(authorization: Option<&str>) -> Option<String> {
    let header = authorization?.trim();
    let (scheme, rest) = header.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64_decode(rest.trim())?;
        let text = String::from_utf8(decoded).ok()?;
        let user = text.split(':').next().unwrap_or_default();
        return Some(user.to_owned());
    }
    None
}

/// Compares two keys in time independent of where they first differ.
pub fn keys_match(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for c in input.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer() {
        assert_eq!(
            api_key(Some("Bearer sk_test_x")).as_deref(),
            Some("sk_test_x")
        );
        // "sk_test_x:" in base64
        assert_eq!(
            api_key(Some("Basic c2tfdGVzdF94Og==")).as_deref(),
            Some("sk_test_x")
        );
        assert_eq!(api_key(Some("Token x")), None);
        assert_eq!(api_key(None), None);
    }

    #[test]
    fn unknown_param_is_named() {
        let p = Params::new(serde_json::json!({"a": "1", "b": {"c": "2"}}));
        assert_eq!(p.allow(&["a"]).unwrap_err().error["param"], "b");
        let b = p.obj("b").unwrap().unwrap();
        assert_eq!(b.allow(&[]).unwrap_err().error["param"], "b[c]");
    }
}
