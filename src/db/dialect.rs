//! Statements that differ between SQLite and PostgreSQL, each matched on the
//! connection's variant. Everything else is written once against `DbConnection`.

use diesel::connection::SimpleConnection;
use diesel::{sql_types, QueryableByName, RunQueryDsl};

use super::DbConnection;

/// Arbitrary but fixed: every Bazaar process asks for the same advisory lock.
const MIGRATION_LOCK_KEY: i64 = 0x0042_415a_4141_5200;

/// Runs `work` while holding the migration lock, so two processes starting at
/// once do not both apply the same migration.
///
/// PostgreSQL: a session advisory lock. SQLite: none needed, each migration runs
/// in a transaction that takes the file's write lock, and the second process
/// then finds it applied.
///
/// # Errors
/// The lock could not be taken, or `work` failed.
pub fn with_migration_lock<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, super::DbSetupError>,
) -> Result<T, super::DbSetupError> {
    let lock = |conn: &mut DbConnection, sql: &str| {
        conn.batch_execute(sql)
            .map_err(|e| super::DbSetupError::Migrate(format!("migration lock: {e}")))
    };
    match conn {
        DbConnection::Sqlite(_) => work(conn),
        DbConnection::Postgresql(_) => {
            lock(
                conn,
                &format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"),
            )?;
            let result = work(conn);
            lock(
                conn,
                &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"),
            )?;
            result
        }
    }
}

/// A value bound to one `?` of a statement run by [`load_sql`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Text(String),
    BigInt(i64),
    Bool(bool),
}

/// Runs `sql`, written with `?` placeholders, binding `values` in order. On
/// PostgreSQL the placeholders become `$1`, `$2`, …; `sql` must therefore hold
/// no other `?` (no string literal or operator containing one).
///
/// For the few statements diesel's query builder cannot express on both
/// backends (full-text search, its facets); everything else uses the DSL.
///
/// # Errors
/// A database failure.
pub fn load_sql<T>(
    conn: &mut DbConnection,
    sql: &str,
    values: &[SqlValue],
) -> diesel::QueryResult<Vec<T>>
where
    T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
{
    match conn {
        DbConnection::Sqlite(conn) => bound(
            diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>(),
            values,
        )
        .load(conn),
        DbConnection::Postgresql(conn) => {
            let numbered = numbered_placeholders(sql);
            bound(
                diesel::sql_query(numbered).into_boxed::<diesel::pg::Pg>(),
                values,
            )
            .load(conn)
        }
    }
}

/// `query` with `values` bound in order.
fn bound<'f, DB>(
    mut query: diesel::query_builder::BoxedSqlQuery<'f, DB, diesel::query_builder::SqlQuery>,
    values: &[SqlValue],
) -> diesel::query_builder::BoxedSqlQuery<'f, DB, diesel::query_builder::SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<sql_types::Text>
        + diesel::sql_types::HasSqlType<sql_types::BigInt>
        + diesel::sql_types::HasSqlType<sql_types::Bool>,
    String: diesel::serialize::ToSql<sql_types::Text, DB>,
    i64: diesel::serialize::ToSql<sql_types::BigInt, DB>,
    bool: diesel::serialize::ToSql<sql_types::Bool, DB>,
{
    for value in values {
        query = match value.clone() {
            SqlValue::Text(v) => query.bind::<sql_types::Text, _>(v),
            SqlValue::BigInt(v) => query.bind::<sql_types::BigInt, _>(v),
            SqlValue::Bool(v) => query.bind::<sql_types::Bool, _>(v),
        };
    }
    query
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, ….
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Full-text search over products, as the two backends spell it (see the
/// `product_search` migrations): SQLite's FTS5 index `product_search` with
/// bm25 ranking, PostgreSQL's generated `search_document` with a GIN index and
/// `ts_rank`. A statement reads `FROM products p {join} WHERE {condition} …
/// ORDER BY {rank}, …`; exactly one `?` (the match expression, from
/// [`text_match_expression`]) is in `join` or `condition`, and it comes before
/// every other placeholder of the statement.
#[derive(Debug, Clone, Copy)]
pub struct TextSearchSql {
    pub join: &'static str,
    pub condition: &'static str,
    pub rank: &'static str,
}

pub fn text_search_sql(conn: &DbConnection) -> TextSearchSql {
    match conn {
        DbConnection::Sqlite(_) => TextSearchSql {
            join: "JOIN product_search_rows search_row ON search_row.product_id = p.id \
                   JOIN product_search ON product_search.rowid = search_row.rowid",
            condition: "product_search MATCH ?",
            // The index's `rank` is bm25 with the title weighted 10:1; lower is better.
            rank: "product_search.rank",
        },
        DbConnection::Postgresql(_) => TextSearchSql {
            join: "CROSS JOIN to_tsquery('simple', ?) AS search_query",
            condition: "p.search_document @@ search_query",
            rank: "ts_rank(p.search_document, search_query) DESC",
        },
    }
}

/// One word of a text search: matched as a prefix, or (a spelling
/// correction) as any of `exact` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchWord<'a> {
    Prefix(&'a str),
    AnyOf(&'a [String]),
}

/// The match expression requiring every word, in the backend's syntax (FTS5
/// query syntax; a `tsquery`). Words hold only letters and digits, so quoting
/// them is enough.
pub fn text_match_expression(conn: &DbConnection, words: &[SearchWord<'_>]) -> String {
    let postgres = matches!(conn, DbConnection::Postgresql(_));
    let quote = |word: &str| {
        if postgres {
            format!("'{word}'")
        } else {
            format!("\"{word}\"")
        }
    };
    let parts: Vec<String> = words
        .iter()
        .map(|word| match word {
            SearchWord::Prefix(word) if postgres => format!("{}:*", quote(word)),
            SearchWord::Prefix(word) => format!("{}*", quote(word)),
            SearchWord::AnyOf(words) => {
                let any: Vec<String> = words.iter().map(|w| quote(w)).collect();
                format!("({})", any.join(if postgres { " | " } else { " OR " }))
            }
        })
        .collect();
    parts.join(if postgres { " & " } else { " AND " })
}

/// The indexed words from `from` (inclusive) up to `to` (exclusive), in byte
/// order, at most `limit`: FTS5's vocabulary table; PostgreSQL's
/// `search_words`.
///
/// # Errors
/// A database failure.
pub fn search_words_between(
    conn: &mut DbConnection,
    from: &str,
    to: &str,
    limit: i64,
) -> diesel::QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Word {
        #[diesel(sql_type = sql_types::Text)]
        word: String,
    }
    let sql = match conn {
        DbConnection::Sqlite(_) => {
            "SELECT term AS word FROM product_search_vocab WHERE term >= ? AND term < ? \
             ORDER BY term LIMIT ?"
        }
        DbConnection::Postgresql(_) => {
            "SELECT word FROM search_words WHERE word >= ? AND word < ? ORDER BY word LIMIT ?"
        }
    };
    let values = [
        SqlValue::Text(from.to_owned()),
        SqlValue::Text(to.to_owned()),
        SqlValue::BigInt(limit),
    ];
    Ok(load_sql::<Word>(conn, sql, &values)?
        .into_iter()
        .map(|w| w.word)
        .collect())
}
