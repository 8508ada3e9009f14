//! CSV answers (RFC 4180: CRLF line ends, fields quoted when they need it),
//! streamed a page at a time: each page is read from the database, written,
//! sent and dropped, so an export of any size holds one page in memory.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::stream;

use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;

/// Rows per page read from the database.
pub const PAGE_ROWS: i64 = 500;

/// One page: its rows, and the cursor of the next page (`None`: the last).
pub type Page = (Vec<Vec<String>>, Option<String>);

/// Reads the page after a cursor (`None`: the first page).
pub type Fetch =
    Arc<dyn Fn(&mut DbConnection, Option<String>) -> Result<Page, AppError> + Send + Sync>;

/// Splits a keyset cursor `"{created_at}|{id}"` (see [`cursor_from`]).
pub fn cursor_of(cursor: Option<String>) -> Option<(chrono::NaiveDateTime, String)> {
    let cursor = cursor?;
    let (at, id) = cursor.split_once('|')?;
    let at = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some((at, id.to_owned()))
}

/// The keyset cursor after a row created at `at` with id `id`.
pub fn cursor_from(at: chrono::NaiveDateTime, id: &str) -> String {
    format!("{}|{id}", at.format("%Y-%m-%dT%H:%M:%S%.f"))
}

/// An amount column: empty for none.
pub fn amount(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// An instant column: RFC 3339 UTC as the JSON answers write it, empty for none.
pub fn instant(value: Option<chrono::NaiveDateTime>) -> String {
    value.map(crate::orders::model::rfc3339).unwrap_or_default()
}

fn encode(rows: &[Vec<String>]) -> Result<Bytes, AppError> {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for row in rows {
        writer
            .write_record(row)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Ok(Bytes::from(bytes))
}

enum State {
    Header,
    Next(Option<String>),
    Done,
}

/// `200 text/csv` with `header` then every page `fetch` yields, as
/// `filename`. A database failure after the first bytes ends the stream
/// (the client sees a truncated download, never a partial file that looks whole:
/// the connection is closed without the final chunk).
pub fn stream(pool: DbPool, filename: &str, header: &[&str], fetch: Fetch) -> HttpResponse {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let body = stream::unfold(State::Header, move |state| {
        let (pool, fetch, header) = (pool.clone(), Arc::clone(&fetch), header.clone());
        async move {
            match state {
                State::Done => None,
                State::Header => Some((encode(&[header]), State::Next(None))),
                State::Next(cursor) => {
                    let page = db::run(&pool, move |conn| fetch(conn, cursor)).await;
                    match page {
                        Ok((rows, next)) => {
                            let state = match next {
                                Some(cursor) if !rows.is_empty() => State::Next(Some(cursor)),
                                _ => State::Done,
                            };
                            Some((encode(&rows), state))
                        }
                        Err(error) => {
                            tracing::error!(%error, "csv export failed part-way");
                            Some((Err(error), State::Done))
                        }
                    }
                }
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body)
}
