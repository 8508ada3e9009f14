//! Full-text search of the catalog and the facet counts of the storefront's
//! filters.
//!
//! - A query is split into words (runs of letters and digits, lowercased; at
//!   most [`WORDS_MAX`]). A product matches when each word is a prefix of a
//!   word of its title or description ("choc bar" finds "Chocolate bars").
//! - Results are ranked: title matches above description matches (bm25 with
//!   the title weighted 10:1 on SQLite, `ts_rank` with weights A and C on
//!   PostgreSQL), then `(created_at, id)`.
//! - Spelling: a word that is the prefix of no indexed word is replaced by the
//!   indexed words nearest to it (at most [`CORRECTIONS_MAX`], within one edit
//!   for words of 3–5 letters and two for longer ones, an edit being an
//!   insertion, deletion, substitution or swap of neighbours, the first letter
//!   kept), and the page says so ([`Correction`]).
//! - The index is kept by the database in the product write's own statement
//!   (triggers on SQLite, a generated column on PostgreSQL; see the
//!   `product_search` migrations), so a product is findable as its write
//!   commits, in every process.
//! - Filters combine with the text; each facet counts the products matching
//!   every filter except its own, so it shows what choosing another value of
//!   that filter would give.
//!
//! The statements are SQL text (diesel's builder has no full-text search on
//! either backend); what differs between the backends is in
//! [`crate::db::dialect`].

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types;
use serde::Serialize;
use utoipa::ToSchema;

use super::listing::{self, CatalogQuery, Correction, Cursor, Page, RANKED_OFFSET_MAX};
use super::model::Product;
use super::schema::products;
use super::store::ProductRow;
use crate::db::dialect::{self, load_sql, SearchWord, SqlValue};
use crate::db::DbConnection;
use crate::error::AppError;
use crate::money::Currency;
use crate::sellers::{self, shops};

/// Most words of a query searched; more are ignored.
pub const WORDS_MAX: usize = 8;
/// Most indexed words a misspelt word is replaced by.
pub const CORRECTIONS_MAX: usize = 3;
/// Most indexed words with the misspelt word's first letter compared with it.
const SPELLING_CANDIDATES_MAX: i64 = 20_000;
/// Above every character: `word` + this bounds the words starting with `word`.
const AFTER_EVERY_CHAR: char = char::MAX;

/// The words of a query, as searched.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    Prefix(String),
    Corrected(Correction),
}

/// A text query resolved against the index.
#[derive(Debug, Clone)]
struct TextSearch {
    words: Vec<Word>,
}

impl TextSearch {
    fn expression(&self, conn: &DbConnection) -> String {
        let words: Vec<SearchWord<'_>> = self
            .words
            .iter()
            .map(|word| match word {
                Word::Prefix(word) => SearchWord::Prefix(word),
                Word::Corrected(correction) => SearchWord::AnyOf(&correction.replacements),
            })
            .collect();
        dialect::text_match_expression(conn, &words)
    }

    fn corrections(&self) -> Vec<Correction> {
        self.words
            .iter()
            .filter_map(|word| match word {
                Word::Corrected(correction) => Some(correction.clone()),
                Word::Prefix(_) => None,
            })
            .collect()
    }
}

/// The words of `text`: runs of letters and digits, lowercased, each once, at
/// most [`WORDS_MAX`].
pub fn words_of(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
        if words.len() == WORDS_MAX {
            break;
        }
    }
    words
}

