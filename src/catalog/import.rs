//! A shop's products from a CSV file: one line per SKU, created when the
//! shop has no such SKU, updated when it has (only the cells that differ),
//! reported `unchanged` otherwise, so importing the same file twice changes
//! nothing the second time.
//!
//! Columns (header line first, any order; only `sku` is required):
//! `sku,title,description,price_minor,currency,stock,category,image_url,image_alt`.
//! A new SKU needs every column but `description`; for an existing SKU an
//! empty cell keeps the stored value. `currency` must be the shop's (a
//! product's currency never changes). `stock` states the count on hand, as
//! `PATCH stock` does. `image_url`/`image_alt` are the first image; a
//! product's other images are kept.
//!
//! Every line is checked against the same domain types as the JSON API
//! ([`Sku`], [`Title`], [`PriceMinor`], [`Stock`], …). When any line is
//! wrong nothing is applied and every error is answered with its line
//! number (the file's physical line, the header being line 1); otherwise the
//! whole file is applied in one transaction.
//!
//! Formula injection is an export concern: cells are stored as written
//! (`=SUM(1)` is a fine title), and every export neutralises them on the way
//! out ([`crate::http::csv::neutralised`]). A cell that export neutralised
//! (`'=SUM(1)`) is read back as it was stored, so an exported file
//! re-imports unchanged.

use std::borrow::Cow;
use std::collections::HashMap;

use diesel::prelude::*;
use serde::Serialize;

use super::model::{
    Category, Description, ImageRequest, Images, NewProduct, PriceMinor, Product, ProductPatch,
    Sku, Stock, Title,
};
use super::schema::products;
use super::store::{insert_product, update_product, ProductRow};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::money::{Currency, Money};
use crate::sellers::shops::{self, Shop};

/// Largest file, in bytes.
pub const IMPORT_BYTES_MAX: usize = 1024 * 1024;
/// Most product lines in one file (the header not counted).
pub const IMPORT_LINES_MAX: usize = 5000;
/// Most line errors one answer lists; a file past it is mostly wrong anyway.
pub const IMPORT_ERRORS_MAX: usize = 500;

/// The columns a file may have.
pub const COLUMNS: [&str; 9] = [
    "sku",
    "title",
    "description",
    "price_minor",
    "currency",
    "stock",
    "category",
    "image_url",
    "image_alt",
];

/// What is wrong with one cell (or one line, `field` empty) of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LineError {
    /// The file's line, the header being line 1.
    pub line: u64,
    /// The column, or empty when the line as a whole is wrong.
    pub field: String,
    pub message: String,
}

/// What a line does to its SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineAction {
    Create,
    Update,
    Unchanged,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportLine {
    pub line: u64,
    pub sku: String,
    pub action: LineAction,
    /// The product's id; `null` for a line that would create one (dry run).
    pub product_id: Option<String>,
    /// The columns this line sets (all given ones for `create`).
    pub changes: Vec<&'static str>,
}

/// What an import did, or would do (`dry_run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub lines: Vec<ImportLine>,
}

/// The outcome of [`import_products`]: a report, or the lines that stopped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Done(ImportReport),
    /// Nothing was applied; at most [`IMPORT_ERRORS_MAX`] errors, in line order.
    Invalid(Vec<LineError>),
}

/// One product line as read: its line number and its non-empty cells.
struct Row {
    line: u64,
    cells: HashMap<&'static str, String>,
}

impl Row {
    fn get(&self, column: &str) -> Option<&str> {
        self.cells.get(column).map(String::as_str)
    }
}

