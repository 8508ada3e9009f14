//! Text the service refuses, in two layers.
//!
//! - At the edge ([`refuse_unfit_request`], run by a middleware inside
//!   [`super::observe`] before any handler): a percent-decoded path segment, query name or value, or
//!   `application/x-www-form-urlencoded` field that is not UTF-8 (a lone
//!   surrogate `%ED%A0%80` is not), holds a control character or a Unicode
//!   noncharacter is a 400 `invalid_text` naming the parameter (`path` for a
//!   path segment). A NUL would otherwise reach PostgreSQL, which cannot store
//!   it in text and fails the query (a 500). In JSON bodies a NUL (`"\u0000"`)
//!   is refused by [`super::json::parse`] ([`super::json::json_nul_error`]).
//! - In the domain ([`display_text`], [`display_unfit`]): every text shown to
//!   people (shop names, product titles and descriptions, reasons, memos,
//!   addresses) refuses control, format (bidi overrides, zero-width spaces…),
//!   line and paragraph separator characters and noncharacters: they would
//!   hide or reorder text in pages, emails and CSV exports (`Shop <U+202E>gnp.exe`
//!   reads as `Shop exe.png`).

use std::borrow::Cow;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::http::header;
use actix_web::HttpMessage;

use crate::error::AppError;

/// Whether a display text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// A name, title or reason: no line break of any kind.
    Single,
    /// A description: LF line breaks (a CRLF is kept as LF), nothing else.
    Multi,
}

/// Unicode general category Cf (format characters), Unicode 15.1, except
/// U+200C ZERO WIDTH NON-JOINER and U+200D ZERO WIDTH JOINER, which Persian and
/// Indic scripts and emoji sequences (👩‍💻) need, and which neither reorder nor
/// break text. Inclusive ranges, sorted.
const FORMAT_CHARACTERS: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),   // soft hyphen
    (0x0600, 0x0605),   // Arabic number signs
    (0x061C, 0x061C),   // Arabic letter mark (bidi)
    (0x06DD, 0x06DD),   // Arabic end of ayah
    (0x070F, 0x070F),   // Syriac abbreviation mark
    (0x0890, 0x0891),   // Arabic pound and piastre marks above
    (0x08E2, 0x08E2),   // Arabic disputed end of ayah
    (0x180E, 0x180E),   // Mongolian vowel separator
    (0x200B, 0x200B),   // zero width space
    (0x200E, 0x200F),   // left-to-right and right-to-left marks
    (0x202A, 0x202E),   // bidi embeddings and overrides
    (0x2060, 0x2064),   // word joiner, invisible operators
    (0x2066, 0x206F),   // bidi isolates, deprecated format characters
    (0xFEFF, 0xFEFF),   // zero width no-break space (BOM)
    (0xFFF9, 0xFFFB),   // interlinear annotation
    (0x110BD, 0x110BD), // Kaithi number sign
    (0x110CD, 0x110CD), // Kaithi number sign above
    (0x13430, 0x1343F), // Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3), // shorthand format controls
    (0x1D173, 0x1D17A), // musical symbol format controls
    (0xE0001, 0xE0001), // language tag
    (0xE0020, 0xE007F), // tag characters (invisible ASCII)
];

fn is_format(c: char) -> bool {
    let c = u32::from(c);
    FORMAT_CHARACTERS
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+FFFF, …).
pub fn is_noncharacter(c: char) -> bool {
    let c = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&c) || c & 0xFFFE == 0xFFFE
}

/// Whether `c` is refused in a display text: a control (Cc) other than LF in
/// a multi-line text, a format character ([`FORMAT_CHARACTERS`]), U+2028 LINE
/// SEPARATOR, U+2029 PARAGRAPH SEPARATOR, or a noncharacter.
pub fn is_unfit_for_display(c: char, lines: Lines) -> bool {
    if c == '\n' {
        return lines == Lines::Single;
    }
    c.is_control() || is_format(c) || matches!(c, '\u{2028}' | '\u{2029}') || is_noncharacter(c)
}

/// The first character of `value` refused in a display text, if any (a CRLF
/// counts as an LF).
pub fn display_unfit(value: &str, lines: Lines) -> Option<char> {
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && lines == Lines::Multi && chars.peek() == Some(&'\n') {
            continue;
        }
        if is_unfit_for_display(c, lines) {
            return Some(c);
        }
    }
    None
}

