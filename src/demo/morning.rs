//! The morning: the operator starts work, two sellers sign up and onboard
//! through the sandbox's hosted page (the provider then restricts one), a
//! seeded shop's bank details turn out to be wrong, every seller sets its
//! shipping rates, the operator gives one shop terms that hold its share
//! until delivery, and buyers sign up.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use super::client::{wait_for, Api, Session};
use super::script::{self, NewSeller};
use super::{Progress, DEMO_BUYER_EMAIL, DEMO_FEE_FIXED_MINOR, DEMO_FEE_PERCENTAGE, DEMO_PASSWORD};
use crate::db::{self, DbPool};

/// The demo operator's email.
pub const OPERATOR_EMAIL: &str = "operator@demo.bazaar.example";
/// How long a shop may take to follow its provider account (one webhook).
const SHOP_STATE_TIMEOUT: Duration = Duration::from_secs(15);
/// Steps the morning counts on the progress bar.
pub const STEPS: u64 = 4 + script::NEW_SELLERS.len() as u64;

/// Everyone the day needs, signed in, and the catalog they buy from.
pub struct Cast {
    pub operator: Session,
    /// The operator's TOTP secret (base32), printed for a person to sign in.
    pub operator_totp_secret: String,
    /// Buyer 0 is the seeded demo buyer.
    pub buyers: Vec<Session>,
    pub new_sellers: Vec<Session>,
    /// Every shop's seller, signed in, by the shop's slug.
    pub sellers: BTreeMap<String, Session>,
    /// Shop ids by slug.
    pub shop_ids: BTreeMap<String, String>,
    /// Product ids by SKU, over the shops the day buys from.
    pub products: BTreeMap<String, String>,
}

/// The RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 `secret` at `unix` seconds.
fn totp_code(secret: &str, unix: u64) -> anyhow::Result<String> {
    let secret = totp_rs::Secret::try_from_base32(secret)
        .map_err(|e| anyhow::anyhow!("TOTP secret: {e}"))?;
    let totp = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .map_err(|e| anyhow::anyhow!("TOTP: {e}"))?;
    Ok(totp.generate(unix).to_string())
}

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

fn text(value: &Value, what: &str) -> anyhow::Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {what} in the answer"))
}

/// Creates the operator as `bazaar admin create-operator` does, enrols its
/// second factor as its first session must, and signs in with a code.
async fn operator(api: &Api, pool: &DbPool) -> anyhow::Result<(Session, String)> {
    db::run(pool, |conn| {
        crate::auth::create_operator(conn, OPERATOR_EMAIL, DEMO_PASSWORD).map(|_| ())
    })
    .await
    .map_err(|e| anyhow::anyhow!("demo operator: {e}"))?;
    let first = api.login(OPERATOR_EMAIL, DEMO_PASSWORD, None).await?;
    let enrolment = api
        .post(Some(&first), "/v1/me/totp", None, &json!({}), 201)
        .await?;
    let secret = text(&enrolment["secret"], "TOTP secret")?;
    let code = totp_code(&secret, unix_now())?;
    api.post(
        Some(&first),
        "/v1/me/totp/confirm",
        None,
        &json!({"code": code}),
        200,
    )
    .await?;
    // A step's code is accepted once: the next step's is within the skew.
    let code = totp_code(&secret, unix_now() + 30)?;
    let session = api
        .login(OPERATOR_EMAIL, DEMO_PASSWORD, Some(&code))
        .await?;
    Ok((session, secret))
}

/// A shop's current state as its owner (or staff) sees it, once `status` is reached.
async fn shop_reaching(
    api: &Api,
    who: &Session,
    shop_id: &str,
    status: &str,
) -> anyhow::Result<Value> {
    let path = format!("/v1/shops/{shop_id}");
    wait_for(
        &format!("shop {shop_id} to be {status}"),
        SHOP_STATE_TIMEOUT,
        || async {
            let shop = api.get(who, &path).await?;
            Ok((shop["status"] == status).then_some(shop))
        },
    )
    .await
}

fn seller_email(slug: &str) -> String {
    format!("owner@{slug}.demo.bazaar.example")
}

/// `PUT /v1/shops/{id}/shipping` as the shop's seller: its rates to the
/// buyers' countries and its returns policy.
async fn set_shipping(
    api: &Api,
    seller: &Session,
    shop_id: &str,
    shipping: &script::ShopShipping,
) -> anyhow::Result<Value> {
    let rates: Vec<Value> = shipping
        .rates
        .iter()
        .map(
            |(destination, first, additional, free_above, handling_days)| {
                let mut rate = json!({
                    "destination": destination,
                    "currency": shipping.currency,
                    "first_item_minor": first,
                    "additional_item_minor": additional,
                    "handling_days": handling_days,
                });
                if let Some(free) = free_above {
                    rate["free_above_minor"] = json!(free);
                }
                rate
            },
        )
        .collect();
    let body = json!({
        "rates": rates,
        "returns": {
            "window_days": shipping.return_window_days,
            "refunds_shipping": shipping.refunds_shipping,
        },
    });
    api.put(seller, &format!("/v1/shops/{shop_id}/shipping"), &body)
        .await
}

