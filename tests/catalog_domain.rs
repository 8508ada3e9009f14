//! The catalog's domain functions against a real database (SQLite, or
//! PostgreSQL with BAZAAR_TEST_DATABASE_URL): products, visibility, listings,
//! search, atomic stock and the demo catalog.

use crate::catalog_support;
use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use bazaar::catalog::{
    self, listing::CatalogQueryParams, load_demo_catalog, CatalogQuery, DemoCatalog, NewProduct,
    PageRequest, ProductPatch, UpdateProductRequest,
};
use bazaar::error::AppError;
use bazaar::sellers::shops;
use catalog_support::{pool, product, product_with, request, shop};
use common::TestApp;

fn code(error: AppError) -> (&'static str, Option<String>) {
    let param = match &error {
        AppError::Unprocessable { param, .. } | AppError::BadRequest { param, .. } => param.clone(),
        _ => None,
    };
    (error.code(), param)
}

fn search(params: CatalogQueryParams) -> CatalogQuery {
    CatalogQuery::try_from(params).unwrap()
}

#[tokio::test]
async fn a_product_is_created_updated_and_deactivated() {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let conn = &mut pool.get().unwrap();
    let shop = shop(conn, "usr_ann", "USD", true);

    let created = product(conn, &shop, "Blue Mug", 1299);
    assert_eq!(created.price.minor, 1299);
    assert_eq!(created.price.currency.code(), "USD");
    assert_eq!(created.stock, 10);
    assert!(created.active);
    assert_eq!(
        catalog::visible_product(conn, &created.id).unwrap(),
        created
    );

    let patch = ProductPatch::try_from(UpdateProductRequest {
        title: Some("Red Mug".into()),
        price_minor: Some(1499),
        stock: Some(3),
        ..UpdateProductRequest::default()
    })
    .unwrap();
    let updated = catalog::update_product(conn, &created.id, "usr_ann", false, &patch).unwrap();
    assert_eq!(updated.title, "Red Mug");
    assert_eq!(updated.price.minor, 1499);
    assert_eq!(updated.stock, 3);
    assert_eq!(updated.description, created.description, "untouched");
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);

    let deactivate = ProductPatch {
        active: Some(false),
        ..ProductPatch::default()
    };
    let inactive =
        catalog::update_product(conn, &created.id, "usr_ann", false, &deactivate).unwrap();
    assert!(!inactive.active);
    let hidden = catalog::visible_product(conn, &created.id).unwrap_err();
    assert_eq!(hidden.code(), "not_found");
    // The owner still reads it through the seller path.
    assert!(catalog::product_for(conn, &created.id, "usr_ann", false).is_ok());
}

#[tokio::test]
async fn another_sellers_product_is_not_found_and_staff_may_act() {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let conn = &mut pool.get().unwrap();
    let shop = shop(conn, "usr_ann", "USD", true);
    let mug = product(conn, &shop, "Mug", 500);

    let read = catalog::product_for(conn, &mug.id, "usr_bob", false).unwrap_err();
    assert_eq!(read.code(), "not_found");
    let patch = ProductPatch {
        active: Some(false),
        ..ProductPatch::default()
    };
    let write = catalog::update_product(conn, &mug.id, "usr_bob", false, &patch).unwrap_err();
    assert_eq!(write.code(), "not_found");
    assert!(
        catalog::find_product(conn, &mug.id)
            .unwrap()
            .unwrap()
            .active,
        "unchanged"
    );
    let new = NewProduct::try_from(request("X-1", "Sneaky", 100, "USD")).unwrap();
    let create = catalog::create_product(conn, &shop.id, "usr_bob", false, &new).unwrap_err();
    assert_eq!(create.code(), "not_found");

    let by_staff = catalog::update_product(conn, &mug.id, "usr_op", true, &patch).unwrap();
    assert!(!by_staff.active);
}

