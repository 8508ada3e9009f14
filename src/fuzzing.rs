//! Properties of the parsers that read hostile input, as functions of raw bytes.
//!
//! Each function panics when a property fails and returns quietly otherwise, so
//! the cargo-fuzz targets under `fuzz/` and the corpus replay in
//! `tests/fuzz_corpus.rs` run the very same checks: one copy, compiled by the
//! normal build (so clippy and `cargo test` keep it honest), never called by the
//! service itself. The input's first bytes choose a mode or carry numbers; the
//! rest is the text under test, so any file is a valid input.

use actix_web::ResponseError;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::fees::{fee_for, FeeRuleVersion, FeeTerms, AMOUNT_MINOR_MAX, PERCENTAGE_SCALE_MAX};
use crate::money::{Currency, Money, MoneyError, Rounding, MAX_AMOUNT_LEN};
use crate::sandbox::form::{self, FormError, FORM_DEPTH_MAX};
use crate::webhooks::signature::{self, SignatureError, SIGNATURES_MAX};
use crate::webhooks::{decode_event, EventEnvelope, Source};

/// The fuzz targets, by name: `fuzz/fuzz_targets/{name}.rs` calls the function
/// and `fuzz/corpus/{name}/` holds its seeds.
/// A fuzz target: its name and the property it checks on one input.
pub type Target = (&'static str, fn(&[u8]));

/// The fuzz targets, by name.
pub const TARGETS: [Target; 4] = [
    ("webhook_signature", webhook_signature),
    ("sandbox_form", sandbox_form),
    ("money", money),
    ("webhook_envelope", webhook_envelope),
];

/// Reads numbers off the front of the input; missing bytes read as zero.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        let (&first, rest) = self.data.split_first().unwrap_or((&0, &[]));
        self.data = rest;
        first
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn i64(&mut self) -> i64 {
        let mut bytes = [0u8; 8];
        for byte in &mut bytes {
            *byte = self.u8();
        }
        i64::from_le_bytes(bytes)
    }

    /// A length-prefixed slice (one byte of length).
    fn chunk(&mut self) -> &'a [u8] {
        let len = usize::from(self.u8()).min(self.data.len());
        let (chunk, rest) = self.data.split_at(len);
        self.data = rest;
        chunk
    }

    fn rest(self) -> &'a [u8] {
        self.data
    }
}

