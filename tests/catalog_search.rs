//! Buyers' full-text search over HTTP: words matched as prefixes, title
//! matches ranked first, misspelt words corrected from the index, filters
//! combined with the text, ranked pages walked with a cursor, the index kept
//! in step with every product write, and the facet counts behind the
//! storefront's filters (each computed here from the products made).

use crate::catalog_support;
use crate::common;

use bazaar::catalog::{CreateProductRequest, Product};
use bazaar::db::DbPool;
use bazaar::sellers::shops::Shop;
use catalog_support::{on_pool, pool, product_with, shop, unique};
use common::people::{bearer, signup, Person};
use common::{assert_error, TestApp};
use serde_json::{json, Value};

struct Market {
    app: TestApp,
    pool: DbPool,
    seller: Person,
    shop: Shop,
}

async fn market() -> Market {
    let app = TestApp::spawn().await;
    let pool = pool(&app.settings);
    let seller = signup(&app, "seller").await;
    let owner = seller.user_id.clone();
    let shop = on_pool(&pool, move |conn| shop(conn, &owner, "USD", true)).await;
    Market {
        app,
        pool,
        seller,
        shop,
    }
}

/// A product of `shop` made through the domain function, changed by `edit`.
async fn make(
    pool: &DbPool,
    shop: &Shop,
    title: &str,
    description: &str,
    edit: impl FnOnce(&mut CreateProductRequest) + Send + 'static,
) -> Product {
    let (shop, title, description) = (shop.clone(), title.to_owned(), description.to_owned());
    on_pool(pool, move |conn| {
        product_with(conn, &shop, |request| {
            request.title = title;
            request.description = description;
            edit(request);
        })
    })
    .await
}

