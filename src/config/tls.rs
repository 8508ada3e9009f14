//! Optional TLS on the listener, for deployments without a proxy in front:
//! a PEM certificate chain and its private key, served with rustls (ring).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{invalid, ConfigError};

const CERT_KEY: &str = "server.tls_cert_file";
const KEY_KEY: &str = "server.tls_key_file";

/// Where the listener's certificate and key are. Only the paths are kept, so a
/// `Debug` print of the settings never shows key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM: the server certificate first, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

impl TlsSettings {
    /// Both keys or neither; an empty string means unset.
    ///
    /// # Errors
    /// Only one of the two is set, or the files do not make a server
    /// configuration (see [`TlsSettings::server_config`]).
    pub(crate) fn from_raw(cert_file: &str, key_file: &str) -> Result<Option<Self>, ConfigError> {
        let settings = match (cert_file.trim(), key_file.trim()) {
            ("", "") => return Ok(None),
            (_, "") => return Err(invalid(KEY_KEY, format!("required when {CERT_KEY} is set"))),
            ("", _) => return Err(invalid(CERT_KEY, format!("required when {KEY_KEY} is set"))),
            (cert, key) => Self {
                cert_file: PathBuf::from(cert),
                key_file: PathBuf::from(key),
            },
        };
        // Read now, so a bad file stops the start (and `bazaar config`) naming its key.
        settings.server_config()?;
        Ok(Some(settings))
    }

    /// The certificate chain as PEM, e.g. for a local client to trust.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn certificate_pem(&self) -> Result<Vec<u8>, ConfigError> {
        read(CERT_KEY, &self.cert_file)
    }

    /// The rustls configuration the listener serves with.
    ///
    /// # Errors
    /// A file cannot be read, holds no PEM certificate or key, or the key does
    /// not belong to the certificate; the message names the key and the path.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, ConfigError> {
        let cert_pem = self.certificate_pem()?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                invalid(
                    CERT_KEY,
                    format!(
                        "{} is not a PEM certificate chain: {e}",
                        self.cert_file.display()
                    ),
                )
            })?;
        if chain.is_empty() {
            return Err(invalid(
                CERT_KEY,
                format!("{} holds no CERTIFICATE block", self.cert_file.display()),
            ));
        }
        let key_pem = read(KEY_KEY, &self.key_file)?;
        // The parser's own message could quote the file; say only what was expected.
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
            invalid(
                KEY_KEY,
                format!(
                    "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                    self.key_file.display()
                ),
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(CERT_KEY, format!("no TLS protocol version available: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                invalid(
                    KEY_KEY,
                    format!(
                        "{} does not fit the certificate in {}: {e}",
                        self.key_file.display(),
                        self.cert_file.display()
                    ),
                )
            })
    }
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))
}