/// How many edits a word of `chars` characters may be away from a correction.
fn edit_budget(chars: usize) -> usize {
    match chars {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

/// Edits between `a` and `b` (optimal string alignment: insertions,
/// deletions, substitutions and swaps of neighbours), or `None` when more
/// than `budget`.
fn edits_within(a: &[char], b: &[char], budget: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > budget {
        return None;
    }
    let width = b.len() + 1;
    let mut rows = vec![vec![0usize; width]; a.len() + 1];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[i][0] = i;
        let mut row_min = rows[i][0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
            row_min = row_min.min(best);
        }
        if row_min > budget {
            return None;
        }
    }
    Some(rows[a.len()][b.len()]).filter(|&edits| edits <= budget)
}

/// The indexed words nearest to `word`, nearest first, then in byte order.
fn nearest_words(conn: &mut DbConnection, word: &str) -> Result<Vec<String>, AppError> {
    let chars: Vec<char> = word.chars().collect();
    let budget = edit_budget(chars.len());
    let Some(first) = chars.first().filter(|_| budget > 0) else {
        return Ok(Vec::new());
    };
    let from = first.to_string();
    let to = format!("{first}{AFTER_EVERY_CHAR}");
    let candidates = dialect::search_words_between(conn, &from, &to, SPELLING_CANDIDATES_MAX)?;
    let mut near: Vec<(usize, String)> = candidates
        .into_iter()
        .filter_map(|candidate| {
            let other: Vec<char> = candidate.chars().collect();
            edits_within(&chars, &other, budget).map(|edits| (edits, candidate))
        })
        .collect();
    near.sort();
    Ok(near
        .into_iter()
        .take(CORRECTIONS_MAX)
        .map(|(_, w)| w)
        .collect())
}

/// Resolves the words of `text` against the index; `None` when it has none.
fn resolve(conn: &mut DbConnection, text: &str) -> Result<Option<TextSearch>, AppError> {
    let mut words = Vec::new();
    for word in words_of(text) {
        let after = format!("{word}{AFTER_EVERY_CHAR}");
        let indexed = !dialect::search_words_between(conn, &word, &after, 1)?.is_empty();
        let replacements = if indexed {
            Vec::new()
        } else {
            nearest_words(conn, &word)?
        };
        words.push(if replacements.is_empty() {
            // Unknown and nothing near: kept, so the search finds nothing
            // rather than ignoring what the buyer typed.
            Word::Prefix(word)
        } else {
            Word::Corrected(Correction { word, replacements })
        });
    }
    Ok((!words.is_empty()).then_some(TextSearch { words }))
}

/// A filter a facet may leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    None,
    Shop,
    Category,
    Currency,
    Price,
    InStock,
}

/// `FROM … WHERE …` of the products `query` matches (leaving out one
/// filter), with its values in order.
struct Matching {
    sql: String,
    values: Vec<SqlValue>,
}

fn matching(
    conn: &DbConnection,
    query: &CatalogQuery,
    text: Option<&TextSearch>,
    leave_out: Filter,
) -> Matching {
    let mut values = Vec::new();
    let mut sql = String::from("FROM products p ");
    let mut conditions: Vec<String> = Vec::new();
    if let Some(text) = text {
        let search = dialect::text_search_sql(conn);
        sql.push_str(search.join);
        conditions.push(search.condition.to_owned());
        values.push(SqlValue::Text(text.expression(conn)));
    }
    conditions.push("p.active = ?".to_owned());
    values.push(SqlValue::Bool(true));
    let (sellable, sellable_values) = shops::sellable_shop_ids_sql();
    conditions.push(format!("p.shop_id IN ({sellable})"));
    values.extend(sellable_values);
    let mut condition = |filter: Filter, sql: &str, value: Option<SqlValue>| {
        if leave_out != filter {
            if let Some(value) = value {
                conditions.push(sql.to_owned());
                values.push(value);
            }
        }
    };
    condition(
        Filter::Shop,
        "p.shop_id = ?",
        query.shop.clone().map(SqlValue::Text),
    );
    condition(
        Filter::Category,
        "p.category = ?",
        query
            .category
            .as_ref()
            .map(|c| SqlValue::Text(c.as_str().to_owned())),
    );
    condition(
        Filter::Currency,
        "p.currency = ?",
        query.currency.map(|c| SqlValue::Text(c.code().to_owned())),
    );
    condition(
        Filter::Price,
        "p.price_minor >= ?",
        query.min_price.map(SqlValue::BigInt),
    );
    condition(
        Filter::Price,
        "p.price_minor <= ?",
        query.max_price.map(SqlValue::BigInt),
    );
    condition(
        Filter::InStock,
        "p.stock > ?",
        query.in_stock.then_some(SqlValue::BigInt(0)),
    );
    sql.push_str(" WHERE ");
    sql.push_str(&conditions.join(" AND "));
    Matching { sql, values }
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = sql_types::Text)]
    id: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql_types::BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct ValueCount {
    #[diesel(sql_type = sql_types::Text)]
    value: String,
    #[diesel(sql_type = sql_types::BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct BandCount {
    #[diesel(sql_type = sql_types::BigInt)]
    band: i64,
    #[diesel(sql_type = sql_types::BigInt)]
    count: i64,
}

