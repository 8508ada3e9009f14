//! How pages write money, dates and names for people (English, the pages'
//! language): `$1,234.56`, `€12.00`, `¥1,200`, `4 Dec 2026`.

use chrono::NaiveDateTime;

use crate::money::{Currency, Money};

/// The symbol written before an amount, for the currencies that have one
/// readers of English know; others are written with their code.
fn symbol(currency: Currency) -> Option<&'static str> {
    Some(match currency.code() {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "CAD" => "CA$",
        "AUD" => "A$",
        "NZD" => "NZ$",
        "INR" => "₹",
        _ => return None,
    })
}

/// Groups the digits of `whole` by thousands with commas.
fn grouped(whole: u64) -> String {
    let digits = whole.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An amount as a price tag in its currency's own format, with integer
/// arithmetic only: `$1,234.56`, `€0.99`, `¥1,200`, `CHF 12.00`, `−$5.00`.
pub fn price(amount: Money) -> String {
    let sign = if amount.minor < 0 { "\u{2212}" } else { "" };
    let magnitude = amount.minor.unsigned_abs();
    let exponent = amount.currency.exponent();
    let scale = 10u64.pow(exponent);
    let number = if exponent == 0 {
        grouped(magnitude)
    } else {
        format!(
            "{}.{:0width$}",
            grouped(magnitude / scale),
            magnitude % scale,
            width = exponent as usize
        )
    };
    match symbol(amount.currency) {
        Some(symbol) => format!("{sign}{symbol}{number}"),
        None => format!("{sign}{} {number}", amount.currency.code()),
    }
}

/// An amount in major units as a form field shows it: `12.50`, `1200`.
pub fn major_units(amount: Money) -> String {
    let exponent = amount.currency.exponent();
    let magnitude = amount.minor.unsigned_abs();
    let sign = if amount.minor < 0 { "-" } else { "" };
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10u64.pow(exponent);
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = exponent as usize
    )
}

/// A day as people write it: `4 Dec 2026`.
pub fn date(at: NaiveDateTime) -> String {
    at.format("%-d %b %Y").to_string()
}

/// An RFC 3339 instant (as the views carry them) as [`date`], or as it is.
pub fn date_of(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|at| date(at.naive_utc()))
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// A category slug as a heading: `home-kitchen` → `Home & kitchen`.
pub fn category_name(slug: &str) -> String {
    let words: Vec<&str> = slug.split(['-', '_']).filter(|w| !w.is_empty()).collect();
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            // Two-word slugs are pairs ("home-kitchen", "toys-games").
            out.push_str(if words.len() == 2 { " & " } else { " " });
        }
        if i == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(word);
        }
    }
    out
}

/// An order status as a buyer reads it.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "awaiting_payment" => "Awaiting payment",
        "paid" => "Paid",
        "expired" => "Expired (not paid in time)",
        "canceled" => "Cancelled",
        "refunded" => "Refunded",
        "partially_refunded" => "Partly refunded",
        "succeeded" => "Succeeded",
        "pending" => "Pending",
        "failed" => "Failed",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(minor: i64, code: &str) -> Money {
        Money::new(minor, Currency::parse(code).unwrap())
    }

    #[test]
    fn prices_read_as_their_currency_writes_them() {
        assert_eq!(price(money(123_456, "USD")), "$1,234.56");
        assert_eq!(price(money(99, "EUR")), "€0.99");
        assert_eq!(price(money(1200, "JPY")), "¥1,200");
        assert_eq!(price(money(1200, "CHF")), "CHF 12.00");
        assert_eq!(price(money(-500, "GBP")), "\u{2212}£5.00");
        assert_eq!(price(money(100_000_000, "USD")), "$1,000,000.00");
        assert_eq!(major_units(money(1250, "USD")), "12.50");
        assert_eq!(major_units(money(1250, "JPY")), "1250");
    }

    #[test]
    fn categories_read_as_headings() {
        assert_eq!(category_name("home-kitchen"), "Home & kitchen");
        assert_eq!(category_name("books"), "Books");
        assert_eq!(category_name("a-b-c"), "A b c");
    }
}