fn hmac_hex(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// `Stripe-Signature`: arbitrary headers parse or fail without panicking, a
/// header that verifies carries a valid HMAC of one of the secrets within the
/// tolerance, and what [`signature::sign`] writes parses and verifies, and
/// stops verifying when the body, the secret or the clock is wrong.
pub fn webhook_signature(data: &[u8]) {
    let mut input = Input { data };
    let mode = input.u8();
    let now = input.i64();
    let tolerance_s = i64::from(input.u16() % 3601);
    if mode.is_multiple_of(2) {
        let header = String::from_utf8_lossy(input.chunk()).into_owned();
        let payload = input.rest();
        let secrets = vec!["whsec_fuzz_a".to_owned(), "whsec_fuzz_b".to_owned()];
        let lowered = header.to_ascii_lowercase();
        if let Ok(parsed) = signature::parse_header(&header) {
            assert!(!parsed.signatures.is_empty(), "parsed without a v1");
            assert!(parsed.signatures.len() <= SIGNATURES_MAX, "too many v1");
            for sig in &parsed.signatures {
                assert!(
                    lowered.contains(&format!("v1={}", hex::encode(sig))),
                    "a v1 that is not in the header"
                );
            }
        }
        if let Ok(t) = signature::verify(payload, &header, &secrets, tolerance_s, now) {
            let parsed = signature::parse_header(&header).expect("a verified header parses");
            assert_eq!(t, parsed.timestamp);
            assert!(
                (i128::from(now) - i128::from(t)).abs() <= i128::from(tolerance_s),
                "verified outside the tolerance"
            );
            assert!(
                secrets
                    .iter()
                    .any(|s| lowered.contains(&format!("v1={}", hmac_hex(s, t, payload)))),
                "verified without carrying a valid signature"
            );
        }
        return;
    }
    let secret = String::from_utf8_lossy(input.chunk()).into_owned();
    let other = String::from_utf8_lossy(input.chunk()).into_owned();
    let payload = input.rest();
    let t = now;
    let header = signature::sign(payload, &secret, t);
    let parsed = signature::parse_header(&header).expect("a signed header parses");
    assert_eq!(parsed.timestamp, t);
    assert_eq!(parsed.signatures.len(), 1);
    assert_eq!(
        hex::encode(parsed.signatures[0]),
        hmac_hex(&secret, t, payload)
    );
    let secrets = [secret.clone()];
    assert_eq!(
        signature::verify(payload, &header, &secrets, tolerance_s, t),
        Ok(t)
    );
    if let Some(late) = t.checked_add(tolerance_s + 1) {
        assert_eq!(
            signature::verify(payload, &header, &secrets, tolerance_s, late),
            Err(SignatureError::OutsideTolerance)
        );
    }
    let mut changed = payload.to_vec();
    match changed.first_mut() {
        Some(byte) => *byte ^= 1,
        None => changed.push(b' '),
    }
    assert_eq!(
        signature::verify(&changed, &header, &secrets, tolerance_s, t),
        Err(SignatureError::Mismatch)
    );
    // HMAC pads a short key with NULs, so "k" and "k\0" are the same key.
    if other.trim_end_matches('\0') != secret.trim_end_matches('\0') {
        let wrong = [other.clone()];
        assert_eq!(
            signature::verify(payload, &header, &wrong, tolerance_s, t),
            Err(SignatureError::Mismatch)
        );
        // During a rotation the provider signs with both secrets; either verifies.
        let both = format!("{header},v1={}", hmac_hex(&other, t, payload));
        assert_eq!(
            signature::verify(payload, &both, &wrong, tolerance_s, t),
            Ok(t)
        );
        assert_eq!(
            signature::verify(payload, &both, &secrets, tolerance_s, t),
            Ok(t)
        );
    }
}

/// The sandbox's form decoder: never panics; what it decodes is an object of
/// strings, arrays and objects within the depth limit; re-encoding the tree
/// canonically decodes to the same tree; and [`form::encode_component`] is
/// undone by [`form::percent_decode`].
pub fn sandbox_form(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    assert_eq!(
        form::percent_decode(form::encode_component(&text).as_bytes()).as_deref(),
        Ok(&*text),
        "encode_component does not round-trip"
    );
    let _ = form::percent_decode(data);
    let Ok(tree) = form::decode(data) else {
        return;
    };
    let serde_json::Value::Object(root) = &tree else {
        panic!("a form decodes to an object, not {tree}");
    };
    for (key, value) in root {
        check_form_value(key, value, 1);
    }
    let mut pairs = Vec::new();
    for (key, value) in root {
        encode_form_value(&form::encode_component(key), value, &mut pairs);
    }
    match form::decode(pairs.join("&").as_bytes()) {
        Ok(again) => assert_eq!(again, tree, "re-encoded as {}", pairs.join("&")),
        // Escapes and explicit indices make the canonical form longer than the input.
        Err(FormError::TooLarge | FormError::KeyTooComplex(_)) => {}
        Err(other) => panic!("re-encoding {tree} was refused: {other}"),
    }
}

fn check_form_value(path: &str, value: &serde_json::Value, depth: usize) {
    use serde_json::Value;
    assert!(depth <= FORM_DEPTH_MAX + 1, "{path} nests too deep");
    match value {
        Value::String(_) => {}
        Value::Array(items) => {
            assert!(!items.is_empty(), "{path} is an empty array");
            for item in items {
                check_form_value(path, item, depth + 1);
            }
        }
        Value::Object(map) => {
            assert!(!map.is_empty(), "{path} is an empty object");
            for (key, item) in map {
                check_form_value(key, item, depth + 1);
            }
        }
        other => panic!("{path} decoded to a non-string leaf {other}"),
    }
}

/// `a[b][0]=v` pairs for a decoded tree: arrays with explicit indices, every
/// name and value percent-encoded (brackets in names too, so they stay names).
fn encode_form_value(key: &str, value: &serde_json::Value, pairs: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::String(s) => pairs.push(format!("{key}={}", form::encode_component(s))),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                encode_form_value(&format!("{key}[{i}]"), item, pairs);
            }
        }
        Value::Object(map) => {
            for (name, item) in map {
                encode_form_value(
                    &format!("{key}[{}]", form::encode_component(name)),
                    item,
                    pairs,
                );
            }
        }
        _ => {}
    }
}

