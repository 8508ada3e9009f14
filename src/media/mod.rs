//! Pictures sellers upload: checked, re-encoded and stored, never served as
//! sent.
//!
//! - [`images`]: the checks and the re-encoding (plain functions over bytes);
//! - [`store`]: where the variants are kept ([`store::ImageStore`], on local
//!   disk under `media.dir` for now);
//! - this file: the names the variants are served under, and the
//!   `media_images` row that makes every upload attributable;
//! - `http`: `POST /v1/media/images`;
//! - [`sweep`]: uploads no product or shop uses, deleted after
//!   `media.unused_after_hours`.
//!
//! A picture's files are `<key>-<W>w-<slot>.webp`: `key` is 32 random hex
//! digits chosen here, `W` the upright picture's width, `slot` 320, 640 or
//! 960 (see [`images::plan`]). The `-640` one is the URL a product keeps.

mod http;
pub mod images;
pub mod schema;
pub mod store;
pub mod sweep;

use std::path::Path;

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::AppError;
pub use http::{accept_upload, read_upload, routes, UploadedImage, VariantView};

/// Random bytes in a key (hex-encoded: twice as many characters).
const KEY_BYTES: usize = 16;

/// A fresh key: random, never derived from anything the client sent.
pub fn new_key() -> String {
    hex::encode(rand::random::<[u8; KEY_BYTES]>())
}

/// The stem every variant of a picture shares: `<key>-<W>w`.
pub fn stem(key: &str, width: u32) -> String {
    format!("{key}-{width}w")
}

/// The file (and `/media/` name) of one variant.
pub fn file_name(key: &str, width: u32, slot: u32) -> String {
    format!("{}-{slot}.webp", stem(key, width))
}

/// The original width an uploaded picture's stem records, when `stem` is
/// one (`<32 hex>-<W>w`); `None` for the demo pictures' names.
fn uploaded_width(stem: &str) -> Option<u32> {
    let (key, width) = stem.split_once('-')?;
    let width = width.strip_suffix('w')?;
    let is_key =
        key.len() == KEY_BYTES * 2 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let is_width =
        !width.is_empty() && width.len() <= 5 && width.bytes().all(|b| b.is_ascii_digit());
    if !(is_key && is_width) {
        return None;
    }
    width.parse().ok()
}

/// Whether `name` is a variant an upload could have stored (the serving
/// side asks the store only for these).
pub fn is_uploaded_name(name: &str) -> bool {
    let Some(rest) = name.strip_suffix(".webp") else {
        return false;
    };
    let Some((stem, slot)) = rest.rsplit_once('-') else {
        return false;
    };
    let Some(width) = uploaded_width(stem) else {
        return false;
    };
    images::plan(width)
        .iter()
        .any(|(s, _)| s.to_string() == slot)
}

/// The `srcset` of an uploaded picture from its `-640` URL's stem (the URL
/// without `-640.webp`): only the variants that exist, at their real
/// widths. `None` when the stem is not an upload's.
pub fn uploaded_srcset(url_stem: &str) -> Option<String> {
    let name = url_stem.rsplit('/').next()?;
    let width = uploaded_width(name)?;
    let parts: Vec<String> = images::plan(width)
        .into_iter()
        .map(|(slot, real)| format!("{url_stem}-{slot}.webp {real}w"))
        .collect();
    Some(parts.join(", "))
}

/// The store the settings name (local disk under `media.dir`).
pub fn store_at(dir: &Path) -> store::LocalDiskStore {
    store::LocalDiskStore::at(dir)
}

/// One upload, as recorded.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = schema::media_images)]
pub struct MediaImage {
    pub key: String,
    pub owner_user_id: String,
    pub width: i32,
    pub height: i32,
    /// The upload's size as received.
    pub bytes: i64,
    pub created_at: chrono::NaiveDateTime,
}

/// Records that `owner` uploaded the picture stored under `key`.
///
/// # Errors
/// The database refuses the row.
pub fn record_upload(
    conn: &mut DbConnection,
    key: &str,
    owner: &str,
    (width, height): (u32, u32),
    bytes: usize,
) -> Result<MediaImage, AppError> {
    let row = MediaImage {
        key: key.to_owned(),
        owner_user_id: owner.to_owned(),
        width: i32::try_from(width).map_err(|e| AppError::Internal(e.into()))?,
        height: i32::try_from(height).map_err(|e| AppError::Internal(e.into()))?,
        bytes: i64::try_from(bytes).map_err(|e| AppError::Internal(e.into()))?,
        created_at: crate::db::now(),
    };
    diesel::insert_into(schema::media_images::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srcset_lists_only_what_exists() {
        let key = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            uploaded_srcset(&format!("/media/{key}-500w")).unwrap(),
            format!("/media/{key}-500w-320.webp 320w, /media/{key}-500w-640.webp 500w")
        );
        assert!(uploaded_srcset("/media/backpack-forest").is_none());
        assert!(is_uploaded_name(&file_name(key, 500, 640)));
        assert!(!is_uploaded_name(&file_name(key, 500, 960)));
        assert!(!is_uploaded_name("backpack-forest-640.webp"));
    }
}