fn count(conn: &mut DbConnection, matching: Matching) -> Result<i64, AppError> {
    let sql = format!("SELECT count(*) AS count {}", matching.sql);
    Ok(load_sql::<Count>(conn, &sql, &matching.values)?
        .first()
        .map_or(0, |c| c.count))
}

fn count_by(
    conn: &mut DbConnection,
    column: &str,
    matching: Matching,
) -> Result<Vec<(String, i64)>, AppError> {
    let sql = format!(
        "SELECT {column} AS value, count(*) AS count {} GROUP BY {column} \
         ORDER BY count(*) DESC, {column}",
        matching.sql
    );
    Ok(load_sql::<ValueCount>(conn, &sql, &matching.values)?
        .into_iter()
        .map(|v| (v.value, v.count))
        .collect())
}

/// The public catalog: active products of shops that can sell, filtered; a
/// text search ranked, anything else in `(created_at, id)` order.
///
/// # Errors
/// 422 `invalid_value` (param `cursor`) for a cursor of the other kind of
/// list; a database failure.
pub fn list_catalog(conn: &mut DbConnection, query: &CatalogQuery) -> Result<Page, AppError> {
    match ranked_page(conn, query)? {
        Some(page) => Ok(page),
        None => listing::list_keyset(conn, query),
    }
}

/// How many products [`list_catalog`] walks through for `query`, all pages
/// together (the cursor and page size are ignored).
///
/// # Errors
/// A database failure.
pub fn count_catalog(conn: &mut DbConnection, query: &CatalogQuery) -> Result<i64, AppError> {
    match ranked_count(conn, query)? {
        Some(count) => Ok(count),
        None => listing::count_keyset(conn, query),
    }
}

/// One page of a ranked text search, or `None` when `query` has no text.
fn ranked_page(conn: &mut DbConnection, query: &CatalogQuery) -> Result<Option<Page>, AppError> {
    let Some(text) = &query.text else {
        return Ok(None);
    };
    let offset = ranked_offset(query)?;
    let page = match resolve(conn, text)? {
        Some(search) => ranked_page_of(conn, query, &search, offset)?,
        None => no_page(),
    };
    Ok(Some(page))
}

/// The page of [`list_catalog`] and the [`facets`] of one query, the text's
/// spelling resolved once for both (the storefront's search page shows both).
///
/// # Errors
/// As [`list_catalog`].
pub fn page_and_facets(
    conn: &mut DbConnection,
    query: &CatalogQuery,
) -> Result<(Page, Facets), AppError> {
    let Some(text) = &query.text else {
        let page = listing::list_keyset(conn, query)?;
        return Ok((page, facets_of(conn, query, None)?));
    };
    let offset = ranked_offset(query)?;
    match resolve(conn, text)? {
        Some(search) => Ok((
            ranked_page_of(conn, query, &search, offset)?,
            facets_of(conn, query, Some(&search))?,
        )),
        None => Ok((no_page(), empty_facets())),
    }
}

/// Where a ranked page starts: its cursor's offset.
fn ranked_offset(query: &CatalogQuery) -> Result<i64, AppError> {
    match &query.page.after {
        None => Ok(0),
        Some(Cursor::Ranked { offset }) => Ok(*offset),
        Some(Cursor::After { .. }) => Err(AppError::unprocessable(
            "invalid_value",
            "this cursor continues a list without `q`: send it without `q`",
            Some("cursor".to_owned()),
        )),
    }
}

/// The answer to a text that matches no indexed word.
fn no_page() -> Page {
    Page {
        products: Vec::new(),
        next_cursor: None,
        corrections: Vec::new(),
    }
}