/// A message naming the refused character: `U+202E`.
pub fn unfit_message(param: &str, c: char) -> String {
    format!(
        "{param} must not contain control, format (invisible or direction-changing) \
         or line separator characters; found U+{:04X}",
        u32::from(c)
    )
}

/// A display text, checked: trimmed, `min..=max` characters, nothing
/// [`display_unfit`] refuses; a multi-line text's CRLFs become LFs.
///
/// # Errors
/// 422 `invalid_value` naming `param`.
pub fn display_text(
    param: &str,
    value: &str,
    min: usize,
    max: usize,
    lines: Lines,
) -> Result<String, AppError> {
    let invalid =
        |message: String| AppError::unprocessable("invalid_value", message, Some(param.to_owned()));
    let value = value.trim();
    let value = match lines {
        Lines::Multi if value.contains("\r\n") => Cow::Owned(value.replace("\r\n", "\n")),
        _ => Cow::Borrowed(value),
    };
    let chars = value.chars().count();
    if chars < min || chars > max {
        return Err(invalid(format!(
            "{param} must have {min} to {max} characters; it has {chars}"
        )));
    }
    if let Some(c) = display_unfit(&value, lines) {
        return Err(invalid(unfit_message(param, c)));
    }
    Ok(value.into_owned())
}

