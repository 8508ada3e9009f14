//! Finding shops: by a part of the name and by status, a page at a time.
//! Staff find any shop (the console's list, `GET /v1/shops`); a seller only
//! their own.

use diesel::prelude::*;

use super::schema::shops;
use super::shops::{Shop, ShopRow};
use crate::db::DbConnection;
use crate::error::AppError;

/// Most shops one page holds.
pub const SEARCH_PAGE_MAX: i64 = 100;
/// The statuses a search filters on: the provider's four, and `frozen`
/// (which overrides them, as [`Shop::status`] does).
pub const STATUSES: [&str; 5] = ["not_started", "pending", "active", "restricted", "frozen"];
/// Longest name query, in characters.
pub const QUERY_CHARS_MAX: usize = 100;
/// Deepest page a search reaches: past it, narrow the search instead.
pub const OFFSET_MAX: i64 = 10_000;

diesel::define_sql_function! {
    /// SQL `lower()`: ASCII only on SQLite; names outside ASCII match
    /// case-insensitively on PostgreSQL only.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A validated shop search.
#[derive(Debug, Clone)]
pub struct ShopSearch {
    /// Only this owner's shops (a seller's own); `None`: every shop (staff).
    pub owner: Option<String>,
    /// A part of the name, lowercased.
    pub text: Option<String>,
    /// One of [`STATUSES`].
    pub status: Option<&'static str>,
    /// 1..=[`SEARCH_PAGE_MAX`].
    pub limit: i64,
    /// Shops skipped, 0..=[`OFFSET_MAX`].
    pub offset: i64,
}

/// One page of a search.
#[derive(Debug, Clone)]
pub struct ShopPage {
    /// Newest first.
    pub shops: Vec<Shop>,
    /// Whether more shops follow this page.
    pub has_more: bool,
}

fn invalid(param: &str, message: String) -> AppError {
    AppError::bad_request("invalid_query", message, Some(param.to_owned()))
}

impl ShopSearch {
    /// Checks a search's parameters; blank text and status mean "any".
    ///
    /// # Errors
    /// 400 `invalid_query` naming `q`, `status`, `limit` or `offset`.
    pub fn parse(
        owner: Option<String>,
        q: Option<&str>,
        status: Option<&str>,
        limit: Option<i64>,
        default_limit: i64,
        offset: Option<i64>,
    ) -> Result<Self, AppError> {
        let text = q.map(str::trim).filter(|q| !q.is_empty());
        if text.is_some_and(|q| q.chars().count() > QUERY_CHARS_MAX) {
            return Err(invalid(
                "q",
                format!("q has at most {QUERY_CHARS_MAX} characters"),
            ));
        }
        let status = match status.map(str::trim).filter(|s| !s.is_empty()) {
            None | Some("all") => None,
            Some(given) => Some(*STATUSES.iter().find(|s| **s == given).ok_or_else(|| {
                invalid(
                    "status",
                    format!("status is one of all, {}", STATUSES.join(", ")),
                )
            })?),
        };
        let limit = crate::http::query::limit(limit, default_limit, SEARCH_PAGE_MAX)?;
        let offset = offset.unwrap_or(0);
        if !(0..=OFFSET_MAX).contains(&offset) {
            return Err(invalid(
                "offset",
                format!("offset is 0 to {OFFSET_MAX}; narrow the search to go further"),
            ));
        }
        Ok(Self {
            owner,
            text: text.map(str::to_lowercase),
            status,
            limit,
            offset,
        })
    }
}

/// The shops `search` asks for, newest first.
///
/// # Errors
/// A database failure.
pub fn search_shops(conn: &mut DbConnection, search: &ShopSearch) -> Result<ShopPage, AppError> {
    let mut query = shops::table
        .select(ShopRow::as_select())
        .order((shops::created_at.desc(), shops::id.desc()))
        // One more than the page: whether another page follows.
        .limit(search.limit + 1)
        .offset(search.offset)
        .into_boxed();
    if let Some(owner) = &search.owner {
        query = query.filter(shops::owner_user_id.eq(owner.clone()));
    }
    if let Some(text) = &search.text {
        let pattern = crate::catalog::listing::contains_pattern(text);
        query = query.filter(lower(shops::name).like(pattern).escape('\\'));
    }
    query = match search.status {
        None => query,
        Some("frozen") => query.filter(shops::frozen.eq(true)),
        Some(status) => {
            // Checked by `parse`: one of the provider's statuses.
            debug_assert!(STATUSES.contains(&status));
            query
                .filter(shops::frozen.eq(false))
                .filter(shops::onboarding_status.eq(status))
        }
    };
    let mut shops: Vec<Shop> = query
        .load(conn)?
        .into_iter()
        .map(Shop::try_from)
        .collect::<Result<_, _>>()?;
    let has_more = i64::try_from(shops.len()).unwrap_or(i64::MAX) > search.limit;
    shops.truncate(usize::try_from(search.limit).unwrap_or(0));
    Ok(ShopPage { shops, has_more })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_are_checked() {
        let ok =
            ShopSearch::parse(None, Some("  Mugs "), Some("frozen"), None, 25, Some(50)).unwrap();
        assert_eq!(ok.text.as_deref(), Some("mugs"));
        assert_eq!(ok.status, Some("frozen"));
        assert_eq!((ok.limit, ok.offset), (25, 50));
        let any = ShopSearch::parse(None, Some(" "), Some("all"), None, 25, None).unwrap();
        assert!(any.text.is_none() && any.status.is_none());
        let bad = ShopSearch::parse(None, None, Some("sleeping"), None, 25, None).unwrap_err();
        assert_eq!(bad.param(), Some("status"));
        let bad = ShopSearch::parse(None, None, None, Some(0), 25, None).unwrap_err();
        assert_eq!(bad.param(), Some("limit"));
        let bad = ShopSearch::parse(None, None, None, None, 25, Some(-1)).unwrap_err();
        assert_eq!(bad.param(), Some("offset"));
        assert_eq!(super::super::OnboardingStatus::Active.as_str(), STATUSES[2]);
    }
}
