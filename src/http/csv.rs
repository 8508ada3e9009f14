//! CSV answers (RFC 4180: CRLF line ends, fields quoted when they need it),
//! streamed a page at a time: each page is read from the database, written,
//! sent and dropped, so an export of any size holds one page in memory.
//!
//! Every cell is a [`Cell`]: a number the server wrote ([`amount`],
//! [`number`]) or text ([`text`], [`instant`]). Text is neutralised against
//! formula injection here, in the one writer every export goes through: a text
//! cell starting with a character a spreadsheet reads as the start of a
//! formula gets a leading `'` (OWASP's CSV injection advice), so an adjustment's
//! or a buyer's `=HYPERLINK(…)` opens as the text `'=HYPERLINK(…)`. Numbers are
//! written as they are: `-500` stays a negative amount.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::stream;

use crate::db::{self, DbConnection, DbPool};
use crate::error::AppError;

/// Rows per page read from the database.
pub const PAGE_ROWS: i64 = 500;

/// One cell of a row: how it is written depends on what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Free or stored text (ids, names, emails, descriptions, codes, …):
    /// neutralised when it could open as a formula.
    Text(String),
    /// An integer the server computed (empty for none): written as is.
    Number(Option<i64>),
}

/// One page: its rows, and the cursor of the next page (`None`: the last).
pub type Page = (Vec<Vec<Cell>>, Option<String>);

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

/// A text column (ids, names, emails, descriptions, enums, codes).
pub fn text(value: impl Into<String>) -> Cell {
    Cell::Text(value.into())
}

/// A number column.
pub fn number(value: i64) -> Cell {
    Cell::Number(Some(value))
}

/// An amount column: empty for none.
pub fn amount(value: Option<i64>) -> Cell {
    Cell::Number(value)
}

/// An instant column: RFC 3339 UTC as the JSON answers write it, empty for none.
pub fn instant(value: Option<chrono::NaiveDateTime>) -> Cell {
    Cell::Text(value.map(crate::db::rfc3339).unwrap_or_default())
}

/// Whether text starting with `c` may open as a formula (or as the start of
/// one) in a spreadsheet: OWASP's `=`, `+`, `-`, `@`, tab and carriage return,
/// with line feed and NUL (ASVS 1.2.10) and the full-width `＝ ＋ － ＠`
/// some spreadsheets take for their ASCII forms.
fn opens_formula(c: char) -> bool {
    matches!(
        c,
        '=' | '+'
            | '-'
            | '@'
            | '\t'
            | '\r'
            | '\n'
            | '\0'
            | '\u{FF1D}'
            | '\u{FF0B}'
            | '\u{FF0D}'
            | '\u{FF20}'
    )
}

/// A text cell as written: behind a `'` when it could open as a formula.
/// (Quoting of separators, quotes and line breaks is the CSV writer's.)
pub fn neutralised(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some(c) if opens_formula(c) => format!("'{text}").into(),
        _ => text.into(),
    }
}

impl Cell {
    fn written(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Cell::Text(text) => neutralised(text),
            Cell::Number(value) => value.map(|v| v.to_string()).unwrap_or_default().into(),
        }
    }
}

fn encode(rows: &[Vec<Cell>]) -> Result<Bytes, AppError> {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let failed = |e: ::csv::Error| AppError::Internal(anyhow::anyhow!("csv: {e}"));
    for row in rows {
        for cell in row {
            writer
                .write_field(cell.written().as_bytes())
                .map_err(failed)?;
        }
        // An empty iterator ends the record the fields above began.
        writer
            .write_record(std::iter::empty::<&[u8]>())
            .map_err(failed)?;
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
    let header: Vec<Cell> = header.iter().map(|h| text(*h)).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn written(rows: &[Vec<Cell>]) -> String {
        String::from_utf8(encode(rows).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn text_opening_a_formula_gets_a_quote_numbers_do_not() {
        for prefix in ["=", "+", "-", "@", "\t", "\r", "\n", "\0", "\u{FF1D}"] {
            let cell =
                format!("{prefix}HYPERLINK(\"http://evil.example/phish\",\"Payout details\")");
            assert_eq!(neutralised(&cell), format!("'{cell}"), "{prefix:?}");
        }
        for safe in ["", "ord_123", "Shop 'quoted'", " =lead space", "100", "a=b"] {
            assert_eq!(neutralised(safe), safe);
        }
        let row = vec![
            text("=1+2"),
            text("-500"),
            amount(Some(-500)),
            number(-7),
            amount(None),
            text("a,b \"c\""),
            text("\r\n=x"),
        ];
        assert_eq!(
            written(&[row]),
            "'=1+2,'-500,-500,-7,,\"a,b \"\"c\"\"\",\"'\r\n=x\"\r\n"
        );
    }
}
