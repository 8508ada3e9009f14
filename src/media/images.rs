//! What an uploaded picture goes through before anything is stored: its real
//! type read from its first bytes, its size read from its header (before any
//! pixel is decoded), then decoded under allocation limits, turned upright
//! (JPEG EXIF orientation), resized and re-encoded as WebP.
//!
//! Re-encoding is the safety property: what is served holds only pixels this
//! code produced. Metadata (EXIF, GPS, ICC, XMP, comments) and anything
//! appended to the file (a ZIP, HTML, a script: polyglots) never reach the
//! output, so such a file is accepted and neutralised rather than refused —
//! phones legitimately append data after a JPEG's end (motion photos), and a
//! refusal based on guessing what trailing bytes are would be heuristic.
//!
//! WebP encoding is lossy, through libwebp (the `webp` crate; libwebp-sys
//! compiles its C statically: 12.5 s of a clean build on 2 cores, nothing to
//! install). The `image` crate's own WebP encoder is lossless only; measured
//! on the demo pictures, its variants were 12–16× the bytes of lossy ones
//! (57 KB against 3.6 KB at 640 wide), too much for a storefront page.
//!
//! Plain functions over bytes: no HTTP, no storage.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// A side longer than this is refused before decoding.
pub const SIDE_PX_MAX: u32 = 8000;
/// More pixels than this (40 megapixels) are refused before decoding.
pub const PIXELS_MAX: u64 = 40_000_000;
/// A side shorter than this is too small to show a product.
pub const SIDE_PX_MIN: u32 = 200;
/// What a decoder may allocate: the largest accepted picture as RGBA (160 MB)
/// and its working buffers.
const DECODE_ALLOC_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// The widths the storefront asks for (`-320`, `-640`, `-960` in the names).
pub const SLOTS: [u32; 3] = [320, 640, 960];

/// The picture types sellers may upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    Webp,
}

impl ImageType {
    /// The type a `Content-Type` names (its essence, any case), if accepted.
    pub fn from_mime(essence: &str) -> Option<Self> {
        match essence.trim().to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }

    /// The type the bytes really are, from their signature.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Webp => ImageFormat::WebP,
        }
    }
}

/// Why a picture was refused; each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a JPEG, PNG or WebP (declared or real): SVG, HTML, anything else.
    #[error("{0}")]
    UnsupportedType(String),
    /// The bytes are one accepted type, the declared type another.
    #[error("the file is a {real} picture but was sent as {declared}")]
    TypeMismatch {
        declared: &'static str,
        real: &'static str,
    },
    /// Over a side or pixel limit (refused before decoding).
    #[error("{width}×{height} is too large: at most {SIDE_PX_MAX} pixels a side and {} megapixels", PIXELS_MAX / 1_000_000)]
    TooLarge { width: u32, height: u32 },
    /// Under the minimum side.
    #[error("{width}×{height} is too small: at least {SIDE_PX_MIN}×{SIDE_PX_MIN} pixels")]
    TooSmall { width: u32, height: u32 },
    /// The signature is right but the picture cannot be decoded.
    #[error("the picture could not be read: it is truncated or damaged")]
    Unreadable,
}

impl Rejection {
    /// The code the API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedType(_) => "unsupported_image_type",
            Self::TypeMismatch { .. } => "image_type_mismatch",
            Self::TooLarge { .. } => "image_too_large",
            Self::TooSmall { .. } => "image_too_small",
            Self::Unreadable => "unreadable_image",
        }
    }
}

/// One re-encoded size of a picture.
#[derive(Debug, Clone)]
pub struct Variant {
    /// The name's size (`320`, `640`, `960`): what the storefront asks for.
    pub slot: u32,
    /// The real size (never more than the original's).
    pub width: u32,
    pub height: u32,
    /// WebP, pixels only.
    pub webp: Vec<u8>,
}

/// A picture that passed every check, re-encoded.
#[derive(Debug, Clone)]
pub struct Processed {
    /// Upright (after EXIF orientation).
    pub width: u32,
    pub height: u32,
    /// Smallest first; the `640` slot is always there.
    pub variants: Vec<Variant>,
}

/// The variants a picture `width` pixels wide gets, as `(slot, width)`.
///
/// Never upscaled: the `640` slot always exists (at the original width when
/// that is smaller, so the URL a product keeps is always there); `320` only
/// when the original is wider than 320, `960` only when wider than 640 (at
/// the original width up to 960). A name's `-<W>w` part records the original
/// width, so the storefront's `srcset` is computed from the name alone.
pub fn plan(width: u32) -> Vec<(u32, u32)> {
    let mut plan = Vec::with_capacity(SLOTS.len());
    if width > 320 {
        plan.push((320, 320));
    }
    plan.push((640, width.min(640)));
    if width > 640 {
        plan.push((960, width.min(960)));
    }
    plan
}

