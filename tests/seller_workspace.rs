//! The seller workspace's onboarding, shop state and catalogue pages over
//! HTTP, against the real app and the sandbox's hosted onboarding form:
//! from "Sell on Bazaar" to a live shop, the banner of a failed payout and
//! its fix, products and stock from the pages (compared with the JSON API),
//! and another seller's ids answered with 404 pages.

use crate::common;
use crate::orders_support;
use crate::web_support;

use serde_json::Value;

use common::people::{get_as, signup, unique_email, Person, PASSWORD};
use common::TestApp;
use orders_support::*;
use web_support::{path_of, signed_in, Browser, Page};

/// The hosted form's fields: a business, its representative, a bank account.
fn onboarding_fields(account_number: &str) -> Vec<(&'static str, String)> {
    [
        ("business_name", "North Wind Pottery"),
        ("business_type", "individual"),
        ("first_name", "Ann"),
        ("last_name", "Potter"),
        ("dob", "1990-04-27"),
        ("routing_number", "110000000"),
        ("account_number", account_number),
    ]
    .iter()
    .map(|(k, v)| (*k, (*v).to_owned()))
    .collect()
}

/// Presses a banner's onboarding button, fills the provider's hosted form
/// with `account_number` and follows the provider back; the return page.
async fn onboard(browser: &mut Browser<'_>, shop_id: &str, account_number: &str) -> Page {
    let overview = format!("/seller/shops/{shop_id}");
    let to_provider = browser
        .submit(&overview, &format!("{overview}/onboarding"), &[])
        .await;
    assert_eq!(to_provider.status, 303, "{}", to_provider.body);
    // The provider's hosted form is on the provider's own address.
    let form_url = to_provider.location().to_owned();
    assert!(
        path_of(&form_url).starts_with("/sandbox/onboarding/"),
        "{form_url}"
    );
    let provider = crate::common::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = provider.get(&form_url).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let back = provider
        .post(&form_url)
        .form(&onboarding_fields(account_number))
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.status(),
        303,
        "the hosted form refused: {}",
        back.text().await.unwrap()
    );
    let back_to = path_of(back.headers()["location"].to_str().unwrap());
    assert_eq!(
        back_to,
        format!("/seller/shops/{shop_id}/onboarding/return")
    );
    browser.get(&back_to).await
}

fn shop_fields(slug: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", "North Wind Pottery".into()),
        ("slug", slug.into()),
        ("country", "US".into()),
        ("default_currency", "USD".into()),
        ("support_email", "help@northwind.example".into()),
    ]
}

