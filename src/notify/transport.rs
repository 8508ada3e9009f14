//! Where emails go: an SMTP relay (lettre, production) or `.eml` files in a
//! folder (the embedded default, so a newcomer can read what would be sent).

use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{EmailSettings, EmailTransport, SmtpTls};

/// Sends built messages.
#[derive(Clone)]
pub enum Transport {
    /// Each message as `{outbox id}.eml` in this folder; sending twice writes
    /// the same file again.
    Files(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Files(dir) => write!(f, "Files({})", dir.display()),
            Self::Smtp(_) => f.write_str("Smtp(..)"),
        }
    }
}

/// The configured transport and sender.
#[derive(Debug, Clone)]
pub struct Mailer {
    pub(super) transport: Transport,
    pub(super) from: Mailbox,
}

impl Mailer {
    /// Builds the transport the settings name. No connection is made yet: a
    /// relay that is down delays emails, it does not stop the marketplace.
    ///
    /// # Errors
    /// The sender does not parse, or the TLS parameters cannot be built.
    pub fn new(settings: &EmailSettings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("email.from: {e}"))?;
        let transport = match settings.transport {
            EmailTransport::File => Transport::Files(settings.outbox_dir.clone()),
            EmailTransport::Smtp => {
                let host = settings.smtp_host.clone();
                let tls = match settings.smtp_tls {
                    SmtpTls::Starttls => Tls::Required(TlsParameters::new(host.clone())?),
                    SmtpTls::Implicit => Tls::Wrapper(TlsParameters::new(host.clone())?),
                    SmtpTls::None => Tls::None,
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(settings.smtp_port)
                    .tls(tls)
                    .timeout(Some(settings.smtp_timeout));
                if let Some(password) = &settings.smtp_password {
                    builder = builder.credentials(Credentials::new(
                        settings.smtp_username.clone(),
                        password.expose_secret().to_owned(),
                    ));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Self { transport, from })
    }

    /// The sender's domain, for Message-IDs.
    pub(super) fn domain(&self) -> &str {
        self.from.email.domain()
    }

    /// Sends one message; `file_stem` names its file with the file transport.
    ///
    /// # Errors
    /// The relay refused or could not be reached, or the folder is not writable.
    pub(super) async fn send(&self, message: &Message, file_stem: &str) -> anyhow::Result<()> {
        match &self.transport {
            Transport::Files(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                // Written aside, then renamed: a reader never sees half a message.
                let partial = dir.join(format!(".{file_stem}.eml.partial"));
                tokio::fs::write(&partial, message.formatted()).await?;
                tokio::fs::rename(&partial, dir.join(format!("{file_stem}.eml"))).await?;
                Ok(())
            }
            Transport::Smtp(smtp) => {
                smtp.send(message.clone()).await?;
                Ok(())
            }
        }
    }
}
