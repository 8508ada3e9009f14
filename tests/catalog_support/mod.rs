//! Helpers for the catalog tests: shops in a given state and products in them,
//! made through the domain functions (the HTTP tests use the API for what
//! they test and these for the set-up).

#![allow(dead_code)] // each catalog test binary uses a different part

use bazaar::catalog::{self, CreateProductRequest, ImageRequest, NewProduct, Product};
use bazaar::db::{DbConnection, DbPool};
use bazaar::payments::ConnectedAccount;
use bazaar::sellers::shops::{self, NewShop, Shop};

/// Connections in a test's own pool: enough for 16 racing threads at once.
const TEST_POOL_SIZE: u32 = 20;

/// A pool on the test app's database, next to the server's own.
pub fn pool(settings: &bazaar::config::Settings) -> DbPool {
    let mut database = settings.database.clone();
    database.pool_size_max = TEST_POOL_SIZE;
    bazaar::db::connect_pool(&database).expect("pool")
}

/// Runs `work` on a connection of `pool`, off the async runtime.
pub async fn on_pool<T: Send + 'static>(
    pool: &DbPool,
    work: impl FnOnce(&mut DbConnection) -> T + Send + 'static,
) -> T {
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || work(&mut pool.get().unwrap()))
        .await
        .unwrap()
}

/// A fresh suffix so slugs and SKUs never collide within a test.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// An account state as the provider reports it.
pub fn account(charges_enabled: bool) -> ConnectedAccount {
    ConnectedAccount {
        id: format!("acct_{}", unique()),
        charges_enabled,
        payouts_enabled: charges_enabled,
        details_submitted: true,
        currently_due: Vec::new(),
        disabled_reason: (!charges_enabled).then(|| "requirements.past_due".to_owned()),
    }
}

/// A shop of `owner` selling in `currency`, onboarded (sellable) or not.
pub fn shop(conn: &mut DbConnection, owner: &str, currency: &str, sellable: bool) -> Shop {
    let slug = format!("shop-{}", unique());
    let new = NewShop::parse("Test Shop", &slug, "US", currency, "help@shop.example").unwrap();
    let shop = shops::create_shop(conn, owner, &new).unwrap();
    if sellable {
        let shop = shops::attach_account(conn, &shop.id, &account(true)).unwrap();
        assert!(shop.can_sell());
        shop
    } else {
        shop
    }
}

/// A valid product request; tests change what they test.
pub fn request(sku: &str, title: &str, price_minor: i64, currency: &str) -> CreateProductRequest {
    CreateProductRequest {
        sku: sku.to_owned(),
        title: title.to_owned(),
        description: format!("{title}, described."),
        price_minor,
        currency: currency.to_owned(),
        stock: 10,
        category: "books".to_owned(),
        images: vec![ImageRequest {
            url: "https://img.example.com/p.jpg".to_owned(),
            alt: "the product".to_owned(),
        }],
        active: true,
    }
}

/// Inserts a product into `shop` with the shop's currency.
pub fn product(conn: &mut DbConnection, shop: &Shop, title: &str, price_minor: i64) -> Product {
    let request = request(
        &format!("SKU-{}", unique()),
        title,
        price_minor,
        shop.default_currency.code(),
    );
    catalog::insert_product(conn, shop, &NewProduct::try_from(request).unwrap()).unwrap()
}

/// Inserts a product with a request changed by `edit`.
pub fn product_with(
    conn: &mut DbConnection,
    shop: &Shop,
    edit: impl FnOnce(&mut CreateProductRequest),
) -> Product {
    let mut request = request(
        &format!("SKU-{}", unique()),
        "A product",
        1000,
        shop.default_currency.code(),
    );
    edit(&mut request);
    catalog::insert_product(conn, shop, &NewProduct::try_from(request).unwrap()).unwrap()
}