#[tokio::test]
async fn prices_must_be_in_the_shops_currency_and_skus_unique_per_shop() {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let conn = &mut pool.get().unwrap();
    let euro_shop = shop(conn, "usr_ann", "EUR", true);
    let other_shop = shop(conn, "usr_ann", "EUR", true);

    let dollars = NewProduct::try_from(request("A-1", "Mug", 500, "USD")).unwrap();
    let mismatch = catalog::insert_product(conn, &euro_shop, &dollars).unwrap_err();
    assert_eq!(
        code(mismatch),
        ("currency_mismatch", Some("currency".into()))
    );

    let euros = NewProduct::try_from(request("A-1", "Mug", 500, "eur")).unwrap();
    catalog::insert_product(conn, &euro_shop, &euros).unwrap();
    let taken = catalog::insert_product(conn, &euro_shop, &euros).unwrap_err();
    assert_eq!(taken.code(), "sku_taken");
    // The same SKU in another shop is another product.
    catalog::insert_product(conn, &other_shop, &euros).unwrap();

    let unknown = catalog::create_product(conn, "shop_nope", "usr_ann", true, &euros).unwrap_err();
    assert_eq!(unknown.code(), "not_found");
}

#[tokio::test]
async fn requests_are_parsed_into_valid_products_or_name_the_field() {
    type Edit = Box<dyn Fn(&mut catalog::CreateProductRequest)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "price_minor",
            Box::new(|r| r.price_minor = 0),
            "price_out_of_range",
        ),
        (
            "price_minor",
            Box::new(|r| r.price_minor = -5),
            "price_out_of_range",
        ),
        (
            "price_minor",
            Box::new(|r| r.price_minor = 1_000_000_000_001),
            "price_out_of_range",
        ),
        ("stock", Box::new(|r| r.stock = -1), "negative_stock"),
        ("stock", Box::new(|r| r.stock = 1_000_001), "invalid_value"),
        (
            "title",
            Box::new(|r| r.title = "   ".into()),
            "invalid_value",
        ),
        (
            "title",
            Box::new(|r| r.title = "t".repeat(201)),
            "invalid_value",
        ),
        (
            "description",
            Box::new(|r| r.description = "d".repeat(5001)),
            "invalid_value",
        ),
        (
            "sku",
            Box::new(|r| r.sku = "has space".into()),
            "invalid_value",
        ),
        ("sku", Box::new(|r| r.sku = "s".repeat(65)), "invalid_value"),
        (
            "category",
            Box::new(|r| r.category = "Books".into()),
            "invalid_value",
        ),
        (
            "category",
            Box::new(|r| r.category = "c".repeat(65)),
            "invalid_value",
        ),
        (
            "currency",
            Box::new(|r| r.currency = "XYZ".into()),
            "unknown_currency",
        ),
        ("images", Box::new(|r| r.images.clear()), "invalid_value"),
        (
            "images",
            Box::new(|r| r.images = vec![r.images[0].clone(); 11]),
            "invalid_value",
        ),
        (
            "images[0].url",
            Box::new(|r| r.images[0].url = "ftp://x.example/a".into()),
            "invalid_value",
        ),
        (
            "images[0].url",
            Box::new(|r| r.images[0].url = format!("https://x.example/{}", "a".repeat(2048))),
            "invalid_value",
        ),
        (
            "images[0].alt",
            Box::new(|r| r.images[0].alt = " ".into()),
            "invalid_value",
        ),
        (
            "images[0].alt",
            Box::new(|r| r.images[0].alt = "a".repeat(301)),
            "invalid_value",
        ),
    ];
    for (param, edit, expected) in cases {
        let mut request = request("OK-1", "A title", 100, "USD");
        edit(&mut request);
        let error = NewProduct::try_from(request).unwrap_err();
        assert_eq!(code(error), (expected, Some(param.to_owned())), "{param}");
    }
    // The limits themselves are accepted.
    let mut edge = request(&"s".repeat(64), &"t".repeat(200), 1_000_000_000_000, "USD");
    edge.description = "d".repeat(5000);
    edge.stock = 1_000_000;
    edge.category = "c".repeat(64);
    edge.images = vec![edge.images[0].clone(); 10];
    assert!(NewProduct::try_from(edge).is_ok());
}

