//! Hostile text in every input. NUL, other controls, lone surrogates,
//! noncharacters and stray bytes in any path or query parameter of any route
//! (taken from `/openapi.json`, so a new route is covered when it is
//! documented), in the storefront's pages and forms, and in JSON strings, are
//! a 4xx before any handler or query runs, never a 5xx (PostgreSQL cannot
//! store a NUL in text: before the edge check, each was a 500 there). And
//! every text shown to people refuses invisible and direction-changing
//! characters (`Shop <U+202E>gnp.exe`), yet takes any ordinary script.
//!
//! Run on both backends (`BAZAAR_TEST_DATABASE_URL` for PostgreSQL).

use crate::common;

use common::people::{bearer, operator, post_as, signup, Person};
use common::{assert_error, TestApp};
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Percent-encoded values no handler may see: NUL, a C0 control (ESC), a lone
/// surrogate (not UTF-8), a noncharacter (U+FFFE) and a stray byte.
const HOSTILE: [&str; 5] = ["x%00y", "x%1By", "x%ED%A0%80y", "x%EF%BF%BEy", "x%FFy"];

/// One documented operation and its query parameters.
struct Operation {
    method: String,
    path: String,
    query: Vec<String>,
}

async fn operations(app: &TestApp) -> Vec<Operation> {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.expect("the document is JSON");
    let paths = document["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let query = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "query")
                .filter_map(|parameter| parameter["name"].as_str().map(str::to_owned))
                .collect();
            found.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                query,
            });
        }
    }
    found
}

