//! Reading the emails the file transport wrote (`email.outbox_dir`), as the
//! recipient would: the link a message carries.

#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use super::TestApp;

/// Every `.eml` file to `to`, its text decoded (quoted-printable and base64
/// parts undone), oldest first.
pub fn messages_to(app: &TestApp, to: &str) -> Vec<String> {
    let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
    let Ok(entries) = std::fs::read_dir(app.outbox_dir.path()) else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Ok(raw) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let addressed = raw
            .lines()
            .take_while(|line| !line.is_empty())
            .any(|line| line.to_ascii_lowercase().starts_with("to:") && line.contains(to));
        if addressed {
            let at = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            found.push((at, decode(&raw)));
        }
    }
    found.sort();
    found.into_iter().map(|(_, text)| text).collect()
}

/// The message's bodies made readable: soft line breaks and `=XX` escapes
/// of quoted-printable undone, base64 blocks decoded and appended.
fn decode(raw: &str) -> String {
    let unfolded = raw.replace("=\r\n", "").replace("=\n", "");
    let mut text = String::new();
    let mut chars = unfolded.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '=' {
            let hex: String = chars.clone().take(2).collect();
            if let Ok(byte) = u8::from_str_radix(&hex, 16) {
                chars.next();
                chars.next();
                text.push(char::from(byte));
                continue;
            }
        }
        text.push(c);
    }
    let mut block = String::new();
    for line in raw.lines() {
        let line = line.trim();
        let base64ish = !line.is_empty()
            && line
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
        if base64ish && line.len() >= 40 {
            block.push_str(line);
        } else if !block.is_empty() {
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(&base64_decode(&block)));
            block.clear();
        }
    }
    text
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.bytes().filter(|b| *b != b'=') {
        let Some(value) = ALPHABET.iter().position(|a| *a == byte) else {
            continue;
        };
        buffer = (buffer << 6) | u32::try_from(value).unwrap();
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
        }
    }
    out
}

/// The first `{path}?token=…` link in a message to `to` (waiting up to 10 s
/// for the email job to send it), from the last message that has one.
pub async fn wait_for_link(app: &TestApp, to: &str, path: &str) -> String {
    for _ in 0..200 {
        if let Some(link) = messages_to(app, to)
            .iter()
            .rev()
            .find_map(|text| link_in(text, path))
        {
            return link;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no email to {to} with a {path} link in 10 s");
}

/// The first link to `path` with a token in `text`: scheme to the end of the
/// URL (spaces, quotes, `<` and `>` end it), `&amp;` unescaped.
pub fn link_in(text: &str, path: &str) -> Option<String> {
    let needle = format!("{path}?token=");
    let at = text.find(&needle)?;
    let start = text[..at].rfind("http")?;
    let end = text[at..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .map_or(text.len(), |e| at + e);
    Some(text[start..end].replace("&amp;", "&"))
}

/// The `token` of a link.
pub fn token_of(link: &str) -> String {
    let query = link.split_once('?').expect("a query").1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .expect("a token")
        .to_owned()
}
