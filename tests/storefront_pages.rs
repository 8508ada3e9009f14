//! The storefront's pages over HTTP, against the real app and the sandbox:
//! a purchase from two shops through the pages, compared with what the JSON
//! API says of the same product, cart and order; forms and their errors;
//! CSRF; caching; crawler files.

use crate::common;
use crate::orders_support;
use crate::web_support;

use serde_json::Value;

use common::people::{get_with_token, signup};
use common::{wait_until, TestApp};
use orders_support::{active_shop, add_to_cart, checkout_ok, json_of, market, product};
use web_support::{Browser, PASSWORD};

/// Two shops selling in USD, one product each: (shop, product id) pairs.
async fn two_shops(app: &TestApp) -> ((Value, String), (Value, String)) {
    let first_seller = signup(app, "seller").await;
    let second_seller = signup(app, "seller").await;
    let first = active_shop(app, &first_seller, "USD").await;
    let second = active_shop(app, &second_seller, "USD").await;
    let mug = product(app, &first_seller, &first, "Stoneware Mug", 1250, 5).await;
    let lamp = product(app, &second_seller, &second, "Brass Lamp", 899, 3).await;
    ((first, mug), (second, lamp))
}

fn address(key: &str) -> Vec<(&str, &str)> {
    vec![
        ("idempotency_key", key),
        ("name", "Ann Buyer"),
        ("line1", "1 Main St"),
        ("line2", ""),
        ("city", "Springfield"),
        ("postal_code", "12345"),
        ("country", "US"),
    ]
}