/// Checks `bytes` declared as `declared` (a `Content-Type` essence) and
/// returns its re-encoded variants.
///
/// # Errors
/// A [`Rejection`]: unsupported type, type mismatch, too large (from the
/// header, before decoding), too small, or unreadable.
pub fn process(bytes: &[u8], declared: &str) -> Result<Processed, Rejection> {
    let Some(declared) = ImageType::from_mime(declared) else {
        return Err(Rejection::UnsupportedType(format!(
            "`{}` is not accepted: send a JPEG, PNG or WebP picture",
            declared.chars().take(60).collect::<String>()
        )));
    };
    let Some(real) = ImageType::sniff(bytes) else {
        return Err(Rejection::UnsupportedType(
            "the file is not a JPEG, PNG or WebP picture".into(),
        ));
    };
    if real != declared {
        return Err(Rejection::TypeMismatch {
            declared: declared.mime(),
            real: real.mime(),
        });
    }
    let (width, height) = header_dimensions(bytes, real)?;
    check_size(width, height)?;
    let mut image = decode(bytes, real, (width, height))?;
    let (width, height) = (image.width(), image.height());
    // The header and the decoder agree in any file we accept; a decoder that
    // disagreed would make the checks above meaningless.
    check_size(width, height)?;
    // 8 bits a channel is what WebP holds; 16-bit PNGs and grey pictures are
    // converted once here rather than by each resize.
    image = if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.to_rgb8())
    };
    let mut variants: Vec<(Variant, DynamicImage)> = Vec::with_capacity(SLOTS.len());
    for (slot, target) in plan(width).into_iter().rev() {
        // Resizing from the previous (larger) variant is a fraction of the
        // work of resizing the original each time, and looks the same.
        let source = variants.last().map_or(&image, |(_, larger)| larger);
        let resized = if target == source.width() {
            source.clone()
        } else {
            let h = scaled_height(width, height, target);
            source.resize_exact(target, h, FilterType::Lanczos3)
        };
        let webp = encode_webp(&resized)?;
        variants.push((
            Variant {
                slot,
                width: resized.width(),
                height: resized.height(),
                webp,
            },
            resized,
        ));
    }
    let mut variants: Vec<Variant> = variants.into_iter().map(|(v, _)| v).collect();
    variants.reverse();
    Ok(Processed {
        width,
        height,
        variants,
    })
}

fn scaled_height(width: u32, height: u32, target: u32) -> u32 {
    let h = (u64::from(height) * u64::from(target) + u64::from(width) / 2) / u64::from(width);
    u32::try_from(h.max(1)).unwrap_or(u32::MAX)
}

fn check_size(width: u32, height: u32) -> Result<(), Rejection> {
    if width > SIDE_PX_MAX
        || height > SIDE_PX_MAX
        || u64::from(width) * u64::from(height) > PIXELS_MAX
    {
        return Err(Rejection::TooLarge { width, height });
    }
    if width < SIDE_PX_MIN || height < SIDE_PX_MIN {
        return Err(Rejection::TooSmall { width, height });
    }
    Ok(())
}

/// The size the header states, read without decoding any pixel.
///
/// PNG's is read here from IHDR (fixed offsets), so a crafted header is
/// judged whatever the decoder would do with it; JPEG's and WebP's through
/// the decoders' header parsers, without limits (nothing is allocated for
/// pixels yet: the limits apply in [`decode`]).
fn header_dimensions(bytes: &[u8], kind: ImageType) -> Result<(u32, u32), Rejection> {
    if kind == ImageType::Png {
        if bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
            return Err(Rejection::Unreadable);
        }
        let be = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        return Ok((be(16), be(20)));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.no_limits();
    reader.into_dimensions().map_err(|_| Rejection::Unreadable)
}

fn decode(
    bytes: &[u8],
    kind: ImageType,
    (width, height): (u32, u32),
) -> Result<DynamicImage, Rejection> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(SIDE_PX_MAX);
    limits.max_image_height = Some(SIDE_PX_MAX);
    limits.max_alloc = Some(DECODE_ALLOC_BYTES_MAX);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(limits);
    let rejection = |error: image::ImageError| match error {
        image::ImageError::Limits(_) => Rejection::TooLarge { width, height },
        _ => Rejection::Unreadable,
    };
    let mut decoder = reader.into_decoder().map_err(rejection)?;
    // A missing or unreadable orientation is "as stored", not a reason to refuse.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(rejection)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Lossy WebP at this quality (libwebp's scale, 0–100): libwebp's own
/// default, which the demo pictures were made with too.
const WEBP_QUALITY: f32 = 75.0;

/// Lossy WebP through libwebp (see the module's comment for why).
fn encode_webp(image: &DynamicImage) -> Result<Vec<u8>, Rejection> {
    let (width, height) = (image.width(), image.height());
    let encoder = match image {
        DynamicImage::ImageRgb8(rgb) => webp::Encoder::from_rgb(rgb.as_raw(), width, height),
        DynamicImage::ImageRgba8(rgba) => webp::Encoder::from_rgba(rgba.as_raw(), width, height),
        // `process` converts every picture to one of the two first.
        _ => return Err(Rejection::Unreadable),
    };
    encoder
        .encode_simple(false, WEBP_QUALITY)
        .map(|memory| memory.to_vec())
        .map_err(|_| Rejection::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_never_upscale_and_640_always_exists() {
        assert_eq!(plan(200), vec![(640, 200)]);
        assert_eq!(plan(320), vec![(640, 320)]);
        assert_eq!(plan(500), vec![(320, 320), (640, 500)]);
        assert_eq!(plan(640), vec![(320, 320), (640, 640)]);
        assert_eq!(plan(800), vec![(320, 320), (640, 640), (960, 800)]);
        assert_eq!(plan(4000), vec![(320, 320), (640, 640), (960, 960)]);
    }

    #[test]
    fn signatures_decide_the_type() {
        assert_eq!(
            ImageType::sniff(b"\xFF\xD8\xFF\xE0rest"),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            ImageType::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageType::Webp)
        );
        assert_eq!(ImageType::sniff(b"<svg xmlns="), None);
        assert_eq!(ImageType::sniff(b"<html><body>"), None);
    }
}
