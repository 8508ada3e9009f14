//! `bazaar config`: the merged settings written back as TOML, with the same
//! sections and keys as `config/default.toml`, secrets redacted.
//!
//! The layers are written as merged (the file's own units: `workers = 0`, not
//! "one per core"), after validation has accepted them, so the output is a
//! valid settings file to start from.

use config::{Value, ValueKind};

use super::{ConfigError, EMBEDDED_DEFAULTS, SECRET_KEYS};

/// What a secret value is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Writes `merged` (the layered configuration) as TOML: sections and keys in
/// the order of `config/default.toml`, keys it lacks (secrets, `*_file`) last,
/// each secret's value and any password in a URL replaced by [`REDACTED`].
///
/// # Errors
/// The layers do not have the expected shape (a section that is not a table).
pub fn to_toml(merged: config::Config) -> Result<String, ConfigError> {
    let table: config::Map<String, Value> = merged
        .try_deserialize()
        .map_err(|e| ConfigError::Source(e.to_string()))?;
    let order = default_order();
    let mut sections: Vec<(&String, &Value)> = table.iter().collect();
    sections.sort_by_key(|(name, _)| rank(&order, name, None));
    let mut out = String::new();
    for (section, value) in sections {
        let ValueKind::Table(keys) = &value.kind else {
            return Err(ConfigError::Source(format!(
                "configuration: `{section}` is not a section"
            )));
        };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("[{}]\n", bare_or_quoted(section)));
        let mut keys: Vec<(&String, &Value)> = keys.iter().collect();
        keys.sort_by_key(|(key, _)| rank(&order, section, Some(key)));
        for (key, value) in keys {
            let dotted = format!("{section}.{key}");
            let written = if is_secret(&dotted) && !matches!(value.kind, ValueKind::Nil) {
                quoted(REDACTED)
            } else {
                literal(value)
            };
            out.push_str(&format!("{} = {written}\n", bare_or_quoted(key)));
        }
    }
    Ok(out)
}

/// A key whose value is never printed (their `*_file` paths are shown).
fn is_secret(dotted: &str) -> bool {
    SECRET_KEYS.contains(&dotted)
}

/// Sections and their keys in the order `config/default.toml` lists them.
fn default_order() -> Vec<(String, Option<String>)> {
    let mut order = Vec::new();
    let mut section = String::new();
    for line in EMBEDDED_DEFAULTS.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            order.push((section.clone(), None));
        } else if let Some((key, _)) = line.split_once('=') {
            if !line.starts_with('#') {
                order.push((section.clone(), Some(key.trim().to_owned())));
            }
        }
    }
    order
}

/// Where a section (or one of its keys) comes: its place in the defaults, or
/// after them in name order.
fn rank(
    order: &[(String, Option<String>)],
    section: &str,
    key: Option<&String>,
) -> (usize, String) {
    let place = order
        .iter()
        .position(|(s, k)| s == section && k.as_ref() == key)
        .unwrap_or(usize::MAX);
    (place, key.map_or_else(|| section.to_owned(), Clone::clone))
}

fn literal(value: &Value) -> String {
    match &value.kind {
        // TOML has no null: an unset optional key is written empty, as the files do.
        ValueKind::Nil => quoted(""),
        ValueKind::Boolean(b) => b.to_string(),
        ValueKind::I64(n) => n.to_string(),
        ValueKind::I128(n) => n.to_string(),
        ValueKind::U64(n) => n.to_string(),
        ValueKind::U128(n) => n.to_string(),
        ValueKind::Float(f) if f.is_finite() && f.fract() == 0.0 => format!("{f:.1}"),
        ValueKind::Float(f) => f.to_string(),
        ValueKind::String(s) => quoted(&redact_url_password(s)),
        ValueKind::Array(items) => {
            let items: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Table(entries) => {
            let mut entries: Vec<(&String, &Value)> = entries.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let entries: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{} = {}", bare_or_quoted(k), literal(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
    }
}

/// `scheme://user:password@host/…` → `scheme://user:<redacted>@host/…`, and a
/// `password=` query parameter likewise; anything else is returned as is.
pub fn redact_url_password(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{REDACTED}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn bare_or_quoted(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_owned()
    } else {
        quoted(key)
    }
}

/// A TOML basic string.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url_password;

    #[test]
    fn only_the_password_of_a_url_is_redacted() {
        assert_eq!(
            redact_url_password("postgres://bazaar:hunter2@db.internal:5432/bazaar"),
            "postgres://bazaar:<redacted>@db.internal:5432/bazaar"
        );
        assert_eq!(
            redact_url_password("postgres://bazaar@db/bazaar?password=hunter2&sslmode=require"),
            "postgres://bazaar@db/bazaar?password=<redacted>&sslmode=require"
        );
        assert_eq!(
            redact_url_password("sqlite://data/bazaar.db"),
            "sqlite://data/bazaar.db"
        );
        assert_eq!(
            redact_url_password("https://api.stripe.com"),
            "https://api.stripe.com"
        );
    }
}
