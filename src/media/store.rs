//! Where re-encoded pictures are kept: behind [`ImageStore`], so the local
//! disk of one server can later become an S3-compatible bucket (an
//! `object_store` or S3 client implementing the same three calls; keys are
//! already flat names, as object keys are) without touching the upload or
//! the serving code.

use std::io;
use std::path::{Path, PathBuf};

/// A stored picture and the type it was stored as.
#[derive(Debug, Clone)]
pub struct StoredImage {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// Keeps pictures under flat keys chosen by the server (`<hex>-<W>w-640.webp`).
#[async_trait::async_trait]
pub trait ImageStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing nothing a reader could see half
    /// written.
    ///
    /// # Errors
    /// The key is not a flat name, or the store cannot write.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> io::Result<()>;

    /// The picture under `key`, `None` when there is none.
    ///
    /// # Errors
    /// The store cannot be read.
    async fn get(&self, key: &str) -> io::Result<Option<StoredImage>>;

    /// Removes `key`; removing a missing key is not an error.
    ///
    /// # Errors
    /// The store cannot delete.
    async fn delete(&self, key: &str) -> io::Result<()>;
}

/// Pictures as files in one folder (`media.dir`).
///
/// The local disk keeps no content type: it follows from the key's extension,
/// and only `.webp` is ever written.
#[derive(Debug, Clone)]
pub struct LocalDiskStore {
    dir: PathBuf,
}

/// A key that cannot name anything outside the folder, nor a temporary file.
pub fn is_flat_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn checked(key: &str) -> io::Result<()> {
    if is_flat_key(key) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a flat store key",
        ))
    }
}

fn content_type_of(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("webp") => "image/webp",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

impl LocalDiskStore {
    /// A store in `dir`, created (with its parents) when missing.
    ///
    /// # Errors
    /// The folder cannot be created.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self::at(dir))
    }

    /// A store in `dir`, not touching the disk: the folder is created on the
    /// first write.
    pub fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn put_blocking(dir: &Path, key: &str, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(dir)?;
        // The temporary name starts with a dot, which no key may: a reader
        // never sees it, and a crash leaves only dot-files to sweep.
        let tmp = dir.join(format!(".tmp-{}", hex::encode(rand::random::<[u8; 8]>())));
        let written = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            // On disk before the rename makes it visible: a crash never
            // leaves a complete name over a partial file.
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(key))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

#[async_trait::async_trait]
impl ImageStore for LocalDiskStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> io::Result<()> {
        checked(key)?;
        let (dir, key) = (self.dir.clone(), key.to_owned());
        blocking(move || Self::put_blocking(&dir, &key, &bytes)).await
    }

    async fn get(&self, key: &str) -> io::Result<Option<StoredImage>> {
        if !is_flat_key(key) {
            return Ok(None);
        }
        let path = self.dir.join(key);
        let content_type = content_type_of(key).to_owned();
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(StoredImage {
                bytes,
                content_type,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        checked(key)?;
        let path = self.dir.join(key);
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_climb_out_or_hide() {
        assert!(is_flat_key("0a1b-1200w-640.webp"));
        for bad in ["", "../x.webp", "a/b.webp", ".tmp-1", "a\\b", "a b"] {
            assert!(!is_flat_key(bad), "{bad:?}");
        }
    }
}
