//! The catalog over HTTP: sellers manage their products, buyers browse; who
//! may see what, validation answers, ETags and 304s, cursor pagination under
//! concurrent inserts, and the in-process cache's time-to-live.

use crate::catalog_support;
use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use bazaar::db::DbPool;
use bazaar::sellers::shops::{self, Shop};
use catalog_support::{on_pool, pool, shop, unique};
use common::people::{bearer, get_as, operator, post_as, signup, Person};
use common::{assert_error, TestApp};
use serde_json::{json, Value};

/// A seller with a sellable shop in `currency`, and a pool for set-up.
struct Scene {
    app: TestApp,
    pool: DbPool,
    seller: Person,
    shop: Shop,
}

async fn scene(currency: &str) -> Scene {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let seller = signup(&app, "seller").await;
    let shop = on_pool(&pool, {
        let (owner, currency) = (seller.user_id.clone(), currency.to_owned());
        move |conn| shop(conn, &owner, &currency, true)
    })
    .await;
    Scene {
        app,
        pool,
        seller,
        shop,
    }
}

/// Runs blocking database set-up off the async workers.
fn product_body(sku: &str, title: &str, price_minor: i64, currency: &str) -> Value {
    json!({
        "sku": sku,
        "title": title,
        "description": format!("{title}, described."),
        "price_minor": price_minor,
        "currency": currency,
        "stock": 7,
        "category": "kitchen",
        "images": [{"url": "https://img.example.com/mug.jpg", "alt": "a mug"}],
    })
}

async fn create(app: &TestApp, seller: &Person, shop_id: &str, body: &Value) -> reqwest::Response {
    post_as(app, seller, &format!("/v1/shops/{shop_id}/products"), body).await
}

async fn create_ok(app: &TestApp, seller: &Person, shop: &Shop, title: &str) -> Value {
    let body = product_body(
        &format!("SKU-{}", unique()),
        title,
        1299,
        shop.default_currency.code(),
    );
    let response = create(app, seller, &shop.id, &body).await;
    assert_eq!(response.status(), 201, "create {title}");
    response.json().await.unwrap()
}