/// The page of `search` starting at `offset`, best match first.
fn ranked_page_of(
    conn: &mut DbConnection,
    query: &CatalogQuery,
    search: &TextSearch,
    offset: i64,
) -> Result<Page, AppError> {
    let matching = matching(conn, query, Some(search), Filter::None);
    let rank = dialect::text_search_sql(conn).rank;
    let sql = format!(
        "SELECT p.id AS id {} ORDER BY {rank}, p.created_at, p.id LIMIT ? OFFSET ?",
        matching.sql
    );
    let mut values = matching.values;
    values.push(SqlValue::BigInt(query.page.limit + 1));
    values.push(SqlValue::BigInt(offset));
    let mut ids: Vec<String> = load_sql::<Id>(conn, &sql, &values)?
        .into_iter()
        .map(|row| row.id)
        .collect();
    let limit = usize::try_from(query.page.limit).expect("limit was checked positive");
    let more = ids.len() > limit;
    ids.truncate(limit);
    let mut rows: HashMap<String, ProductRow> = products::table
        .filter(products::id.eq_any(&ids))
        .select(ProductRow::as_select())
        .load::<ProductRow>(conn)?
        .into_iter()
        .map(|row| (row.id().to_owned(), row))
        .collect();
    let products = ids
        .iter()
        .filter_map(|id| rows.remove(id))
        .map(Product::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next = offset + query.page.limit;
    Ok(Page {
        next_cursor: (more && next <= RANKED_OFFSET_MAX).then_some(Cursor::Ranked { offset: next }),
        products,
        corrections: search.corrections(),
    })
}

/// How many products a text search walks through, or `None` when `query`
/// has no text.
fn ranked_count(conn: &mut DbConnection, query: &CatalogQuery) -> Result<Option<i64>, AppError> {
    let Some(text) = &query.text else {
        return Ok(None);
    };
    let Some(search) = resolve(conn, text)? else {
        return Ok(Some(0));
    };
    let matching = matching(conn, query, Some(&search), Filter::None);
    count(conn, matching).map(Some)
}

/// A value of a filter and how many products choosing it gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FacetValue {
    pub value: String,
    pub count: i64,
}

/// A shop and how many products choosing it gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ShopFacet {
    pub id: String,
    pub name: String,
    pub count: i64,
}

/// A price band, in minor units of one currency, both ends inclusive
/// (`max_price` absent: no upper end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PriceBand {
    pub currency: String,
    pub min_price: i64,
    pub max_price: Option<i64>,
    pub count: i64,
}

/// The counts behind the storefront's filters, for one query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Facets {
    /// Products matching the whole query.
    pub total: i64,
    /// By category, most products first (the category filter left out).
    pub categories: Vec<FacetValue>,
    /// By shop, most products first (the shop filter left out).
    pub shops: Vec<ShopFacet>,
    /// By currency (the currency and price filters left out).
    pub currencies: Vec<FacetValue>,
    /// By price band (the price filter left out); only when the query names a
    /// currency or its products are all in one.
    pub price_bands: Vec<PriceBand>,
    /// Products with stock left (the in-stock filter left out).
    pub in_stock: i64,
    /// Misspelt words of `q` searched as the nearest indexed words.
    pub corrections: Vec<Correction>,
}

/// Lower ends of the price bands, in major units of the currency.
const PRICE_BANDS_MAJOR: [i64; 6] = [0, 10, 25, 50, 100, 250];

/// The facet counts for `query` (its page and cursor are ignored).
///
/// # Errors
/// A database failure.
pub fn facets(conn: &mut DbConnection, query: &CatalogQuery) -> Result<Facets, AppError> {
    match &query.text {
        Some(text) => match resolve(conn, text)? {
            Some(search) => facets_of(conn, query, Some(&search)),
            None => Ok(empty_facets()),
        },
        None => facets_of(conn, query, None),
    }
}

/// The facet counts of `query` with its text resolved to `text`.
fn facets_of(
    conn: &mut DbConnection,
    query: &CatalogQuery,
    text: Option<&TextSearch>,
) -> Result<Facets, AppError> {
    let all = matching(conn, query, text, Filter::None);
    let total = count(conn, all)?;
    let any_category = matching(conn, query, text, Filter::Category);
    let categories = count_by(conn, "p.category", any_category)?;
    let any_shop = matching(conn, query, text, Filter::Shop);
    let shop_counts = count_by(conn, "p.shop_id", any_shop)?;
    let ids: Vec<&str> = shop_counts.iter().map(|(id, _)| id.as_str()).collect();
    let names = sellers::shop_names(conn, &ids)?;
    let shops = shop_counts
        .iter()
        .map(|(id, count)| ShopFacet {
            name: names.get(id).cloned().unwrap_or_else(|| id.clone()),
            id: id.clone(),
            count: *count,
        })
        .collect();
    let mut without_price = query.clone();
    without_price.currency = None;
    let any_price = matching(conn, &without_price, text, Filter::Price);
    let currencies = count_by(conn, "p.currency", any_price)?;
    let band_currency = match (query.currency, currencies.as_slice()) {
        (Some(currency), _) => Some(currency),
        (None, [(only, _)]) => Currency::parse(only).ok(),
        (None, _) => None,
    };
    let price_bands = match band_currency {
        Some(currency) => price_bands(conn, query, text, currency)?,
        None => Vec::new(),
    };
    let in_stock = {
        let mut with_stock = query.clone();
        with_stock.in_stock = true;
        let stocked = matching(conn, &with_stock, text, Filter::None);
        count(conn, stocked)?
    };
    Ok(Facets {
        total,
        categories: categories
            .into_iter()
            .map(|(value, count)| FacetValue { value, count })
            .collect(),
        shops,
        currencies: currencies
            .into_iter()
            .map(|(value, count)| FacetValue { value, count })
            .collect(),
        price_bands,
        in_stock,
        corrections: text.map(TextSearch::corrections).unwrap_or_default(),
    })
}