/// Amounts and currencies as requests carry them: [`Currency::parse`] agrees
/// with its own output; [`Money::parse_decimal`] matches a digit-string oracle
/// and its output formats and parses back to itself; every `i64` formats and
/// parses back (no overflow at the edges); a fee percentage as the fee-rule
/// API parses it prices any part within the part.
pub fn money(data: &[u8]) {
    let mut input = Input { data };
    let minor = input.i64();
    let pick = input.u8();
    let code = String::from_utf8_lossy(input.chunk()).into_owned();
    let text = String::from_utf8_lossy(input.rest()).into_owned();

    let currency = match Currency::parse(&code) {
        Ok(currency) => {
            assert_eq!(currency.code(), code.to_ascii_uppercase());
            assert_eq!(Currency::parse(currency.code()), Ok(currency));
            assert_eq!(Currency::parse(&currency.provider_code()), Ok(currency));
            assert!(matches!(currency.exponent(), 0 | 2 | 3));
            currency
        }
        Err(MoneyError::UnknownCurrency(echo)) => {
            assert!(echo.chars().count() <= 16, "echoed too much: {echo}");
            let known = ["USD", "JPY", "KWD", "EUR", "BHD", "CLP", "GBP"];
            Currency::parse(known[usize::from(pick) % known.len()]).expect("known code")
        }
        Err(other) => panic!("Currency::parse failed with {other:?}"),
    };

    let any = Money::new(minor, currency);
    let major = major_units(any);
    assert_eq!(
        Money::parse_decimal(&major, currency),
        Ok(any),
        "{minor} formatted as {major}"
    );

    let parsed = Money::parse_decimal(&text, currency);
    match (&parsed, decimal_oracle(&text, currency.exponent())) {
        (Ok(money), Oracle::Minor(expected)) => {
            assert_eq!(money.currency, currency);
            assert_eq!(money.minor.to_string(), expected, "{text} in {currency}");
            let formatted = major_units(*money);
            assert_eq!(Money::parse_decimal(&formatted, currency), Ok(*money));
            assert_eq!(
                major_units(Money::parse_decimal(&formatted, currency).expect("parsed")),
                formatted
            );
        }
        (Err(MoneyError::Overflow), Oracle::OutOfRange)
        | (Err(MoneyError::TooPrecise), Oracle::TooPrecise)
        | (Err(MoneyError::Malformed), Oracle::Malformed) => {}
        (got, expected) => panic!("{text:?} in {currency}: got {got:?}, expected {expected:?}"),
    }

    let fixed =
        std::collections::BTreeMap::from([(currency.code().to_owned(), i64::from(pick) * 7)]);
    let (min_minor, max_minor) = match pick % 4 {
        0 => (None, None),
        1 => (Some(i64::from(pick)), None),
        2 => (None, Some(i64::from(pick) * 3)),
        _ => (Some(1), Some(AMOUNT_MINOR_MAX)),
    };
    let Ok(terms) = FeeTerms::parse(&text, &fixed, min_minor, max_minor, "platform", true) else {
        return;
    };
    let rate = terms.percentage;
    assert!(rate >= rust_decimal::Decimal::ZERO && rate <= rust_decimal::Decimal::ONE_HUNDRED);
    assert!(rate.scale() <= PERCENTAGE_SCALE_MAX);
    for rounding in [
        Rounding::HalfEven,
        Rounding::HalfUp,
        Rounding::Down,
        Rounding::Up,
    ] {
        let share = any
            .percent_of(rate, rounding)
            .expect("a parsed percentage never overflows");
        assert!(share.minor.unsigned_abs() <= minor.unsigned_abs());
        assert!(share.minor == 0 || (share.minor < 0) == (minor < 0));
    }
    let version = FeeRuleVersion {
        id: "frv_fuzz".into(),
        rule_id: "fr_fuzz".into(),
        version: 1,
        terms,
        effective_from: chrono::DateTime::UNIX_EPOCH.naive_utc(),
        created_at: chrono::DateTime::UNIX_EPOCH.naive_utc(),
    };
    match fee_for(any, &version) {
        Ok(breakdown) => {
            assert!(minor >= 0);
            assert!((0..=minor).contains(&breakdown.fee.minor));
            assert_eq!(breakdown.fee.minor + breakdown.seller_share.minor, minor);
        }
        Err(_) => assert!(minor < 0, "a valid rule failed to price {minor}"),
    }
}