#[tokio::test]
async fn buyers_see_only_active_products_of_shops_that_can_sell() {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let conn = &mut pool.get().unwrap();
    let open = shop(conn, "usr_ann", "USD", true);
    let never_onboarded = shop(conn, "usr_bob", "USD", false);
    let restricted = shop(conn, "usr_cat", "USD", false);
    shops::attach_account(conn, &restricted.id, &catalog_support::account(false)).unwrap();
    let frozen = shop(conn, "usr_dan", "USD", true);

    let visible = product(conn, &open, "Visible", 100);
    let hidden_inactive = product_with(conn, &open, |r| r.active = false);
    let in_unonboarded = product(conn, &never_onboarded, "Pending shop", 100);
    let in_restricted = product(conn, &restricted, "Restricted shop", 100);
    let in_frozen = product(conn, &frozen, "Frozen shop", 100);
    assert!(
        catalog::visible_product(conn, &in_frozen.id).is_ok(),
        "before the freeze"
    );
    shops::set_frozen(conn, &frozen.id, true, Some("chargebacks")).unwrap();

    let page = catalog::list_catalog(conn, &search(CatalogQueryParams::default())).unwrap();
    let ids: Vec<&str> = page.products.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec![visible.id.as_str()]);
    for hidden in [
        &hidden_inactive,
        &in_unonboarded,
        &in_restricted,
        &in_frozen,
    ] {
        let error = catalog::visible_product(conn, &hidden.id).unwrap_err();
        assert_eq!(error.code(), "not_found", "{}", hidden.title);
    }

    // Unfreezing brings the shop's products back.
    shops::set_frozen(conn, &frozen.id, false, None).unwrap();
    assert!(catalog::visible_product(conn, &in_frozen.id).is_ok());

    // The owner's list has inactive products too; another seller's is a 404.
    let all = PageRequest::parse(None, None).unwrap();
    let own = catalog::list_shop_products(conn, &open.id, "usr_ann", false, &all).unwrap();
    assert_eq!(own.products.len(), 2);
    let other = catalog::list_shop_products(conn, &open.id, "usr_bob", false, &all).unwrap_err();
    assert_eq!(other.code(), "not_found");
}