async fn search(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/v1/products{query}")).await;
    assert_eq!(response.status(), 200, "search {query}");
    response.json().await.unwrap()
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn found(app: &TestApp, query: &str) -> Vec<String> {
    ids(&search(app, query).await)
}

#[tokio::test]
async fn words_are_found_by_prefix_ranked_by_title_and_corrected_when_misspelt() {
    let Market {
        app, pool, shop, ..
    } = market().await;
    let bar = make(
        &pool,
        &shop,
        "Dark chocolate bar",
        "Cocoa from Peru",
        |_| {},
    )
    .await;
    let beans = make(
        &pool,
        &shop,
        "Coffee beans",
        "Roasted dark; pairs with chocolate",
        |_| {},
    )
    .await;
    let mug = make(&pool, &shop, "Café mug", "Stoneware, 350 ml", |_| {}).await;

    // The title match ranks above the description match, whichever is older.
    assert_eq!(
        found(&app, "?q=chocolate").await,
        [bar.id.as_str(), beans.id.as_str()]
    );
    assert_eq!(
        found(&app, "?q=CHOC").await,
        [bar.id.as_str(), beans.id.as_str()],
        "prefix, any case"
    );
    assert_eq!(
        found(&app, "?q=dark+choc").await,
        [bar.id.as_str(), beans.id.as_str()]
    );
    assert_eq!(
        found(&app, "?q=choc+roast").await,
        [beans.id.as_str()],
        "every word"
    );
    assert_eq!(
        found(&app, "?q=chocolate-coffee").await,
        [beans.id.as_str()]
    );
    assert_eq!(found(&app, "?q=350").await, [mug.id.as_str()]);
    assert!(
        found(&app, "?q=%21%3F").await.is_empty(),
        "no words, no match"
    );

    // A misspelt word is searched as the nearest indexed word, and says so.
    let corrected = search(&app, "?q=chocolte").await;
    assert_eq!(ids(&corrected), [bar.id.as_str(), beans.id.as_str()]);
    assert_eq!(
        corrected["corrections"],
        json!([{"word": "chocolte", "replacements": ["chocolate"]}])
    );
    assert_eq!(
        found(&app, "?q=cofee+baens").await,
        [beans.id.as_str()],
        "two typos"
    );
    // Correctly spelt prefixes are never corrected; a word with nothing near
    // it matches nothing rather than being ignored.
    assert!(search(&app, "?q=choc").await.get("corrections").is_none());
    assert!(found(&app, "?q=chocolate+zzyzx").await.is_empty());
    // Too short to correct.
    assert!(found(&app, "?q=xz").await.is_empty());
}

/// A second sellable shop in the market (the search sees every shop).
async fn market_shop(app: &TestApp, pool: &DbPool) -> Shop {
    let seller = signup(app, "seller").await;
    let owner = seller.user_id.clone();
    on_pool(pool, move |conn| shop(conn, &owner, "USD", true)).await
}

#[tokio::test]
async fn the_index_follows_every_write_and_hides_what_buyers_may_not_see() {
    let Market {
        app,
        pool,
        seller,
        shop,
    } = market().await;
    let tea = make(&pool, &shop, "Green tea", "Loose leaf", |_| {}).await;
    assert_eq!(found(&app, "?q=green").await, [tea.id.as_str()]);

    // Renamed: found by the new words at once, not by the old ones.
    let renamed = app
        .client
        .patch(format!("{}/v1/products/{}", app.address, tea.id))
        .header("Authorization", bearer(&seller.token))
        .json(&json!({"title": "Oolong tea", "description": "Rolled leaves"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    assert_eq!(found(&app, "?q=oolong").await, [tea.id.as_str()]);
    assert_eq!(found(&app, "?q=rolled").await, [tea.id.as_str()]);
    assert!(found(&app, "?q=green").await.is_empty());
    assert!(found(&app, "?q=loose").await.is_empty());

    // Deactivated, and in a shop that cannot sell: never found.
    let hidden = make(&pool, &shop, "Oolong cups", "Set of two", |r| {
        r.active = false
    })
    .await;
    let other = signup(&app, "seller").await;
    let owner = other.user_id.clone();
    let closed = on_pool(&pool, move |conn| {
        catalog_support::shop(conn, &owner, "USD", false)
    })
    .await;
    make(&pool, &closed, "Oolong pot", "For four", |_| {}).await;
    assert_eq!(found(&app, "?q=oolong").await, [tea.id.as_str()]);
    assert!(!found(&app, "?q=cups").await.contains(&hidden.id));

    // Deleted (never ordered): gone from the index too.
    let deleted = app
        .client
        .delete(format!("{}/v1/products/{}", app.address, tea.id))
        .header("Authorization", bearer(&seller.token))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert!(found(&app, "?q=oolong").await.is_empty());
}

#[tokio::test]
async fn ranked_pages_walk_every_match_once_and_filters_combine_with_the_text() {
    let Market {
        app, pool, shop, ..
    } = market().await;
    let mut made = Vec::new();
    for (n, price) in [(1, 500), (2, 1500), (3, 2500), (4, 3500), (5, 4500)] {
        let product = make(
            &pool,
            &shop,
            &format!("Linen towel {n}"),
            "Woven",
            move |r| {
                r.price_minor = price;
                r.category = if n % 2 == 0 { "home" } else { "kitchen" }.to_owned();
                r.stock = if n == 5 { 0 } else { 3 };
            },
        )
        .await;
        made.push(product.id);
    }
    make(
        &pool,
        &shop,
        "Cotton apron",
        "Goes with a linen towel",
        |_| {},
    )
    .await;

    let mut walked = Vec::new();
    let mut query = "?q=linen&limit=2".to_owned();
    loop {
        let page = search(&app, &query).await;
        walked.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?q=linen&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked.len(), 6, "{walked:?}");
    // Equal ranks fall back to the catalog's order; the description match is last.
    assert_eq!(walked[..5], made[..]);

    let wanted = |query: &'static str, expected: Vec<&String>| {
        let app = &app;
        let mut expected: Vec<String> = expected.into_iter().cloned().collect();
        expected.sort();
        async move {
            let mut got = found(app, query).await;
            got.sort();
            assert_eq!(got, expected, "{query}");
        }
    };
    wanted("?q=towel&category=home", vec![&made[1], &made[3]]).await;
    wanted(
        "?q=towel&currency=USD&min_price=1500&max_price=3500",
        vec![&made[1], &made[2], &made[3]],
    )
    .await;
    wanted(
        "?q=towel&in_stock=true&category=kitchen",
        vec![&made[0], &made[2]],
    )
    .await;
    wanted(format!("?q=towel&shop={}", unique()).leak(), vec![]).await;

    // A cursor belongs to its kind of list.
    let keyset = search(&app, "?limit=1").await;
    let keyset_cursor = keyset["next_cursor"].as_str().unwrap().to_owned();
    assert_error(
        app.get(&format!("/v1/products?q=linen&cursor={keyset_cursor}"))
            .await,
        422,
        "invalid_value",
    )
    .await;
    let ranked = search(&app, "?q=linen&limit=1").await;
    let ranked_cursor = ranked["next_cursor"].as_str().unwrap().to_owned();
    assert_error(
        app.get(&format!("/v1/products?cursor={ranked_cursor}"))
            .await,
        422,
        "invalid_value",
    )
    .await;
}

/// A product to make: (shop, title, category, price, stock).
type Planned<'a> = (&'a Shop, &'a str, &'a str, i64, i64);

#[tokio::test]
async fn facets_count_each_filter_with_the_others_applied() {
    let Market {
        app, pool, shop, ..
    } = market().await;
    let second = market_shop(&app, &pool).await;
    // (shop, title, category, price, stock)
    let plan: Vec<Planned> = vec![
        (&shop, "Walnut bowl", "kitchen", 900, 4),
        (&shop, "Walnut board", "kitchen", 2_400, 0),
        (&shop, "Walnut frame", "home", 5_000, 2),
        (&second, "Walnut lamp", "home", 30_000, 1),
        (&second, "Walnut spoon", "kitchen", 1_000, 9),
        (&second, "Maple spoon", "kitchen", 1_200, 9),
    ];
    for (shop, title, category, price, stock) in &plan {
        let (category, price, stock) = ((*category).to_owned(), *price, *stock);
        make(&pool, shop, title, "Hand made", move |r| {
            r.category = category;
            r.price_minor = price;
            r.stock = stock;
        })
        .await;
    }
    let facets = |query: String| {
        let app = &app;
        async move {
            let response = app.get(&format!("/v1/products/facets{query}")).await;
            assert_eq!(response.status(), 200, "{query}");
            response.json::<Value>().await.unwrap()
        }
    };

    // Each count below is computed from `plan`, never copied from an answer.
    let walnut = |p: &&Planned| p.1.starts_with("Walnut");
    let count = |keep: &dyn Fn(&&Planned) -> bool| {
        i64::try_from(plan.iter().filter(walnut).filter(|p| keep(p)).count()).unwrap()
    };
    let kitchen = |p: &&Planned| p.2 == "kitchen";

    let all = facets("?q=walnut&category=kitchen".to_owned()).await;
    assert_eq!(all["total"], count(&kitchen));
    assert_eq!(
        all["categories"],
        json!([
            {"value": "kitchen", "count": count(&kitchen)},
            {"value": "home", "count": count(&|p| p.2 == "home")},
        ]),
        "the category facet leaves the category filter out"
    );
    let first_shop = count(&|p| p.0.id == shop.id && p.2 == "kitchen");
    let second_shop = count(&|p| p.0.id == second.id && p.2 == "kitchen");
    let shops = all["shops"].as_array().unwrap();
    let shop_count = |id: &str| {
        shops
            .iter()
            .find(|s| s["id"] == id)
            .map_or(0, |s| s["count"].as_i64().unwrap())
    };
    assert_eq!(shop_count(&shop.id), first_shop);
    assert_eq!(shop_count(&second.id), second_shop);
    assert_eq!(shops[0]["name"], "Test Shop");
    assert_eq!(all["in_stock"], count(&|p| p.2 == "kitchen" && p.4 > 0));
    assert_eq!(
        all["currencies"],
        json!([{"value": "USD", "count": count(&kitchen)}])
    );

    // Price bands in minor units of the one currency, both ends inclusive.
    let bands = all["price_bands"].as_array().unwrap();
    let band_of = |price: i64| -> (i64, Option<i64>) {
        let starts = [0, 1_000, 2_500, 5_000, 10_000, 25_000];
        let index = starts.iter().rposition(|s| price >= *s).unwrap();
        (starts[index], starts.get(index + 1).map(|next| next - 1))
    };
    let mut expected: Vec<((i64, Option<i64>), i64)> = Vec::new();
    for product in plan.iter().filter(walnut).filter(|p| kitchen(p)) {
        let band = band_of(product.3);
        match expected.iter_mut().find(|(b, _)| *b == band) {
            Some((_, n)) => *n += 1,
            None => expected.push((band, 1)),
        }
    }
    expected.sort();
    let got: Vec<((i64, Option<i64>), i64)> = bands
        .iter()
        .map(|b| {
            assert_eq!(b["currency"], "USD");
            (
                (b["min_price"].as_i64().unwrap(), b["max_price"].as_i64()),
                b["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);

    // A band chosen narrows the total but not the band facet.
    let banded =
        facets("?q=walnut&category=kitchen&currency=USD&min_price=1000&max_price=2499".to_owned())
            .await;
    assert_eq!(
        banded["total"],
        count(&|p| p.2 == "kitchen" && (1_000..=2_499).contains(&p.3))
    );
    assert_eq!(banded["price_bands"], all["price_bands"]);

    // Without text the facets describe the whole catalog.
    let everything = facets(String::new()).await;
    assert_eq!(everything["total"], i64::try_from(plan.len()).unwrap());
    // A misspelling is corrected for the facets as for the page.
    let typo = facets("?q=walnutt".to_owned()).await;
    assert_eq!(typo["total"], count(&|_| true));
    assert_eq!(typo["corrections"][0]["replacements"], json!(["walnut"]));

    for (query, code, param) in [
        ("?min_price=5", "currency_required", "currency"),
        ("?category=Not%20a%20slug", "invalid_value", "category"),
        ("?currency=QQQ", "unknown_currency", "currency"),
    ] {
        let body = assert_error(
            app.get(&format!("/v1/products/facets{query}")).await,
            422,
            code,
        )
        .await;
        assert_eq!(body["param"], param, "{query}");
    }
}