/// What one valid line will do.
enum Planned {
    Create(Box<NewProduct>, Vec<&'static str>),
    Update(String, Box<ProductPatch>, Vec<&'static str>),
    Unchanged(String),
}

/// A cell as it was stored before an export neutralised it: `'=x` → `=x`,
/// only when the export would have added that `'`.
fn as_stored(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if matches!(crate::http::csv::neutralised(rest), Cow::Owned(_)) => rest,
        _ => cell,
    }
}

/// The file's physical line (1-based) at a byte offset. The csv crate's own
/// line count is one short after a CRLF line ending (Windows files, and every
/// textarea a browser submits), so lines are counted here, from the bytes,
/// moving forward only: records come in order, so the whole file is scanned
/// once.
struct LineCounter<'a> {
    csv: &'a [u8],
    byte: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(csv: &'a [u8]) -> Self {
        Self {
            csv,
            byte: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, position: Option<&::csv::Position>) -> u64 {
        let Some(position) = position else { return 0 };
        let mut target = usize::try_from(position.byte())
            .unwrap_or(usize::MAX)
            .min(self.csv.len());
        // After a CRLF the reported start is the `\n`; a record never
        // starts with a line ending (empty lines are skipped), so step over.
        while matches!(self.csv.get(target), Some(b'\r' | b'\n')) {
            target += 1;
        }
        if target > self.byte {
            let scanned = &self.csv[self.byte..target];
            // `\n`, `\r\n` and a lone `\r` each end a line, as they end a record.
            let ends = scanned
                .iter()
                .enumerate()
                .filter(|(i, b)| {
                    **b == b'\n'
                        || (**b == b'\r' && self.csv.get(self.byte + i + 1) != Some(&b'\n'))
                })
                .count();
            self.line += ends as u64;
            self.byte = target;
        }
        self.line
    }
}

/// Reads the header and the lines; errors of shape (unknown columns, wrong
/// number of cells, bad UTF-8) are collected, not returned early.
fn read_rows(csv: &[u8], errors: &mut Vec<LineError>) -> Result<Vec<Row>, AppError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(csv);
    let header = match reader.headers() {
        Ok(header) => header.clone(),
        Err(error) => {
            errors.push(LineError {
                line: 1,
                field: String::new(),
                message: format!("the header line is not readable CSV: {error}"),
            });
            return Ok(Vec::new());
        }
    };
    let mut columns: Vec<Option<&'static str>> = Vec::with_capacity(header.len());
    for name in header.iter() {
        let name = name.trim().to_ascii_lowercase();
        let known = COLUMNS.iter().copied().find(|c| *c == name);
        if known.is_none() {
            errors.push(LineError {
                line: 1,
                field: name.clone(),
                message: format!("unknown column; the columns are {}", COLUMNS.join(",")),
            });
        } else if columns.contains(&known) {
            errors.push(LineError {
                line: 1,
                field: name.clone(),
                message: "this column appears twice".into(),
            });
        }
        columns.push(known);
    }
    if !columns.contains(&Some("sku")) {
        errors.push(LineError {
            line: 1,
            field: "sku".into(),
            message: "the header needs a sku column".into(),
        });
    }
    let mut rows = Vec::new();
    let mut lines = LineCounter::new(csv);
    for (index, record) in reader.records().enumerate() {
        if index >= IMPORT_LINES_MAX {
            return Err(AppError::unprocessable(
                "too_many_lines",
                format!("a file has at most {IMPORT_LINES_MAX} product lines; split it"),
                None,
            ));
        }
        match record {
            Ok(record) => {
                let line = lines.line_at(record.position());
                let cells = columns
                    .iter()
                    .zip(record.iter())
                    .filter_map(|(column, cell)| {
                        let cell = as_stored(cell);
                        column
                            .filter(|_| !cell.trim().is_empty())
                            .map(|c| (c, cell.to_owned()))
                    })
                    .collect();
                rows.push(Row { line, cells });
            }
            Err(error) => {
                let line = lines.line_at(error.position());
                let message = match error.kind() {
                    ::csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("the line has {len} cells; the header has {expected_len}"),
                    ::csv::ErrorKind::Utf8 { .. } => "the line is not UTF-8 text".to_owned(),
                    _ => format!("the line is not readable CSV: {error}"),
                };
                errors.push(LineError {
                    line,
                    field: String::new(),
                    message,
                });
            }
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(LineError {
            line: 1,
            field: String::new(),
            message: "the file has no product lines".into(),
        });
    }
    Ok(rows)
}

/// Checks every cell of a line, collecting each bad one.
struct LineCheck<'a> {
    row: &'a Row,
    errors: &'a mut Vec<LineError>,
}