/// The operator gives the shop a fee rule of its own: the demo's platform
/// terms, but the seller's share is held until the part is delivered (by a
/// person, or `release_after_days` after shipment). A rule left by an
/// earlier, interrupted demo gets these terms as a new version.
async fn hold_until_delivery(api: &Api, operator: &Session, shop_id: &str) -> anyhow::Result<()> {
    let held = &script::HELD_UNTIL_DELIVERY;
    let fixed: BTreeMap<&str, i64> = DEMO_FEE_FIXED_MINOR.iter().copied().collect();
    let mut terms = json!({
        "percentage": DEMO_FEE_PERCENTAGE,
        "fixed": fixed,
        "processing_fee_payer": "platform",
        "refund_fee_proportionally": true,
        "release_policy": "on_delivery",
        "release_after_days": held.release_after_days,
    });
    let rules = api.get(operator, "/v1/fee_rules").await?;
    let existing = rules["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|rule| {
            rule["scope"]["kind"] == "shop"
                && rule["scope"]["value"] == shop_id
                && rule["effective_to"].is_null()
        })
        .and_then(|rule| rule["id"].as_str());
    let version = match existing {
        Some(rule_id) => {
            api.post(
                Some(operator),
                &format!("/v1/fee_rules/{rule_id}/versions"),
                None,
                &terms,
                201,
            )
            .await?
        }
        None => {
            terms["scope"] = json!({"kind": "shop", "value": shop_id});
            let rule = api
                .post(Some(operator), "/v1/fee_rules", None, &terms, 201)
                .await?;
            rule["version"].clone()
        }
    };
    anyhow::ensure!(
        version["release_policy"] == "on_delivery",
        "the shop's fee rule does not hold until delivery: {version}"
    );
    Ok(())
}

/// A new seller signs up, opens a shop, follows the onboarding link, lists
/// products, and — for the one the provider restricts — loses its ability to sell.
async fn new_seller(api: &Api, new: &NewSeller) -> anyhow::Result<(Session, Value)> {
    let email = seller_email(new.slug);
    let seller = api.signup(&email, DEMO_PASSWORD, "seller").await?;
    let body = json!({
        "name": new.name,
        "slug": new.slug,
        "country": "US",
        "default_currency": "USD",
        "support_email": format!("help@{}.demo.bazaar.example", new.slug),
    });
    let shop = api
        .post(Some(&seller), "/v1/shops", None, &body, 201)
        .await?;
    let shop_id = text(&shop["id"], "shop id")?;
    let link = api
        .post(
            Some(&seller),
            &format!("/v1/shops/{shop_id}/onboarding_link"),
            None,
            &json!({}),
            200,
        )
        .await?;
    api.submit_onboarding_form(&text(&link["url"], "onboarding url")?, new.name)
        .await?;
    // The provider tells the marketplace by `account.updated`.
    shop_reaching(api, &seller, &shop_id, "active").await?;
    for product in new.products {
        let body = json!({
            "sku": product.sku,
            "title": product.title,
            "description": format!("{}, made by hand at {}.", product.title, new.name),
            "price_minor": product.price_minor,
            "currency": "USD",
            "stock": product.stock,
            "category": product.category,
            "images": [{
                "url": format!("https://images.bazaar.example/demo/{}/1.jpg", product.sku.to_lowercase()),
                "alt": product.title,
            }],
        });
        api.post(
            Some(&seller),
            &format!("/v1/shops/{shop_id}/products"),
            None,
            &body,
            201,
        )
        .await?;
    }
    let Some(reason) = new.restricted_by_provider else {
        let shop = api.get(&seller, &format!("/v1/shops/{shop_id}")).await?;
        return Ok((seller, shop));
    };
    let account = text(&shop["provider_account_id"], "provider account")?;
    api.sandbox_post(
        &format!("/v1/test_helpers/accounts/{account}/restrict"),
        &[("disabled_reason", reason)],
    )
    .await?;
    let shop = shop_reaching(api, &seller, &shop_id, "restricted").await?;
    Ok((seller, shop))
}

