//! Turning on two-step sign-in in a page: what the authenticator app needs
//! to be shown, for the seller's Security page and the staff's enrolment.

/// A started enrolment: what the authenticator app needs.
pub(crate) struct Enrolment {
    pub secret: String,
    /// The secret in groups of four, for reading and typing.
    pub grouped: String,
    pub otpauth_url: String,
    /// The set-up address as an inline SVG QR code; empty if it does not fit one.
    pub qr_svg: String,
}

/// `data` as an inline SVG QR code (no XML prolog, scaled by CSS), or
/// empty when it is too long for one.
fn qr_svg(data: &str) -> String {
    let Ok(code) = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M) else {
        return String::new();
    };
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    svg.find("<svg")
        .map(|at| svg[at..].to_owned())
        .unwrap_or_default()
}

impl Enrolment {
    pub(crate) fn new(secret: String, otpauth_url: String) -> Self {
        let grouped = secret
            .as_bytes()
            .chunks(4)
            .map(|group| String::from_utf8_lossy(group).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            qr_svg: qr_svg(&otpauth_url),
            secret,
            grouped,
            otpauth_url,
        }
    }

    /// The enrolment a confirm form carried back, if it has the shape the
    /// domain gives one (anything else is not shown).
    pub(crate) fn echoed(secret: &str, otpauth_url: &str) -> Option<Self> {
        let secret = secret.trim();
        let url = otpauth_url.trim();
        let base32 = !secret.is_empty()
            && secret.len() <= 128
            && secret
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
        let otpauth = url.starts_with("otpauth://totp/") && url.len() <= 1024;
        (base32 && otpauth).then(|| Self::new(secret.to_owned(), url.to_owned()))
    }
}
