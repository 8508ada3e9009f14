//! Fee rules over HTTP and the look-up of the rule in force, on the real server.

use crate::common;

use bazaar::fees::{find_version, rule_in_force, FeeRuleVersion};
use bazaar::money::Currency;
use chrono::{Duration, NaiveDateTime, SubsecRound, Utc};
use common::people::{everyone, get_as, operator, pool, post_as, signup, Person};
use common::{assert_error, TestApp};
use serde_json::{json, Value};

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

fn rule_body(scope: Value, percentage: &str, fixed: Value) -> Value {
    json!({
        "scope": scope,
        "percentage": percentage,
        "fixed": fixed,
        "processing_fee_payer": "platform",
        "refund_fee_proportionally": true,
    })
}

fn platform() -> Value {
    json!({"kind": "platform"})
}

async fn create(app: &TestApp, ops: &Person, body: &Value) -> Value {
    let response = post_as(app, ops, "/v1/fee_rules", body).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    created
}

async fn open_shop(app: &TestApp, slug: &str) -> String {
    let seller = signup(app, "seller").await;
    let body = json!({
        "name": "Shop", "slug": slug, "country": "US",
        "default_currency": "USD", "support_email": "help@shop.example",
    });
    let response = post_as(app, &seller, "/v1/shops", &body).await;
    assert_eq!(response.status(), 201);
    let shop: Value = response.json().await.unwrap();
    shop["id"].as_str().unwrap().to_owned()
}

