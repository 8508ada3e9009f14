//! How the demo writes the API's values for people. Kept apart from the day
//! and its summary so both can write money alike without importing each other.

use crate::money::{Currency, Money};

/// `12.34 USD` from minor units and a code, as the money module writes it.
pub fn format_money(minor: Option<i64>, currency: Option<&str>) -> String {
    let (Some(minor), Some(code)) = (minor, currency) else {
        return "?".to_owned();
    };
    match Currency::parse(code) {
        Ok(currency) => Money::new(minor, currency).to_string(),
        Err(_) => format!("{minor} {code}"),
    }
}