/// Plays the morning; returns everyone, signed in.
///
/// # Errors
/// A call was refused or a shop did not reach its state in time.
pub async fn play(api: &Api, pool: &DbPool, progress: &Progress) -> anyhow::Result<Cast> {
    progress.step("the operator signs in (password + TOTP)");
    let (operator, operator_totp_secret) = operator(api, pool).await?;
    progress.done(format!(
        "operator {OPERATOR_EMAIL} enrolled TOTP and signed in"
    ));

    let mut new_sellers = Vec::new();
    for new in script::NEW_SELLERS {
        progress.step(format!("{} onboards", new.name));
        let (seller, shop) = new_seller(api, new).await?;
        let listed = new.products.len();
        progress.done(match new.restricted_by_provider {
            None => format!(
                "{} signed up, onboarded through the provider's page and listed {listed} products: {}",
                new.name, shop["status"].as_str().unwrap_or("?")
            ),
            Some(reason) => format!(
                "{} onboarded and listed {listed} product, then the provider disabled the account ({reason}): {}, its products hidden",
                new.name, shop["status"].as_str().unwrap_or("?")
            ),
        });
        new_sellers.push(seller);
    }

    progress.step("reading the shops and the catalog");
    let shops = api.get(&operator, "/v1/shops").await?;
    let mut shop_ids = BTreeMap::new();
    let mut products = BTreeMap::new();
    for shop in shops["data"].as_array().into_iter().flatten() {
        let (slug, id) = (text(&shop["slug"], "slug")?, text(&shop["id"], "id")?);
        // A catalog shop holds 60 products: one page of at most 100.
        let page = api
            .get(&operator, &format!("/v1/shops/{id}/products?limit=100"))
            .await?;
        for product in page["data"].as_array().into_iter().flatten() {
            products.insert(text(&product["sku"], "sku")?, text(&product["id"], "id")?);
        }
        shop_ids.insert(slug, id);
    }
    let (failing_slug, failing_number) = script::FAILING_BANK;
    let failing = shops["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|shop| shop["slug"] == failing_slug)
        .with_context(|| format!("no shop {failing_slug}"))?;
    let account = text(&failing["provider_account_id"], "provider account")?;
    // A bank account number the provider's test mode cannot pay into.
    api.sandbox_post(
        &format!("/v1/test_helpers/accounts/{account}/external_account"),
        &[("account_number", failing_number)],
    )
    .await?;
    progress.done(format!(
        "{} shops, {} products; {} gave the provider a bank account that does not exist",
        shop_ids.len(),
        products.len(),
        failing["name"].as_str().unwrap_or(failing_slug)
    ));

    progress.step("sellers set their shipping rates");
    let mut sellers: BTreeMap<String, Session> = script::NEW_SELLERS
        .iter()
        .map(|new| new.slug.to_owned())
        .zip(new_sellers.iter().cloned())
        .collect();
    for slug in shop_ids.keys() {
        if !sellers.contains_key(slug) {
            let seller = api.login(&seller_email(slug), DEMO_PASSWORD, None).await?;
            sellers.insert(slug.clone(), seller);
        }
    }
    let mut destinations = std::collections::BTreeSet::new();
    for shipping in script::SHIPPING {
        let shop_id = shop_ids
            .get(shipping.slug)
            .with_context(|| format!("no shop {}", shipping.slug))?;
        let seller = sellers
            .get(shipping.slug)
            .with_context(|| format!("no seller of {}", shipping.slug))?;
        let stored = set_shipping(api, seller, shop_id, shipping).await?;
        let count = stored["rates"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(
            count == shipping.rates.len(),
            "{} stored {count} shipping rate(s): {stored}",
            shipping.slug
        );
        destinations.extend(shipping.rates.iter().map(|rate| rate.0));
    }
    let held = &script::HELD_UNTIL_DELIVERY;
    let held_shop = shop_ids
        .get(held.slug)
        .with_context(|| format!("no shop {}", held.slug))?;
    hold_until_delivery(api, &operator, held_shop).await?;
    let held_name = shops["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|shop| shop["slug"] == held.slug)
        .and_then(|shop| shop["name"].as_str())
        .unwrap_or(held.slug);
    progress.done(format!(
        "{} shops set shipping rates to {} (domestic cheapest) and their returns policies; \
         the operator gave {held_name} a fee rule that holds its share until delivery \
         (release_policy on_delivery, release_after_days {})",
        script::SHIPPING.len(),
        destinations.into_iter().collect::<Vec<_>>().join(", "),
        held.release_after_days
    ));

    progress.step("buyers sign in");
    let mut buyers = vec![api.login(DEMO_BUYER_EMAIL, DEMO_PASSWORD, None).await?];
    for email in script::NEW_BUYERS {
        buyers.push(api.signup(email, DEMO_PASSWORD, "buyer").await?);
    }
    progress.done(format!(
        "buyers: {}",
        buyers
            .iter()
            .map(|b| b.email.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(Cast {
        operator,
        operator_totp_secret,
        buyers,
        new_sellers,
        sellers,
        shop_ids,
        products,
    })
}