#[tokio::test]
async fn filters_narrow_the_catalog() {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let conn = &mut pool.get().unwrap();
    let usd = shop(conn, "usr_ann", "USD", true);
    let eur = shop(conn, "usr_bob", "EUR", true);
    let cheap_book = product_with(conn, &usd, |r| {
        r.price_minor = 500;
        r.category = "books".into();
    });
    let dear_book = product_with(conn, &usd, |r| {
        r.price_minor = 5000;
        r.category = "books".into();
    });
    let lamp = product_with(conn, &usd, |r| {
        r.price_minor = 2000;
        r.category = "lighting".into();
    });
    let euro_book = product_with(conn, &eur, |r| {
        r.price_minor = 600;
        r.currency = "EUR".into();
    });
    let mut ids = |params: CatalogQueryParams| -> Vec<String> {
        let page = catalog::list_catalog(conn, &search(params)).unwrap();
        page.products.into_iter().map(|p| p.id).collect()
    };
    assert_eq!(
        ids(CatalogQueryParams {
            category: Some("books".into()),
            ..Default::default()
        }),
        vec![
            cheap_book.id.clone(),
            dear_book.id.clone(),
            euro_book.id.clone()
        ]
    );
    assert_eq!(
        ids(CatalogQueryParams {
            shop: Some(eur.id.clone()),
            ..Default::default()
        }),
        vec![euro_book.id.clone()]
    );
    assert_eq!(
        ids(CatalogQueryParams {
            currency: Some("USD".into()),
            min_price: Some(1000),
            max_price: Some(5000),
            ..Default::default()
        }),
        vec![dear_book.id.clone(), lamp.id.clone()]
    );
    assert_eq!(
        ids(CatalogQueryParams {
            currency: Some("usd".into()),
            max_price: Some(999),
            ..Default::default()
        }),
        vec![cheap_book.id.clone()]
    );
    let no_currency = CatalogQuery::try_from(CatalogQueryParams {
        min_price: Some(1),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(
        code(no_currency),
        ("currency_required", Some("currency".into()))
    );
    for limit in [0, 101] {
        let error = CatalogQuery::try_from(CatalogQueryParams {
            limit: Some(limit),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(code(error), ("invalid_value", Some("limit".into())));
    }
}

#[tokio::test]
async fn text_search_matches_word_beginnings_in_any_case_and_skips_punctuation() {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let conn = &mut pool.get().unwrap();
    let shop = shop(conn, "usr_ann", "USD", true);
    let teapot = product_with(conn, &shop, |r| {
        r.title = "Porcelain TEAPOT".into();
        r.description = "Holds 1 litre.".into();
    });
    let sale = product_with(conn, &shop, |r| {
        r.title = "Tea towel".into();
        r.description = "Now 50% off, limited_run".into();
    });
    let plain = product_with(conn, &shop, |r| {
        r.title = "Coffee cup".into();
        r.description = "500 ml, fits limitedXrun".into();
    });
    let mut titles = |q: &str| -> Vec<String> {
        let page = catalog::list_catalog(
            conn,
            &search(CatalogQueryParams {
                q: Some(q.into()),
                ..Default::default()
            }),
        )
        .unwrap();
        page.products.into_iter().map(|p| p.title).collect()
    };
    let sorted = |mut titles: Vec<String>| {
        titles.sort();
        titles
    };
    assert_eq!(titles("teapot"), vec![teapot.title.clone()]);
    assert_eq!(
        sorted(titles("TeA")),
        sorted(vec![teapot.title.clone(), sale.title.clone()])
    );
    assert_eq!(
        titles("LITRE"),
        vec![teapot.title.clone()],
        "description too"
    );
    // Punctuation separates words, and a word matches the words it begins:
    // "50%" is the word 50, which begins "50" and "500".
    assert_eq!(
        sorted(titles("50%")),
        sorted(vec![sale.title.clone(), plain.title.clone()])
    );
    assert_eq!(titles("limited_run"), vec![sale.title.clone()]);
    assert!(titles("%").is_empty(), "no words");
    assert_eq!(titles("limitedxrun"), vec![plain.title.clone()]);
    assert!(titles("\\").is_empty());
}

#[tokio::test]
async fn pages_walk_every_row_once_while_rows_are_inserted() {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let shop = shop(&mut pool.get().unwrap(), "usr_ann", "USD", true);
    let original: Vec<String> = (0..21)
        .map(|i| product(&mut pool.get().unwrap(), &shop, &format!("Item {i}"), 100).id)
        .collect();

    let writer = {
        let pool = pool.clone();
        let shop = shop.clone();
        std::thread::spawn(move || {
            for i in 0..30 {
                product(&mut pool.get().unwrap(), &shop, &format!("Late {i}"), 100);
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = search(CatalogQueryParams {
            limit: Some(7),
            cursor: cursor.clone(),
            ..Default::default()
        });
        let page = catalog::list_catalog(&mut pool.get().unwrap(), &query).unwrap();
        assert!(page.products.len() <= 7);
        seen.extend(page.products.iter().map(|p| p.id.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next.encode()),
            None => break,
        }
        std::thread::yield_now();
    }
    writer.join().unwrap();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no product twice");
    for id in &original {
        assert_eq!(seen.iter().filter(|s| *s == id).count(), 1, "{id} once");
    }
    assert_eq!(&seen[..21], &original[..], "in creation order");
}

#[tokio::test]
async fn sixteen_racing_reservations_for_five_units_give_five() {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let shop = shop(&mut pool.get().unwrap(), "usr_ann", "USD", true);
    let scarce = product_with(&mut pool.get().unwrap(), &shop, |r| r.stock = 5);

    let barrier = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (pool, barrier, id) = (pool.clone(), Arc::clone(&barrier), scarce.id.clone());
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                barrier.wait();
                catalog::reserve_stock(&mut conn, &id, 1).unwrap()
            })
        })
        .collect();
    let successes = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|reserved| *reserved)
        .count();
    assert_eq!(successes, 5);
    let conn = &mut pool.get().unwrap();
    assert_eq!(
        catalog::find_product(conn, &scarce.id)
            .unwrap()
            .unwrap()
            .stock,
        0
    );
    assert!(!catalog::reserve_stock(conn, &scarce.id, 1).unwrap());

    catalog::release_stock(conn, &scarce.id, 2).unwrap();
    assert!(
        !catalog::reserve_stock(conn, &scarce.id, 3).unwrap(),
        "not enough"
    );
    assert!(catalog::reserve_stock(conn, &scarce.id, 2).unwrap());
    assert_eq!(
        catalog::find_product(conn, &scarce.id)
            .unwrap()
            .unwrap()
            .stock,
        0
    );

    for quantity in [0, -1, 1001] {
        let error = catalog::reserve_stock(conn, &scarce.id, quantity).unwrap_err();
        assert_eq!(code(error), ("invalid_value", Some("quantity".into())));
        assert!(catalog::release_stock(conn, &scarce.id, quantity).is_err());
    }
    assert_eq!(
        catalog::release_stock(conn, "prd_00000000000000000000000000000000", 1)
            .unwrap_err()
            .code(),
        "not_found"
    );

    // An inactive product cannot be reserved, but stock can come back to it.
    let inactive = product_with(conn, &shop, |r| {
        r.stock = 5;
        r.active = false;
    });
    assert!(!catalog::reserve_stock(conn, &inactive.id, 1).unwrap());
    catalog::release_stock(conn, &inactive.id, 1).unwrap();
    assert_eq!(
        catalog::find_product(conn, &inactive.id)
            .unwrap()
            .unwrap()
            .stock,
        6
    );
}

#[tokio::test]
async fn the_demo_catalog_loads_once_and_reloads_as_a_no_op() {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let conn = &mut pool.get().unwrap();

    let demo = DemoCatalog::parse(catalog::DEMO_CATALOG_JSON).unwrap();
    assert!(demo.shops.len() >= 3);
    assert!(demo.products.len() >= 200);
    let categories: HashSet<&str> = demo.products.iter().map(|p| p.category.as_str()).collect();
    assert!(categories.len() >= 6);
    let currencies: HashSet<&str> = demo
        .shops
        .iter()
        .map(|s| s.default_currency.as_str())
        .collect();
    assert!(currencies.len() >= 2);

    let owner = |slug: &str| format!("usr_demo_{slug}");
    let loaded = load_demo_catalog(conn, owner, catalog::DEMO_CATALOG_JSON).unwrap();
    assert_eq!(loaded.shops.len(), demo.shops.len());
    assert_eq!(loaded.products_inserted, demo.products.len());
    assert_eq!(
        loaded.shops[0].owner_user_id,
        format!("usr_demo_{}", demo.shops[0].slug)
    );

    let again = load_demo_catalog(conn, owner, catalog::DEMO_CATALOG_JSON).unwrap();
    assert_eq!(again.products_inserted, 0);
    assert_eq!(again.products_skipped, demo.products.len());
    assert_eq!(
        again.shops.iter().map(|s| &s.id).collect::<Vec<_>>(),
        loaded.shops.iter().map(|s| &s.id).collect::<Vec<_>>()
    );

    // A bad product rolls the whole load back and names itself.
    let mut broken = demo.clone();
    broken.shops[0].slug = "fresh-slug".into();
    for product in &mut broken.products {
        if product.shop == demo.shops[0].slug {
            product.shop = "fresh-slug".into();
        }
    }
    broken.products[5].price_minor = 0;
    let json = serde_json::to_string(&broken).unwrap();
    let error = load_demo_catalog(conn, owner, &json).unwrap_err();
    assert_eq!(
        code(error),
        ("price_out_of_range", Some("products[5].price_minor".into()))
    );
    let fresh = bazaar::sellers::shops::list_shops(conn, Some("usr_demo_fresh-slug")).unwrap();
    assert!(fresh.is_empty(), "rolled back");
}
