//! TOTP secrets at rest: AES-256-GCM under keys from `auth.totp_encryption_keys`.
//! The sealing itself ([`SealingKeys`]) is shared: webhook endpoints' secrets
//! use the same keys, with associated data of their own.
//!
//! Stored as `v1:<key id>:<nonce hex>:<ciphertext and tag hex>`; the key id is
//! the first 8 hex characters of SHA-256 over a label and the key, so keys
//! need no names and a row says which key opens it. The user's id is the
//! associated data: a sealed secret copied onto another user's row does not open.
//!
//! The first configured key encrypts, every listed key decrypts. Without
//! configured keys (development), a key made once is kept in `web_secrets`:
//! it keeps the secrets out of logs and casual reads, not out of a stolen
//! database — `BAZAAR_ENV=production` refuses to start without keys. When keys
//! are configured, that stored key (if any) still decrypts, so rows move to the
//! configured key at the next start. A row without the `v1:` prefix is a
//! plaintext secret from before encryption: it is read as such and encrypted at
//! start ([`reencrypt_totp_secrets`]) or at its next use.

use diesel::prelude::*;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::schema::users;
use crate::config::AuthSettings;
use crate::db::{self, DbConnection};
use crate::error::AppError;

/// The stored format's version prefix.
const V1: &str = "v1";
/// The development key's name in `web_secrets`.
const DEV_KEY_NAME: &str = "totp_encryption_key";
const KEY_BYTES: usize = 32;

/// One key and its id.
struct SealingKey {
    id: String,
    key: LessSafeKey,
}

/// The keys that seal secrets at rest (TOTP secrets here, webhook endpoints'
/// secrets in `events::endpoints`): one key set to configure and rotate. The
/// first seals; every one opens. Each use binds its rows with its own
/// associated data, so a value sealed for one purpose or row opens nowhere else.
pub(crate) struct SealingKeys {
    keys: Vec<SealingKey>,
}

impl std::fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("SealingKeys").field("ids", &ids).finish()
    }
}

/// A value read back: its plaintext, and whether it must be sealed again
/// (sealed under a key that no longer seals).
pub(crate) struct Unsealed {
    pub plaintext: String,
    pub stale: bool,
}

fn internal(message: String) -> AppError {
    AppError::Internal(anyhow::anyhow!(message))
}

fn key_from_bytes(bytes: &[u8]) -> Result<SealingKey, AppError> {
    let digest = Sha256::new()
        .chain_update(b"bazaar totp key id\0")
        .chain_update(bytes)
        .finalize();
    let unbound = UnboundKey::new(&AES_256_GCM, bytes)
        .map_err(|_| internal("an encryption key is not 32 bytes".into()))?;
    Ok(SealingKey {
        id: hex::encode(&digest[..4]),
        key: LessSafeKey::new(unbound),
    })
}

fn key_from_hex(text: &str) -> Result<SealingKey, AppError> {
    let bytes = hex::decode(text.trim())
        .ok()
        .filter(|b| b.len() == KEY_BYTES)
        .ok_or_else(|| internal("an encryption key is not 64 hex characters".into()))?;
    key_from_bytes(&bytes)
}

/// The development key, read from `web_secrets`; made there when `create`.
fn stored_key(conn: &mut DbConnection, create: bool) -> Result<Option<SealingKey>, AppError> {
    let stored = if create {
        Some(db::installation_secret(conn, DEV_KEY_NAME)?)
    } else {
        db::stored_secret(conn, DEV_KEY_NAME)?
    };
    stored.map(|stored| key_from_hex(&stored)).transpose()
}

impl SealingKeys {
    /// The configured keys (first seals), then the database's development key
    /// if there is one; without configured keys, the development key (made on
    /// first use).
    ///
    /// # Errors
    /// A database failure, or a malformed key.
    pub(crate) fn load(conn: &mut DbConnection, settings: &AuthSettings) -> Result<Self, AppError> {
        let mut keys = settings
            .totp_encryption_keys
            .iter()
            .map(|key| key_from_hex(key.expose_secret()))
            .collect::<Result<Vec<_>, _>>()?;
        let create = keys.is_empty();
        if let Some(stored) = stored_key(conn, create)? {
            if keys.iter().all(|k| k.id != stored.id) {
                keys.push(stored);
            }
        }
        if keys.is_empty() {
            return Err(internal("no encryption key".into()));
        }
        Ok(Self { keys })
    }