/// `rule_in_force` through a second pool, as checkout will call it.
async fn in_force(
    app: &TestApp,
    shop_id: &str,
    category: Option<&str>,
    currency: Currency,
    at: NaiveDateTime,
) -> Result<FeeRuleVersion, String> {
    let pool = pool(app);
    let shop_id = shop_id.to_owned();
    let category = category.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        rule_in_force(&mut conn, &shop_id, category.as_deref(), currency, at)
            .map_err(|e| e.code().to_owned())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_new_version_leaves_the_old_one_readable_and_unchanged() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    let created = create(&app, &ops, &rule_body(platform(), "10", json!({"USD": 30}))).await;
    let rule_id = created["id"].as_str().unwrap().to_owned();
    let v1 = created["version"].clone();
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["percentage"], "10");
    assert_eq!(v1["fixed"], json!({"USD": 30}));
    assert_eq!(v1["processing_fee_payer"], "platform");
    assert_eq!(v1["refund_fee_proportionally"], true);
    assert_eq!(created["scope"], json!({"kind": "platform", "value": null}));

    let response = post_as(
        &app,
        &ops,
        &format!("/v1/fee_rules/{rule_id}/versions"),
        &json!({"percentage": "12.25", "fixed": {"USD": 25, "EUR": 20}, "min_minor": 50, "max_minor": 10000,
                "processing_fee_payer": "seller", "refund_fee_proportionally": false}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let v2: Value = response.json().await.unwrap();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["rule_id"], rule_id.as_str());
    assert_ne!(v2["id"], v1["id"]);

    let rule: Value = get_as(&app, &ops, &format!("/v1/fee_rules/{rule_id}"))
        .await
        .json()
        .await
        .unwrap();
    let versions = rule["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0], v1, "version 1 unchanged");
    assert_eq!(versions[1], v2);
    assert_eq!(rule["current_version_id"], v2["id"]);

    // Readable by id forever, with its original terms.
    let pool = pool(&app);
    let v1_id = v1["id"].as_str().unwrap().to_owned();
    let old = tokio::task::spawn_blocking(move || {
        find_version(&mut pool.get().unwrap(), &v1_id).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(old.version, 1);
    assert_eq!(old.terms.percentage.to_string(), "10");
    assert_eq!(old.terms.fixed.get(&usd()), Some(&30));

    // The preview uses version 2: 100.00 × 12.25 % = 12.25 + 0.25 = 12.50.
    let shop = open_shop(&app, "preview-shop").await;
    let response = post_as(
        &app,
        &ops,
        "/v1/fee_rules/preview",
        &json!({"amount_minor": 10_000, "currency": "USD", "shop_id": shop}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let preview: Value = response.json().await.unwrap();
    assert_eq!(preview["rule_id"], rule_id.as_str());
    let breakdown = &preview["breakdown"];
    assert_eq!(breakdown["version_id"], v2["id"]);
    assert_eq!(breakdown["fee"], json!({"minor": 1_250, "currency": "USD"}));
    assert_eq!(
        breakdown["seller_share"],
        json!({"minor": 8_750, "currency": "USD"})
    );
    assert_eq!(breakdown["processing_fee_payer"], "seller");
    // The list shows version 2 as current.
    let list: Value = get_as(&app, &ops, "/v1/fee_rules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["current_version"]["id"], v2["id"]);
    assert_eq!(list["data"][0]["versions_count"], 2);
}

#[tokio::test]
async fn the_most_specific_scope_wins() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    let ann = open_shop(&app, "ann").await;
    let bob = open_shop(&app, "bob").await;
    let platform_rule = create(
        &app,
        &ops,
        &rule_body(platform(), "10", json!({"USD": 30, "EUR": 25})),
    )
    .await;
    let category_rule = create(
        &app,
        &ops,
        &rule_body(
            json!({"kind": "category", "value": "home-kitchen"}),
            "8",
            json!({"USD": 20}),
        ),
    )
    .await;
    let shop_rule = create(
        &app,
        &ops,
        &rule_body(
            json!({"kind": "shop", "value": ann}),
            "5",
            json!({"USD": 0}),
        ),
    )
    .await;
    let at = now() + Duration::seconds(1);
    let id = |rule: &Value| rule["version"]["id"].as_str().unwrap().to_owned();

    let v = in_force(&app, &ann, Some("home-kitchen"), usd(), at)
        .await
        .unwrap();
    assert_eq!(v.id, id(&shop_rule), "shop beats category and platform");
    let v = in_force(&app, &bob, Some("home-kitchen"), usd(), at)
        .await
        .unwrap();
    assert_eq!(v.id, id(&category_rule), "category beats platform");
    let v = in_force(&app, &bob, Some("garden"), usd(), at)
        .await
        .unwrap();
    assert_eq!(v.id, id(&platform_rule), "platform otherwise");
    let v = in_force(&app, &bob, None, usd(), at).await.unwrap();
    assert_eq!(v.id, id(&platform_rule));
    // The shop rule does not price EUR, so the platform's does.
    let eur = Currency::parse("EUR").unwrap();
    let v = in_force(&app, &ann, Some("home-kitchen"), eur, at)
        .await
        .unwrap();
    assert_eq!(v.id, id(&platform_rule));
    // Nobody prices GBP.
    let gbp = Currency::parse("GBP").unwrap();
    assert_eq!(
        in_force(&app, &ann, None, gbp, at).await.unwrap_err(),
        "no_fee_rule"
    );

    // A second rule for a scope in force is refused.
    let response = post_as(
        &app,
        &ops,
        "/v1/fee_rules",
        &rule_body(platform(), "1", json!({"USD": 0})),
    )
    .await;
    assert_error(response, 409, "fee_rule_exists").await;
}

#[tokio::test]
async fn a_future_version_is_not_in_force_until_its_time_and_retirement_ends_the_rule() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    let shop = open_shop(&app, "future").await;
    assert_eq!(
        in_force(&app, &shop, None, usd(), now()).await.unwrap_err(),
        "no_fee_rule",
        "no rule is seeded"
    );

    let created = create(&app, &ops, &rule_body(platform(), "10", json!({"USD": 30}))).await;
    let rule_id = created["id"].as_str().unwrap().to_owned();
    let start = now();
    let tomorrow = Utc::now() + Duration::days(1);
    let response = post_as(
        &app,
        &ops,
        &format!("/v1/fee_rules/{rule_id}/versions"),
        &json!({"percentage": "20", "fixed": {"USD": 0}, "processing_fee_payer": "platform",
                "refund_fee_proportionally": true, "effective_from": tomorrow.to_rfc3339()}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let v2: Value = response.json().await.unwrap();

    let today = in_force(&app, &shop, None, usd(), start + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        today.id,
        created["version"]["id"].as_str().unwrap(),
        "the future version is not in force yet"
    );
    let later = in_force(&app, &shop, None, usd(), start + Duration::days(2))
        .await
        .unwrap();
    assert_eq!(later.id, v2["id"].as_str().unwrap());

    // Retire from three days on: in force until then, not after.
    let to = Utc::now() + Duration::days(3);
    let response = post_as(
        &app,
        &ops,
        &format!("/v1/fee_rules/{rule_id}/retire"),
        &json!({"effective_to": to.to_rfc3339()}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        in_force(&app, &shop, None, usd(), start + Duration::days(2))
            .await
            .is_ok()
    );
    assert_eq!(
        in_force(&app, &shop, None, usd(), start + Duration::days(4))
            .await
            .unwrap_err(),
        "no_fee_rule"
    );
}

#[tokio::test]
async fn retiring_a_rule_now_stops_it_and_frees_its_scope() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    let shop = open_shop(&app, "retire").await;
    let created = create(&app, &ops, &rule_body(platform(), "10", json!({"USD": 30}))).await;
    let rule_id = created["id"].as_str().unwrap().to_owned();
    let retire = format!("/v1/fee_rules/{rule_id}/retire");
    let response = post_as(&app, &ops, &retire, &json!({})).await;
    assert_eq!(response.status(), 200);
    let retired: Value = response.json().await.unwrap();
    assert!(retired["effective_to"].is_string());
    assert_error(
        post_as(&app, &ops, &retire, &json!({})).await,
        409,
        "fee_rule_retired",
    )
    .await;
    let response = post_as(
        &app,
        &ops,
        &format!("/v1/fee_rules/{rule_id}/versions"),
        &json!({"percentage": "1", "fixed": {"USD": 0}, "processing_fee_payer": "platform",
                "refund_fee_proportionally": true}),
    )
    .await;
    assert_error(response, 409, "fee_rule_retired").await;
    let preview = json!({"amount_minor": 1000, "currency": "USD", "shop_id": shop});
    assert_error(
        post_as(&app, &ops, "/v1/fee_rules/preview", &preview).await,
        422,
        "no_fee_rule",
    )
    .await;
    // The scope is free again; the old versions are still listed.
    create(&app, &ops, &rule_body(platform(), "7", json!({"USD": 0}))).await;
    let response = post_as(&app, &ops, "/v1/fee_rules/preview", &preview).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["breakdown"]["fee"]["minor"], 70);
    let list: Value = get_as(&app, &ops, "/v1/fee_rules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(list["data"][0]["current_version"], Value::Null);
}

#[tokio::test]
async fn bad_rules_are_refused_with_the_param_and_leave_nothing() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    let cases = [
        (
            rule_body(platform(), "100.5", json!({"USD": 0})),
            422,
            "invalid_value",
            "percentage",
        ),
        (
            rule_body(platform(), "1.23456", json!({"USD": 0})),
            422,
            "invalid_value",
            "percentage",
        ),
        (
            rule_body(platform(), "ten", json!({"USD": 0})),
            422,
            "invalid_value",
            "percentage",
        ),
        (
            rule_body(platform(), "10", json!({"USD": -1})),
            422,
            "invalid_value",
            "fixed.USD",
        ),
        (
            rule_body(platform(), "10", json!({})),
            422,
            "invalid_value",
            "fixed",
        ),
        (
            rule_body(platform(), "10", json!({"USD": 1.5})),
            422,
            "invalid_type",
            "fixed.USD",
        ),
        (
            rule_body(json!({"kind": "galaxy"}), "10", json!({"USD": 0})),
            422,
            "invalid_value",
            "scope.kind",
        ),
        (
            rule_body(json!({"kind": "category"}), "10", json!({"USD": 0})),
            422,
            "invalid_value",
            "scope.value",
        ),
        (
            rule_body(
                json!({"kind": "category", "value": "Not A Slug"}),
                "10",
                json!({"USD": 0}),
            ),
            422,
            "invalid_value",
            "scope.value",
        ),
        (
            rule_body(
                json!({"kind": "platform", "value": "x"}),
                "10",
                json!({"USD": 0}),
            ),
            422,
            "invalid_value",
            "scope.value",
        ),
        (
            rule_body(
                json!({"kind": "platform", "extra": 1}),
                "10",
                json!({"USD": 0}),
            ),
            422,
            "unknown_field",
            "scope.extra",
        ),
    ];
    for (body, status, code, param) in cases {
        let error = assert_error(
            post_as(&app, &ops, "/v1/fee_rules", &body).await,
            status,
            code,
        )
        .await;
        assert_eq!(error["param"], param, "{body}");
    }
    let mut min_over_max = rule_body(platform(), "10", json!({"USD": 0}));
    min_over_max["min_minor"] = json!(500);
    min_over_max["max_minor"] = json!(499);
    let error = assert_error(
        post_as(&app, &ops, "/v1/fee_rules", &min_over_max).await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "min_minor");
    let unknown_currency = rule_body(platform(), "10", json!({"XYZ": 0}));
    let error = assert_error(
        post_as(&app, &ops, "/v1/fee_rules", &unknown_currency).await,
        422,
        "unknown_currency",
    )
    .await;
    assert_eq!(error["param"], "fixed.XYZ");
    let mut past = rule_body(platform(), "10", json!({"USD": 0}));
    past["effective_from"] = json!("2020-01-01T00:00:00Z");
    let error = assert_error(
        post_as(&app, &ops, "/v1/fee_rules", &past).await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "effective_from");
    let mut unknown = rule_body(platform(), "10", json!({"USD": 0}));
    unknown["surprise"] = json!(true);
    assert_error(
        post_as(&app, &ops, "/v1/fee_rules", &unknown).await,
        422,
        "unknown_field",
    )
    .await;
    let no_shop = rule_body(
        json!({"kind": "shop", "value": "shop_nope"}),
        "10",
        json!({"USD": 0}),
    );
    assert_error(
        post_as(&app, &ops, "/v1/fee_rules", &no_shop).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        get_as(&app, &ops, "/v1/fee_rules/fr_nope").await,
        404,
        "not_found",
    )
    .await;
    let version = json!({"percentage": "1", "fixed": {"USD": 0}, "processing_fee_payer": "platform", "refund_fee_proportionally": true});
    assert_error(
        post_as(&app, &ops, "/v1/fee_rules/fr_nope/versions", &version).await,
        404,
        "not_found",
    )
    .await;
    let preview = json!({"amount_minor": -1, "currency": "USD", "shop_id": "x"});
    let error = assert_error(
        post_as(&app, &ops, "/v1/fee_rules/preview", &preview).await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "amount_minor");

    let list: Value = get_as(&app, &ops, "/v1/fee_rules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]), "nothing was saved");
}

#[tokio::test]
async fn operators_write_finance_reads_and_nobody_else_sees_fee_rules() {
    let app = TestApp::spawn().await;
    let people = everyone(&app).await;
    let by_role = |role: &str| people.iter().find(|p| p.role == role).unwrap().clone();
    let (ops, finance) = (by_role("operator"), by_role("finance"));
    let shop = open_shop(&app, "roles").await;
    let created = create(&app, &ops, &rule_body(platform(), "10", json!({"USD": 30}))).await;
    let rule_id = created["id"].as_str().unwrap().to_owned();
    let one = format!("/v1/fee_rules/{rule_id}");
    let preview = json!({"amount_minor": 1000, "currency": "USD", "shop_id": shop});
    let version = json!({"percentage": "1", "fixed": {"USD": 0}, "processing_fee_payer": "platform", "refund_fee_proportionally": true});

    for path in ["/v1/fee_rules", one.as_str()] {
        assert_eq!(
            get_as(&app, &finance, path).await.status(),
            200,
            "finance reads {path}"
        );
    }
    assert_eq!(
        post_as(&app, &finance, "/v1/fee_rules/preview", &preview)
            .await
            .status(),
        200
    );
    let writes = [
        (
            "/v1/fee_rules".to_owned(),
            rule_body(
                json!({"kind": "category", "value": "x"}),
                "1",
                json!({"USD": 0}),
            ),
        ),
        (format!("{one}/versions"), version.clone()),
        (format!("{one}/retire"), json!({})),
    ];
    for role in ["finance", "support", "seller", "buyer"] {
        let person = by_role(role);
        for (path, body) in &writes {
            assert_error(post_as(&app, &person, path, body).await, 403, "forbidden").await;
        }
        if role != "finance" {
            for path in ["/v1/fee_rules", one.as_str()] {
                assert_error(get_as(&app, &person, path).await, 403, "forbidden").await;
            }
            assert_error(
                post_as(&app, &person, "/v1/fee_rules/preview", &preview).await,
                403,
                "forbidden",
            )
            .await;
        }
    }
    assert_error(app.get("/v1/fee_rules").await, 401, "unauthenticated").await;
    // Nothing the refused callers sent was written.
    let rule: Value = get_as(&app, &ops, &one).await.json().await.unwrap();
    assert_eq!(rule["versions"].as_array().unwrap().len(), 1);
    assert_eq!(rule["effective_to"], Value::Null);
}

#[tokio::test]
async fn every_change_is_audited_with_its_actor_and_states() {
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    let created = create(&app, &ops, &rule_body(platform(), "10", json!({"USD": 30}))).await;
    let rule_id = created["id"].as_str().unwrap().to_owned();
    let version = json!({"percentage": "11", "fixed": {"USD": 30}, "processing_fee_payer": "platform", "refund_fee_proportionally": true});
    assert_eq!(
        post_as(
            &app,
            &ops,
            &format!("/v1/fee_rules/{rule_id}/versions"),
            &version
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        post_as(
            &app,
            &ops,
            &format!("/v1/fee_rules/{rule_id}/retire"),
            &json!({})
        )
        .await
        .status(),
        200
    );

    let pool = pool(&app);
    let (records, _) = tokio::task::spawn_blocking(move || {
        bazaar::auth::list_audit_log(&mut pool.get().unwrap(), 100, None).unwrap()
    })
    .await
    .unwrap();
    let find = |action: &str| {
        records
            .iter()
            .find(|r| r.action == action && r.subject == rule_id)
            .unwrap_or_else(|| panic!("no {action} row"))
            .clone()
    };
    let create_row = find("fee_rule.create");
    assert_eq!(
        create_row.actor_user_id.as_deref(),
        Some(ops.user_id.as_str())
    );
    assert!(create_row.request_id.is_some());
    assert_eq!(
        create_row.after.as_ref().unwrap()["versions"][0]["percentage"],
        "10"
    );
    let version_row = find("fee_rule.version");
    assert_eq!(version_row.before.as_ref().unwrap()["percentage"], "10");
    assert_eq!(version_row.after.as_ref().unwrap()["percentage"], "11");
    let retire_row = find("fee_rule.retire");
    assert_eq!(
        retire_row.before.as_ref().unwrap()["effective_to"],
        Value::Null
    );
    assert!(retire_row.after.as_ref().unwrap()["effective_to"].is_string());
}

#[tokio::test]
async fn stored_versions_cannot_be_edited_or_deleted() {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn().await;
    let ops = operator(&app).await;
    let created = create(&app, &ops, &rule_body(platform(), "10", json!({"USD": 30}))).await;
    let version_id = created["version"]["id"].as_str().unwrap().to_owned();
    let pool = pool(&app);
    let outcomes = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        [
            "UPDATE fee_rule_versions SET percentage = '1'",
            "DELETE FROM fee_rule_versions",
            "UPDATE fee_rule_fixed_amounts SET fixed_minor = 0",
            "DELETE FROM fee_rule_fixed_amounts",
        ]
        .map(|sql| diesel::sql_query(sql).execute(&mut conn).is_err())
    })
    .await
    .unwrap();
    assert_eq!(outcomes, [true; 4], "every edit refused");
    let rule: Value = get_as(
        &app,
        &ops,
        &format!("/v1/fee_rules/{}", created["id"].as_str().unwrap()),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(rule["versions"][0]["id"], version_id.as_str());
    assert_eq!(rule["versions"][0]["percentage"], "10");
    assert_eq!(rule["versions"][0]["fixed"], json!({"USD": 30}));
}

#[tokio::test]
async fn the_database_keeps_one_live_rule_per_scope_even_without_the_app_check() {
    use diesel::prelude::*;
    use diesel::result::{DatabaseErrorKind, Error};
    use diesel::sql_types::Text;
    let app = TestApp::spawn().await;
    let pool = common::people::pool(&app);
    let mut conn = pool.get().unwrap();
    let insert = |conn: &mut bazaar::db::DbConnection, id: &str| {
        diesel::sql_query(
            "INSERT INTO fee_rules (id, scope_kind, scope_value, effective_to, created_at) \
             VALUES ($1, 'category', 'books', NULL, CURRENT_TIMESTAMP)",
        )
        .bind::<Text, _>(id)
        .execute(conn)
    };
    insert(&mut conn, "fr_first").unwrap();
    let error = insert(&mut conn, "fr_second").unwrap_err();
    assert!(
        matches!(
            error,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
        ),
        "{error:?}"
    );
    // A retired rule no longer holds the scope.
    diesel::sql_query(
        "UPDATE fee_rules SET effective_to = CURRENT_TIMESTAMP WHERE id = 'fr_first'",
    )
    .execute(&mut conn)
    .unwrap();
    insert(&mut conn, "fr_second").unwrap();
}
