//! `bazaar replay FILE…`: signs event payloads with the configured secrets and
//! posts them to a running instance, as the provider would.

use std::path::Path;

use super::signature;
use super::WebhookSecrets;

/// What happened to one file.
#[derive(Debug)]
pub struct Replayed {
    pub file: String,
    pub status: u16,
    pub body: String,
}

/// Posts each file to `base_url`'s platform or connect endpoint (by whether
/// the event names an `account`), signed at the current time.
///
/// # Errors
/// A file that cannot be read or is not JSON, or no secret for its endpoint;
/// an instance that cannot be reached.
pub async fn replay_files(
    base_url: &str,
    secrets: &WebhookSecrets,
    files: &[impl AsRef<Path>],
) -> anyhow::Result<Vec<Replayed>> {
    let client = reqwest::Client::new();
    let mut replayed = Vec::with_capacity(files.len());
    for file in files {
        let file = file.as_ref();
        let body = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let event: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", file.display()))?;
        let connect = event.get("account").is_some_and(|a| !a.is_null());
        let (path, secret) = if connect {
            ("/webhooks/stripe/connect", secrets.connect.first())
        } else {
            ("/webhooks/stripe", secrets.platform.first())
        };
        let secret =
            secret.ok_or_else(|| anyhow::anyhow!("no webhook secret configured for {path}"))?;
        let header = signature::sign(&body, secret, chrono::Utc::now().timestamp());
        let response = client
            .post(format!("{}{path}", base_url.trim_end_matches('/')))
            .header("content-type", "application/json")
            .header("stripe-signature", header)
            .body(body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{base_url}: {e}"))?;
        replayed.push(Replayed {
            file: file.display().to_string(),
            status: response.status().as_u16(),
            body: response.text().await.unwrap_or_default(),
        });
    }
    Ok(replayed)
}
