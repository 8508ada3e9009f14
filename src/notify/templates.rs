//! The email templates (files under `src/notify/templates/`, compiled into the
//! binary) and their rendering: a subject, a text part and an HTML part each.
//!
//! HTML parts are auto-escaped (minijinja escapes every value in a `.html`
//! template), so a shop name or a product title cannot add markup. Subjects
//! are cleaned of control characters, so no value can end the header and start
//! another.

use std::sync::OnceLock;

use minijinja::Environment;

/// Longest subject, in characters (RFC 5322 recommends lines under 78; the
/// encoder folds longer ones, this keeps them readable).
pub const SUBJECT_CHARS_MAX: usize = 150;

/// Each template's three files, by name.
const TEMPLATES: &[(&str, &str, &str, &str)] = &[
    (
        "order_confirmation",
        include_str!("templates/order_confirmation.subject.txt"),
        include_str!("templates/order_confirmation.txt"),
        include_str!("templates/order_confirmation.html"),
    ),
    (
        "seller_new_order",
        include_str!("templates/seller_new_order.subject.txt"),
        include_str!("templates/seller_new_order.txt"),
        include_str!("templates/seller_new_order.html"),
    ),
    (
        "refund_issued",
        include_str!("templates/refund_issued.subject.txt"),
        include_str!("templates/refund_issued.txt"),
        include_str!("templates/refund_issued.html"),
    ),
    (
        "payout_paid",
        include_str!("templates/payout_paid.subject.txt"),
        include_str!("templates/payout_paid.txt"),
        include_str!("templates/payout_paid.html"),
    ),
    (
        "payout_failed",
        include_str!("templates/payout_failed.subject.txt"),
        include_str!("templates/payout_failed.txt"),
        include_str!("templates/payout_failed.html"),
    ),
    (
        "onboarding_incomplete",
        include_str!("templates/onboarding_incomplete.subject.txt"),
        include_str!("templates/onboarding_incomplete.txt"),
        include_str!("templates/onboarding_incomplete.html"),
    ),
    (
        "account_restricted",
        include_str!("templates/account_restricted.subject.txt"),
        include_str!("templates/account_restricted.txt"),
        include_str!("templates/account_restricted.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        // A value the data lacks is a bug in the caller, not an empty string.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template("layout.html", include_str!("templates/layout.html"))
            .expect("layout.html parses");
        for (name, subject, text, html) in TEMPLATES {
            // Names are leaked once per process: the environment keeps
            // `&'static str` names, and there are a fixed handful.
            let named = |ext: &str| -> &'static str { Box::leak(format!("{name}.{ext}").into()) };
            env.add_template(named("subject.txt"), subject)
                .expect("subject template parses");
            env.add_template(named("txt"), text)
                .expect("text template parses");
            env.add_template(named("html"), html)
                .expect("html template parses");
        }
        env
    })
}

fn render(name: &str, data: &serde_json::Value) -> Result<String, minijinja::Error> {
    environment()
        .get_template(name)?
        .render(minijinja::value::Serde(data))
}

/// The subject line: rendered, every control character (CR and LF above all)
/// turned into a space, runs of spaces collapsed, capped in length.
///
/// # Errors
/// The template is unknown or its data lacks a value.
pub fn subject(template: &str, data: &serde_json::Value) -> Result<String, minijinja::Error> {
    let rendered = render(&format!("{template}.subject.txt"), data)?;
    let cleaned: String = rendered
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    Ok(words.join(" ").chars().take(SUBJECT_CHARS_MAX).collect())
}

/// The text and HTML parts.
///
/// # Errors
/// The template is unknown or its data lacks a value.
pub fn bodies(
    template: &str,
    data: &serde_json::Value,
) -> Result<(String, String), minijinja::Error> {
    Ok((
        render(&format!("{template}.txt"), data)?,
        render(&format!("{template}.html"), data)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, ..) in TEMPLATES {
            for ext in ["subject.txt", "txt", "html"] {
                environment()
                    .get_template(&format!("{name}.{ext}"))
                    .unwrap_or_else(|e| panic!("{name}.{ext}: {e}"));
            }
        }
    }

    #[test]
    fn a_subject_cannot_carry_a_header() {
        let data = serde_json::json!({
            "order_id": "ord_1",
            "shop_name": "Evil\r\nBcc: victim@example.com\u{0}",
        });
        let subject = subject("seller_new_order", &data).unwrap();
        assert!(!subject.contains(['\r', '\n', '\u{0}']), "{subject:?}");
        assert!(
            subject.contains("Evil Bcc: victim@example.com"),
            "{subject:?}"
        );
    }

    #[test]
    fn html_parts_escape_values() {
        let data = serde_json::json!({
            "shop_name": "<script>alert(1)</script>",
            "payout_id": "po_1",
            "amount": "1.00 USD",
            "arrival_date": "2026-12-02",
            "failure_code": null,
            "failure_message": null,
            "action": null,
        });
        let (text, html) = bodies("payout_paid", &data).unwrap();
        assert!(text.contains("<script>"), "text parts are plain text");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn missing_data_is_an_error_not_a_blank() {
        assert!(bodies("payout_paid", &serde_json::json!({})).is_err());
    }
}
