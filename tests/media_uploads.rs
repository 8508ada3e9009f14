//! Sellers upload product pictures: what is served is only what the server
//! re-encoded (no metadata, nothing appended), in the sizes the storefront's
//! `srcset` names; every refusal stores nothing and serves nothing.

use crate::catalog_support;
use crate::common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use bazaar::db::DbPool;
use catalog_support::{pool, shop, unique};
use common::people::{bearer, post_as, signup, Person};
use common::{assert_error, TestApp};
use diesel::prelude::*;
use image::{ImageFormat, RgbImage};
use serde_json::{json, Value};

const UPLOAD: &str = "/v1/media/images";
/// Text hidden in the EXIF GPS block: it must never be served.
const GPS_MARK: &[u8] = b"GPSMARK-52.3702N-4.8952E";
const SCRIPT_MARK: &[u8] = b"<script>alert('polyglot')</script>";

/// A photo-like picture (gradients, so resizing has work to do).
fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    })
}

fn encoded(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// An APP1 EXIF segment (big-endian TIFF): IFD0 with Orientation = 6
/// (rotate 90° clockwise to display) and a GPS IFD holding [`GPS_MARK`].
fn exif_segment() -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    // IFD0 at 8: two entries, then the next-IFD offset (none).
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0x00, 0x06, 0, 0]);
    let gps_ifd: u32 = 8 + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&[0x88, 0x25, 0x00, 0x04, 0, 0, 0, 1]);
    tiff.extend_from_slice(&gps_ifd.to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    // GPS IFD: GPSMapDatum (0x0012, ASCII) pointing just past the IFD.
    let text_at = gps_ifd + 2 + 12 + 4;
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&[0x00, 0x12, 0x00, 0x02]);
    tiff.extend_from_slice(&(GPS_MARK.len() as u32 + 1).to_be_bytes());
    tiff.extend_from_slice(&text_at.to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(GPS_MARK);
    tiff.push(0);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    segment
}

/// A JPEG stored `width`×`height` whose EXIF says to show it turned a
/// quarter clockwise, with GPS metadata.
fn jpeg_with_exif(width: u32, height: u32) -> Vec<u8> {
    let plain = encoded(&picture(width, height), ImageFormat::Jpeg);
    assert_eq!(&plain[..2], &[0xFF, 0xD8]);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&exif_segment());
    out.extend_from_slice(&plain[2..]);
    out
}

/// CRC-32 (PNG's), computed here rather than borrowed from the code under test.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid 1×1 PNG whose IHDR (with a correct CRC) claims 100000×100000:
/// 40 GB as RGBA if a decoder believed it.
fn png_bomb() -> Vec<u8> {
    let mut png = encoded(&picture(1, 1), ImageFormat::Png);
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

async fn upload(
    app: &TestApp,
    person: &Person,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(format!("{}{UPLOAD}", app.address))
        .header("authorization", bearer(&person.token))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request sent")
}

/// The browser form's way: multipart/form-data with a `file` field.
async fn upload_form(
    app: &TestApp,
    person: &Person,
    file_type: &str,
    file: &[u8],
) -> reqwest::Response {
    let boundary = "----bazaar-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\na mug\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"mug.png\"\r\nContent-Type: {file_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    upload(
        app,
        person,
        &format!("multipart/form-data; boundary={boundary}"),
        body,
    )
    .await
}

fn media_dir(app: &TestApp) -> PathBuf {
    app.settings.media.dir.clone()
}

/// The files in the media folder (none when it was never created).
fn stored_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("media dir unreadable: {e}"),
    }
}

async fn rows(pool: &DbPool) -> i64 {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        use bazaar::media::schema::media_images::dsl::media_images;
        media_images
            .count()
            .get_result::<i64>(&mut pool.get().unwrap())
            .unwrap()
    })
    .await
    .unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// GETs a variant, asserting it is served as WebP; returns its bytes.
async fn served(app: &TestApp, url: &str) -> Vec<u8> {
    let response = app.get(url).await;
    assert_eq!(response.status(), 200, "GET {url}");
    assert_eq!(response.headers()["content-type"], "image/webp", "{url}");
    response.bytes().await.unwrap().to_vec()
}

fn webp_size(bytes: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory_with_format(bytes, ImageFormat::WebP).expect("valid WebP");
    (image.width(), image.height())
}