    /// Keys from hex strings, the first sealing (tests).
    #[cfg(test)]
    pub(crate) fn from_hex(keys: &[&str]) -> Self {
        Self {
            keys: keys.iter().map(|k| key_from_hex(k).unwrap()).collect(),
        }
    }

    fn sealing(&self) -> &SealingKey {
        &self.keys[0]
    }

    /// `plaintext` sealed under the first key, bound to `associated_data`:
    /// `v1:<key id>:<nonce hex>:<ciphertext and tag hex>`.
    ///
    /// # Errors
    /// The cipher failed (it does not, for these sizes).
    pub(crate) fn seal(&self, associated_data: &str, plaintext: &str) -> Result<String, AppError> {
        let key = self.sealing();
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut sealed = plaintext.as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(associated_data.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| internal("sealing a secret failed".into()))?;
        Ok(format!(
            "{V1}:{}:{}:{}",
            key.id,
            hex::encode(nonce_bytes),
            hex::encode(sealed)
        ))
    }

    /// The plaintext that [`SealingKeys::seal`] sealed as `stored` with
    /// `associated_data`; `what` names it in errors (e.g. "the TOTP secret of usr_1").
    ///
    /// # Errors
    /// 500 when it is not in the v1 format, is sealed under a key that is not
    /// configured (named by id, never the key), or does not open (tampered, or
    /// other associated data).
    pub(crate) fn open(
        &self,
        associated_data: &str,
        stored: &str,
        what: &str,
    ) -> Result<Unsealed, AppError> {
        let mut parts = stored
            .strip_prefix("v1:")
            .ok_or_else(|| internal(format!("{what} is not in the v1 format")))?
            .splitn(3, ':');
        let (Some(id), Some(nonce), Some(sealed)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(internal(format!("{what} is not in the v1 format")));
        };
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| {
            internal(format!(
                "{what} is sealed with key id {id}, which auth.totp_encryption_keys does not list"
            ))
        })?;
        let nonce: [u8; NONCE_LEN] = hex::decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| internal(format!("{what} has a bad nonce")))?;
        let mut sealed = hex::decode(sealed).map_err(|_| internal(format!("{what} is not hex")))?;
        let opened = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| internal(format!("{what} does not open")))?;
        let plaintext = String::from_utf8(opened.to_vec())
            .map_err(|_| internal(format!("{what} is not text")))?;
        Ok(Unsealed {
            plaintext,
            stale: id != self.sealing().id,
        })
    }
}

/// The keys TOTP secrets are sealed and opened with, each bound to its user.
#[derive(Debug)]
pub(crate) struct TotpKeys {
    keys: SealingKeys,
}

/// A secret read back: its base32 value, and whether it must be sealed again
/// (plaintext, or sealed under a key that no longer seals).
pub(crate) struct Opened {
    pub secret_base32: String,
    pub stale: bool,
}

fn associated_data(user_id: &str) -> String {
    format!("bazaar totp v1\0{user_id}")
}

impl TotpKeys {
    /// See [`SealingKeys::load`].
    ///
    /// # Errors
    /// A database failure, or a malformed key.
    pub(crate) fn load(conn: &mut DbConnection, settings: &AuthSettings) -> Result<Self, AppError> {
        SealingKeys::load(conn, settings).map(|keys| Self { keys })
    }

    /// Keys from hex strings, the first sealing (tests).
    #[cfg(test)]
    fn from_hex(keys: &[&str]) -> Self {
        Self {
            keys: SealingKeys::from_hex(keys),
        }
    }

    /// `secret_base32` sealed for `user_id` under the first key.
    ///
    /// # Errors
    /// The cipher failed (it does not, for these sizes).
    pub(crate) fn seal(&self, user_id: &str, secret_base32: &str) -> Result<String, AppError> {
        self.keys.seal(&associated_data(user_id), secret_base32)
    }