async fn patch_as(app: &TestApp, person: &Person, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(format!("{}{path}", app.address))
        .header("authorization", bearer(&person.token))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get_if_none_match(app: &TestApp, path: &str, etag: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn list_ids(app: &TestApp, query: &str) -> Vec<String> {
    let response = app.get(&format!("/v1/products{query}")).await;
    assert_eq!(response.status(), 200, "list {query}");
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_seller_lists_a_product_and_a_buyer_reads_it() {
    let Scene {
        app, seller, shop, ..
    } = scene("USD").await;
    let body = product_body("MUG-1", "Blue Mug", 1299, "USD");
    let response = create(&app, &seller, &shop.id, &body).await;
    assert_eq!(response.status(), 201);
    let location = header(&response, "location");
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("prd_"));
    assert_eq!(location, format!("/v1/products/{id}"));
    let keys: HashSet<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "id",
        "shop_id",
        "sku",
        "title",
        "description",
        "price",
        "stock",
        "in_stock",
        "category",
        "images",
        "active",
        "archived_at",
        "created_at",
        "updated_at",
    ]
    .into();
    assert_eq!(keys, expected);
    assert!(
        created["archived_at"].is_null(),
        "a new product is not archived"
    );
    assert_eq!(created["shop_id"], json!(shop.id));
    assert_eq!(created["sku"], "MUG-1");
    assert_eq!(created["price"], json!({"minor": 1299, "currency": "USD"}));
    assert_eq!(created["stock"], 7);
    assert_eq!(created["in_stock"], true);
    assert_eq!(created["active"], true);
    assert_eq!(
        created["images"],
        json!([{"url": "https://img.example.com/mug.jpg", "alt": "a mug"}])
    );
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    // Anyone, signed in or not, reads the same product.
    let response = app.get(&location).await;
    assert_eq!(response.status(), 200);
    let read: Value = response.json().await.unwrap();
    assert_eq!(read, created);
    let buyer = signup(&app, "buyer").await;
    let as_buyer: Value = get_as(&app, &buyer, &location).await.json().await.unwrap();
    assert_eq!(as_buyer, created);
    assert_eq!(list_ids(&app, "").await, vec![id.clone()]);

    // A buyer cannot create products; nobody can anonymously.
    let response = post_as(
        &app,
        &buyer,
        &format!("/v1/shops/{}/products", shop.id),
        &body,
    )
    .await;
    assert_error(response, 403, "forbidden").await;
    let response = app
        .post_json(&format!("/v1/shops/{}/products", shop.id), &body)
        .await;
    assert_error(response, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_seller_updates_and_deactivates_a_product() {
    let Scene {
        app, seller, shop, ..
    } = scene("EUR").await;
    let created = create_ok(&app, &seller, &shop, "Lamp").await;
    let path = format!("/v1/products/{}", created["id"].as_str().unwrap());

    let response = patch_as(
        &app,
        &seller,
        &path,
        &json!({"price_minor": 2500, "stock": 0}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["price"], json!({"minor": 2500, "currency": "EUR"}));
    assert_eq!(updated["stock"], 0);
    assert_eq!(updated["in_stock"], false);
    assert_eq!(updated["title"], "Lamp", "untouched");
    assert_eq!(updated["created_at"], created["created_at"]);

    let response = patch_as(&app, &seller, &path, &json!({"active": false})).await;
    assert_eq!(response.status(), 200);
    assert_error(app.get(&path).await, 404, "not_found").await;
    assert!(list_ids(&app, "").await.is_empty());

    // The owner still sees it in the shop's list, inactive.
    let response = get_as(&app, &seller, &format!("/v1/shops/{}/products", shop.id)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), "private, no-cache");
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["data"][0]["active"], false);
    assert_eq!(list["next_cursor"], Value::Null);

    let response = patch_as(&app, &seller, &path, &json!({"active": true})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.get(&path).await.status(), 200);

    let response = patch_as(&app, &seller, &path, &json!({"currency": "USD"})).await;
    let error = assert_error(response, 422, "unknown_field").await;
    assert_eq!(error["param"], "currency");
}

#[tokio::test]
async fn another_seller_gets_404_and_an_operator_may_act() {
    let Scene {
        app, seller, shop, ..
    } = scene("USD").await;
    let created = create_ok(&app, &seller, &shop, "Mine").await;
    let path = format!("/v1/products/{}", created["id"].as_str().unwrap());
    let other = signup(&app, "seller").await;

    let response = patch_as(&app, &other, &path, &json!({"price_minor": 1})).await;
    assert_error(response, 404, "not_found").await;
    let response = get_as(&app, &other, &format!("/v1/shops/{}/products", shop.id)).await;
    assert_error(response, 404, "not_found").await;
    let body = product_body("X-1", "Intruder", 100, "USD");
    assert_error(
        create(&app, &other, &shop.id, &body).await,
        404,
        "not_found",
    )
    .await;
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged["price"]["minor"], 1299);

    let operator = operator(&app).await;
    let response = patch_as(&app, &operator, &path, &json!({"active": false})).await;
    assert_eq!(response.status(), 200);
    let response = get_as(&app, &operator, &format!("/v1/shops/{}/products", shop.id)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn bad_products_are_refused_with_the_field_named() {
    let Scene {
        app, seller, shop, ..
    } = scene("USD").await;
    let valid = product_body("OK-1", "Fine", 100, "USD");
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let cases = [
        (
            with("price_minor", json!(0)),
            422,
            "price_out_of_range",
            "price_minor",
        ),
        (
            with("price_minor", json!(1_000_000_000_001_i64)),
            422,
            "price_out_of_range",
            "price_minor",
        ),
        (
            with("price_minor", json!("12.99")),
            422,
            "invalid_type",
            "price_minor",
        ),
        (
            with("currency", json!("EUR")),
            422,
            "currency_mismatch",
            "currency",
        ),
        (
            with("currency", json!("EURO")),
            422,
            "unknown_currency",
            "currency",
        ),
        (with("stock", json!(-1)), 422, "negative_stock", "stock"),
        (
            with("title", json!("t".repeat(201))),
            422,
            "invalid_value",
            "title",
        ),
        (
            with("description", json!("d".repeat(5001))),
            422,
            "invalid_value",
            "description",
        ),
        (
            with("sku", json!("no spaces please")),
            422,
            "invalid_value",
            "sku",
        ),
        (
            with("category", json!("Kitchen")),
            422,
            "invalid_value",
            "category",
        ),
        (with("images", json!([])), 422, "invalid_value", "images"),
        (
            with("images", json!([{"url": "https://x.example/a.jpg"}])),
            422,
            "missing_field",
            "images[0].alt",
        ),
        (
            with(
                "images",
                json!([
                    {"url": "https://x.example/a.jpg", "alt": "ok"},
                    {"url": "data:image/png;base64,AA", "alt": "x"},
                ]),
            ),
            422,
            "invalid_value",
            "images[1].url",
        ),
        (with("colour", json!("red")), 422, "unknown_field", "colour"),
    ];
    for (body, status, code, param) in cases {
        let response = create(&app, &seller, &shop.id, &body).await;
        let error = assert_error(response, status, code).await;
        assert_eq!(error["param"], param, "{body}");
    }
    let response = create(&app, &seller, "shop_doesnotexist", &valid).await;
    assert_error(response, 404, "not_found").await;

    // Nothing was created by any of the above.
    assert!(list_ids(&app, "").await.is_empty());
    assert_eq!(create(&app, &seller, &shop.id, &valid).await.status(), 201);
    let response = create(&app, &seller, &shop.id, &valid).await;
    assert_error(response, 409, "sku_taken").await;

    let created = list_ids(&app, "").await;
    let path = format!("/v1/products/{}", created[0]);
    for (body, code, param) in [
        (json!({"stock": -3}), "negative_stock", "stock"),
        (
            json!({"price_minor": -1}),
            "price_out_of_range",
            "price_minor",
        ),
        (json!({"title": ""}), "invalid_value", "title"),
        (
            json!({"images": [{"url": "https://x.example/a.jpg", "alt": ""}]}),
            "invalid_value",
            "images[0].alt",
        ),
    ] {
        let error = assert_error(patch_as(&app, &seller, &path, &body).await, 422, code).await;
        assert_eq!(error["param"], param);
    }
}

#[tokio::test]
async fn products_of_shops_that_cannot_sell_are_hidden_from_buyers() {
    let Scene {
        app,
        pool,
        seller,
        shop,
    } = scene("USD").await;
    let restricted = on_pool(&pool, {
        let owner = seller.user_id.clone();
        move |conn| catalog_support::shop(conn, &owner, "USD", false)
    })
    .await;
    on_pool(&pool, {
        let id = restricted.id.clone();
        move |conn| shops::attach_account(conn, &id, &catalog_support::account(false)).unwrap()
    })
    .await;
    let visible = create_ok(&app, &seller, &shop, "Visible").await;
    let in_restricted = create_ok(&app, &seller, &restricted, "Restricted").await;
    let detail = |p: &Value| format!("/v1/products/{}", p["id"].as_str().unwrap());

    assert_error(app.get(&detail(&in_restricted)).await, 404, "not_found").await;
    assert_eq!(
        list_ids(&app, "").await,
        vec![visible["id"].as_str().unwrap()]
    );

    // Freezing the open shop hides it too (within the cache TTL for a detail
    // read this process has cached; here it was never read).
    on_pool(&pool, {
        let id = shop.id.clone();
        move |conn| shops::set_frozen(conn, &id, true, Some("fraud review")).unwrap()
    })
    .await;
    assert_error(app.get(&detail(&visible)).await, 404, "not_found").await;
    assert!(list_ids(&app, "").await.is_empty());
    let filtered = list_ids(&app, &format!("?shop={}", shop.id)).await;
    assert!(filtered.is_empty());
}

#[tokio::test]
async fn etags_answer_304_and_change_with_a_write() {
    let Scene {
        app, seller, shop, ..
    } = scene("USD").await;
    let created = create_ok(&app, &seller, &shop, "Cached").await;
    let path = format!("/v1/products/{}", created["id"].as_str().unwrap());

    for resource in [
        path.as_str(),
        "/v1/products",
        "/v1/products?category=kitchen&limit=5",
    ] {
        let response = app.get(resource).await;
        assert_eq!(response.status(), 200);
        let etag = header(&response, "etag");
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
            "{etag}"
        );
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=2, s-maxage=10, stale-while-revalidate=30"
        );
        let again = app.get(resource).await;
        assert_eq!(header(&again, "etag"), etag, "stable for {resource}");

        let response = get_if_none_match(&app, resource, &etag).await;
        assert_eq!(response.status(), 304, "{resource}");
        assert_eq!(header(&response, "etag"), etag);
        assert!(
            response.bytes().await.unwrap().is_empty(),
            "a 304 has no body"
        );
        let response = get_if_none_match(&app, resource, &format!("\"other\", W/{etag}")).await;
        assert_eq!(response.status(), 304, "in a list, weak form");
        let response = get_if_none_match(&app, resource, "\"other\"").await;
        assert_eq!(response.status(), 200);
    }

    let detail_before = header(&app.get(&path).await, "etag");
    let list_before = header(&app.get("/v1/products").await, "etag");
    let response = patch_as(&app, &seller, &path, &json!({"title": "Cached, renamed"})).await;
    assert_eq!(response.status(), 200);
    // This process wrote, so its cache dropped the product at once.
    let response = get_if_none_match(&app, &path, &detail_before).await;
    assert_eq!(response.status(), 200, "a write changes the ETag");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["title"], "Cached, renamed");
    let response = get_if_none_match(&app, "/v1/products", &list_before).await;
    assert_eq!(response.status(), 200);

    // The seller's list has an ETag of its own.
    let own = format!("/v1/shops/{}/products", shop.id);
    let response = get_as(&app, &seller, &own).await;
    let etag = header(&response, "etag");
    let response = app
        .client
        .get(format!("{}{own}", app.address))
        .header("authorization", bearer(&seller.token))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
}