/// `path` with its `n`-th parameter set to `value` and the others to `x`.
fn concrete(path: &str, n: Option<usize>, value: &str) -> String {
    let mut seen = 0;
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                seen += 1;
                if n == Some(seen - 1) {
                    value.to_owned()
                } else {
                    "x".to_owned()
                }
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn parameters_in(path: &str) -> usize {
    path.split('/').filter(|s| s.starts_with('{')).count()
}

/// Sends `method target` (an empty JSON object as the body where one may be
/// sent, with an idempotency key, so handlers get past their body); returns
/// the status and the body.
async fn send(app: &TestApp, method: &str, target: &str, who: Option<&Person>) -> (u16, String) {
    let mut request = app
        .client
        .request(method.parse().unwrap(), format!("{}{target}", app.address))
        .header("accept", "application/json");
    if matches!(method, "POST" | "PUT" | "PATCH") {
        request = request
            .header(
                "idempotency-key",
                format!("hostile-{}", uuid::Uuid::new_v4()),
            )
            .json(&json!({}));
    }
    if let Some(person) = who {
        request = request.header("authorization", bearer(&person.token));
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Whether an answer to hostile text is acceptable: a 4xx (so never a 5xx).
fn refused(status: u16) -> bool {
    (400..500).contains(&status)
}

#[tokio::test]
async fn hostile_text_in_any_path_or_query_parameter_is_a_4xx_never_a_5xx() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let operations = operations(&app).await;
    let mut failures = Vec::new();
    let (mut sent, mut query_parameters) = (0, 0);
    for operation in &operations {
        let mut targets = Vec::new();
        for n in 0..parameters_in(&operation.path) {
            for value in HOSTILE {
                targets.push(concrete(&operation.path, Some(n), value));
            }
        }
        let base = concrete(&operation.path, None, "x");
        for name in &operation.query {
            query_parameters += 1;
            for value in HOSTILE {
                targets.push(format!("{base}?{name}={value}"));
            }
        }
        for target in &targets {
            // Anonymous, and as an operator, who passes every role check and
            // so reaches the handlers' queries.
            for who in [None, Some(&operator)] {
                let (status, body) = send(&app, &operation.method, target, who).await;
                sent += 1;
                if !refused(status) {
                    let caller = if who.is_some() {
                        "operator"
                    } else {
                        "anonymous"
                    };
                    failures.push(format!(
                        "{} {target} ({caller}): {status} {body}",
                        operation.method
                    ));
                }
            }
        }
    }
    assert!(
        query_parameters >= 20,
        "only {query_parameters} query parameters documented"
    );
    assert!(sent >= 500, "only {sent} requests");
    assert!(
        failures.is_empty(),
        "{} of {sent} hostile requests were not a 4xx:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_refusal_is_a_400_invalid_text_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    for (target, param) in [
        ("/v1/shops/prd_%00", "path"),
        ("/v1/ledger/entries/x%00", "path"),
        ("/v1/jobs/x%ED%A0%80/replay", "path"),
        ("/v1/products?q=%00", "q"),
        ("/v1/products?q=caf%C3%A9%0A", "q"),
        ("/v1/orders?buyer_email=a%00%40example.com", "buyer_email"),
        ("/v1/products?limit=5&%00=1", "a parameter name"),
    ] {
        let method = if target.ends_with("/replay") {
            "POST"
        } else {
            "GET"
        };
        let response = app
            .client
            .request(method.parse().unwrap(), format!("{}{target}", app.address))
            .header("authorization", bearer(&operator.token))
            .send()
            .await
            .unwrap();
        let error = assert_error(response, 400, "invalid_text").await;
        assert_eq!(error["param"], param, "{target}: {error}");
    }
    // Ordinary text in the same places is untouched.
    let response = app.get("/v1/products?q=caf%C3%A9+%E6%9D%B1%E4%BA%AC").await;
    assert_eq!(response.status(), 200);
    // A page answers as a page.
    let response = app
        .client
        .get(format!("{}/products/x%00y", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
}

#[tokio::test]
async fn the_storefront_pages_forms_and_cookies_refuse_hostile_text_too() {
    let app = TestApp::spawn().await;
    let mut failures = Vec::new();
    let pages = [
        ("GET", "/products/{id}"),
        ("GET", "/shops/{id}"),
        ("GET", "/orders/{id}"),
        ("GET", "/orders/{id}/pay"),
        ("POST", "/orders/{id}/pay"),
        ("GET", "/orders/{id}/confirmation"),
        ("GET", "/orders/{id}/status"),
        ("POST", "/cart/lines/{id}"),
        ("POST", "/cart/lines/{id}/remove"),
    ];
    for (method, path) in pages {
        for value in HOSTILE {
            let target = concrete(path, Some(0), value);
            let status = app
                .client
                .request(method.parse().unwrap(), format!("{}{target}", app.address))
                .header("accept", "text/html")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if !refused(status) {
                failures.push(format!("{method} {target}: {status}"));
            }
        }
    }
    for query in ["q", "category", "shop", "currency", "cursor", "min_price"] {
        for value in HOSTILE {
            let target = format!("/search?{query}={value}");
            let status = app.get(&target).await.status().as_u16();
            if !refused(status) {
                failures.push(format!("GET {target}: {status}"));
            }
        }
    }
    for target in ["/signin?next=%2F%00", "/shops/x?cursor=%00", "/?q=%00"] {
        let status = app.get(target).await.status().as_u16();
        if !refused(status) {
            failures.push(format!("GET {target}: {status}"));
        }
    }
    // Forms: a POST with no cookie of ours needs no CSRF token, so these reach
    // the handlers (and their queries) without the edge check.
    let forms = [
        ("/cart", "product_id=prd_x%00y&quantity=1"),
        ("/signin", "email=a%00%40example.com&password=x"),
        (
            "/signup",
            "email=a%00%40example.com&password=plum+orbit+sailing+forty",
        ),
        (
            "/checkout",
            "name=Ann%00&line1=1+Main+St&city=Springfield&postal_code=1&country=US",
        ),
        ("/cart", "product_id=prd_%ED%A0%80&quantity=1"),
    ];
    for (path, body) in forms {
        let response = app
            .post_raw(
                path,
                "application/x-www-form-urlencoded",
                body.as_bytes().to_vec(),
            )
            .await;
        let status = response.status().as_u16();
        if status != 400 {
            failures.push(format!("POST {path} {body}: {status}"));
        }
    }
    // A form with ordinary text (line breaks included) still reaches its handler.
    let response = app
        .post_raw(
            "/signin",
            "application/x-www-form-urlencoded",
            b"email=caf%C3%A9%40example.com&password=a%0D%0Ab".to_vec(),
        )
        .await;
    assert_ne!(response.status(), 400, "ordinary form text refused");
    assert!(!response.status().is_server_error());
    // Cookies are percent-decoded by the framework: hostile ones are ignored.
    for cookie in [
        "bz_session=bzs_%00",
        "bz_browser=%00",
        "bz_cart=prd_%00:1",
        "bz_session=%ED%A0%80",
    ] {
        let status = app
            .client
            .get(format!("{}/cart", app.address))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status >= 500 {
            failures.push(format!("GET /cart with cookie {cookie}: {status}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn json_strings_with_control_characters_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let seller = signup(&app, "seller").await;
    let shop = |name: &str, slug: &str| json!({"name": name, "slug": slug, "country": "US", "default_currency": "USD", "support_email": "help@shop.example"});
    let error = assert_error(
        post_as(&app, &seller, "/v1/shops", &shop("a\u{0}b", "nul-shop")).await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "name");
    let error = assert_error(
        post_as(&app, &seller, "/v1/shops", &shop("Shop", "x\u{1}")).await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "slug");
    // Nested: the path of the field, as other shape errors name it (a buyer's
    // checkout: the role is checked before the body).
    let buyer = signup(&app, "buyer").await;
    let response = app
        .client
        .post(format!("{}/v1/checkout", app.address))
        .header("authorization", bearer(&buyer.token))
        .header("idempotency-key", "nested-nul")
        .json(&json!({"shipping": {"name": "Ann\u{0}", "line1": "1 Main St", "city": "X", "postal_code": "1", "country": "US"}}))
        .send()
        .await
        .unwrap();
    let error = assert_error(response, 422, "invalid_value").await;
    assert_eq!(error["param"], "shipping.name");
    // In a key: no field to name.
    let response = app
        .post_raw(
            "/v1/sessions",
            "application/json",
            br#"{"email\u0000": "a@example.com"}"#.to_vec(),
        )
        .await;
    assert_error(response, 400, "invalid_text").await;
    // An escaped backslash followed by "u0000" is ordinary text.
    let response = post_as(
        &app,
        &seller,
        "/v1/shops",
        &shop("Back\\u0000slash", "backslash-shop"),
    )
    .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// Refused in every display text.
const INVISIBLE: [&str; 7] = [
    "Shop \u{202E}gnp.exe",
    "Two\u{2028}lines",
    "Zero\u{200B}width",
    "Nul\u{0}byte",
    "\u{2066}Isolate",
    "Soft\u{AD}hyphen",
    "Bom\u{FEFF}",
];

/// Taken by every display text.
const ORDINARY: [&str; 3] = ["Café Ünïcode Straße", "東京の店 · 서울", "Shop 🛍️ 👩‍💻 🇫🇷"];

/// Asserts a 422 naming `param`, whatever the field's code.
async fn refused_naming(response: reqwest::Response, param: &str, value: &str) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(status, 422, "{param} = {value:?}: {body}");
    assert_eq!(body["error"]["param"], param, "{param} = {value:?}: {body}");
}

/// Asserts the answer does not blame `param`.
async fn not_blaming(response: reqwest::Response, param: &str, value: &str) -> Value {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    assert!(
        status < 500 && body["error"]["param"] != param,
        "{param} = {value:?}: {status} {body}"
    );
    body
}

#[tokio::test]
async fn every_display_text_refuses_invisible_and_direction_changing_characters() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let seller = signup(&app, "seller").await;
    let unique = || uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let new_shop = |name: &str| json!({"name": name, "slug": format!("s-{}", unique()), "country": "US", "default_currency": "USD", "support_email": "help@shop.example"});

    // Shop names.
    for value in INVISIBLE.iter().chain(&["Line\nbreak"]) {
        refused_naming(
            post_as(&app, &seller, "/v1/shops", &new_shop(value)).await,
            "name",
            value,
        )
        .await;
    }
    let mut shop_ids = Vec::new();
    for value in ORDINARY {
        let response = post_as(&app, &seller, "/v1/shops", &new_shop(value)).await;
        let body = not_blaming(response, "name", value).await;
        assert_eq!(body["name"], value);
        shop_ids.push(body["id"].as_str().unwrap().to_owned());
    }

    // Freeze reasons (on one shop; products go on another).
    let freeze = format!("/v1/shops/{}/freeze", shop_ids[0]);
    for value in INVISIBLE {
        refused_naming(
            post_as(&app, &operator, &freeze, &json!({"reason": value})).await,
            "reason",
            value,
        )
        .await;
    }
    for value in ORDINARY {
        let response = post_as(&app, &operator, &freeze, &json!({"reason": value})).await;
        assert_eq!(
            not_blaming(response, "reason", value).await["frozen_reason"],
            value
        );
    }

    // Product titles, descriptions and image alt texts, created and patched.
    let product = |field: &str, value: &str| {
        let mut body = json!({
            "sku": format!("SKU-{}", unique()),
            "title": "A mug",
            "description": "Holds tea.\nAnd coffee.",
            "price_minor": 1200,
            "currency": "USD",
            "stock": 3,
            "category": "home-kitchen",
            "images": [{"url": "https://img.example.com/p.jpg", "alt": "A mug"}],
        });
        match field {
            "images[0].alt" => body["images"][0]["alt"] = json!(value),
            field => body[field] = json!(value),
        }
        body
    };
    let products = format!("/v1/shops/{}/products", shop_ids[1]);
    let mut product_id = String::new();
    for field in ["title", "description", "images[0].alt"] {
        for value in INVISIBLE {
            refused_naming(
                post_as(&app, &seller, &products, &product(field, value)).await,
                field,
                value,
            )
            .await;
        }
        if field != "description" {
            let value = "Line\nbreak";
            refused_naming(
                post_as(&app, &seller, &products, &product(field, value)).await,
                field,
                value,
            )
            .await;
        }
        for value in ORDINARY {
            let response = post_as(&app, &seller, &products, &product(field, value)).await;
            let body = not_blaming(response, field, value).await;
            product_id = body["id"].as_str().expect("created").to_owned();
        }
    }
    let patch = |body: Value| {
        app.client
            .patch(format!("{}/v1/products/{product_id}", app.address))
            .header("authorization", bearer(&seller.token))
            .json(&body)
            .send()
    };
    for field in ["title", "description"] {
        for value in INVISIBLE {
            refused_naming(patch(json!({ field: value })).await.unwrap(), field, value).await;
        }
        for value in ORDINARY {
            let response = patch(json!({ field: value })).await.unwrap();
            assert_eq!(not_blaming(response, field, value).await[field], value);
        }
    }
    // A description keeps its line breaks.
    let response = patch(json!({"description": "One\r\nTwo\nThree"}))
        .await
        .unwrap();
    assert_eq!(
        not_blaming(response, "description", "lines").await["description"],
        "One\nTwo\nThree"
    );

    // Shipping addresses.
    let buyer = signup(&app, "buyer").await;
    let checkout = |field: &str, value: &str| {
        let mut shipping = json!({"name": "Ann Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"});
        shipping[field] = json!(value);
        app.client
            .post(format!("{}/v1/checkout", app.address))
            .header("authorization", bearer(&buyer.token))
            .header("idempotency-key", format!("co-{}", unique()))
            .json(&json!({ "shipping": shipping }))
            .send()
    };
    for field in ["name", "city"] {
        let param = format!("shipping.{field}");
        for value in INVISIBLE {
            refused_naming(checkout(field, value).await.unwrap(), &param, value).await;
        }
        for value in ORDINARY {
            not_blaming(checkout(field, value).await.unwrap(), &param, value).await;
        }
    }

    // Ledger adjustment memos.
    let adjust = |value: &str| {
        app.client
            .post(format!("{}/v1/ledger/adjustments", app.address))
            .header("authorization", bearer(&operator.token))
            .header("idempotency-key", format!("adj-{}", unique()))
            .json(&json!({
                "description": value,
                "currency": "USD",
                "postings": [
                    {"account": "platform:adjustments", "debit_minor": 100},
                    {"account": "platform:fee_revenue", "credit_minor": 100},
                ],
            }))
            .send()
    };
    for value in INVISIBLE {
        refused_naming(adjust(value).await.unwrap(), "description", value).await;
    }
    for value in ORDINARY {
        assert_eq!(adjust(value).await.unwrap().status(), 201, "{value:?}");
    }

    // API key names.
    for value in INVISIBLE {
        refused_naming(
            post_as(&app, &seller, "/v1/api_keys", &json!({"name": value})).await,
            "name",
            value,
        )
        .await;
    }
    for value in ORDINARY {
        let response = post_as(&app, &seller, "/v1/api_keys", &json!({"name": value})).await;
        assert_eq!(response.status(), 201, "{value:?}");
    }

    // Refund reasons (checked before the order is looked at).
    for value in INVISIBLE {
        let request: bazaar::orders::RefundRequest = serde_json::from_value(
            json!({"part_id": "prt_1", "amount_minor": 100, "reason": value}),
        )
        .unwrap();
        let error = request.parse().expect_err(value);
        assert_eq!(error.param(), Some("reason"), "{value:?}");
    }
    for value in ORDINARY {
        let request: bazaar::orders::RefundRequest = serde_json::from_value(
            json!({"part_id": "prt_1", "amount_minor": 100, "reason": value}),
        )
        .unwrap();
        assert_eq!(request.parse().expect(value).2.as_deref(), Some(value));
    }
}