fn empty_facets() -> Facets {
    Facets {
        total: 0,
        categories: Vec::new(),
        shops: Vec::new(),
        currencies: Vec::new(),
        price_bands: Vec::new(),
        in_stock: 0,
        corrections: Vec::new(),
    }
}

/// The non-empty bands of [`PRICE_BANDS_MAJOR`] in `currency`.
fn price_bands(
    conn: &mut DbConnection,
    query: &CatalogQuery,
    text: Option<&TextSearch>,
    currency: Currency,
) -> Result<Vec<PriceBand>, AppError> {
    let unit = 10_i64.pow(currency.exponent());
    let starts: Vec<i64> = PRICE_BANDS_MAJOR.iter().map(|major| major * unit).collect();
    let mut in_currency = query.clone();
    in_currency.currency = Some(currency);
    let matching = matching(conn, &in_currency, text, Filter::Price);
    // The bounds are our own integers, so they are written into the statement.
    let mut band = String::from("CAST(CASE");
    for (index, start) in starts.iter().enumerate().skip(1).rev() {
        band.push_str(&format!(" WHEN p.price_minor >= {start} THEN {index}"));
    }
    // PostgreSQL types the bare CASE as a 4-byte integer.
    band.push_str(" ELSE 0 END AS BIGINT)");
    let sql = format!(
        "SELECT {band} AS band, count(*) AS count {} GROUP BY {band} ORDER BY {band}",
        matching.sql
    );
    let counts = load_sql::<BandCount>(conn, &sql, &matching.values)?;
    Ok(counts
        .into_iter()
        .filter_map(|row| {
            let index = usize::try_from(row.band).ok()?;
            Some(PriceBand {
                currency: currency.code().to_owned(),
                min_price: *starts.get(index)?,
                max_price: starts.get(index + 1).map(|next| next - 1),
                count: row.count,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edits(a: &str, b: &str) -> Option<usize> {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        edits_within(&a, &b, 2)
    }

    #[test]
    fn words_are_letters_and_digits_lowercased_once() {
        assert_eq!(
            words_of("  Dark-CHOCOLATE, 70% dark!  "),
            ["dark", "chocolate", "70"]
        );
        assert!(words_of("?! -- %").is_empty());
        assert_eq!(words_of("Crème brûlée"), ["crème", "brûlée"]);
        let many = "a b c d e f g h i j k";
        assert_eq!(words_of(many).len(), WORDS_MAX);
    }

    #[test]
    fn edits_count_insertions_deletions_substitutions_and_swaps() {
        assert_eq!(edits("chocolate", "chocolate"), Some(0));
        assert_eq!(edits("chocolte", "chocolate"), Some(1));
        assert_eq!(edits("chcoolate", "chocolate"), Some(1));
        assert_eq!(edits("chocolatte", "chocolate"), Some(1));
        assert_eq!(edits("chacolafe", "chocolate"), Some(2));
        assert_eq!(edits("coffee", "chocolate"), None);
        assert_eq!(edits("ab", "abcde"), None);
    }

    #[test]
    fn short_words_are_never_corrected() {
        assert_eq!(edit_budget(2), 0);
        assert_eq!(edit_budget(3), 1);
        assert_eq!(edit_budget(5), 1);
        assert_eq!(edit_budget(6), 2);
    }
}