impl LineCheck<'_> {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(LineError {
            line: self.row.line,
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// The column's value through `parse`, `None` when empty (or invalid:
    /// then the error is recorded).
    fn parse<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, AppError>,
    ) -> Option<T> {
        let cell = self.row.get(column)?;
        match parse(cell) {
            Ok(value) => Some(value),
            Err(error) => {
                self.fail(column, error.to_string());
                None
            }
        }
    }

    fn number<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(i64) -> Result<T, AppError>,
    ) -> Option<T> {
        let cell = self.row.get(column)?.trim().to_owned();
        match cell.parse::<i64>() {
            Ok(value) => self.parse(column, |_| parse(value)),
            Err(_) => {
                self.fail(column, "expected a whole number, like 1250");
                None
            }
        }
    }

    /// The currency column, which must be the shop's when given.
    fn currency(&mut self, shop: Currency) -> Option<Currency> {
        let currency = self.parse("currency", |c| {
            Currency::parse(c.trim())
                .map_err(|e| AppError::unprocessable(e.code(), e.to_string(), None))
        })?;
        if currency != shop {
            self.fail(
                "currency",
                format!("this shop sells in {shop}; prices are in its currency"),
            );
            return None;
        }
        Some(currency)
    }

    /// The first image from `image_url`/`image_alt` (each falling back to
    /// `current`'s), followed by `rest`.
    fn images(&mut self, current: Option<&ImageRequest>, rest: &[ImageRequest]) -> Option<Images> {
        let url = self.row.get("image_url").map(str::to_owned);
        let alt = self.row.get("image_alt").map(str::to_owned);
        let first = ImageRequest {
            url: url.or_else(|| current.map(|c| c.url.clone()))?,
            alt: alt.or_else(|| current.map(|c| c.alt.clone()))?,
        };
        let mut all = vec![first];
        all.extend_from_slice(rest);
        match Images::parse(all) {
            Ok(images) => Some(images),
            Err(error) => {
                let field = match error.param() {
                    Some(p) if p.ends_with(".alt") => "image_alt",
                    _ => "image_url",
                };
                self.fail(field, error.to_string());
                None
            }
        }
    }

    /// A line for a SKU the shop does not have: every column but
    /// `description` is needed.
    fn create(&mut self, sku: Sku, shop: &Shop) -> Option<Planned> {
        let before = self.errors.len();
        for column in COLUMNS {
            if column != "description" && self.row.get(column).is_none() {
                self.fail(column, "required for a new SKU");
            }
        }
        let title = self.parse("title", Title::parse);
        let description = match self.row.get("description") {
            None => Some(Description::default()),
            Some(_) => self.parse("description", Description::parse),
        };
        let price = self.number("price_minor", PriceMinor::parse);
        let currency = self.currency(shop.default_currency);
        let stock = self.number("stock", Stock::parse);
        let category = self.parse("category", Category::parse);
        let images = if self.row.get("image_url").is_some() && self.row.get("image_alt").is_some() {
            self.images(None, &[])
        } else {
            None
        };
        if self.errors.len() > before {
            return None;
        }
        let changes = COLUMNS
            .into_iter()
            .filter(|c| *c != "sku" && self.row.get(c).is_some())
            .collect();
        Some(Planned::Create(
            Box::new(NewProduct {
                sku,
                title: title?,
                description: description?,
                price: Money::new(price?.get(), currency?),
                stock: stock?,
                category: category?,
                images: images?,
                active: true,
            }),
            changes,
        ))
    }

    /// A line for a SKU the shop has: the cells that differ from `current`.
    fn update(&mut self, current: &Product) -> Option<Planned> {
        let before = self.errors.len();
        let mut patch = ProductPatch::default();
        let mut changes = Vec::new();
        if let Some(title) = self.parse("title", Title::parse) {
            if title.as_str() != current.title {
                patch.title = Some(title);
                changes.push("title");
            }
        }
        if let Some(description) = self.parse("description", Description::parse) {
            if description.as_str() != current.description {
                patch.description = Some(description);
                changes.push("description");
            }
        }
        if let Some(price) = self.number("price_minor", PriceMinor::parse) {
            if price.get() != current.price.minor {
                patch.price_minor = Some(price);
                changes.push("price_minor");
            }
        }
        if self.row.get("currency").is_some() {
            self.currency(current.price.currency);
        }
        if let Some(stock) = self.number("stock", Stock::parse) {
            if stock.get() != current.stock {
                patch.stock = Some(stock);
                changes.push("stock");
            }
        }
        if let Some(category) = self.parse("category", Category::parse) {
            if category.as_str() != current.category {
                patch.category = Some(category);
                changes.push("category");
            }
        }
        if self.row.get("image_url").is_some() || self.row.get("image_alt").is_some() {
            let stored: Vec<ImageRequest> = current
                .images
                .iter()
                .map(|i| ImageRequest {
                    url: i.url.clone(),
                    alt: i.alt.clone(),
                })
                .collect();
            if let Some(images) = self.images(stored.first(), stored.get(1..).unwrap_or(&[])) {
                if images.as_slice() != current.images.as_slice() {
                    for (column, differs) in [
                        (
                            "image_url",
                            images.as_slice()[0].url != current.images[0].url,
                        ),
                        (
                            "image_alt",
                            images.as_slice()[0].alt != current.images[0].alt,
                        ),
                    ] {
                        if differs {
                            changes.push(column);
                        }
                    }
                    patch.images = Some(images);
                }
            }
        }
        if self.errors.len() > before {
            return None;
        }
        Some(if patch.is_empty() {
            Planned::Unchanged(current.id.clone())
        } else {
            Planned::Update(current.id.clone(), Box::new(patch), changes)
        })
    }
}