#[tokio::test]
async fn another_process_s_write_reaches_the_caches_through_the_database() {
    let Scene {
        app,
        pool,
        seller,
        shop,
    } = scene("USD").await;
    let created = create_ok(&app, &seller, &shop, "Shared").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/products/{id}");
    let search = "/v1/products?q=elsewhere".to_owned();
    assert_eq!(app.get(&path).await.status(), 200, "now cached");
    assert!(
        list_ids(&app, "?q=elsewhere").await.is_empty(),
        "now cached"
    );

    // Another process writes straight to the shared database: nothing in
    // this process invalidates, only the database's announcement can.
    let write = |set_title: bool| {
        let (pool, id) = (pool.clone(), id.clone());
        async move {
            on_pool(&pool, move |conn| {
                use bazaar::catalog::schema::products;
                use diesel::prelude::*;
                let row = diesel::update(products::table.find(id));
                if set_title {
                    row.set(products::title.eq("Changed elsewhere"))
                        .execute(conn)
                } else {
                    row.set(products::stock.eq(1)).execute(conn)
                }
                .unwrap()
            })
            .await
        }
    };
    let cached_at = std::time::Instant::now();
    write(true).await;
    common::wait_until(|| async {
        let product: Value = app.get(&path).await.json().await.unwrap();
        let found: Value = app.get(&search).await.json().await.unwrap();
        product["title"] == "Changed elsewhere" && found["data"].as_array().unwrap().len() == 1
    })
    .await;
    assert!(
        cached_at.elapsed() < bazaar::catalog::cache::CACHE_TTL,
        "seen through the change feed, not by the entries expiring"
    );

    // A stock-only change is not announced (checkouts do not pay for it): it
    // is served from the cache until the entry expires.
    let before: Value = app.get(&path).await.json().await.unwrap();
    write(false).await;
    let soon: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(soon["stock"], before["stock"], "served from the cache");
    tokio::time::sleep(bazaar::catalog::cache::CACHE_TTL + Duration::from_millis(200)).await;
    let later: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(later["stock"], 1);
}

