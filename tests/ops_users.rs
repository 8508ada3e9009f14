//! The console's users over HTTP, against the real app: support finds and
//! reads accounts but changes none; finance is refused and buyers and
//! sellers do not find the console; an operator changes a role, disables a
//! seller (whose session and API key stop at once and whose sign-in is
//! refused) and enables them again, each audited with the operator as the
//! actor; bad input is the form again with a 422 and nothing changed; the
//! stale list; staff sessions that end after `auth.staff_session_ttl_s`;
//! and the API endpoints behind the pages.

use crate::common;
use crate::web_support;

use chrono::{NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use bazaar::auth::schema::{sessions, users};
use common::people::{
    self, audit_rows, forget_used_step, get_as, get_with_token, operator, post_as, post_login,
    post_signup, signup, staff, unique_email, Person, PASSWORD,
};
use common::{assert_error, TestApp};
use web_support::{Browser, Page};

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// Runs `change` on the app's database (for moving time back).
async fn in_db(app: &TestApp, change: impl FnOnce(&mut bazaar::db::DbConnection) + Send + 'static) {
    let pool = people::pool(app);
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().expect("connection");
        change(&mut conn);
    })
    .await
    .unwrap();
}

/// A browser signed in to the console as the enrolled staff `person`.
async fn console<'a>(app: &'a TestApp, person: &Person) -> Browser<'a> {
    forget_used_step(app, person).await;
    web_support::console(app, person).await
}

/// The account as the API shows it to `who`.
async fn details(app: &TestApp, who: &Person, user_id: &str) -> Value {
    json_of(get_as(app, who, &format!("/v1/users/{user_id}")).await, 200).await
}

/// Audit rows of `action` about `subject`.
async fn audited(app: &TestApp, operator: &Person, action: &str, subject: &str) -> Vec<Value> {
    audit_rows(app, operator, action)
        .await
        .into_iter()
        .filter(|row| row["subject"] == subject)
        .collect()
}

/// A new API key of `person`'s (a seller).
async fn api_key(app: &TestApp, person: &Person) -> String {
    let created = json_of(
        post_as(app, person, "/v1/api_keys", &json!({"name": "sync"})).await,
        201,
    )
    .await;
    created["key"].as_str().unwrap().to_owned()
}

fn user_page(id: &str) -> String {
    format!("/ops/users/{id}")
}