#[tokio::test]
async fn a_visitor_buys_from_two_shops_and_the_pages_agree_with_the_api() {
    let app = TestApp::spawn().await;
    market(&app).await;
    let ((first, mug), (second, lamp)) = two_shops(&app).await;
    let mut browser = Browser::new(&app);

    // The product page shows what the API says of the product and its shop.
    let api_product: Value = app
        .get(&format!("/v1/products/{mug}"))
        .await
        .json()
        .await
        .unwrap();
    let profile = json_of(
        app.get(&format!(
            "/v1/shop_profiles/{}",
            first["id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    let page = browser.get(&format!("/products/{mug}")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.text_of("<h1"), api_product["title"].as_str().unwrap());
    assert_eq!(page.text_of("<p class=\"price big\""), "$12.50");
    assert!(page.shows(&format!(
        "href=\"/shops/{}\">{}</a>",
        first["id"].as_str().unwrap(),
        profile["name"].as_str().unwrap()
    )));
    assert!(page.shows("\"price\":\"12.50\""), "JSON-LD offer");
    assert!(page.shows("\"priceCurrency\":\"USD\""));
    assert!(
        page.header("set-cookie").is_empty(),
        "a public page sets no cookie"
    );
    assert!(page.header("cache-control").contains("s-maxage"));

    // A first "add to cart" carries no cookie of ours, so it needs no token.
    let added = browser
        .post("/cart", &[("product_id", &mug), ("quantity", "2")])
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(added.location(), "/cart?done=added");
    assert!(browser.cookies.contains_key("bz_cart"));
    assert!(browser.cookies.contains_key("bz_browser"));
    // With cookies, a form without the token is refused.
    let forged = browser
        .post("/cart", &[("product_id", &lamp), ("quantity", "1")])
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.shows("This form has expired"));
    let added = browser
        .submit(
            "/cart",
            "/cart",
            &[("product_id", &lamp), ("quantity", "1")],
        )
        .await;
    assert_eq!(added.status, 303);

    // The cart groups lines by shop, with subtotals computed here.
    let cart = browser.get("/cart").await;
    assert_eq!(cart.status, 200);
    assert!(cart.header("cache-control").contains("private"));
    assert!(cart.shows(&format!(">{}</a></h2>", first["name"].as_str().unwrap())));
    assert!(cart.shows(&format!(">{}</a></h2>", second["name"].as_str().unwrap())));
    assert!(cart.shows("Subtotal from"));
    assert!(cart.shows(&format!(
        "{}: <strong>$25.00</strong>",
        first["name"].as_str().unwrap()
    )));
    assert!(cart.shows(&format!(
        "{}: <strong>$8.99</strong>",
        second["name"].as_str().unwrap()
    )));
    assert_eq!(cart.text_of("<p class=\"total\""), "Total: $33.99");

    // Signing up keeps the cart: the API now holds it for the buyer.
    browser.sign_up("/checkout").await;
    assert!(
        !browser.cookies.contains_key("bz_cart"),
        "the guest cart moved into the account"
    );
    let token = browser.session_token();
    let api_cart = json_of(get_with_token(&app, &token, "/v1/cart").await, 200).await;
    let lines = api_cart["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (
            lines[0]["product_id"].as_str().unwrap(),
            lines[0]["quantity"].as_i64().unwrap()
        ),
        (mug.as_str(), 2)
    );
    assert_eq!(
        (
            lines[1]["product_id"].as_str().unwrap(),
            lines[1]["quantity"].as_i64().unwrap()
        ),
        (lamp.as_str(), 1)
    );
    assert_eq!(lines[0]["shop_name"], first["name"]);
    assert_eq!(api_cart["totals"][0]["minor"], 2 * 1250 + 899);
    assert_eq!(
        browser.get("/cart").await.text_of("<p class=\"total\""),
        "Total: $33.99"
    );

    // Checkout: a double-submitted form makes one order.
    let form = browser.get("/checkout").await;
    assert_eq!(form.status, 200);
    let key = form.input("idempotency_key");
    let csrf = form.input("csrf_token");
    let mut fields = vec![("csrf_token", csrf.as_str())];
    fields.extend(address(&key));
    let placed = browser.post("/checkout", &fields).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let again = browser.post("/checkout", &fields).await;
    assert_eq!(
        again.location(),
        placed.location(),
        "the same key is the same order"
    );
    let order_id = placed
        .location()
        .strip_prefix("/orders/")
        .and_then(|rest| rest.strip_suffix("/pay"))
        .unwrap()
        .to_owned();
    let orders = json_of(get_with_token(&app, &token, "/v1/orders").await, 200).await;
    assert_eq!(orders["data"].as_array().unwrap().len(), 1);

    // A declined card, then one that pays.
    let pay_path = format!("/orders/{order_id}/pay");
    let payment = browser.get(&pay_path).await;
    assert!(payment.shows("Pay $33.99"));
    let attempt = payment.input("attempt");
    let declined = browser
        .submit(
            &pay_path,
            &pay_path,
            &[
                ("payment_method", "pm_card_chargeDeclined"),
                ("attempt", &attempt),
            ],
        )
        .await;
    assert_eq!(declined.status, 402);
    assert!(declined.shows("role=\"alert\""));
    assert!(declined.shows("declined"));
    let attempt = declined.input("attempt");
    let paid = browser
        .submit(
            &pay_path,
            &pay_path,
            &[("payment_method", "pm_card_visa"), ("attempt", &attempt)],
        )
        .await;
    assert_eq!(paid.status, 303, "{}", paid.body);
    let confirmation = format!("/orders/{order_id}/confirmation");
    assert_eq!(paid.location(), confirmation);
    let app_ref = &app;
    let cookies = browser.cookies.clone();
    wait_until(|| {
        let mut browser = Browser {
            app: app_ref,
            cookies: cookies.clone(),
        };
        let confirmation = confirmation.clone();
        async move {
            browser
                .get(&confirmation)
                .await
                .text_of("<strong role=\"status\"")
                == "Paid"
        }
    })
    .await;

    // The buyer's JSON order and the order page say the same; neither shows
    // the sellers' money.
    let order = json_of(
        get_with_token(&app, &token, &format!("/v1/orders/{order_id}")).await,
        200,
    )
    .await;
    assert_eq!(order["status"], "paid");
    assert_eq!(order["total"]["minor"], 3399);
    for part in order["parts"].as_array().unwrap() {
        for hidden in [
            "fee",
            "processing_fee",
            "seller_amount",
            "settlement",
            "fee_rule_version_id",
        ] {
            assert!(
                part.get(hidden).is_none(),
                "a buyer sees no {hidden}: {part}"
            );
        }
        assert_eq!(part["status"], "paid");
    }
    assert_eq!(order["parts"][0]["shop_name"], first["name"]);
    assert_eq!(order["parts"][1]["shop_name"], second["name"]);
    let detail = browser.get(&format!("/orders/{order_id}")).await;
    assert_eq!(detail.status, 200);
    assert!(detail.shows("<dt>Total</dt><dd>$33.99</dd>"));
    assert!(detail.shows("<dt>Status</dt><dd>Paid</dd>"));
    assert!(detail.shows("2 × <a"));
    // The words on the page, not the markup: asset URLs carry hex hashes.
    assert!(
        !web_support::strip_tags(&detail.body).contains("fee"),
        "no fee on the buyer's page"
    );
    let history = browser.get("/orders").await;
    assert!(history.shows(&format!("href=\"/orders/{order_id}\"")));
    assert!(history.shows("$33.99"));
}

#[tokio::test]
async fn forms_show_each_problem_beside_its_field() {
    let app = TestApp::spawn().await;
    market(&app).await;
    let ((_, mug), _) = two_shops(&app).await;
    let mut browser = Browser::new(&app);

    let short = browser
        .submit(
            "/signup",
            "/signup",
            &[
                ("email", "not-an-email"),
                ("password", "short"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(short.shows("There is a problem"));
    assert!(short.shows("href=\"#email\""));
    assert!(short.shows("aria-describedby=\"email-error\""));

    let email = browser.sign_up("/").await;
    browser.cookies.remove("bz_session");
    // Signing up again with the address answers as for a new one (the
    // owner is emailed a notice); it neither fails nor signs in.
    let again = browser.sign_up_unverified(&email, "/").await;
    assert_eq!(again.status, 200);
    assert!(again.shows("Check your email"));
    assert!(!again.shows("already exists"));
    let wrong = browser
        .submit(
            "/signin",
            "/signin",
            &[
                ("email", &email),
                ("password", "not the password at all"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.shows("The email or the password is not correct."));
    let right = browser
        .submit(
            "/signin",
            "/signin",
            &[
                ("email", &email),
                ("password", "a long enough password 42"),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(right.status, 303);
    assert_eq!(right.location(), "/", "never redirected off site");

    // Every empty address field is named at once, each beside its field.
    browser
        .submit("/cart", "/cart", &[("product_id", &mug), ("quantity", "1")])
        .await;
    let form = browser.get("/checkout").await;
    let key = form.input("idempotency_key");
    let empty = browser
        .submit(
            "/checkout",
            "/checkout",
            &[
                ("idempotency_key", &key),
                ("name", " "),
                ("line1", ""),
                ("city", ""),
                ("postal_code", ""),
                ("country", "US"),
            ],
        )
        .await;
    assert_eq!(empty.status, 422);
    for (field, message) in [
        ("name", "Enter your full name"),
        ("line1", "Enter the first line of your address"),
        ("city", "Enter your town or city"),
        ("postal_code", "Enter your postal code"),
    ] {
        assert!(
            empty.shows(&format!("<a href=\"#{field}\">{message}</a>")),
            "{field}: {}",
            empty.body
        );
        assert!(empty.shows(&format!("aria-describedby=\"{field}-error\"")));
    }
    let token = browser.session_token();
    let orders = json_of(get_with_token(&app, &token, "/v1/orders").await, 200).await;
    assert!(
        orders["data"].as_array().unwrap().is_empty(),
        "no order from a refused form"
    );
}

#[tokio::test]
async fn an_item_sold_out_between_cart_and_checkout_is_named() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let last = product(&app, &seller, &shop, "Last Teapot", 4000, 1).await;
    let mut browser = Browser::new(&app);
    browser.sign_up("/").await;
    assert_eq!(
        browser
            .submit(
                "/cart",
                "/cart",
                &[("product_id", &last), ("quantity", "1")]
            )
            .await
            .status,
        303
    );

    // Someone else buys the last one through the API.
    add_to_cart(&app, &market.buyer, &last, 1).await;
    checkout_ok(&app, &market.buyer, "other-buyer", Some("pm_card_visa")).await;

    let form = browser.get("/checkout").await;
    assert!(form.shows("(no longer available)"));
    let key = form.input("idempotency_key");
    let mut fields = address(&key);
    fields.retain(|(k, _)| *k != "idempotency_key");
    fields.push(("idempotency_key", &key));
    let refused = browser.submit("/checkout", "/checkout", &fields).await;
    assert_eq!(refused.status, 409);
    assert!(
        refused.shows("Last Teapot"),
        "the error names the product: {}",
        refused.body
    );
    assert!(refused.shows("href=\"/cart\""));
    let cart = browser.get("/cart").await;
    assert!(cart.shows("No longer available"));
    assert!(cart.shows("Last Teapot"));
}

#[tokio::test]
async fn public_pages_are_cacheable_and_crawlable() {
    let app = TestApp::spawn().await;
    market(&app).await;
    let ((shop, mug), _) = two_shops(&app).await;
    let mut browser = Browser::new(&app);

    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert_eq!(home.header("content-type"), "text/html; charset=utf-8");
    assert!(home.header("cache-control").starts_with("public"));
    assert!(home.header("vary").contains("Cookie"));
    assert!(home
        .header("content-security-policy")
        .contains("script-src 'self'"));
    let etag = home.header("etag");
    let revalidated = app
        .client
        .get(format!("{}/", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    // Compressed for browsers that ask.
    let compressed = app
        .client
        .get(format!("{}/", app.address))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(compressed.headers()["content-encoding"], "gzip");

    // The stylesheet is immutable under its content's name.
    let css = home
        .body
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let sheet = app.get(&css).await;
    assert_eq!(sheet.status(), 200);
    assert_eq!(
        sheet.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        app.get("/assets/app.0000000000000000.css").await.status(),
        404
    );

    // The demo's pictures are served by Bazaar itself.
    let picture = app.get("/media/mug-forest-640.webp").await;
    assert_eq!(picture.status(), 200);
    assert_eq!(picture.headers()["content-type"], "image/webp");
    assert_eq!(app.get("/media/generate.py").await.status(), 404);
    assert_eq!(app.get("/media/..%2Fdemo_catalog.json").await.status(), 404);

    // Someone with cookies gets a private copy.
    browser.sign_up("/").await;
    let personal = browser.get(&format!("/products/{mug}")).await;
    assert!(personal.header("cache-control").starts_with("private"));
    assert!(personal.shows("Sign out"));

    let robots = app.get("/robots.txt").await.text().await.unwrap();
    assert!(robots.contains("Disallow: /checkout"));
    assert!(robots.contains("Sitemap: "));
    let sitemap = app.get("/sitemap.xml").await.text().await.unwrap();
    assert!(sitemap.contains(&format!("/products/{mug}</loc>")));
    assert!(sitemap.contains(&format!("/shops/{}</loc>", shop["id"].as_str().unwrap())));

    // A missing page is a page for browsers; the API keeps its JSON errors.
    let missing = browser.get("/no-such-page").await;
    assert_eq!(missing.status, 404);
    assert!(missing.shows("<h1>Page not found</h1>"));
    let missing_product = browser
        .get("/products/prd_00000000000000000000000000000000")
        .await;
    assert_eq!(missing_product.status, 404);
    assert!(missing_product.shows("<h1>Page not found</h1>"));
    let api = app.get("/v1/no-such-route").await;
    assert_eq!(api.status(), 404);
    assert_eq!(api.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn search_counts_filters_and_agrees_with_the_json_catalog() {
    let app = TestApp::spawn().await;
    market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    for (title, price, stock) in [
        ("Green Vase", 2000, 4),
        ("Green Bowl", 1500, 0),
        ("Green Plate", 900, 2),
        ("Blue Vase", 2500, 1),
    ] {
        product(&app, &seller, &shop, title, price, stock).await;
    }
    let mut browser = Browser::new(&app);
    let all_green = browser.get("/search?q=green").await;
    assert_eq!(all_green.text_of("<h2 id=\"results\""), "3 products");
    // The filters carry their counts: in stock, and price bands as links.
    assert!(all_green.shows("In stock only (2)"), "{}", all_green.body);
    assert!(all_green.shows("Under $10.00 (1)</a>"));
    assert!(all_green.shows("$10.00 to $24.99 (2)</a>"));
    assert!(
        all_green.shows(
            "href=\"/search?q=green&#38;currency=USD&#38;min_price=10.00&#38;max_price=24.99\""
        ),
        "{}",
        all_green.body
    );
    let misspelt = browser.get("/search?q=gren+vase").await;
    assert_eq!(misspelt.text_of("<h2 id=\"results\""), "1 product");
    assert!(misspelt.shows("Nothing matched “gren”: showing results for “green”."));
    let in_stock = browser.get("/search?q=green&in_stock=1").await;
    assert_eq!(in_stock.text_of("<h2 id=\"results\""), "2 products");
    assert!(!in_stock.shows("Green Bowl"));
    let json = json_of(app.get("/v1/products?q=green&in_stock=true").await, 200).await;
    assert_eq!(json["data"].as_array().unwrap().len(), 2);
    let cheap = browser
        .get("/search?q=green&currency=USD&max_price=15.00")
        .await;
    assert_eq!(cheap.text_of("<h2 id=\"results\""), "2 products");
    assert!(cheap.shows("Green Plate") && cheap.shows("Green Bowl"));
    let no_currency = browser.get("/search?q=green&max_price=15").await;
    assert_eq!(no_currency.status, 422);
    assert!(no_currency.shows("href=\"#currency\""));
    let out = browser.get("/search?q=bowl").await;
    assert!(out.shows("Out of stock"));
}

#[tokio::test]
async fn a_price_changed_after_the_buyer_looked_is_shown_before_anything_is_ordered() {
    let app = TestApp::spawn().await;
    market(&app).await;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let lamp = product(&app, &seller, &shop, "Brass Lamp", 4000, 3).await;
    let mut browser = Browser::new(&app);
    browser.sign_up("/").await;
    browser
        .submit(
            "/cart",
            "/cart",
            &[("product_id", &lamp), ("quantity", "1")],
        )
        .await;
    let form = browser.get("/checkout").await;
    assert_eq!(form.input("expected_total"), "4000");

    // The seller raises the price while the buyer fills in the address.
    let raised = app
        .client
        .patch(format!("{}/v1/products/{lamp}", app.address))
        .bearer_auth(&seller.token)
        .json(&serde_json::json!({"price_minor": 4500}))
        .send()
        .await
        .unwrap();
    assert_eq!(raised.status(), 200);

    let key = form.input("idempotency_key");
    let mut fields = address(&key);
    fields.push(("expected_total", "4000"));
    let refused = browser.submit("/checkout", "/checkout", &fields).await;
    assert_eq!(refused.status, 409);
    assert!(
        refused.shows("45.00"),
        "the new total is shown: {}",
        refused.body
    );
    // Nothing was ordered; the form now carries the new total.
    assert_eq!(refused.input("expected_total"), "4500");
    let orders = get_with_token(&app, &browser.session_token(), "/v1/orders").await;
    assert_eq!(json_of(orders, 200).await["data"], serde_json::json!([]));
    let key = refused.input("idempotency_key");
    let mut fields = address(&key);
    fields.push(("expected_total", "4500"));
    let placed = browser.submit("/checkout", "/checkout", &fields).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
}

/// The `<main>` of a page as text, with `email` blanked: what a visitor reads.
fn main_text(page: &web_support::Page, email: &str) -> String {
    page.text_of("<main").replace(email, "EMAIL")
}

async fn sign_in(browser: &mut Browser<'_>, email: &str, password: &str) -> web_support::Page {
    browser
        .submit(
            "/signin",
            "/signin",
            &[("email", email), ("password", password), ("next", "/")],
        )
        .await
}

#[tokio::test]
async fn signing_up_answers_the_same_for_a_new_and_an_existing_address() {
    let app = TestApp::spawn().await;
    let mut first = Browser::new(&app);
    let existing = first.sign_up("/").await;

    let fresh = common::people::unique_email("newcomer");
    let mut second = Browser::new(&app);
    let new_page = second.sign_up_unverified(&fresh, "/checkout").await;
    let mut third = Browser::new(&app);
    let old_page = third.sign_up_unverified(&existing, "/checkout").await;

    assert_eq!(new_page.status, 200);
    assert_eq!(old_page.status, 200);
    assert_eq!(new_page.text_of("<h1"), "Check your email");
    assert!(new_page.shows(&format!("<strong>{fresh}</strong>")));
    assert!(new_page.shows("works once, for 24 hours"));
    assert!(new_page.shows("action=\"/signup/resend\""));
    assert!(new_page.header("cache-control").contains("no-store"));
    assert!(new_page.shows("<meta name=\"robots\" content=\"noindex\">"));
    assert_eq!(
        main_text(&new_page, &fresh),
        main_text(&old_page, &existing),
        "the page does not tell whether the address has an account"
    );
    assert!(!second.cookies.contains_key("bz_session"));
    assert!(!third.cookies.contains_key("bz_session"));

    // "Send the link again" answers the same page with a status message.
    let csrf = new_page.input("csrf_token");
    let resent = second
        .post(
            "/signup/resend",
            &[
                ("csrf_token", csrf.as_str()),
                ("email", fresh.as_str()),
                ("next", "/checkout"),
            ],
        )
        .await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    assert_eq!(
        resent.text_of("<div role=\"status\""),
        format!("We sent a new link to {fresh}.")
    );
    // The newest link works and lands on `next`.
    let link = common::mail::wait_for_link(&app, &fresh, "/verify-email").await;
    assert!(link.contains("next=/checkout") || link.contains("next=%2Fcheckout"));
    let confirmed = second.confirm_link(&link).await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    assert_eq!(confirmed.location(), "/checkout");
    assert!(second.cookies.contains_key("bz_session"));
}

#[tokio::test]
async fn a_verification_link_is_used_by_its_button_not_by_opening_it() {
    let app = TestApp::spawn().await;
    let email = common::people::unique_email("scanned");
    let mut browser = Browser::new(&app);
    browser.sign_up_unverified(&email, "/").await;
    let link = common::mail::wait_for_link(&app, &email, "/verify-email").await;
    let path = web_support::path_of(&link);

    // A mail scanner (no cookies) and the reader both open the link.
    let mut scanner = Browser::new(&app);
    for visitor in [&mut scanner, &mut browser] {
        let page = visitor.get(&path).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.text_of("<h1"), "Confirm your email address");
        assert!(page.header("cache-control").contains("no-store"));
    }
    let page = browser.get(&path).await;
    assert_eq!(page.input("token"), common::mail::token_of(&link));

    let confirmed = browser.confirm_link(&link).await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    assert_eq!(confirmed.location(), "/");
    let token = browser.session_token();
    assert_eq!(get_with_token(&app, &token, "/v1/cart").await.status(), 200);
    assert!(browser.get("/").await.shows("Sign out"));

    // The link is used: a second press says so and offers a new link.
    let mut other = Browser::new(&app);
    let again = other.confirm_link(&link).await;
    assert_eq!(again.status, 422);
    assert!(
        again.shows("This link has already been used"),
        "{}",
        again.body
    );
    assert!(again.shows("role=\"alert\""));
    assert!(again.shows("action=\"/signup/resend\""));
    assert!(again.shows("id=\"email\""));
    assert!(!other.cookies.contains_key("bz_session"));
}

#[tokio::test]
async fn an_unverified_account_is_told_how_to_get_a_new_link_at_sign_in() {
    let app = TestApp::spawn().await;
    let email = common::people::unique_email("unconfirmed");
    let mut browser = Browser::new(&app);
    browser.sign_up_unverified(&email, "/").await;

    let form = browser.get("/signin").await;
    assert!(form.shows("<a href=\"/forgot-password\">Forgot your password?</a>"));
    let refused = sign_in(&mut browser, &email, PASSWORD).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.shows("Your email address is not confirmed yet"));
    assert!(refused.shows("role=\"alert\""));
    assert!(refused.shows("action=\"/signup/resend\""));
    assert!(!browser.cookies.contains_key("bz_session"));

    let csrf = refused.input("csrf_token");
    let resent = browser
        .post(
            "/signup/resend",
            &[
                ("csrf_token", csrf.as_str()),
                ("email", email.as_str()),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(resent.status, 200);
    assert!(resent.shows(&format!("We sent a new link to {email}.")));
    // Once confirmed, the password signs in.
    let link = common::mail::wait_for_link(&app, &email, "/verify-email").await;
    let mut elsewhere = Browser::new(&app);
    assert_eq!(elsewhere.confirm_link(&link).await.status, 303);
    assert_eq!(sign_in(&mut browser, &email, PASSWORD).await.status, 303);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_emailed_link() {
    let app = TestApp::spawn().await;
    let mut before = Browser::new(&app);
    let email = before.sign_up("/").await;

    let mut browser = Browser::new(&app);
    let form = browser.get("/forgot-password").await;
    assert_eq!(form.status, 200);
    assert!(form.shows("autocomplete=\"email\""));
    let known = browser
        .submit("/forgot-password", "/forgot-password", &[("email", &email)])
        .await;
    assert_eq!(known.status, 200, "{}", known.body);
    let nobody = common::people::unique_email("nobody");
    let unknown = browser
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("email", &nobody)],
        )
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(main_text(&known, &email), main_text(&unknown, &nobody));
    assert!(known.shows("Check your email"));

    let link = common::mail::wait_for_link(&app, &email, "/reset-password").await;
    let path = web_support::path_of(&link);
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.shows("autocomplete=\"new-password\""));
    assert_eq!(page.input("token"), common::mail::token_of(&link));
    let token = page.input("token");
    let short = browser
        .submit(
            &path,
            "/reset-password",
            &[("token", &token), ("password", "short")],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(short.shows("href=\"#password\""));
    assert!(short.shows("aria-describedby=\"password-hint password-error\""));

    let new_password = "a brand new password 43";
    let done = browser
        .submit(
            &path,
            "/reset-password",
            &[("token", &token), ("password", new_password)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), "/signin?done=password_reset");
    let signin = browser.get(done.location()).await;
    assert!(signin
        .text_of("<div role=\"status\"")
        .contains("Your password has been changed"));

    // The link is spent; the old password and the old sessions are gone.
    let spent = browser
        .submit(
            &path,
            "/reset-password",
            &[("token", &token), ("password", "yet another password 44")],
        )
        .await;
    assert_eq!(spent.status, 422);
    assert!(spent.shows("This link has already been used"));
    assert!(spent.shows("href=\"/forgot-password\""));
    assert_eq!(sign_in(&mut browser, &email, PASSWORD).await.status, 401);
    let account = before.get("/account").await;
    assert_eq!(account.status, 303);
    assert_eq!(account.location(), "/signin?next=/account");
    let signed_in = sign_in(&mut browser, &email, new_password).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
}

#[tokio::test]
async fn changing_the_password_signs_out_the_other_browsers() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let email = browser.sign_up("/").await;
    let mut other = Browser::new(&app);
    assert_eq!(sign_in(&mut other, &email, PASSWORD).await.status, 303);
    assert_eq!(other.get("/account").await.status, 200);

    let mut stranger = Browser::new(&app);
    let away = stranger.get("/account").await;
    assert_eq!(away.status, 303);
    assert_eq!(away.location(), "/signin?next=/account");

    let page = browser.get("/account").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.text_of("<h1"), "Your account");
    assert!(page.shows("<a href=\"/account\">Your account</a>"));
    assert!(page.shows(&format!("<dd>{email}</dd>")));
    assert!(page.shows("autocomplete=\"current-password\""));
    assert!(page.shows("autocomplete=\"new-password\""));
    assert!(page.header("cache-control").contains("no-store"));

    let wrong = browser
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", "not the password at all"),
                ("password", "a brand new password 43"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.shows("href=\"#current_password\""));
    assert!(wrong.shows("aria-describedby=\"current_password-error\""));
    assert_eq!(other.get("/account").await.status, 200, "nothing changed");

    let changed = browser
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", "a brand new password 43"),
            ],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    let after = browser.get(changed.location()).await;
    assert_eq!(after.status, 200, "this browser stays signed in");
    assert_eq!(
        after.text_of("<div role=\"status\""),
        "Password changed; other sessions signed out."
    );
    let signed_out = other.get("/account").await;
    assert_eq!(signed_out.status, 303);
    assert_eq!(signed_out.location(), "/signin?next=/account");
    assert_eq!(sign_in(&mut other, &email, PASSWORD).await.status, 401);
    assert_eq!(
        sign_in(&mut other, &email, "a brand new password 43")
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn a_buyer_deletes_their_account_with_their_password() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let email = browser.sign_up("/").await;
    let token = browser.session_token();
    let page = browser.get("/account").await;
    assert!(page.shows("Delete my account"));
    assert!(page.shows("personal data") || page.shows("removed"));

    let wrong = browser
        .submit(
            "/account",
            "/account/delete",
            &[("password", "not the password at all")],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.shows("href=\"#delete_password\""));
    assert!(wrong.shows("aria-describedby=\"delete_password-error\""));
    assert_eq!(
        get_with_token(&app, &token, "/v1/cart").await.status(),
        200,
        "nothing deleted"
    );
    assert_eq!(browser.get("/account").await.status, 200);

    let deleted = browser
        .submit("/account", "/account/delete", &[("password", PASSWORD)])
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    assert_eq!(deleted.location(), "/account/deleted");
    assert!(!browser.cookies.contains_key("bz_session"));
    let gone = browser.get("/account/deleted").await;
    assert_eq!(gone.text_of("<h1"), "Your account is deleted");
    assert!(!gone.shows("Sign out"));
    assert_eq!(get_with_token(&app, &token, "/v1/cart").await.status(), 401);
    assert_eq!(sign_in(&mut browser, &email, PASSWORD).await.status, 401);
}

#[tokio::test]
async fn an_account_with_an_unpaid_order_is_not_deleted() {
    let app = TestApp::spawn().await;
    market(&app).await;
    let ((_, mug), _) = two_shops(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_up("/").await;
    browser
        .submit("/cart", "/cart", &[("product_id", &mug), ("quantity", "1")])
        .await;
    let form = browser.get("/checkout").await;
    let key = form.input("idempotency_key");
    let placed = browser
        .submit("/checkout", "/checkout", &address(&key))
        .await;
    assert_eq!(placed.status, 303, "{}", placed.body);

    let busy = browser
        .submit("/account", "/account/delete", &[("password", PASSWORD)])
        .await;
    assert_eq!(busy.status, 409, "{}", busy.body);
    assert!(busy.shows("awaiting payment"), "{}", busy.body);
    assert!(busy.shows("role=\"alert\""));
    assert!(browser.cookies.contains_key("bz_session"));
    assert_eq!(browser.get("/account").await.status, 200);
}