/// The shop's products with these SKUs, by SKU.
fn products_by_sku(
    conn: &mut DbConnection,
    shop: &Shop,
    skus: &[&str],
) -> Result<HashMap<String, Product>, AppError> {
    let mut found = HashMap::with_capacity(skus.len());
    // Chunks keep each query far below both backends' bound-parameter limits.
    for chunk in skus.chunks(1000) {
        let rows: Vec<ProductRow> = products::table
            .filter(products::shop_id.eq(&shop.id))
            .filter(products::sku.eq_any(chunk))
            .select(ProductRow::as_select())
            .load(conn)?;
        for row in rows {
            let product = Product::try_from(row)?;
            found.insert(product.sku.clone(), product);
        }
    }
    Ok(found)
}

/// Every line's plan, or every line's errors.
fn plan(
    conn: &mut DbConnection,
    shop: &Shop,
    rows: &[Row],
    errors: &mut Vec<LineError>,
) -> Result<Vec<(u64, String, Planned)>, AppError> {
    let skus: Vec<&str> = rows.iter().filter_map(|r| r.get("sku")).collect();
    let existing = products_by_sku(conn, shop, &skus)?;
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut plans = Vec::with_capacity(rows.len());
    for row in rows {
        let mut check = LineCheck { row, errors };
        let Some(sku) = check.parse("sku", Sku::parse) else {
            if row.get("sku").is_none() {
                check.fail("sku", "every line needs a SKU");
            }
            continue;
        };
        if let Some(first) = seen.insert(sku.as_str().to_owned(), row.line) {
            check.fail("sku", format!("this SKU is also on line {first}"));
            continue;
        }
        let planned = match existing.get(sku.as_str()) {
            Some(current) => check.update(current),
            None => check.create(sku.clone(), shop),
        };
        if let Some(planned) = planned {
            plans.push((row.line, sku.as_str().to_owned(), planned));
        }
    }
    Ok(plans)
}

/// Imports a CSV file of products into the shop `shop_id` that `viewer`
/// manages (see the module's documentation for the columns and rules).
/// With `dry_run` nothing is written and the report says what would be.
///
/// # Errors
/// 404 for another seller's shop; 413 `body_too_large` past
/// [`IMPORT_BYTES_MAX`]; 422 `too_many_lines` past [`IMPORT_LINES_MAX`];
/// 409 `sku_taken` when a racing request created one of the SKUs first.
/// Bad lines are not an error: they are [`ImportOutcome::Invalid`].
#[tracing::instrument(skip(conn, csv), fields(bytes = csv.len()))]
pub fn import_products(
    conn: &mut DbConnection,
    shop_id: &str,
    viewer: &str,
    staff: bool,
    csv: &[u8],
    dry_run: bool,
) -> Result<ImportOutcome, AppError> {
    if csv.len() > IMPORT_BYTES_MAX {
        return Err(AppError::PayloadTooLarge {
            limit_bytes: IMPORT_BYTES_MAX,
        });
    }
    let shop = shops::shop_for(conn, shop_id, viewer, staff)?;
    let mut errors = Vec::new();
    let rows = read_rows(csv, &mut errors)?;
    let invalid = |mut errors: Vec<LineError>| {
        errors.sort_by_key(|e| e.line);
        errors.truncate(IMPORT_ERRORS_MAX);
        Ok(ImportOutcome::Invalid(errors))
    };
    if !errors.is_empty() {
        return invalid(errors);
    }
    let mut work = |conn: &mut DbConnection| -> Result<ImportOutcome, AppError> {
        let plans = plan(conn, &shop, &rows, &mut errors)?;
        if !errors.is_empty() {
            return invalid(std::mem::take(&mut errors));
        }
        let mut report = ImportReport {
            dry_run,
            created: 0,
            updated: 0,
            unchanged: 0,
            lines: Vec::with_capacity(plans.len()),
        };
        for (line, sku, planned) in plans {
            let (action, product_id, changes) = match planned {
                Planned::Create(new, changes) => {
                    report.created += 1;
                    let id = if dry_run {
                        None
                    } else {
                        Some(insert_product(conn, &shop, &new)?.id)
                    };
                    (LineAction::Create, id, changes)
                }
                Planned::Update(id, patch, changes) => {
                    report.updated += 1;
                    if !dry_run {
                        update_product(conn, &id, viewer, staff, &patch)?;
                    }
                    (LineAction::Update, Some(id), changes)
                }
                Planned::Unchanged(id) => {
                    report.unchanged += 1;
                    (LineAction::Unchanged, Some(id), Vec::new())
                }
            };
            report.lines.push(ImportLine {
                line,
                sku,
                action,
                product_id,
                changes,
            });
        }
        Ok(ImportOutcome::Done(report))
    };
    if dry_run {
        work(conn)
    } else {
        // Planned and applied in one transaction, so what the report says
        // was compared with is what was changed.
        let outcome = db::write_transaction(conn, work)?;
        super::cache::invalidate_all();
        Ok(outcome)
    }
}