#[tokio::test]
async fn a_new_seller_goes_from_sign_up_to_a_live_shop_through_the_pages() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let email = unique_email("potter");

    let landing = browser.get("/sell").await;
    assert_eq!(landing.status, 200);
    assert!(landing.shows("Create a seller account"), "{}", landing.body);
    let sent = browser
        .submit(
            "/sell",
            "/sell",
            &[("email", email.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert!(
        sent.location().starts_with("/signup/sent?"),
        "{}",
        sent.location()
    );
    let link = common::mail::wait_for_link(&app, &email, "/verify-email").await;
    let confirmed = browser.confirm_link(&link).await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    assert_eq!(confirmed.location(), "/seller");

    // No shop yet: the form that opens one, its refusals beside the fields.
    let home = browser.get("/seller").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.shows("Open a shop"), "{}", home.body);
    let slug = format!("north-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut bad = shop_fields("Not A Slug!");
    bad[3].1 = "DOLLARS".into();
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = browser.submit("/seller", "/seller", &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("id=\"slug-error\""), "{}", refused.body);
    assert!(refused.shows("aria-invalid=\"true\""));
    let token = browser.session_token();
    let shops = json_of(
        common::people::get_with_token(&app, &token, "/v1/shops").await,
        200,
    )
    .await;
    assert_eq!(shops["data"].as_array().unwrap().len(), 0, "nothing opened");

    let good = shop_fields(&slug);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let opened = browser.submit("/seller", "/seller", &good).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let shop_id = opened
        .location()
        .strip_prefix("/seller/shops/")
        .expect("to the shop's page")
        .to_owned();
    let overview = browser.get(&format!("/seller/shops/{shop_id}")).await;
    assert_eq!(overview.status, 200);
    assert!(
        overview.shows("Finish setting up payments"),
        "{}",
        overview.body
    );
    assert!(overview.shows("Continue onboarding"));
    // One shop: the workspace's home leads straight to it.
    assert_eq!(
        browser.get("/seller").await.location(),
        format!("/seller/shops/{shop_id}")
    );

    let back = onboard(&mut browser, &shop_id, "000123456789").await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert!(back.shows("Your shop is live"), "{}", back.body);
    let shop = json_of(
        common::people::get_with_token(&app, &token, &format!("/v1/shops/{shop_id}")).await,
        200,
    )
    .await;
    assert_eq!(shop["status"], "active", "the return page synced the shop");
    let overview = browser.get(&format!("/seller/shops/{shop_id}")).await;
    assert!(overview.shows("Your shop is live"), "{}", overview.body);
    assert!(!overview.shows("Finish setting up payments"));
}

#[tokio::test]
async fn an_expired_onboarding_link_leads_to_a_fresh_one_at_once() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = json_of(
        common::people::post_as(
            &app,
            &seller,
            "/v1/shops",
            &serde_json::json!({"name": "Kiln", "slug": format!("kiln-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]), "country": "US", "default_currency": "USD", "support_email": "k@kiln.example"}),
        )
        .await,
        201,
    )
    .await;
    let shop_id = shop["id"].as_str().unwrap();
    let mut browser = signed_in(&app, &seller).await;
    let fresh = browser
        .get(&format!("/seller/shops/{shop_id}/onboarding/refresh"))
        .await;
    assert_eq!(fresh.status, 303, "{}", fresh.body);
    assert!(path_of(fresh.location()).starts_with("/sandbox/onboarding/"));
    // The API's link comes back to the same workspace pages.
    let link = json_of(
        common::people::post_as(
            &app,
            &seller,
            &format!("/v1/shops/{shop_id}/onboarding_link"),
            &serde_json::json!({}),
        )
        .await,
        200,
    )
    .await;
    let form = reqwest::get(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(form.status(), 200);
}

#[tokio::test]
async fn a_failed_payout_shows_why_and_the_fixed_bank_gets_the_next_one() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let TwoPayouts {
        bob,
        shop_b,
        failed,
        ..
    } = a_vase_and_a_bowl_paid_out(&app, &market).await;
    let share_b = 2000 - market_fee(2000);
    assert_eq!(failed["amount"]["minor"], share_b);

    let shop_id = shop_b["id"].as_str().unwrap();
    let mut browser = signed_in(&app, &bob).await;
    let overview = browser.get(&format!("/seller/shops/{shop_id}")).await;
    let amount = format!("${}.{:02}", share_b / 100, share_b % 100);
    assert!(
        overview.shows(&format!("Your payout of {amount} failed")),
        "{}",
        overview.body
    );
    assert!(overview.shows("Fix the bank account"));
    let message = failed["failure_message"].as_str().unwrap();
    assert!(overview.shows(&message.replace('\'', "&#x27;")) || overview.shows(message));

    let back = onboard(&mut browser, shop_id, "000123456789").await;
    assert_eq!(back.status, 200, "{}", back.body);
    // The next payout goes to the fixed bank and is paid.
    app.sandbox_post("/v1/test_helpers/advance_clock", &[("seconds", "172800")])
        .await;
    common::wait_until(|| async {
        payouts_of(&app, &bob, &shop_b)
            .await
            .iter()
            .any(|p| p["status"] == "paid")
    })
    .await;
    let overview = browser.get(&format!("/seller/shops/{shop_id}")).await;
    assert!(!overview.shows("failed"), "{}", overview.body);
}

/// A seller signed in on an active USD shop: (seller, shop, browser path base).
async fn seller_with_shop(app: &TestApp) -> (Person, Value, String) {
    let seller = signup(app, "seller").await;
    let shop = active_shop(app, &seller, "USD").await;
    let base = format!("/seller/shops/{}", shop["id"].as_str().unwrap());
    (seller, shop, base)
}

async fn product_json(app: &TestApp, seller: &Person, id: &str) -> Value {
    json_of(
        get_as(app, seller, &format!("/v1/products/{id}")).await,
        200,
    )
    .await
}

#[tokio::test]
async fn products_are_made_edited_restocked_and_removed_from_the_pages() {
    let app = TestApp::spawn().await;
    let (seller, _shop, base) = seller_with_shop(&app).await;
    let mut browser = signed_in(&app, &seller).await;
    let new = format!("{base}/products/new");
    let fields = |price: &'static str| {
        vec![
            ("sku", "MUG-1"),
            ("title", "Stoneware Mug"),
            ("description", "Glazed by hand."),
            ("price", price),
            ("stock", "4"),
            ("category", "home-kitchen"),
            ("image_url", "https://img.example/mug.webp"),
            ("image_alt", "A blue mug"),
            ("active", "on"),
        ]
    };
    let refused = browser
        .submit(&new, &format!("{base}/products"), &fields("12.505"))
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("id=\"price-error\""), "{}", refused.body);
    assert!(refused.shows("value=\"Stoneware Mug\""), "kept as typed");
    let created = browser
        .submit(&new, &format!("{base}/products"), &fields("12.50"))
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let product_id = created
        .location()
        .split('/')
        .nth(5)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let json = product_json(&app, &seller, &product_id).await;
    assert_eq!(json["price"]["minor"], 1250, "{json}");
    assert_eq!(json["stock"], 4);
    assert_eq!(json["sku"], "MUG-1");

    let edit = format!("{base}/products/{product_id}");
    let mut changed = fields("14.00");
    changed[1] = ("title", "Large Stoneware Mug");
    let saved = browser.submit(&edit, &edit, &changed).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let json = product_json(&app, &seller, &product_id).await;
    assert_eq!(
        (json["title"].as_str(), json["price"]["minor"].as_i64()),
        (Some("Large Stoneware Mug"), Some(1400))
    );

    // Stock by delta: recorded, and a decrease below zero is refused.
    let stock = format!("{edit}/stock");
    let received = browser
        .submit(
            &edit,
            &stock,
            &[
                ("delta", "+12"),
                ("reason", "received"),
                ("note", "pallet 7"),
            ],
        )
        .await;
    assert_eq!(received.status, 303, "{}", received.body);
    assert_eq!(product_json(&app, &seller, &product_id).await["stock"], 16);
    let page = browser.get(&edit).await;
    assert!(page.shows("pallet 7") && page.shows("+12"), "{}", page.body);
    let too_many = browser
        .submit(
            &edit,
            &stock,
            &[("delta", "-100"), ("reason", "damaged"), ("note", "")],
        )
        .await;
    assert_eq!(too_many.status, 409, "{}", too_many.body);
    assert!(too_many.shows("id=\"delta-error\""), "{}", too_many.body);
    let not_a_number = browser
        .submit(
            &edit,
            &stock,
            &[("delta", "a dozen"), ("reason", "received"), ("note", "")],
        )
        .await;
    assert_eq!(not_a_number.status, 422);
    assert_eq!(product_json(&app, &seller, &product_id).await["stock"], 16);

    // Search and filters: the list is the API's search.
    let list = browser
        .get(&format!("{base}/products?q=stoneware&status=active"))
        .await;
    assert!(list.shows("Large Stoneware Mug"), "{}", list.body);
    let none = browser.get(&format!("{base}/products?q=teapot")).await;
    assert!(!none.shows("Large Stoneware Mug"));
    let archived = browser
        .get(&format!("{base}/products?status=archived"))
        .await;
    assert!(!archived.shows("Large Stoneware Mug"));

    // Never ordered: removing deletes it.
    let removed = browser.submit(&edit, &format!("{edit}/remove"), &[]).await;
    assert_eq!(removed.status, 303);
    assert!(
        removed.location().ends_with("?done=deleted"),
        "{}",
        removed.location()
    );
    let gone = get_as(&app, &seller, &format!("/v1/products/{product_id}")).await;
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn another_sellers_shop_and_products_are_404_pages_and_untouched() {
    let app = TestApp::spawn().await;
    let (owner, shop, base) = seller_with_shop(&app).await;
    let mug = product(&app, &owner, &shop, "Mug", 1200, 3).await;
    let (intruder, _, intruder_base) = seller_with_shop(&app).await;
    let mut browser = signed_in(&app, &intruder).await;
    for path in [
        base.clone(),
        format!("{base}/products"),
        format!("{base}/products/new"),
        format!("{base}/products/{mug}"),
        format!("{intruder_base}/products/{mug}"),
        format!("{base}/onboarding/return"),
        format!("{base}/onboarding/refresh"),
        format!("{base}/products/import"),
        format!("{base}/profile"),
        format!("{base}/pictures?for={mug}"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
    }
    let token_page = format!("{intruder_base}/products");
    for (path, form) in [
        (
            format!("{base}/products/{mug}/stock"),
            vec![("delta", "-3"), ("reason", "lost"), ("note", "")],
        ),
        (
            format!("{intruder_base}/products/{mug}/stock"),
            vec![("delta", "-3"), ("reason", "lost"), ("note", "")],
        ),
        (format!("{base}/products/{mug}/remove"), vec![]),
        (
            format!("{base}/products/{mug}"),
            vec![
                ("title", "Mine now"),
                ("price", "1.00"),
                ("stock", "0"),
                ("category", "x"),
                ("image_url", "https://x.example/a.webp"),
                ("image_alt", "x"),
            ],
        ),
        (format!("{base}/onboarding"), vec![]),
        (
            format!("{base}/products/import"),
            vec![("csv", "sku,stock\nMUG,0\n"), ("action", "apply")],
        ),
        (
            format!("{base}/profile"),
            vec![("name", "Mine now"), ("support_email", "x@x.example")],
        ),
    ] {
        let page = browser.submit(&token_page, &path, &form).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
    }
    let json = product_json(&app, &owner, &mug).await;
    assert_eq!(
        (json["stock"].as_i64(), json["title"].as_str()),
        (Some(3), Some("Mug"))
    );
}

#[tokio::test]
async fn the_workspace_asks_strangers_to_sign_in_and_refuses_buyers() {
    let app = TestApp::spawn().await;
    let (_, _, base) = seller_with_shop(&app).await;
    let mut stranger = Browser::new(&app);
    for path in [
        "/seller".to_owned(),
        base.clone(),
        format!("{base}/products"),
    ] {
        let page = stranger.get(&path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(
            page.location().starts_with("/signin?next="),
            "{}",
            page.location()
        );
    }
    let buyer = signup(&app, "buyer").await;
    let mut browser = signed_in(&app, &buyer).await;
    let page = browser.get("/seller").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.shows("/sell"), "{}", page.body);
    let sell = browser.get("/sell").await;
    assert!(sell.shows("separate account"), "{}", sell.body);
}

/// The value of the workspace form field `id`.
fn field_value(page: &Page, id: &str) -> String {
    let at = page
        .body
        .find(&format!("id=\"{id}\" name="))
        .expect("the field");
    let rest = &page.body[at..];
    let start = rest.find("value=\"").expect("its value") + "value=\"".len();
    let end = rest[start..].find('"').unwrap() + start;
    rest[start..end]
        .replace("&#x2f;", "/")
        .replace("&#47;", "/")
}

/// A `size`×`size` PNG of a simple gradient.
fn png(size: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(size, size, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 120])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A browser form's upload of `bytes` as the `file` field.
fn multipart(bytes: &[u8], file_type: &str) -> (String, Vec<u8>) {
    let boundary = "----seller-workspace-boundary-4fQ2";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo\"\r\nContent-Type: {file_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_picture_uploaded_from_the_pages_shows_on_the_storefront_in_every_size() {
    let app = TestApp::spawn().await;
    let (seller, shop, base) = seller_with_shop(&app).await;
    let mug = product(&app, &seller, &shop, "Mug", 1200, 3).await;
    let mut browser = signed_in(&app, &seller).await;
    let form_path = format!("{base}/pictures?for={mug}");
    let form = browser.get(&form_path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.shows("enctype=\"multipart/form-data\""));
    let token = form.input("csrf_token");
    let action = format!("{base}/pictures?for={mug}&csrf_token={token}");

    // Refused: an SVG, and a picture too small; nothing is stored.
    let (kind, body) = multipart(
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
        "image/svg+xml",
    );
    let refused = browser.post_body(&action, &kind, body).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("id=\"file-error\""), "{}", refused.body);
    let (kind, body) = multipart(&png(100), "image/png");
    let small = browser.post_body(&action, &kind, body).await;
    assert_eq!(small.status, 422, "{}", small.body);
    // Without the form's token, nothing is accepted.
    let (kind, body) = multipart(&png(700), "image/png");
    let forged = browser
        .post_body(
            &format!("{base}/pictures?for={mug}&csrf_token=0"),
            &kind,
            body,
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    let (kind, body) = multipart(&png(700), "image/png");
    let uploaded = browser.post_body(&action, &kind, body).await;
    assert_eq!(uploaded.status, 303, "{}", uploaded.body);
    let back = uploaded.location().to_owned();
    assert!(
        back.starts_with(&format!("{base}/products/{mug}?image=")),
        "{back}"
    );
    let edit = browser.get(&back).await;
    let url = field_value(&edit, "image_url");
    assert!(
        url.starts_with("/media/") && url.ends_with("-640.webp"),
        "{url}"
    );

    let edit_path = format!("{base}/products/{mug}");
    let saved = browser
        .submit(
            &edit_path,
            &edit_path,
            &[
                ("title", "Mug"),
                ("description", ""),
                ("price", "12.00"),
                ("stock", "3"),
                ("category", "home-kitchen"),
                ("image_url", url.as_str()),
                ("image_alt", "A mug on a shelf"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let storefront = app
        .get(&format!("/products/{mug}"))
        .await
        .text()
        .await
        .unwrap();
    let stem = url.trim_end_matches("-640.webp");
    assert!(
        storefront.contains(&format!("{stem}-320.webp 320w")),
        "{storefront}"
    );
    assert!(storefront.contains(&format!("{stem}-640.webp 640w")));
    let served = app.get(&url).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/webp");
}

#[tokio::test]
async fn the_shop_profile_is_edited_from_its_page_and_shown_to_buyers() {
    let app = TestApp::spawn().await;
    let (seller, shop, base) = seller_with_shop(&app).await;
    let shop_id = shop["id"].as_str().unwrap();
    let mut browser = signed_in(&app, &seller).await;
    let path = format!("{base}/profile");
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let fields = |email: &'static str| {
        vec![
            ("name", "North Wind Pottery"),
            ("description", "Stoneware thrown and glazed in Maine."),
            ("logo_url", "https://img.example/logo.png"),
            ("support_email", email),
            ("return_policy", "Returns within 30 days, unused."),
        ]
    };
    let refused = browser
        .submit(&path, &path, &fields("not an address"))
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.shows("id=\"support_email-error\""),
        "{}",
        refused.body
    );
    let api = json_of(
        get_as(&app, &seller, &format!("/v1/shop_profiles/{shop_id}")).await,
        200,
    )
    .await;
    assert_ne!(
        api["description"], "Stoneware thrown and glazed in Maine.",
        "nothing saved"
    );

    let saved = browser
        .submit(&path, &path, &fields("hello@northwind.example"))
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let api = json_of(
        get_as(&app, &seller, &format!("/v1/shop_profiles/{shop_id}")).await,
        200,
    )
    .await;
    assert_eq!(api["description"], "Stoneware thrown and glazed in Maine.");
    assert_eq!(api["return_policy"], "Returns within 30 days, unused.");
    let public = app
        .get(&format!("/shops/{shop_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        public.contains("Stoneware thrown and glazed in Maine."),
        "{public}"
    );
    assert!(public.contains("Returns within 30 days, unused."));
    assert!(public.contains("hello@northwind.example"));
}

async fn product_count(app: &TestApp, seller: &Person, shop_id: &str) -> usize {
    let path = format!("/v1/shops/{shop_id}/products");
    json_of(get_as(app, seller, &path).await, 200).await["data"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_csv_import_is_checked_first_and_a_bad_line_changes_nothing() {
    let app = TestApp::spawn().await;
    let (seller, shop, base) = seller_with_shop(&app).await;
    let shop_id = shop["id"].as_str().unwrap();
    let mut browser = signed_in(&app, &seller).await;
    let path = format!("{base}/products/import");
    let header = "sku,title,price_minor,currency,stock,category,image_url,image_alt";
    let good = "MUG-1,Blue Mug,1250,USD,5,home-kitchen,https://img.example/m.webp,A mug";
    let bad = "BOWL-1,Bowl,not-a-price,USD,5,home-kitchen,https://img.example/b.webp,A bowl";

    let file = format!("{header}\n{good}\n{bad}\n");
    let refused = browser
        .submit(&path, &path, &[("csv", file.as_str()), ("action", "apply")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("nothing was imported"), "{}", refused.body);
    let problems = refused
        .body
        .split("Problems, by line")
        .nth(1)
        .expect("the problems table");
    assert!(
        problems.contains("<th scope=\"row\" class=\"num\">3</th>"),
        "{problems}"
    );
    assert!(problems.contains("price_minor"), "{problems}");
    assert_eq!(
        product_count(&app, &seller, shop_id).await,
        0,
        "nothing applied"
    );

    let file = format!("{header}\n{good}\n");
    let checked = browser
        .submit(&path, &path, &[("csv", file.as_str()), ("action", "check")])
        .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked.shows("What the import would do"),
        "{}",
        checked.body
    );
    assert!(checked.shows("1 new, 0 changed, 0 unchanged"));
    assert_eq!(
        product_count(&app, &seller, shop_id).await,
        0,
        "a check changes nothing"
    );

    let applied = browser
        .submit(&path, &path, &[("csv", file.as_str()), ("action", "apply")])
        .await;
    assert_eq!(applied.status, 200, "{}", applied.body);
    assert!(
        applied.shows("1 new, 0 changed, 0 unchanged"),
        "{}",
        applied.body
    );
    assert_eq!(product_count(&app, &seller, shop_id).await, 1);
    let again = browser
        .submit(&path, &path, &[("csv", file.as_str()), ("action", "apply")])
        .await;
    assert!(
        again.shows("0 new, 0 changed, 1 unchanged"),
        "{}",
        again.body
    );
}
