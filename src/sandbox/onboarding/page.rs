//! The onboarding form as HTML. It follows the GOV.UK form patterns (an error
//! summary linking to each field, the message beside the field, labels and
//! hints that say what to enter) and uses no script.

use super::super::accounts::FAILING_BANK_NUMBERS;
use super::{
    FieldError, Known, Values, ROUTING_DIGITS_MAX, ROUTING_DIGITS_MIN, TEST_ACCOUNT, TEST_ROUTING,
    US_ROUTING_DIGITS,
};

/// The form's fields, in page order: `(name, label)`.
const FIELDS: &[(&str, &str)] = &[
    ("business_name", "Business name"),
    ("business_type", "Business type"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("dob", "Date of birth"),
    ("routing_number", "Routing number"),
    ("account_number", "Account number"),
];

/// The onboarding page: the form with `values`, and `errors` if a submission
/// was refused.
pub fn page(known: &Known, values: &Values, errors: &[FieldError]) -> String {
    let error_of = |field: &str| {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    };
    let heading = if known.onboarded {
        "Update your account details"
    } else {
        "Set up your account"
    };
    let mut html = String::with_capacity(8_192);
    html.push_str(&head(&format!(
        "{}{heading} - Sandbox provider",
        if errors.is_empty() { "" } else { "Error: " }
    )));
    html.push_str(&format!(
        "<p class=\"caption\">Sandbox provider &middot; account <code>{}</code></p>\
         <h1>{heading}</h1>\
         <p>This page stands in for the payment provider's hosted onboarding. \
         Nothing entered here leaves this machine.</p>",
        escape(&known.account)
    ));
    if !errors.is_empty() {
        html.push_str(
            "<div class=\"error-summary\" tabindex=\"-1\" autofocus>\
             <h2 id=\"error-summary-title\">There is a problem</h2><ul>",
        );
        for e in errors {
            html.push_str(&format!(
                "<li><a href=\"#{}\">{}</a></li>",
                e.field,
                escape(&e.message)
            ));
        }
        html.push_str("</ul></div>");
    }
    if let (Some((code, reason)), Some((_, last4))) = (known.bank_failure, &known.bank) {
        html.push_str(&format!(
            "<div class=\"notice\"><h2>Payouts are paused</h2>\
             <p>A payout to the bank account ending {} failed (<code>{}</code>): {} \
             Enter a different bank account to restart payouts.</p></div>",
            escape(last4),
            escape(code),
            escape(reason)
        ));
    }
    html.push_str("<form method=\"post\"><h2>Business</h2>");
    html.push_str(&text_input(
        "business_name",
        None,
        values,
        error_of("business_name"),
        "autocomplete=\"organization\"",
    ));
    html.push_str(&business_type(values, error_of("business_type")));
    html.push_str("<h2>Representative</h2>");
    html.push_str(&text_input(
        "first_name",
        None,
        values,
        error_of("first_name"),
        "autocomplete=\"given-name\"",
    ));
    html.push_str(&text_input(
        "last_name",
        None,
        values,
        error_of("last_name"),
        "autocomplete=\"family-name\"",
    ));
    html.push_str(&text_input(
        "dob",
        Some("Year-month-day, for example 1990-04-27. The representative must be 18 or older."),
        values,
        error_of("dob"),
        "autocomplete=\"bday\"",
    ));
    html.push_str("<h2>Bank account</h2>");
    html.push_str(&text_input(
        "routing_number",
        Some(&if known.country == "US" {
            format!("{US_ROUTING_DIGITS} digits. Test routing number: {TEST_ROUTING}.")
        } else {
            format!("Your bank's code, {ROUTING_DIGITS_MIN} to {ROUTING_DIGITS_MAX} digits.")
        }),
        values,
        error_of("routing_number"),
        "inputmode=\"numeric\" autocomplete=\"off\"",
    ));
    let account_hint = match &known.bank {
        Some((_, last4)) if known.bank_failure.is_none() => format!(
            "Leave blank to keep the account ending {}. Test account number that pays out: {TEST_ACCOUNT}.",
            escape(last4)
        ),
        _ => format!("Test account number that pays out: {TEST_ACCOUNT}."),
    };
    html.push_str(&text_input(
        "account_number",
        Some(&account_hint),
        values,
        error_of("account_number"),
        "inputmode=\"numeric\" autocomplete=\"off\"",
    ));
    html.push_str(
        "<details><summary>Test account numbers whose payouts fail</summary>\
         <table><caption>Payouts to these account numbers fail with the code shown</caption>\
         <thead><tr><th scope=\"col\">Account number</th><th scope=\"col\">Failure code</th>\
         <th scope=\"col\">What the bank says</th></tr></thead><tbody>",
    );
    for (number, code, reason) in FAILING_BANK_NUMBERS {
        html.push_str(&format!(
            "<tr><td><code>{number}</code></td><td><code>{code}</code></td><td>{}</td></tr>",
            escape(reason)
        ));
    }
    html.push_str(
        "</tbody></table></details>\
         <button type=\"submit\">Save and continue</button></form></main></body></html>",
    );
    html
}

/// The page for a link that cannot be used (no `refresh_url` to send the user to).
pub fn gone_page() -> String {
    notice_page(
        "This link has expired or was already used",
        "Onboarding links work once, for a few minutes. Go back to the marketplace and ask for a new one.",
    )
}

/// The page after a submission through a link without a `return_url`.
pub fn done_page() -> String {
    notice_page(
        "Onboarding complete",
        "Your details are saved. You can go back to the marketplace.",
    )
}

/// The page for a body that is not a form at all.
pub fn unreadable_page() -> String {
    notice_page(
        "The form could not be read",
        "Go back to the form and submit it again.",
    )
}

fn notice_page(heading: &str, text: &str) -> String {
    format!(
        "{}<h1>{}</h1><p>{}</p></main></body></html>",
        head(&format!("{heading} - Sandbox provider")),
        escape(heading),
        escape(text)
    )
}

/// The document up to the opening `<main>`.
fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>",
        escape(title)
    )
}

