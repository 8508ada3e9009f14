//! The console's shops and fee rules over HTTP, against the real app and
//! the sandbox: who may read and who may act (staff 403, buyers and sellers
//! 404, nothing changed); freezing a shop from its page takes its products
//! off the storefront and is audited as the API's freeze is; a missing
//! reason or a missing CSRF token changes nothing; fee rules created,
//! versioned and retired from the pages; the preview's amounts computed
//! here from the rule's rates.

use crate::common;
use crate::orders_support;
use crate::web_support;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};

use common::people::{audit_rows, get_as, operator, post_as, signup, staff, Person};
use common::TestApp;
use orders_support::{active_shop, json_of, platform_rule, product};
use web_support::{signed_in, Browser, Page};

/// A seller with an active USD shop selling one product titled `title`.
struct Seller {
    person: Person,
    shop_id: String,
    shop_name: String,
    product_id: String,
}

async fn seller_selling(app: &TestApp, title: &str) -> Seller {
    let person = signup(app, "seller").await;
    let shop = active_shop(app, &person, "USD").await;
    let product_id = product(app, &person, &shop, title, 2400, 5).await;
    Seller {
        product_id,
        shop_id: shop["id"].as_str().unwrap().to_owned(),
        shop_name: shop["name"].as_str().unwrap().to_owned(),
        person,
    }
}

/// A browser signed in to the console as the enrolled staff `person`, the
/// TOTP step they used last forgotten first (the operator helper signs in
/// with the next step's code already), as if half a minute had passed.
async fn console<'a>(app: &'a TestApp, person: &Person) -> Browser<'a> {
    use diesel::prelude::*;
    let pool = common::people::pool(app);
    let user_id = person.user_id.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        diesel::update(bazaar::auth::schema::users::table.find(user_id))
            .set(bazaar::auth::schema::users::totp_last_step.eq(None::<i64>))
            .execute(&mut conn)
            .unwrap();
    })
    .await
    .unwrap();
    web_support::console(app, person).await
}

/// Whether the API shows the shop frozen.
async fn is_frozen(app: &TestApp, operator: &Person, shop_id: &str) -> bool {
    shop_json(app, operator, shop_id).await["status"] == "frozen"
}

/// The shop as the API shows it to staff.
async fn shop_json(app: &TestApp, operator: &Person, shop_id: &str) -> Value {
    json_of(
        get_as(app, operator, &format!("/v1/shops/{shop_id}")).await,
        200,
    )
    .await
}

/// Whether the storefront shows the seller's product: its card in the
/// search for `title`, and its page.
async fn storefront_shows(app: &TestApp, seller: &Seller, title: &str) -> bool {
    let mut visitor = Browser::new(app);
    let page = visitor
        .get(&format!("/search?q={}", title.replace(' ', "+")))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let card = format!("href=\"/products/{}\"", seller.product_id);
    let in_search = page.shows(&card);
    let product = visitor
        .get(&format!("/products/{}", seller.product_id))
        .await;
    let on_page = product.status == 200;
    assert_eq!(in_search, on_page, "search and product page agree");
    in_search
}

fn assert_status(page: &Page, status: u16, what: &str) {
    assert_eq!(page.status, status, "{what}: {}", page.body);
}