#[tokio::test]
async fn a_seller_uploads_a_photo_and_buyers_see_its_sizes_without_its_metadata() {
    let app = TestApp::spawn().await;
    let db = pool(&app.settings);
    let seller = signup(&app, "seller").await;
    // Stored 900 wide and 1200 tall; EXIF says to show it turned: 1200×900.
    let jpeg = jpeg_with_exif(900, 1200);
    assert!(
        contains(&jpeg, GPS_MARK),
        "the fixture carries its GPS text"
    );

    let response = upload(&app, &seller, "image/jpeg", jpeg.clone()).await;
    assert_eq!(response.status(), 201);
    let uploaded: Value = response.json().await.unwrap();
    assert_eq!(uploaded["width"], 1200, "{uploaded}");
    assert_eq!(uploaded["height"], 900, "{uploaded}");
    let url = uploaded["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("/media/") && url.ends_with("-640.webp"),
        "{url}"
    );
    let variants = uploaded["variants"].as_array().unwrap();
    let widths: Vec<u64> = variants
        .iter()
        .map(|v| v["width"].as_u64().unwrap())
        .collect();
    assert_eq!(widths, [320, 640, 960]);
    assert_eq!(variants[1]["url"], url.as_str());

    // Each size as stated, upright (height = width × 3/4), pixels only.
    for (variant, (w, h)) in variants.iter().zip([(320, 240), (640, 480), (960, 720)]) {
        let bytes = served(&app, variant["url"].as_str().unwrap()).await;
        assert_eq!(webp_size(&bytes), (w, h), "{variant}");
        assert!(!contains(&bytes, GPS_MARK), "GPS text served");
        assert!(!contains(&bytes, b"Exif"), "EXIF block served");
    }
    let files = stored_files(&media_dir(&app));
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        assert!(!contains(&std::fs::read(file).unwrap(), GPS_MARK));
    }
    assert_eq!(rows(&db).await, 1);

    // Cached like the demo pictures: a day, and 304 for the same ETag.
    let first = app.get(&url).await;
    assert_eq!(first.headers()["cache-control"], "public, max-age=86400");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(format!("{}{url}", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // On a product, the storefront page offers every size.
    let shop = {
        let (db, owner) = (db.clone(), seller.user_id.clone());
        tokio::task::spawn_blocking(move || shop(&mut db.get().unwrap(), &owner, "USD", true))
            .await
            .unwrap()
    };
    let response = post_as(
        &app,
        &seller,
        &format!("/v1/shops/{}/products", shop.id),
        &json!({
            "sku": format!("SKU-{}", unique()),
            "title": "Speckled mug",
            "description": "A mug, photographed.",
            "price_minor": 1800,
            "currency": "USD",
            "stock": 3,
            "category": "kitchen",
            "images": [{"url": url, "alt": "a speckled mug"}],
        }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let product: Value = response.json().await.unwrap();
    let page = app
        .get(&format!("/products/{}", product["id"].as_str().unwrap()))
        .await;
    assert_eq!(page.status(), 200);
    let html = page
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/");
    let stem = url.strip_suffix("-640.webp").unwrap();
    let srcset = format!("{stem}-320.webp 320w, {stem}-640.webp 640w, {stem}-960.webp 960w");
    assert!(
        html.contains(&format!("srcset=\"{srcset}\"")),
        "no srcset {srcset} in {html}"
    );
}

#[tokio::test]
async fn a_small_picture_from_a_form_keeps_its_size_and_gets_fewer_variants() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let png = encoded(&picture(300, 250), ImageFormat::Png);

    let response = upload_form(&app, &seller, "image/png", &png).await;
    assert_eq!(response.status(), 201);
    let uploaded: Value = response.json().await.unwrap();
    // Never upscaled: only the -640 slot, at the original 300 pixels.
    assert_eq!(
        uploaded["variants"].as_array().unwrap().len(),
        1,
        "{uploaded}"
    );
    assert_eq!(uploaded["variants"][0]["width"], 300);
    let url = uploaded["url"].as_str().unwrap();
    assert!(url.ends_with("-640.webp"), "{url}");
    assert_eq!(webp_size(&served(&app, url).await), (300, 250));
    // The slots it does not have are not served.
    let missing = url.replace("-640.webp", "-960.webp");
    assert_eq!(app.get(&missing).await.status(), 404);
}

#[tokio::test]
async fn a_polyglot_is_served_as_pixels_only() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let mut polyglot = encoded(&picture(400, 300), ImageFormat::Jpeg);
    polyglot.extend_from_slice(SCRIPT_MARK);
    // A ZIP's local file header and end-of-central-directory record.
    polyglot.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00payload.htmlPK\x05\x06");

    let response = upload(&app, &seller, "image/jpeg", polyglot).await;
    assert_eq!(response.status(), 201);
    let uploaded: Value = response.json().await.unwrap();
    for variant in uploaded["variants"].as_array().unwrap() {
        let bytes = served(&app, variant["url"].as_str().unwrap()).await;
        assert!(!contains(&bytes, b"<script"), "script served");
        assert!(!contains(&bytes, b"PK\x03\x04"), "ZIP served");
        assert!(!contains(&bytes, b"payload.html"), "ZIP entry served");
    }
    for file in stored_files(&media_dir(&app)) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!contains(&bytes, b"<script") && !contains(&bytes, b"PK\x03\x04"));
    }
}

