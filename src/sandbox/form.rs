//! Decoding of Stripe-style form bodies and query strings into a JSON tree.
//!
//! `a[b][c]=v` nests objects, `a[]=x&a[]=y` appends to an array and `a[0]=x&a[1]=y`
//! (what serde_qs and the official libraries send) becomes an array too, as long as the
//! indices are exactly `0..n`. Every leaf is a string: typing is the endpoint's business.
//! The decoder never panics and bounds everything it allocates.

use serde_json::{Map, Value};

/// Largest body or query string accepted, in bytes.
pub const FORM_BYTES_MAX: usize = 256 * 1024;
/// Most `key=value` pairs in one request.
pub const FORM_PAIRS_MAX: usize = 2_000;
/// Deepest nesting of `[…]` segments after the top-level key.
pub const FORM_DEPTH_MAX: usize = 8;
/// Longest key (after percent-decoding), in bytes.
pub const FORM_KEY_BYTES_MAX: usize = 512;
/// Most elements in one array, whichever syntax built it.
pub const FORM_ARRAY_LEN_MAX: usize = 1_000;

/// Why a form could not be decoded; the message is shown to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The input is larger than [`FORM_BYTES_MAX`].
    #[error("request body is too large (at most {FORM_BYTES_MAX} bytes)")]
    TooLarge,
    /// More than [`FORM_PAIRS_MAX`] pairs.
    #[error("too many parameters (at most {FORM_PAIRS_MAX})")]
    TooManyPairs,
    /// A key nests deeper than [`FORM_DEPTH_MAX`] or is longer than [`FORM_KEY_BYTES_MAX`].
    #[error("parameter name too long or nested too deeply: {0}")]
    KeyTooComplex(String),
    /// A key is syntactically broken (unbalanced brackets, empty name).
    #[error("invalid parameter name: {0}")]
    BadKey(String),
    /// The same key is used both as a value and as a container, or as both kinds of container.
    #[error("conflicting values for parameter: {0}")]
    Conflict(String),
    /// An array grew past [`FORM_ARRAY_LEN_MAX`].
    #[error("array too long: {0}")]
    ArrayTooLong(String),
    /// The input is not valid UTF-8 after percent-decoding.
    #[error("request is not valid UTF-8")]
    NotUtf8,
}

/// Decodes `application/x-www-form-urlencoded` bytes into an object tree.
pub fn decode(input: &[u8]) -> Result<Value, FormError> {
    if input.len() > FORM_BYTES_MAX {
        return Err(FormError::TooLarge);
    }
    let mut root = Map::new();
    let mut pairs = 0usize;
    for pair in input.split(|b| *b == b'&') {
        if pair.is_empty() {
            continue;
        }
        pairs += 1;
        if pairs > FORM_PAIRS_MAX {
            return Err(FormError::TooManyPairs);
        }
        let (raw_key, raw_value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let key = percent_decode(raw_key)?;
        let value = percent_decode(raw_value)?;
        if key.is_empty() {
            continue;
        }
        if key.len() > FORM_KEY_BYTES_MAX {
            return Err(FormError::KeyTooComplex(truncate(&key)));
        }
        let path = split_key(&key)?;
        insert(&mut root, &path, value, &key)?;
    }
    // Only the values: a body of `0=a&1=b` names parameters "0" and "1" (which
    // the endpoint refuses as unknown), it is not a list of anonymous values.
    for value in root.values_mut() {
        normalize(value);
    }
    Ok(Value::Object(root))
}

/// One segment of a parsed key: a name, or `[]` (append).
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Name(String),
    Append,
}

fn split_key(key: &str) -> Result<Vec<Segment>, FormError> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(FormError::BadKey(truncate(key)));
    }
    let mut path = vec![Segment::Name(head.to_owned())];
    while !rest.is_empty() {
        if !rest.starts_with('[') {
            return Err(FormError::BadKey(truncate(key)));
        }
        let close = rest
            .find(']')
            .ok_or_else(|| FormError::BadKey(truncate(key)))?;
        let inner = &rest[1..close];
        if inner.contains('[') {
            return Err(FormError::BadKey(truncate(key)));
        }
        path.push(if inner.is_empty() {
            Segment::Append
        } else {
            Segment::Name(inner.to_owned())
        });
        if path.len() > FORM_DEPTH_MAX + 1 {
            return Err(FormError::KeyTooComplex(truncate(key)));
        }
        rest = &rest[close + 1..];
    }
    Ok(path)
}