/// Why a piece of a request is refused at the edge, if it is.
fn edge_unfit(decoded: &[u8], line_breaks: bool) -> Option<String> {
    let Ok(text) = std::str::from_utf8(decoded) else {
        return Some("is not UTF-8 text (a lone surrogate or a stray byte)".to_owned());
    };
    text.chars()
        .find(|&c| {
            let line_break = line_breaks && matches!(c, '\t' | '\n' | '\r');
            (c.is_control() && !line_break) || is_noncharacter(c)
        })
        .map(|c| {
            format!(
                "contains U+{:04X}, which no text here may hold",
                u32::from(c)
            )
        })
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`); an invalid
/// escape is kept as it is, as actix does.
pub fn percent_decode(raw: &str, plus_is_space: bool) -> Cow<'_, [u8]> {
    if plus_is_space && raw.contains('+') {
        let spaced = raw.replace('+', " ");
        return Cow::Owned(percent_encoding::percent_decode_str(&spaced).collect());
    }
    percent_encoding::percent_decode_str(raw).into()
}

fn invalid_text(param: &str, why: &str) -> AppError {
    AppError::bad_request(
        "invalid_text",
        format!("{param} {why}"),
        Some(param.to_owned()),
    )
}

/// The first unfit name or value of `name=value&…` pairs (a query string or a
/// form body), as a 400 naming it.
fn unfit_pairs(pairs: &str, line_breaks: bool) -> Option<AppError> {
    for pair in pairs.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded_name = percent_decode(name, true);
        if let Some(why) = edge_unfit(&decoded_name, false) {
            return Some(invalid_text("a parameter name", &why));
        }
        let name = String::from_utf8_lossy(&decoded_name);
        if let Some(why) = edge_unfit(&percent_decode(value, true), line_breaks) {
            return Some(invalid_text(&name, &why));
        }
    }
    None
}

/// The first unfit path segment or query parameter of a request.
///
/// # Errors
/// 400 `invalid_text` naming `path` or the query parameter.
pub fn check_path_and_query(uri: &actix_web::http::Uri) -> Result<(), AppError> {
    for segment in uri.path().split('/') {
        if let Some(why) = edge_unfit(&percent_decode(segment, false), false) {
            return Err(invalid_text("path", &format!("segment {why}")));
        }
    }
    match uri.query().and_then(|query| unfit_pairs(query, false)) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// A form body's fields (tabs and line breaks allowed: a textarea sends them).
///
/// # Errors
/// 400 `invalid_text` naming the field.
pub fn check_form(body: &[u8]) -> Result<(), AppError> {
    let Ok(body) = std::str::from_utf8(body) else {
        return Err(invalid_text("the form body", "is not UTF-8 text"));
    };
    match unfit_pairs(body, true) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Why a request is refused for unfit text in its path, query or form body
/// (see the module's documentation), before any handler runs; `None` lets it
/// through. A form body is read here and put back for the handler.
pub async fn refuse_unfit_request(req: &mut ServiceRequest) -> Option<AppError> {
    let refused = match check_path_and_query(req.uri()) {
        Err(error) => error,
        Ok(()) if is_form(req) => check_form_body(req).await.err()?,
        Ok(()) => return None,
    };
    tracing::debug!(
        code = refused.code(),
        param = refused.param(),
        "unfit text refused"
    );
    Some(refused)
}

fn is_form(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Reads a form body (at most the JSON body limit: forms are smaller), checks
/// it and puts it back for the handler's extractor.
async fn check_form_body(req: &mut ServiceRequest) -> Result<(), AppError> {
    let limit = req
        .app_data::<super::BodyLimit>()
        .map_or(super::json::BODY_BYTES_MAX_DEFAULT, |limit| limit.0);
    let mut payload = req.take_payload();
    let body = super::json::read_body(&mut payload, limit).await?;
    let checked = check_form(&body);
    req.set_payload(Payload::from(body));
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_text_refuses_invisible_and_direction_changing_characters() {
        for bad in [
            "Shop \u{202E}gnp.exe",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{200B}b",
            "a\u{0}b",
            "a\u{7}b",
            "a\u{85}b",
            "\u{FEFF}a",
            "a\u{2066}b",
            "a\u{00AD}b",
            "a\u{E0041}b",
            "a\u{FFFF}b",
            "a\u{FDD0}b",
            "a\tb",
        ] {
            for lines in [Lines::Single, Lines::Multi] {
                assert!(display_unfit(bad, lines).is_some(), "{bad:?} {lines:?}");
                assert!(display_text("name", bad, 1, 100, lines).is_err());
            }
        }
        assert_eq!(display_unfit("a\nb", Lines::Single), Some('\n'));
        assert_eq!(display_unfit("a\r\nb", Lines::Single), Some('\r'));
        assert_eq!(display_unfit("a\rb", Lines::Multi), Some('\r'));
        assert_eq!(
            display_text("d", " one\r\ntwo\n", 0, 100, Lines::Multi).unwrap(),
            "one\ntwo"
        );
        for good in [
            "Café Ünïcode",
            "東京の店",
            "Shop 🛍️ 👩‍💻 🇫🇷",
            "مغازه‌ی من",
            "Ωμέγα — «quotes» & <tags>",
        ] {
            assert_eq!(display_unfit(good, Lines::Single), None, "{good:?}");
            assert_eq!(
                display_text("name", good, 1, 100, Lines::Single).unwrap(),
                good
            );
        }
        let error = display_text("title", "x\u{202E}y", 1, 10, Lines::Single).unwrap_err();
        assert_eq!(error.code(), "invalid_value");
        assert_eq!(error.param(), Some("title"));
        assert!(error.to_string().contains("U+202E"), "{error}");
    }

    #[test]
    fn the_edge_refuses_nul_controls_bad_utf8_and_noncharacters() {
        let check = |uri: &str| check_path_and_query(&uri.parse().unwrap());
        assert!(check("/v1/shops/shp_1?q=caf%C3%A9+au+lait&limit=10").is_ok());
        assert!(check("/v1/shops/caf%C3%A9%20x%zz").is_ok());
        for bad in [
            "/v1/shops/x%00y",
            "/v1/shops/x%ED%A0%80y",
            "/v1/shops/x%FFy",
            "/v1/shops/x%1By",
            "/v1/shops/x%EF%BF%BFy",
        ] {
            let error = check(bad).unwrap_err();
            assert_eq!(
                (error.code(), error.param()),
                ("invalid_text", Some("path")),
                "{bad}"
            );
        }
        for bad in ["q=%00", "q=a%0Ab", "q=%ED%A0%80", "limit=1&q=%EF%B7%90"] {
            let error = check(&format!("/v1/products?{bad}")).unwrap_err();
            assert_eq!(error.param(), Some("q"), "{bad}");
        }
        assert_eq!(
            check("/v1/products?a%00=1").unwrap_err().param(),
            Some("a parameter name")
        );
        assert!(check_form(b"email=a%40b.c&address=1+Main%0D%0ASt").is_ok());
        assert_eq!(
            check_form(b"email=a%00%40b.c").unwrap_err().param(),
            Some("email")
        );
    }
}