/// What is sent, as what type, and the status, code and part of the message
/// it is refused with.
type Refusal = (
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    &'static str,
);

#[tokio::test]
async fn refused_uploads_store_nothing_and_serve_nothing() {
    let app = TestApp::spawn().await;
    let db = pool(&app.settings);
    let seller = signup(&app, "seller").await;
    let png = encoded(&picture(300, 300), ImageFormat::Png);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400"><script>alert(document.cookie)</script></svg>"#.to_vec();
    let html = b"<!doctype html><html><body><script>alert(1)</script></body></html>".to_vec();

    let cases: Vec<Refusal> = vec![
        (
            "a PNG declared as JPEG",
            "image/jpeg",
            png.clone(),
            422,
            "image_type_mismatch",
            "image/png",
        ),
        (
            "HTML declared as PNG",
            "image/png",
            html.clone(),
            422,
            "unsupported_image_type",
            "not a JPEG, PNG or WebP",
        ),
        (
            "HTML renamed .jpg",
            "image/jpeg",
            html,
            422,
            "unsupported_image_type",
            "not a JPEG, PNG or WebP",
        ),
        (
            "an SVG with a script",
            "image/svg+xml",
            svg.clone(),
            422,
            "unsupported_image_type",
            "image/svg+xml",
        ),
        (
            "an SVG declared as PNG",
            "image/png",
            svg,
            422,
            "unsupported_image_type",
            "not a JPEG, PNG or WebP",
        ),
        (
            "a decompression bomb",
            "image/png",
            png_bomb(),
            422,
            "image_too_large",
            "100000×100000",
        ),
        (
            "a thumbnail",
            "image/png",
            encoded(&picture(150, 150), ImageFormat::Png),
            422,
            "image_too_small",
            "150×150",
        ),
        (
            "a truncated JPEG",
            "image/jpeg",
            encoded(&picture(400, 400), ImageFormat::Jpeg)[..100].to_vec(),
            422,
            "unreadable_image",
            "truncated",
        ),
        (
            "not an image at all",
            "text/plain",
            b"hello".to_vec(),
            415,
            "unsupported_media_type",
            "image/jpeg",
        ),
    ];
    for (what, content_type, body, status, code, said) in cases {
        let response = upload(&app, &seller, content_type, body).await;
        let error = assert_error(response, status, code).await;
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(said), "{what}: {message}");
    }
    // The same refusal through the form.
    let response = upload_form(&app, &seller, "image/jpeg", &png).await;
    assert_error(response, 422, "image_type_mismatch").await;

    assert_eq!(stored_files(&media_dir(&app)), Vec::<PathBuf>::new());
    assert_eq!(rows(&db).await, 0);
}

#[tokio::test]
async fn an_upload_over_the_configured_limit_is_refused_unread() {
    let app = TestApp::spawn_with(&[("BAZAAR__MEDIA__MAX_UPLOAD_BYTES", "4096")], |_| {}).await;
    let db = pool(&app.settings);
    let seller = signup(&app, "seller").await;
    let jpeg = jpeg_with_exif(900, 1200);
    assert!(jpeg.len() > 4096);

    let error = assert_error(
        upload(&app, &seller, "image/jpeg", jpeg.clone()).await,
        413,
        "body_too_large",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("4096"),
        "{error}"
    );
    let response = upload_form(&app, &seller, "image/jpeg", &jpeg).await;
    assert_error(response, 413, "body_too_large").await;

    assert_eq!(stored_files(&media_dir(&app)), Vec::<PathBuf>::new());
    assert_eq!(rows(&db).await, 0);
}