fn insert(
    obj: &mut Map<String, Value>,
    path: &[Segment],
    value: String,
    key: &str,
) -> Result<(), FormError> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    let name = match first {
        Segment::Name(n) => n.clone(),
        // `[]` directly inside an object has no name to append to.
        Segment::Append => return Err(FormError::BadKey(truncate(key))),
    };
    if rest.is_empty() {
        match obj.get(&name) {
            Some(Value::Object(_)) | Some(Value::Array(_)) => {
                return Err(FormError::Conflict(truncate(key)))
            }
            // Repeated scalars: the last one wins, as in Rails and serde_qs.
            _ => {
                obj.insert(name, Value::String(value));
            }
        }
        return Ok(());
    }
    let appending = matches!(rest.first(), Some(Segment::Append));
    let slot = obj.entry(name).or_insert_with(|| {
        if appending {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        }
    });
    match (slot, appending) {
        (Value::Array(items), true) => {
            if items.len() >= FORM_ARRAY_LEN_MAX {
                return Err(FormError::ArrayTooLong(truncate(key)));
            }
            let after = &rest[1..];
            if after.is_empty() {
                items.push(Value::String(value));
            } else {
                // `a[][b]=x`: each such pair starts a new element.
                let mut element = Map::new();
                insert(&mut element, after, value, key)?;
                items.push(Value::Object(element));
            }
            Ok(())
        }
        (Value::Object(inner), false) => {
            if inner.len() >= FORM_PAIRS_MAX {
                return Err(FormError::TooManyPairs);
            }
            insert(inner, rest, value, key)
        }
        _ => Err(FormError::Conflict(truncate(key))),
    }
}

/// Turns objects whose keys are exactly `0..n` into arrays, bottom-up.
fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                normalize(v);
            }
            if let Some(items) = as_indexed(map) {
                *value = Value::Array(items);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn as_indexed(map: &mut Map<String, Value>) -> Option<Vec<Value>> {
    if map.is_empty() || map.len() > FORM_ARRAY_LEN_MAX {
        return None;
    }
    let mut indexed: Vec<(usize, String)> = Vec::with_capacity(map.len());
    for k in map.keys() {
        let canonical = !k.is_empty()
            && k.len() <= 4
            && k.bytes().all(|b| b.is_ascii_digit())
            && (k == "0" || !k.starts_with('0'));
        if !canonical {
            return None;
        }
        indexed.push((k.parse().ok()?, k.clone()));
    }
    indexed.sort();
    if indexed.iter().enumerate().any(|(i, (n, _))| i != *n) {
        return None;
    }
    Some(
        indexed
            .into_iter()
            .filter_map(|(_, k)| map.remove(&k))
            .collect(),
    )
}

/// Percent-decoding with `+` as space; a malformed escape is kept literally, as browsers do.
pub fn percent_decode(input: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex_val(input[i + 1]), hex_val(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Percent-encodes a string for use in a form body or query (the inverse of [`percent_decode`]).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_arrays_and_escapes() {
        let v = decode(
            b"amount=100&metadata[order]=o%201&a[]=x&a[]=y&expand[0]=b&expand[1]=c&n=a+b&e=",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"amount":"100","metadata":{"order":"o 1"},"a":["x","y"],"expand":["b","c"],"n":"a b","e":""})
        );
    }

    #[test]
    fn encoded_brackets_and_objects_in_arrays() {
        let v =
            decode(b"items%5B0%5D%5Bprice%5D=p&items%5B0%5D%5Bq%5D=2&items[1][price]=r").unwrap();
        assert_eq!(v, json!({"items":[{"price":"p","q":"2"},{"price":"r"}]}));
        let v = decode(b"metadata[5]=x").unwrap();
        assert_eq!(v, json!({"metadata":{"5":"x"}}));
        // Found by fuzzing: top-level index-like names once made the whole body an
        // array, which the endpoints read as no parameters at all.
        assert_eq!(decode(b"0").unwrap(), json!({"0": ""}));
        assert_eq!(decode(b"0=x&1=y").unwrap(), json!({"0": "x", "1": "y"}));
    }

    #[test]
    fn limits_and_garbage() {
        assert!(matches!(decode(b"a=1&a[b]=2"), Err(FormError::Conflict(_))));
        assert!(matches!(decode(b"a[=1"), Err(FormError::BadKey(_))));
        assert!(matches!(decode(b"[x]=1"), Err(FormError::BadKey(_))));
        let deep = format!("a{}=1", "[x]".repeat(FORM_DEPTH_MAX + 1));
        assert!(matches!(
            decode(deep.as_bytes()),
            Err(FormError::KeyTooComplex(_))
        ));
        assert_eq!(
            decode(&vec![b'a'; FORM_BYTES_MAX + 1]),
            Err(FormError::TooLarge)
        );
        assert_eq!(decode(b"a=%FF"), Err(FormError::NotUtf8));
        assert_eq!(decode(b"a=%zz%4").unwrap(), json!({"a":"%zz%4"}));
        for input in [
            &b"%"[..],
            b"&&&",
            b"=",
            b"a]=1",
            b"a[b]c=1",
            b"a[][]=1",
            b"\xff\x00[",
            b"a[0]=1&a[]=2",
        ] {
            let _ = decode(input);
        }
    }
}
