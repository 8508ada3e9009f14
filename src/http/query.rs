//! Checks of query-string values every list endpoint shares: a 400
//! `invalid_query` naming the parameter.

use chrono::NaiveDateTime;

use crate::error::AppError;

fn invalid(param: &str, message: String) -> AppError {
    AppError::bad_request("invalid_query", message, Some(param.to_owned()))
}

/// A page size: `value` (or `default`) within 1..=`max`.
///
/// # Errors
/// 400 `invalid_query`, param `limit`.
pub fn limit(value: Option<i64>, default: i64, max: i64) -> Result<i64, AppError> {
    let limit = value.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(invalid("limit", format!("limit is 1 to {max}")))
    }
}

/// An RFC 3339 instant, as UTC.
///
/// # Errors
/// 400 `invalid_query` naming `param`.
pub fn instant(param: &str, value: Option<&str>) -> Result<Option<NaiveDateTime>, AppError> {
    value
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.naive_utc())
                .map_err(|_| invalid(param, format!("{param} is an RFC 3339 timestamp")))
        })
        .transpose()
}

/// One of `allowed`, or none.
///
/// # Errors
/// 400 `invalid_query` naming `param` and listing what it may be.
pub fn one_of<'a>(
    param: &str,
    value: Option<&'a str>,
    allowed: &[&str],
) -> Result<Option<&'a str>, AppError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(invalid(
            param,
            format!("{param} is one of {}", allowed.join(", ")),
        )),
        other => Ok(other),
    }
}

/// A period `[from, to)` of RFC 3339 instants: `to` defaults to now, `from`
/// to 30 days before `to`; at most `days_max` days long.
///
/// # Errors
/// 400 `invalid_query` naming `from` or `to`.
pub fn period(
    from: Option<&str>,
    to: Option<&str>,
    days_max: i64,
) -> Result<(NaiveDateTime, NaiveDateTime), AppError> {
    let to = instant("to", to)?.unwrap_or_else(crate::db::now);
    let from = instant("from", from)?.unwrap_or(to - chrono::Duration::days(30));
    if from >= to || to - from > chrono::Duration::days(days_max) {
        return Err(invalid(
            "from",
            format!("from must be before to, at most {days_max} days apart"),
        ));
    }
    Ok((from, to))
}