    /// The secret stored as `stored` on `user_id`'s row.
    ///
    /// # Errors
    /// 500 when the row is sealed under a key that is not configured (named by
    /// id, never the key), or does not open (tampered, or another user's row).
    pub(crate) fn open(&self, user_id: &str, stored: &str) -> Result<Opened, AppError> {
        if !stored.starts_with("v1:") {
            // Base32 has no ':': a row from before encryption.
            return Ok(Opened {
                secret_base32: stored.to_owned(),
                stale: true,
            });
        }
        let unsealed = self.keys.open(
            &associated_data(user_id),
            stored,
            &format!("the TOTP secret of {user_id}"),
        )?;
        Ok(Opened {
            secret_base32: unsealed.plaintext,
            stale: unsealed.stale,
        })
    }
}

/// Seals every TOTP secret that is plaintext or sealed under a key other than
/// the first, each with a conditional update (several processes starting at
/// once do not undo each other). Runs at every start; returns how many rows
/// moved.
///
/// # Errors
/// A database failure, or a row no listed key opens: the start is refused
/// rather than staff being unable to log in.
pub fn reencrypt_totp_secrets(
    conn: &mut DbConnection,
    settings: &AuthSettings,
) -> Result<usize, AppError> {
    let keys = TotpKeys::load(conn, settings)?;
    let current = format!("{V1}:{}:", keys.keys.sealing().id);
    let rows: Vec<(String, Option<String>)> = users::table
        .filter(users::totp_secret.is_not_null())
        .select((users::id, users::totp_secret))
        .load(conn)?;
    let mut moved = 0;
    for (user_id, stored) in rows {
        let Some(stored) = stored.filter(|s| !s.starts_with(&current)) else {
            continue;
        };
        let opened = keys.open(&user_id, &stored)?;
        let sealed = keys.seal(&user_id, &opened.secret_base32)?;
        moved += diesel::update(
            users::table
                .find(&user_id)
                .filter(users::totp_secret.eq(&stored)),
        )
        .set(users::totp_secret.eq(&sealed))
        .execute(conn)?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const B: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    #[test]
    fn sealed_secrets_open_for_their_user_only_and_under_listed_keys() {
        let keys = TotpKeys::from_hex(&[A]);
        let sealed = keys.seal("usr_1", "JBSWY3DPEHPK3PXP").unwrap();
        assert!(sealed.starts_with("v1:"), "{sealed}");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        let opened = keys.open("usr_1", &sealed).unwrap();
        assert_eq!(opened.secret_base32, "JBSWY3DPEHPK3PXP");
        assert!(!opened.stale);
        assert!(keys.open("usr_2", &sealed).is_err(), "bound to its user");
        // Rotation: a new key first, the old one still opens (and is stale).
        let rotated = TotpKeys::from_hex(&[B, A]);
        let opened = rotated.open("usr_1", &sealed).unwrap();
        assert_eq!(opened.secret_base32, "JBSWY3DPEHPK3PXP");
        assert!(opened.stale);
        // Dropped too early: refused, naming the key id only.
        let Err(error) = TotpKeys::from_hex(&[B]).open("usr_1", &sealed) else {
            panic!("opened without its key");
        };
        assert!(!format!("{error:?}").contains(A));
        // Plaintext from before encryption reads as itself, stale.
        let legacy = keys.open("usr_1", "JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(legacy.secret_base32, "JBSWY3DPEHPK3PXP");
        assert!(legacy.stale);
    }

    #[test]
    fn rows_sealed_before_the_sealing_was_shared_still_open() {
        // Sealed under key A for usr_1 by the format's first implementation
        // (fixed nonce), checked independently with Python's `cryptography`.
        let stored = "v1:61433cf2:0badc0ffee0ddf00d1234567:\
                      006fd48c05b1037126b35750fc8e9382dd3c3f73a992595c5d3db46c9a8e6bde";
        let opened = TotpKeys::from_hex(&[A]).open("usr_1", stored).unwrap();
        assert_eq!(opened.secret_base32, "JBSWY3DPEHPK3PXP");
        assert!(!opened.stale);
    }
}