fn label_of(field: &str) -> &'static str {
    FIELDS
        .iter()
        .find(|(name, _)| *name == field)
        .map_or("", |(_, label)| label)
}

fn text_input(
    field: &'static str,
    hint: Option<&str>,
    values: &Values,
    error: Option<&str>,
    attributes: &str,
) -> String {
    let mut described = Vec::new();
    let mut out = format!(
        "<div class=\"field{}\"><label for=\"{field}\">{}</label>",
        if error.is_some() { " invalid" } else { "" },
        label_of(field)
    );
    if let Some(hint) = hint {
        // Hints are built here from constants and escaped values, never raw input.
        out.push_str(&format!("<p class=\"hint\" id=\"{field}-hint\">{hint}</p>"));
        described.push(format!("{field}-hint"));
    }
    if let Some(message) = error {
        out.push_str(&error_message(field, message));
        described.push(format!("{field}-error"));
    }
    let aria = aria(&described, error.is_some());
    out.push_str(&format!(
        "<input type=\"text\" id=\"{field}\" name=\"{field}\" value=\"{}\" {attributes}{aria}></div>",
        escape(values.get(field))
    ));
    out
}

fn business_type(values: &Values, error: Option<&str>) -> String {
    let mut out = format!(
        "<div class=\"field{}\"><fieldset{}><legend>{}</legend>",
        if error.is_some() { " invalid" } else { "" },
        if error.is_some() {
            " aria-describedby=\"business_type-error\""
        } else {
            ""
        },
        label_of("business_type")
    );
    if let Some(message) = error {
        out.push_str(&error_message("business_type", message));
    }
    let invalid = if error.is_some() {
        " aria-invalid=\"true\""
    } else {
        ""
    };
    // The first option carries the field's id, so the error summary's link lands on it.
    for (id, value, label) in [
        (
            "business_type",
            "individual",
            "Individual or sole proprietor",
        ),
        ("business_type-company", "company", "Company"),
    ] {
        let checked = if values.business_type == value {
            " checked"
        } else {
            ""
        };
        out.push_str(&format!(
            "<div class=\"choice\"><input type=\"radio\" id=\"{id}\" name=\"business_type\" \
             value=\"{value}\"{checked}{invalid}><label for=\"{id}\">{label}</label></div>"
        ));
    }
    out.push_str("</fieldset></div>");
    out
}

fn error_message(field: &str, message: &str) -> String {
    format!(
        "<p class=\"error-message\" id=\"{field}-error\"><span class=\"visually-hidden\">Error: </span>{}</p>",
        escape(message)
    )
}

fn aria(described: &[String], invalid: bool) -> String {
    let mut out = String::new();
    if !described.is_empty() {
        out.push_str(&format!(" aria-describedby=\"{}\"", described.join(" ")));
    }
    if invalid {
        out.push_str(" aria-invalid=\"true\"");
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// One small stylesheet: system fonts, contrast-checked colours (the error red
/// is 6.6:1 on white), visible focus.
const STYLE: &str = "\
:root{--text:#1b1b1b;--muted:#505a5f;--error:#b3261e;--focus:#ffdd00;--accent:#1d4ed8}\
body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--text);background:#fff;line-height:1.5}\
main{max-width:40rem;margin:0 auto;padding:1rem}\
.caption,.hint{color:var(--muted)}\
.field{margin:0 0 1.25rem}\
.field.invalid{border-left:4px solid var(--error);padding-left:.75rem}\
label,legend{display:block;font-weight:600}\
.choice label{display:inline;font-weight:400;margin-left:.5rem}\
fieldset{border:0;padding:0;margin:0}\
input[type=text]{box-sizing:border-box;width:100%;max-width:24rem;font:inherit;padding:.4rem;border:2px solid var(--text)}\
.invalid input[type=text]{border-color:var(--error)}\
.error-message{color:var(--error);font-weight:600;margin:.25rem 0}\
.error-summary{border:4px solid var(--error);padding:1rem;margin:0 0 1.5rem}\
.error-summary a{color:var(--error);font-weight:600}\
.notice{border-left:8px solid var(--accent);padding:.5rem 1rem;margin:0 0 1.5rem;background:#f3f6fb}\
table{border-collapse:collapse;margin:.5rem 0 1rem}\
caption{text-align:left;color:var(--muted)}\
th,td{border-bottom:1px solid #b1b4b6;padding:.25rem .5rem;text-align:left;vertical-align:top}\
button{font:inherit;font-weight:600;padding:.5rem 1rem;color:#fff;background:#00703c;border:0;border-bottom:2px solid #002d18;cursor:pointer}\
:focus-visible{outline:3px solid var(--focus);outline-offset:0;box-shadow:0 0 0 6px var(--text)}\
.visually-hidden{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}";