#[tokio::test]
async fn only_signed_in_sellers_may_upload() {
    let app = TestApp::spawn_with(&[("BAZAAR__MEDIA__UPLOADS_PER_MINUTE", "2")], |_| {}).await;
    let png = encoded(&picture(300, 300), ImageFormat::Png);
    let buyer = signup(&app, "buyer").await;
    assert_error(
        upload(&app, &buyer, "image/png", png.clone()).await,
        403,
        "forbidden",
    )
    .await;
    let anonymous = app.post_raw(UPLOAD, "image/png", png.clone()).await;
    assert_error(anonymous, 401, "unauthenticated").await;
    assert_eq!(stored_files(&media_dir(&app)), Vec::<PathBuf>::new());

    // The contract says so too.
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let operation = &document["paths"][UPLOAD]["post"];
    assert_eq!(
        operation["x-roles"],
        json!(["seller", "operator"]),
        "{operation}"
    );
    assert!(operation["responses"]["201"].is_object(), "{operation}");

    // And a seller only so often (media.uploads_per_minute).
    let seller = signup(&app, "seller").await;
    for _ in 0..2 {
        assert_eq!(
            upload(&app, &seller, "image/png", png.clone())
                .await
                .status(),
            201
        );
    }
    let response = upload(&app, &seller, "image/png", png).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn uploads_no_product_or_shop_uses_are_deleted_after_the_retention() {
    let app = TestApp::spawn().await;
    let db = pool(&app.settings);
    let seller = signup(&app, "seller").await;
    let mut urls = Vec::new();
    for side in [400, 420, 440] {
        let response = upload(
            &app,
            &seller,
            "image/png",
            encoded(&picture(side, side), ImageFormat::Png),
        )
        .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        urls.push(body["url"].as_str().unwrap().to_owned());
    }
    let (on_product, logo, unused) = (&urls[0], &urls[1], &urls[2]);
    let shop = {
        let (db, owner) = (db.clone(), seller.user_id.clone());
        tokio::task::spawn_blocking(move || shop(&mut db.get().unwrap(), &owner, "USD", true))
            .await
            .unwrap()
    };
    let response = post_as(
        &app,
        &seller,
        &format!("/v1/shops/{}/products", shop.id),
        &json!({
            "sku": format!("SKU-{}", unique()),
            "title": "Glazed bowl",
            "price_minor": 2400,
            "currency": "USD",
            "stock": 2,
            "category": "kitchen",
            "images": [{"url": on_product, "alt": "a glazed bowl"}],
        }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let response = app
        .client
        .patch(format!("{}/v1/shops/{}", app.address, shop.id))
        .header("authorization", bearer(&seller.token))
        .json(&json!({ "logo_url": logo }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let keep_for = chrono::Duration::hours(72);
    assert_eq!(
        app.settings.media.unused_after,
        Some(std::time::Duration::from_secs(72 * 3600)),
        "the default retention"
    );
    let store = bazaar::media::store_at(&media_dir(&app));
    let now = bazaar::db::now();
    // Within the retention nothing goes, used or not.
    let report = bazaar::media::sweep::sweep_once(&db, &store, now, keep_for).await;
    assert_eq!(report, Default::default());
    assert_eq!(rows(&db).await, 3);

    // Past it, only the upload nothing names: its row and every size.
    let later = now + chrono::Duration::hours(73);
    let report = bazaar::media::sweep::sweep_once(&db, &store, later, keep_for).await;
    assert_eq!((report.deleted, report.errors), (1, 0));
    assert_eq!(rows(&db).await, 2);
    let stem = unused.strip_suffix("-640.webp").unwrap();
    for size in [320, 640] {
        let gone = app.get(&format!("{stem}-{size}.webp")).await;
        assert_eq!(gone.status(), 404, "{stem}-{size}.webp");
    }
    for kept in [on_product, logo] {
        served(&app, kept).await;
    }
    let names: Vec<String> = stored_files(&media_dir(&app))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let unused_key = stem.rsplit('/').next().unwrap().split('-').next().unwrap();
    assert!(
        !names.iter().any(|n| n.starts_with(unused_key)),
        "{names:?}"
    );
    assert_eq!(names.len(), 4, "two sizes of each kept picture: {names:?}");

    // Once is enough: the next sweep finds nothing.
    let report = bazaar::media::sweep::sweep_once(&db, &store, later, keep_for).await;
    assert_eq!(report, Default::default());
}