/// `Display` without the currency code: the string `parse_decimal` reads.
fn major_units(money: Money) -> String {
    let shown = money.to_string();
    let (amount, code) = shown.rsplit_once(' ').expect("amount and code");
    assert_eq!(code, money.currency.code());
    amount.to_owned()
}

#[derive(Debug)]
enum Oracle {
    /// The amount in minor units, as decimal digits with an optional `-`.
    Minor(String),
    OutOfRange,
    TooPrecise,
    Malformed,
}

/// What `parse_decimal` should answer, worked out on digit strings alone.
fn decimal_oracle(text: &str, exponent: u32) -> Oracle {
    if text.len() > MAX_AMOUNT_LEN {
        return Oracle::Malformed;
    }
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || unsigned.ends_with('.') {
        return Oracle::Malformed;
    }
    let exponent = exponent as usize;
    if fraction.len() > exponent {
        return Oracle::TooPrecise;
    }
    let all = format!("{whole}{fraction}{}", "0".repeat(exponent - fraction.len()));
    let trimmed = all.trim_start_matches('0');
    let magnitude = if trimmed.is_empty() { "0" } else { trimmed };
    let limit = if negative {
        "9223372036854775808"
    } else {
        "9223372036854775807"
    };
    let fits =
        magnitude.len() < limit.len() || (magnitude.len() == limit.len() && magnitude <= limit);
    if !fits {
        return Oracle::OutOfRange;
    }
    if negative && magnitude != "0" {
        Oracle::Minor(format!("-{magnitude}"))
    } else {
        Oracle::Minor(magnitude.to_owned())
    }
}

/// The webhook envelope: arbitrary bodies are refused with a 400 or accepted
/// as events whose id, type and account are safe to store as text on both
/// databases, whose endpoint matches, and which the job decodes again later.
/// A second mode builds events from parts and checks they decode to those parts.
pub fn webhook_envelope(data: &[u8]) {
    let mut input = Input { data };
    let mode = input.u8();
    let source = if mode & 1 == 0 {
        Source::Platform
    } else {
        Source::Connect
    };
    if mode & 2 == 0 {
        check_event(source, input.rest());
        return;
    }
    let id = String::from_utf8_lossy(input.chunk()).into_owned();
    let kind = String::from_utf8_lossy(input.chunk()).into_owned();
    let account = String::from_utf8_lossy(input.chunk()).into_owned();
    let created = input.i64();
    let with_account = mode & 4 != 0;
    let mut event = serde_json::json!({
        "id": format!("evt_{id}"),
        "object": "event",
        "type": kind,
        "created": created,
        "livemode": mode & 8 != 0,
        "data": {"object": {"id": "pi_fuzz", "object": "payment_intent"}},
    });
    if with_account {
        event["account"] = serde_json::Value::String(account.clone());
    }
    let payload = serde_json::to_vec(&event).expect("JSON");
    if let Some(decoded) = check_event(source, &payload) {
        assert_eq!(decoded.id, format!("evt_{id}"));
        assert_eq!(decoded.kind, kind);
        assert_eq!(decoded.created, created);
        assert_eq!(decoded.livemode, mode & 8 != 0);
        assert_eq!(decoded.account, with_account.then_some(account));
    }
}

fn check_event(source: Source, payload: &[u8]) -> Option<EventEnvelope> {
    let event = match decode_event(source, payload) {
        Ok(event) => event,
        Err(error) => {
            assert_eq!(error.status_code().as_u16(), 400, "{error}");
            assert!(
                matches!(error.code(), "invalid_event" | "wrong_endpoint"),
                "{}",
                error.code()
            );
            return None;
        }
    };
    let storable = |s: &str| !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control);
    assert!(
        event.id.starts_with("evt_") && storable(&event.id),
        "id {:?}",
        event.id
    );
    assert!(storable(&event.kind), "type {:?}", event.kind);
    assert_eq!(event.account.is_some(), source == Source::Connect);
    if let Some(account) = &event.account {
        assert!(storable(account), "account {:?}", account);
    }
    assert!(event.data.object.is_object());
    // `process` reads the stored text back with from_str: what was accepted
    // must decode there too, or the event would be a dead letter forever.
    let text = std::str::from_utf8(payload).expect("an accepted body is UTF-8");
    let again: EventEnvelope = serde_json::from_str(text).expect("the stored event decodes");
    assert_eq!((&again.id, &again.kind), (&event.id, &event.kind));
    Some(event)
}