#[tokio::test]
async fn staff_read_shops_and_only_operators_act() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    platform_rule(&app, &ops, "10.5", 30, "platform", true).await;
    let finance = staff(&app, &ops, "finance").await;
    let support = staff(&app, &ops, "support").await;
    let buyer = signup(&app, "buyer").await;
    let seller = seller_selling(&app, "Walnut Bowl").await;
    let shop_path = format!("/ops/shops/{}", seller.shop_id);

    // Finance reads the list and the shop, without the operator's forms.
    let mut fin = console(&app, &finance).await;
    let list = fin.get("/ops/shops").await;
    assert_status(&list, 200, "finance lists shops");
    assert!(list.shows(&seller.shop_name));
    assert!(list.shows(&format!("href=\"{shop_path}\"")));
    let page = fin.get(&shop_path).await;
    assert_status(&page, 200, "finance reads a shop");
    assert!(page.shows("Live"), "status in words");
    assert!(page.shows(&format!(
        "href=\"/ops/users/{}\">{}</a>",
        seller.person.user_id, seller.person.email
    )));
    // The platform rule in force, as checkout resolves it: 10.5 % + $0.30.
    assert!(page.shows("10.5 % + $0.30"), "{}", page.body);
    assert!(!page.shows("/freeze\""), "no freeze form for finance");
    assert!(!page.shows("/sync\""), "finance cannot sync");
    let refused = fin
        .submit(
            &shop_path,
            &format!("{shop_path}/freeze"),
            &[("reason", "fraud")],
        )
        .await;
    assert_status(&refused, 403, "finance freezing");
    assert!(!is_frozen(&app, &ops, &seller.shop_id).await);

    // Support reads and syncs (audited), and may not freeze.
    let mut sup = console(&app, &support).await;
    let page = sup.get(&shop_path).await;
    assert_status(&page, 200, "support reads a shop");
    assert!(page.shows(&format!("action=\"{shop_path}/sync\"")));
    assert!(!page.shows("/freeze\""));
    let synced = sup
        .submit(&shop_path, &format!("{shop_path}/sync"), &[])
        .await;
    assert_status(&synced, 303, "support syncs");
    assert_eq!(synced.location(), format!("{shop_path}?done=synced"));
    let rows = audit_rows(&app, &ops, "shop.sync").await;
    assert!(
        rows.iter()
            .any(|r| r["actor_user_id"] == support.user_id.as_str()
                && r["subject"] == seller.shop_id.as_str()),
        "{rows:?}"
    );
    let refused = sup
        .submit(
            &shop_path,
            &format!("{shop_path}/freeze"),
            &[("reason", "fraud")],
        )
        .await;
    assert_status(&refused, 403, "support freezing");
    let refused = sup
        .submit(
            &shop_path,
            &format!("{shop_path}/unfreeze"),
            &[("reason", "fine")],
        )
        .await;
    assert_status(&refused, 403, "support unfreezing");
    assert!(!is_frozen(&app, &ops, &seller.shop_id).await);

    // Buyers and sellers: the console is not theirs to find.
    for person in [&buyer, &seller.person] {
        let mut browser = signed_in(&app, person).await;
        for path in ["/ops/shops", shop_path.as_str()] {
            let page = browser.get(path).await;
            assert_status(&page, 404, &format!("{} at {path}", person.role));
        }
    }

    // Search by a part of the name and by status.
    let suffix = &seller.shop_name["Shop ".len()..];
    let found = fin
        .get(&format!("/ops/shops?q={}", suffix.to_uppercase()))
        .await;
    assert!(
        found.shows(&seller.shop_name),
        "case-insensitive name search"
    );
    let none = fin.get("/ops/shops?q=no-such-shop-name").await;
    assert!(!none.shows(&seller.shop_name));
    assert!(none.shows("No shops match these filters"));
    let active = fin.get("/ops/shops?status=active").await;
    assert!(active.shows(&seller.shop_name));
    let frozen = fin.get("/ops/shops?status=frozen").await;
    assert!(!frozen.shows(&seller.shop_name));
    // The API takes the same filters.
    let api = json_of(
        get_as(
            &app,
            &finance,
            &format!("/v1/shops?q={suffix}&status=active&limit=5"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(api["data"].as_array().unwrap().len(), 1, "{api}");
    assert_eq!(api["has_more"], false);
    let bad = get_as(&app, &finance, "/v1/shops?status=sleeping").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn an_operator_freezes_from_the_page_and_the_products_leave_the_storefront() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    platform_rule(&app, &ops, "10.5", 30, "platform", true).await;
    let seller = seller_selling(&app, "Cherry Spoon").await;
    let other = seller_selling(&app, "Maple Board").await;
    let shop_path = format!("/ops/shops/{}", seller.shop_id);
    assert!(storefront_shows(&app, &seller, "Cherry Spoon").await);
    let mut browser = console(&app, &ops).await;

    // No reason: the form again, 422, the message beside the field, nothing changed.
    let page = browser
        .submit(
            &shop_path,
            &format!("{shop_path}/freeze"),
            &[("reason", "  ")],
        )
        .await;
    assert_status(&page, 422, "freeze without a reason");
    assert!(page.shows("id=\"freeze-reason-error\""), "{}", page.body);
    assert!(page.shows("href=\"#freeze-reason\""));
    assert!(!is_frozen(&app, &ops, &seller.shop_id).await);
    assert!(audit_rows(&app, &ops, "shop.freeze").await.is_empty());

    // Without the form's token: refused, nothing changed.
    let forged = browser
        .post(&format!("{shop_path}/freeze"), &[("reason", "forged")])
        .await;
    assert_status(&forged, 403, "freeze without a CSRF token");
    assert!(!is_frozen(&app, &ops, &seller.shop_id).await);

    // Frozen from the page.
    let done = browser
        .submit(
            &shop_path,
            &format!("{shop_path}/freeze"),
            &[("reason", "chargebacks under review")],
        )
        .await;
    assert_status(&done, 303, "freeze");
    assert_eq!(done.location(), format!("{shop_path}?done=frozen"));
    let shop = shop_json(&app, &ops, &seller.shop_id).await;
    assert_eq!(shop["status"], "frozen");
    assert_eq!(shop["frozen_reason"], "chargebacks under review");
    let page = browser.get(&format!("{shop_path}?done=frozen")).await;
    assert!(page.shows("Shop frozen."));
    assert!(page.shows("chargebacks under review"));
    assert!(page.shows(&format!("action=\"{shop_path}/unfreeze\"")));
    assert!(
        !storefront_shows(&app, &seller, "Cherry Spoon").await,
        "frozen shop's product gone"
    );
    assert!(
        storefront_shows(&app, &other, "Maple Board").await,
        "others stay"
    );
    let frozen = browser.get("/ops/shops?status=frozen").await;
    assert!(frozen.shows(&seller.shop_name));
    assert!(!frozen.shows(&other.shop_name));

    // The audit row: the operator as actor, the same shape as the API's.
    let api = post_as(
        &app,
        &ops,
        &format!("/v1/shops/{}/freeze", other.shop_id),
        &json!({"reason": "api freeze"}),
    )
    .await;
    assert_eq!(api.status(), 200);
    let rows = audit_rows(&app, &ops, "shop.freeze").await;
    let by_page = rows
        .iter()
        .find(|r| r["subject"] == seller.shop_id.as_str())
        .expect("page freeze audited");
    let by_api = rows
        .iter()
        .find(|r| r["subject"] == other.shop_id.as_str())
        .expect("API freeze audited");
    assert_eq!(by_page["actor_user_id"], ops.user_id.as_str());
    assert_eq!(
        by_page["before"],
        json!({"frozen": false, "frozen_reason": null})
    );
    assert_eq!(
        by_page["after"],
        json!({"frozen": true, "frozen_reason": "chargebacks under review"})
    );
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(by_page), keys(by_api));
    assert_eq!(keys(&by_page["after"]), keys(&by_api["after"]));

    // Lifting it needs a reason too; then the product is back.
    let page = browser
        .submit(
            &shop_path,
            &format!("{shop_path}/unfreeze"),
            &[("reason", "")],
        )
        .await;
    assert_status(&page, 422, "unfreeze without a reason");
    assert!(page.shows("id=\"unfreeze-reason-error\""));
    assert!(is_frozen(&app, &ops, &seller.shop_id).await);
    let done = browser
        .submit(
            &shop_path,
            &format!("{shop_path}/unfreeze"),
            &[("reason", "cleared by the bank")],
        )
        .await;
    assert_status(&done, 303, "unfreeze");
    let shop = shop_json(&app, &ops, &seller.shop_id).await;
    assert_eq!(shop["status"], "active");
    assert!(
        storefront_shows(&app, &seller, "Cherry Spoon").await,
        "back on the storefront"
    );
    let rows = audit_rows(&app, &ops, "shop.unfreeze").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor_user_id"], ops.user_id.as_str());
    assert_eq!(rows[0]["after"]["reason"], "cleared by the bank");
    // The API's unfreeze still takes `{}`.
    let api = post_as(
        &app,
        &ops,
        &format!("/v1/shops/{}/unfreeze", other.shop_id),
        &json!({}),
    )
    .await;
    assert_eq!(api.status(), 200);
}

/// The fee under `percentage` % + `fixed`, rounded half-even at the minor
/// unit as the fees module does, computed here.
fn fee_of(part: i64, percentage: &str, fixed: i64) -> i64 {
    let rate: Decimal = percentage.parse().unwrap();
    let share = (Decimal::from(part) * rate / Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    share.to_i64().unwrap() + fixed
}

/// How many fee rules the API lists.
async fn rules_count(app: &TestApp, who: &Person) -> usize {
    json_of(get_as(app, who, "/v1/fee_rules").await, 200).await["data"]
        .as_array()
        .unwrap()
        .len()
}

fn dollars(minor: i64) -> String {
    format!("${}.{:02}", minor / 100, minor % 100)
}

#[tokio::test]
async fn fee_rules_are_managed_and_previewed_from_the_pages() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    let finance = staff(&app, &ops, "finance").await;
    let support = staff(&app, &ops, "support").await;
    let buyer = signup(&app, "buyer").await;
    let seller = seller_selling(&app, "Oak Tray").await;
    let mut op = console(&app, &ops).await;

    // Bad terms: 422 beside the field, nothing created.
    let page = op
        .submit(
            "/ops/fee-rules",
            "/ops/fee-rules",
            &[
                ("scope_kind", "shop"),
                ("scope_value", &seller.shop_id),
                ("percentage", "ten"),
                ("fixed", "USD 45"),
                ("processing_fee_payer", "platform"),
            ],
        )
        .await;
    assert_status(&page, 422, "a bad percentage");
    assert!(page.shows("id=\"percentage-error\""), "{}", page.body);
    assert_eq!(rules_count(&app, &ops).await, 0);

    // A rule for the shop, in force now.
    let created = op
        .submit(
            "/ops/fee-rules",
            "/ops/fee-rules",
            &[
                ("scope_kind", "shop"),
                ("scope_value", &seller.shop_id),
                ("percentage", "12.5"),
                ("fixed", "USD 45"),
                ("processing_fee_payer", "platform"),
                ("refund_fee_proportionally", "on"),
            ],
        )
        .await;
    assert_status(&created, 303, "create a rule");
    let rule_path = created.location().split('?').next().unwrap().to_owned();
    let rule_id = rule_path.trim_start_matches("/ops/fee-rules/").to_owned();
    let page = op.get(&rule_path).await;
    assert_status(&page, 200, "the rule");
    assert!(page.shows(&format!("Shop {}", seller.shop_name)));
    assert!(page.shows("12.5 % + $0.45"), "{}", page.body);
    let created_rows = audit_rows(&app, &ops, "fee_rule.create").await;
    assert_eq!(created_rows.len(), 1);
    assert_eq!(created_rows[0]["actor_user_id"], ops.user_id.as_str());
    assert_eq!(created_rows[0]["subject"], rule_id.as_str());

    // A new version from a day ten days ahead.
    let day = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    let version = op
        .submit(
            &rule_path,
            &format!("{rule_path}/versions"),
            &[
                ("percentage", "7.25"),
                ("fixed", "USD 20"),
                ("processing_fee_payer", "seller"),
                ("effective_from", &day.format("%Y-%m-%d").to_string()),
            ],
        )
        .await;
    assert_status(&version, 303, "a new version");
    let page = op.get(&rule_path).await;
    assert!(page.shows("data-version=\"2\""));
    assert!(
        page.shows(&day.format("%-d %b %Y 00:00 UTC").to_string()),
        "{}",
        page.body
    );
    assert!(page.shows("Version 1 (in force now)"));
    let rule = json_of(
        get_as(&app, &ops, &format!("/v1/fee_rules/{rule_id}")).await,
        200,
    )
    .await;
    assert_eq!(rule["versions"].as_array().unwrap().len(), 2);
    assert_eq!(rule["versions"][1]["percentage"], "7.25");
    assert!(rule["versions"][1]["effective_from"]
        .as_str()
        .unwrap()
        .starts_with(&day.format("%Y-%m-%dT00:00:00").to_string()));
    let rows = audit_rows(&app, &ops, "fee_rule.version").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor_user_id"], ops.user_id.as_str());
    // A start in the past: refused beside its field, no version added.
    let past = op
        .submit(
            &rule_path,
            &format!("{rule_path}/versions"),
            &[
                ("percentage", "5"),
                ("fixed", "USD 1"),
                ("processing_fee_payer", "platform"),
                ("effective_from", "2001-01-01"),
            ],
        )
        .await;
    assert_status(&past, 422, "a version in the past");
    assert!(past.shows("id=\"effective_from-error\""));
    let rule = json_of(
        get_as(&app, &ops, &format!("/v1/fee_rules/{rule_id}")).await,
        200,
    )
    .await;
    assert_eq!(rule["versions"].as_array().unwrap().len(), 2);

    // The preview prices with the version in force now: 12.5 % + 45.
    let part = 12_345;
    let fee = fee_of(part, "12.5", 45);
    let preview_path = format!(
        "/ops/fee-rules/preview?amount=123.45&currency=USD&shop={}",
        seller.shop_id
    );
    let mut fin = console(&app, &finance).await;
    let page = fin.get(&preview_path).await;
    assert_status(&page, 200, "finance previews");
    assert_eq!(page.text_of("<dd data-figure=\"fee\""), dollars(fee));
    assert_eq!(
        page.text_of("<dd data-figure=\"seller_share\""),
        dollars(part - fee)
    );
    assert_eq!(page.text_of("<dd data-figure=\"fixed_fee\""), "$0.45");
    let bad = fin
        .get(&format!(
            "/ops/fee-rules/preview?amount=12.345&currency=USD&shop={}",
            seller.shop_id
        ))
        .await;
    assert_status(&bad, 422, "too many decimals");
    assert!(bad.shows("id=\"amount-error\""));
    let form_only = fin.get("/ops/fee-rules/preview").await;
    assert_status(&form_only, 200, "the empty form");
    assert!(form_only.shows("id=\"fee-preview-result\" aria-live=\"polite\""));
    assert!(
        form_only.shows("<script src=\"/assets/"),
        "the as-you-type script"
    );

    // Finance reads but may not manage.
    let list = fin.get("/ops/fee-rules").await;
    assert_status(&list, 200, "finance lists rules");
    assert!(list.shows(&format!("href=\"/ops/fee-rules/{rule_id}\"")));
    assert!(!list.shows("Create the rule"));
    let refused = fin
        .submit(
            "/ops/fee-rules",
            "/ops/fee-rules",
            &[
                ("scope_kind", "platform"),
                ("percentage", "1"),
                ("fixed", "USD 1"),
                ("processing_fee_payer", "platform"),
            ],
        )
        .await;
    assert_status(&refused, 403, "finance creating");
    let refused = fin
        .submit(&rule_path, &format!("{rule_path}/retire"), &[])
        .await;
    assert_status(&refused, 403, "finance retiring");
    assert_eq!(rules_count(&app, &ops).await, 1);

    // Support: 403; buyers: 404.
    let mut sup = console(&app, &support).await;
    for path in ["/ops/fee-rules", rule_path.as_str(), preview_path.as_str()] {
        assert_status(&sup.get(path).await, 403, &format!("support at {path}"));
    }
    let mut shopper = signed_in(&app, &buyer).await;
    assert_status(&shopper.get("/ops/fee-rules").await, 404, "a buyer");

    // Retired from the page (now), audited.
    let retired = op
        .submit(
            &rule_path,
            &format!("{rule_path}/retire"),
            &[("effective_to", "")],
        )
        .await;
    assert_status(&retired, 303, "retire");
    let page = op.get(&rule_path).await;
    assert!(page.shows("Retired on"), "{}", page.body);
    assert!(!page.shows("Save the new version"));
    let rule = json_of(
        get_as(&app, &ops, &format!("/v1/fee_rules/{rule_id}")).await,
        200,
    )
    .await;
    assert!(rule["effective_to"].is_string());
    let rows = audit_rows(&app, &ops, "fee_rule.retire").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor_user_id"], ops.user_id.as_str());
    // Nothing prices the shop now: the preview says so beside no field.
    let page = fin.get(&preview_path).await;
    assert_status(&page, 422, "no rule in force");
    assert!(page.shows("No fee rule in force"), "{}", page.body);
}