#[tokio::test]
async fn pages_walk_every_product_once_while_sellers_keep_adding() {
    let Scene {
        app, seller, shop, ..
    } = scene("USD").await;
    let mut original = Vec::new();
    for i in 0..21 {
        let created = create_ok(&app, &seller, &shop, &format!("Item {i}")).await;
        original.push(created["id"].as_str().unwrap().to_owned());
    }
    let adder = {
        let (address, token, shop_id) =
            (app.address.clone(), seller.token.clone(), shop.id.clone());
        tokio::spawn(async move {
            let client = crate::common::http_client();
            for i in 0..20 {
                let body = product_body(&format!("LATE-{i}"), "Late", 100, "USD");
                let response = client
                    .post(format!("{address}/v1/shops/{shop_id}/products"))
                    .header("authorization", bearer(&token))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _page in 0..100 {
        let query = match &cursor {
            Some(cursor) => format!("?limit=7&cursor={cursor}"),
            None => "?limit=7".to_owned(),
        };
        let body: Value = app
            .get(&format!("/v1/products{query}"))
            .await
            .json()
            .await
            .unwrap();
        let data = body["data"].as_array().unwrap();
        assert!(data.len() <= 7);
        seen.extend(data.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    adder.await.unwrap();
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "no product twice");
    for id in &original {
        assert_eq!(
            seen.iter().filter(|s| *s == id).count(),
            1,
            "{id} exactly once"
        );
    }

    // The seller's own list pages the same way.
    let own = format!("/v1/shops/{}/products?limit=100", shop.id);
    let body: Value = get_as(&app, &seller, &own).await.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 41);
}

#[tokio::test]
async fn catalog_queries_filter_search_and_refuse_bad_parameters() {
    let Scene {
        app, seller, shop, ..
    } = scene("USD").await;
    let mut sale = product_body("SALE-1", "Tea Towel", 500, "USD");
    sale["description"] = json!("Now 50% OFF");
    assert_eq!(create(&app, &seller, &shop.id, &sale).await.status(), 201);
    let mut plain = product_body("PLAIN-1", "TEAPOT", 5000, "USD");
    plain["description"] = json!("Holds 500 ml");
    plain["category"] = json!("tea");
    assert_eq!(create(&app, &seller, &shop.id, &plain).await.status(), 201);

    let titles = |ids: Vec<String>| ids.len();
    // Words match as prefixes, in any case; punctuation separates words.
    assert_eq!(titles(list_ids(&app, "?q=tea").await), 2);
    assert_eq!(titles(list_ids(&app, "?q=TeApOt").await), 1);
    assert_eq!(titles(list_ids(&app, "?q=50%25").await), 2, "50 and 500");
    assert_eq!(titles(list_ids(&app, "?q=50%25%20off").await), 1);
    assert_eq!(titles(list_ids(&app, "?q=_").await), 0, "no words");
    assert_eq!(titles(list_ids(&app, "?category=tea").await), 1);
    assert_eq!(
        titles(list_ids(&app, "?currency=USD&min_price=1000").await),
        1
    );
    assert_eq!(titles(list_ids(&app, "?currency=EUR&min_price=1").await), 0);

    for (query, status, code, param) in [
        ("?limit=0", 422, "invalid_value", Some("limit")),
        ("?limit=101", 422, "invalid_value", Some("limit")),
        ("?cursor=nonsense", 422, "invalid_value", Some("cursor")),
        ("?min_price=100", 422, "currency_required", Some("currency")),
        (
            "?currency=usd&min_price=10&max_price=5",
            422,
            "invalid_value",
            Some("max_price"),
        ),
        (
            "?category=Not%20A%20Slug",
            422,
            "invalid_value",
            Some("category"),
        ),
        ("?limit=many", 400, "invalid_query", None),
        ("?colour=red", 400, "invalid_query", None),
    ] {
        let response = app.get(&format!("/v1/products{query}")).await;
        let error = assert_error(response, status, code).await;
        assert_eq!(error["param"].as_str(), param, "{query}");
    }
    let response = app.get("/v1/products/prd_notanid").await;
    assert_error(response, 404, "not_found").await;
    let response = app
        .get("/v1/products/prd_00000000000000000000000000000000")
        .await;
    assert_error(response, 404, "not_found").await;
}