#[tokio::test]
async fn support_finds_and_reads_users_but_changes_none() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let support = staff(&app, &operator, "support").await;
    let seller = signup(&app, "seller").await;
    let buyer = signup(&app, "buyer").await;
    let mut browser = console(&app, &support).await;

    let list = browser.get("/ops/users").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.shows(&format!(
        "<a href=\"/ops/users/{}\">{}</a>",
        seller.user_id, seller.email
    )));
    assert!(list.shows("aria-current=\"page\">Users</a>"));

    // Part of the address, in another case: only that account.
    let part = seller.email.split('@').next().unwrap().to_uppercase();
    let found = browser
        .get(&format!("/ops/users?email_contains={part}"))
        .await;
    assert_eq!(found.status, 200);
    assert!(found.shows(&seller.email), "{}", found.body);
    assert!(!found.shows(&buyer.email));
    // An unknown role in the search: the form again, the message beside it.
    let bad = browser.get("/ops/users?role=root").await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.shows("id=\"role-error\""), "{}", bad.body);
    let sellers = browser.get("/ops/users?role=seller").await;
    assert!(sellers.shows(&seller.email));
    assert!(!sellers.shows(&buyer.email));
    assert!(!sellers.shows(&operator.email));

    let page = browser.get(&user_page(&seller.user_id)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.text_of("<h1"), seller.email);
    assert!(page.shows("<dt>Role</dt><dd>Seller</dd>"));
    assert!(page.shows("<strong>Active</strong>"));
    assert!(
        !page.shows("Change the role"),
        "support may not change roles"
    );
    assert!(!page.shows("Disable the account"));

    // Hidden is not refused: the forms posted anyway are 403, and nothing changes.
    let refused = browser
        .submit(
            &user_page(&seller.user_id),
            &format!("/ops/users/{}/role", seller.user_id),
            &[("role", "operator")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let refused = browser
        .submit(
            &user_page(&seller.user_id),
            &format!("/ops/users/{}/disable", seller.user_id),
            &[("reason", "looks odd")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let account = details(&app, &support, &seller.user_id).await;
    assert_eq!(account["role"], "seller");
    assert_eq!(account["disabled_at"], Value::Null);
    assert_eq!(get_as(&app, &seller, "/v1/me").await.status(), 200);
    assert!(
        audited(&app, &operator, "user.role_change", &seller.user_id)
            .await
            .is_empty()
    );
    assert!(audited(&app, &operator, "user.disable", &seller.user_id)
        .await
        .is_empty());
    // And the API says the same.
    assert_error(
        post_as(
            &app,
            &support,
            &format!("/v1/users/{}/disable", seller.user_id),
            &json!({"reason": "x"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn finance_is_refused_and_buyers_and_sellers_do_not_find_the_console() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let finance = staff(&app, &operator, "finance").await;
    let seller = signup(&app, "seller").await;
    let buyer = signup(&app, "buyer").await;
    let target = user_page(&seller.user_id);

    let mut browser = console(&app, &finance).await;
    for path in ["/ops/users", "/ops/users/stale", target.as_str()] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
    }
    let home = browser.get("/ops").await;
    assert!(
        !home.shows("href=\"/ops/users\""),
        "no link finance may not follow"
    );
    let details_path = format!("/v1/users/{}", seller.user_id);
    for path in ["/v1/users/search", details_path.as_str()] {
        assert_error(get_as(&app, &finance, path).await, 403, "forbidden").await;
    }

    for person in [&seller, &buyer] {
        let mut browser = web_support::signed_in(&app, person).await;
        for path in ["/ops/users", target.as_str()] {
            let page = browser.get(path).await;
            assert_eq!(page.status, 404, "{} {path}", person.role);
        }
        assert_error(
            get_as(&app, person, "/v1/users/search").await,
            403,
            "forbidden",
        )
        .await;
    }

    let mut anonymous = Browser::new(&app);
    let page = anonymous.get(&target).await;
    assert_eq!(page.status, 303);
    assert!(
        page.location().starts_with("/signin?next="),
        "{}",
        page.location()
    );
}

#[tokio::test]
async fn an_operator_changes_a_role_and_bad_input_changes_nothing() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let seller = signup(&app, "seller").await;
    let mut browser = console(&app, &operator).await;
    let page_path = user_page(&seller.user_id);
    let action = format!("/ops/users/{}/role", seller.user_id);

    let page = browser.get(&page_path).await;
    assert!(page.shows("Change the role"));
    assert!(page.shows("Disable the account"));

    // An unknown role: the form again, the message beside the field.
    let refused = browser
        .submit(&page_path, &action, &[("role", "root")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("id=\"role-error\""), "{}", refused.body);
    assert!(refused.shows("There is a problem"));
    assert_eq!(
        details(&app, &operator, &seller.user_id).await["role"],
        "seller"
    );

    // Their own role: 409, unchanged.
    let own = browser
        .submit(
            &page_path,
            &format!("/ops/users/{}/role", operator.user_id),
            &[("role", "buyer")],
        )
        .await;
    assert_eq!(own.status, 409, "{}", own.body);
    assert_eq!(get_as(&app, &operator, "/v1/me").await.status(), 200);

    let done = browser
        .submit(&page_path, &action, &[("role", "support")])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), format!("{page_path}?done=role"));
    let after = browser.get(done.location()).await;
    assert!(after.shows("The role is changed"));
    assert!(after.shows("<dt>Role</dt><dd>Support</dd>"));

    let account = details(&app, &operator, &seller.user_id).await;
    assert_eq!(account["role"], "support");
    // Promoted to staff: the live session lasts at most 8 hours from now.
    let latest = Utc::now() + TimeDelta::seconds(28_800 + 60);
    for session in account["sessions"].as_array().unwrap() {
        let expires: chrono::DateTime<Utc> =
            session["expires_at"].as_str().unwrap().parse().unwrap();
        assert!(expires <= latest, "{session}");
    }
    let rows = audited(&app, &operator, "user.role_change", &seller.user_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor_user_id"], operator.user_id.as_str());
    assert_eq!(rows[0]["before"]["role"], "seller");
    assert_eq!(rows[0]["after"]["role"], "support");
}

#[tokio::test]
async fn disabling_a_seller_stops_their_session_and_key_at_once_and_enabling_restores_sign_in() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let seller = signup(&app, "seller").await;
    let key = api_key(&app, &seller).await;
    assert_eq!(get_with_token(&app, &key, "/v1/me").await.status(), 200);
    let mut browser = console(&app, &operator).await;
    let page_path = user_page(&seller.user_id);
    let disable = format!("/ops/users/{}/disable", seller.user_id);

    // No reason: 422 beside the field, nothing changed.
    let refused = browser
        .submit(&page_path, &disable, &[("reason", "  ")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("id=\"reason-error\""), "{}", refused.body);
    assert_eq!(get_as(&app, &seller, "/v1/me").await.status(), 200);
    assert!(audited(&app, &operator, "user.disable", &seller.user_id)
        .await
        .is_empty());

    let done = browser
        .submit(&page_path, &disable, &[("reason", "Chargeback fraud")])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let page = browser.get(done.location()).await;
    assert!(page.shows("<strong>Disabled</strong>"), "{}", page.body);
    assert!(page.shows("Chargeback fraud"));
    assert!(page.shows("Enable the account"));
    assert!(page.shows("No live sessions."));

    // At once: the session and the key are refused, and sign-in says why
    // only to the owner of the password.
    assert_error(
        get_as(&app, &seller, "/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        get_with_token(&app, &key, "/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
    assert_error(
        post_login(&app, &seller.email, PASSWORD, None).await,
        403,
        "account_disabled",
    )
    .await;
    assert_error(
        post_login(&app, &seller.email, "not the password at all", None).await,
        401,
        "invalid_credentials",
    )
    .await;
    let mut web = Browser::new(&app);
    let signin = web
        .submit(
            "/signin",
            "/signin",
            &[
                ("email", seller.email.as_str()),
                ("password", PASSWORD),
                ("next", "/seller"),
            ],
        )
        .await;
    assert_eq!(signin.status, 403, "{}", signin.body);
    assert!(!web.cookies.contains_key("bz_session"));

    let rows = audited(&app, &operator, "user.disable", &seller.user_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor_user_id"], operator.user_id.as_str());
    assert_eq!(rows[0]["before"]["disabled"], false);
    assert_eq!(rows[0]["after"]["reason"], "Chargeback fraud");
    assert_eq!(rows[0]["after"]["sessions_ended"], 1);
    let account = details(&app, &operator, &seller.user_id).await;
    assert!(account["disabled_at"].is_string());
    assert_eq!(account["disabled_reason"], "Chargeback fraud");
    assert_eq!(account["sessions"], json!([]));
    assert_eq!(account["api_keys"].as_array().unwrap().len(), 1);
    assert_eq!(account["api_keys"][0]["revoked_at"], Value::Null);

    let done = browser
        .submit(
            &page_path,
            &format!("/ops/users/{}/enable", seller.user_id),
            &[],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), format!("{page_path}?done=enabled"));
    assert_eq!(
        post_login(&app, &seller.email, PASSWORD, None)
            .await
            .status(),
        201
    );
    assert_eq!(get_with_token(&app, &key, "/v1/me").await.status(), 200);
    let rows = audited(&app, &operator, "user.enable", &seller.user_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor_user_id"], operator.user_id.as_str());
    assert_eq!(rows[0]["before"]["reason"], "Chargeback fraud");
}

#[tokio::test]
async fn operators_cannot_disable_themselves() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let mut browser = console(&app, &operator).await;
    let own = user_page(&operator.user_id);
    let page = browser.get(&own).await;
    assert!(page.shows("This is your own account"));
    assert!(!page.shows("Disable the account"));
    let refused = browser
        .submit(
            &own,
            &format!("/ops/users/{}/disable", operator.user_id),
            &[("reason", "testing")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.shows("cannot disable their own account"),
        "{}",
        refused.body
    );
    assert_error(
        post_as(
            &app,
            &operator,
            &format!("/v1/users/{}/disable", operator.user_id),
            &json!({"reason": "testing"}),
        )
        .await,
        409,
        "cannot_disable_self",
    )
    .await;
    assert_eq!(get_as(&app, &operator, "/v1/me").await.status(), 200);
    assert_eq!(browser.get("/ops/users").await.status, 200);
    assert!(audited(&app, &operator, "user.disable", &operator.user_id)
        .await
        .is_empty());
}

/// Moves `user_id`'s creation `days` back.
async fn made_days_ago(app: &TestApp, user_id: &str, days: i64) {
    let user_id = user_id.to_owned();
    in_db(app, move |conn| {
        let then: NaiveDateTime = (Utc::now() - TimeDelta::days(days)).naive_utc();
        diesel::update(users::table.find(user_id))
            .set(users::created_at.eq(then))
            .execute(conn)
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_stale_list_shows_old_accounts_nobody_signed_in_to() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let support = staff(&app, &operator, "support").await;

    // Never signed in (an address never confirmed), made 100 days ago.
    let old_email = unique_email("dormant");
    assert_eq!(
        post_signup(&app, &old_email, PASSWORD, "buyer")
            .await
            .status(),
        202
    );
    let old = json_of(
        get_as(
            &app,
            &support,
            &format!("/v1/users?email={}", old_email.replace('@', "%40")),
        )
        .await,
        200,
    )
    .await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    made_days_ago(&app, &old, 100).await;
    // Never signed in, but new.
    let fresh_email = unique_email("fresh");
    assert_eq!(
        post_signup(&app, &fresh_email, PASSWORD, "buyer")
            .await
            .status(),
        202
    );
    // Old, but signed in today.
    let active = signup(&app, "seller").await;
    made_days_ago(&app, &active.user_id, 100).await;
    // Old and never signed in, but already disabled.
    let disabled_email = unique_email("gone");
    assert_eq!(
        post_signup(&app, &disabled_email, PASSWORD, "buyer")
            .await
            .status(),
        202
    );
    let disabled = json_of(
        get_as(
            &app,
            &support,
            &format!("/v1/users?email={}", disabled_email.replace('@', "%40")),
        )
        .await,
        200,
    )
    .await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    made_days_ago(&app, &disabled, 100).await;
    json_of(
        post_as(
            &app,
            &operator,
            &format!("/v1/users/{disabled}/disable"),
            &json!({"reason": "spam"}),
        )
        .await,
        200,
    )
    .await;

    let mut browser = console(&app, &support).await;
    let page = browser.get("/ops/users/stale").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.text_of("<h1"), "Stale accounts");
    assert!(
        page.shows(&format!("<a href=\"/ops/users/{old}\">{old_email}</a>")),
        "{}",
        page.body
    );
    assert!(!page.shows(&fresh_email));
    assert!(!page.shows(&active.email));
    assert!(!page.shows(&disabled_email));
    assert!(page.shows("90 days"));

    let stale = json_of(
        get_as(&app, &support, "/v1/users/search?stale=true").await,
        200,
    )
    .await;
    let ids: Vec<&str> = stale["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![old.as_str()]);
    assert_eq!(stale["data"][0]["last_sign_in_at"], Value::Null);
}

/// A form posted with the browser's cookies and `origin`.
async fn post_from(browser: &Browser<'_>, origin: &str, path: &str, form: &[(&str, &str)]) -> u16 {
    let cookies = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    browser
        .app
        .client
        .post(format!("{}{path}", browser.app.address))
        .header("accept", "text/html")
        .header("cookie", cookies)
        .header("origin", origin)
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_site_change_nothing() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let seller = signup(&app, "seller").await;
    let mut browser = console(&app, &operator).await;
    let page: Page = browser.get(&user_page(&seller.user_id)).await;
    let token = page.input("csrf_token");
    let disable = format!("/ops/users/{}/disable", seller.user_id);
    let role = format!("/ops/users/{}/role", seller.user_id);

    let no_token = browser.post(&disable, &[("reason", "forged")]).await;
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let no_token = browser.post(&role, &[("role", "operator")]).await;
    assert_eq!(no_token.status, 403);
    let foreign = post_from(
        &browser,
        "https://evil.example",
        &disable,
        &[("csrf_token", token.as_str()), ("reason", "forged")],
    )
    .await;
    assert_eq!(foreign, 403);

    let account = details(&app, &operator, &seller.user_id).await;
    assert_eq!(account["role"], "seller");
    assert_eq!(account["disabled_at"], Value::Null);
    assert_eq!(get_as(&app, &seller, "/v1/me").await.status(), 200);
}

#[tokio::test]
async fn the_api_searches_pages_and_reads_users() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let support = staff(&app, &operator, "support").await;
    let tag = format!("pager{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let mut made = Vec::new();
    for _ in 0..3 {
        let email = unique_email(&tag);
        assert_eq!(
            post_signup(&app, &email, PASSWORD, "seller").await.status(),
            202
        );
        made.push(email);
    }
    // Newest first, one a page, by part of the address in any case.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!(
            "/v1/users/search?limit=1&role=seller&email_contains={}",
            tag.to_uppercase()
        );
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let page = json_of(get_as(&app, &support, &path).await, 200).await;
        for user in page["data"].as_array().unwrap() {
            assert_eq!(user["role"], "seller");
            seen.push(user["email"].as_str().unwrap().to_owned());
        }
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
        assert!(seen.len() <= 3, "the pages end");
    }
    made.reverse();
    assert_eq!(seen, made);

    assert_error(
        get_as(&app, &support, "/v1/users/search?role=root").await,
        422,
        "invalid_role",
    )
    .await;
    assert_error(
        get_as(&app, &support, "/v1/users/search?after=nope").await,
        422,
        "invalid_cursor",
    )
    .await;
    assert_error(
        get_as(&app, &support, "/v1/users/search?limit=0").await,
        422,
        "invalid_limit",
    )
    .await;
    assert_error(
        get_as(&app, &support, "/v1/users/usr_nobody").await,
        404,
        "not_found",
    )
    .await;

    // The details: role, second factor, last sign-in, live sessions, keys.
    let seller = signup(&app, "seller").await;
    api_key(&app, &seller).await;
    let account = details(&app, &support, &seller.user_id).await;
    assert_eq!(account["email"], seller.email.as_str());
    assert_eq!(account["totp_enrolled"], false);
    assert!(account["email_verified_at"].is_string());
    assert!(account["last_sign_in_at"].is_string());
    assert_eq!(account["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(account["api_keys"][0]["name"], "sync");
    let support_self = details(&app, &support, &support.user_id).await;
    assert_eq!(support_self["totp_enrolled"], true);

    // Disable and enable: operators only; an unknown user is 404.
    let path = format!("/v1/users/{}/disable", seller.user_id);
    assert_error(
        post_as(&app, &seller, &path, &json!({"reason": "x"})).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        post_as(&app, &operator, &path, &json!({"reason": ""})).await,
        422,
        "invalid_reason",
    )
    .await;
    assert_error(
        post_as(
            &app,
            &operator,
            "/v1/users/usr_nobody/disable",
            &json!({"reason": "x"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let disabled = json_of(
        post_as(&app, &operator, &path, &json!({"reason": "x"})).await,
        200,
    )
    .await;
    assert!(disabled["disabled_at"].is_string());
    let enable = format!("/v1/users/{}/enable", seller.user_id);
    assert_error(
        post_as(&app, &support, &enable, &json!({})).await,
        403,
        "forbidden",
    )
    .await;
    let enabled = json_of(post_as(&app, &operator, &enable, &json!({})).await, 200).await;
    assert_eq!(enabled["disabled_at"], Value::Null);
}

/// Seconds from now until `expires_at` (RFC 3339).
fn seconds_left(expires_at: &Value) -> i64 {
    let at: chrono::DateTime<Utc> = expires_at.as_str().unwrap().parse().unwrap();
    (at - Utc::now()).num_seconds()
}

#[tokio::test]
async fn staff_sessions_and_their_cookie_last_the_staff_ttl_and_then_end() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let seller = signup(&app, "seller").await;
    let seller_login = json_of(post_login(&app, &seller.email, PASSWORD, None).await, 201).await;
    let left = seconds_left(&seller_login["expires_at"]);
    assert!((604_800 - 60..=604_800).contains(&left), "{left}");
    forget_used_step(&app, &operator).await;
    let code = people::next_code(&operator);
    let staff_login = json_of(
        post_login(&app, &operator.email, PASSWORD, Some(&code)).await,
        201,
    )
    .await;
    let left = seconds_left(&staff_login["expires_at"]);
    assert!((28_800 - 60..=28_800).contains(&left), "{left}");

    // The console's cookie lives as long as its session.
    forget_used_step(&app, &operator).await;
    let mut browser = Browser::new(&app);
    let code = people::next_code(&operator);
    let signin = browser
        .submit(
            "/signin",
            "/signin",
            &[
                ("email", operator.email.as_str()),
                ("password", PASSWORD),
                ("totp_code", code.as_str()),
                ("next", "/ops"),
            ],
        )
        .await;
    assert_eq!(signin.status, 303, "{}", signin.body);
    let cookie = signin.header("set-cookie");
    assert!(cookie.contains("Max-Age=28800"), "{cookie}");
    assert_eq!(browser.get("/ops/users").await.status, 200);

    // Eight hours later (the sessions' clock moved back), it has ended.
    let token = browser.session_token();
    let user_id = operator.user_id.clone();
    in_db(&app, move |conn| {
        let now = Utc::now().naive_utc();
        let rows: Vec<(String, NaiveDateTime)> = sessions::table
            .filter(sessions::user_id.eq(&user_id))
            .select((sessions::id, sessions::created_at))
            .load(conn)
            .unwrap();
        for (id, created_at) in rows {
            let back = TimeDelta::seconds(28_801);
            diesel::update(sessions::table.find(id))
                .set((
                    sessions::created_at.eq(created_at - back),
                    sessions::expires_at.eq(now - TimeDelta::seconds(1)),
                ))
                .execute(conn)
                .unwrap();
        }
    })
    .await;
    assert_error(
        get_with_token(&app, &token, "/v1/me").await,
        401,
        "unauthenticated",
    )
    .await;
    let page = browser.get("/ops/users").await;
    assert_eq!(page.status, 303);
    assert!(
        page.location().starts_with("/signin"),
        "{}",
        page.location()
    );
}

#[tokio::test]
async fn the_staff_session_ttl_is_configurable() {
    let app = TestApp::spawn_with(&[("BAZAAR__AUTH__STAFF_SESSION_TTL_S", "120")], |_| {}).await;
    let operator = operator(&app).await;
    forget_used_step(&app, &operator).await;
    let code = people::next_code(&operator);
    let login = json_of(
        post_login(&app, &operator.email, PASSWORD, Some(&code)).await,
        201,
    )
    .await;
    let left = seconds_left(&login["expires_at"]);
    assert!((60..=120).contains(&left), "{left}");
}
