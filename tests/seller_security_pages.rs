//! The workspace's security page over HTTP, against the real app: API keys
//! made, shown once, used (and seen used), and revoked from the page;
//! refusals beside their fields; another account's key and shop answered
//! with 404 pages; forms without their CSRF token refused; two-step sign-in
//! turned on from the page, after which the web sign-in asks for the code.

use crate::common;
use crate::web_support;

use serde_json::{json, Value};

use common::people::{
    get_as, get_with_token, post_as, signup, totp_code, unix_now, Person, PASSWORD,
};
use common::TestApp;
use web_support::{Browser, Page};

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// A seller (signed in through the API) and the id of a shop they opened.
async fn seller_with_shop(app: &TestApp) -> (Person, String) {
    let seller = signup(app, "seller").await;
    let slug = format!("kiln-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let shop = json_of(
        post_as(
            app,
            &seller,
            "/v1/shops",
            &json!({"name": "Kiln", "slug": slug, "country": "US", "default_currency": "USD", "support_email": "k@kiln.example"}),
        )
        .await,
        201,
    )
    .await;
    (seller, shop["id"].as_str().unwrap().to_owned())
}

async fn sign_in_page<'a>(
    app: &'a TestApp,
    email: &str,
    code: Option<&str>,
) -> (Browser<'a>, Page) {
    let mut browser = Browser::new(app);
    let mut fields = vec![
        ("email", email),
        ("password", PASSWORD),
        ("next", "/seller"),
    ];
    if let Some(code) = code {
        fields.push(("totp_code", code));
    }
    let page = browser.submit("/signin", "/signin", &fields).await;
    (browser, page)
}

async fn signed_in<'a>(app: &'a TestApp, seller: &Person) -> Browser<'a> {
    let (browser, page) = sign_in_page(app, &seller.email, None).await;
    assert_eq!(page.status, 303, "{}", page.body);
    browser
}

async fn keys_of(app: &TestApp, seller: &Person) -> Vec<Value> {
    json_of(get_as(app, seller, "/v1/api_keys").await, 200).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_key_made_on_the_page_is_shown_once_then_used_seen_used_and_revoked() {
    let app = TestApp::spawn().await;
    let (seller, shop_id) = seller_with_shop(&app).await;
    let mut browser = signed_in(&app, &seller).await;
    let page = format!("/seller/shops/{shop_id}/security");

    let empty = browser.get(&page).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert!(empty.shows("You have no API keys."), "{}", empty.body);
    assert!(
        empty.shows("aria-current=\"page\">Security</a>"),
        "the Security tab is current: {}",
        empty.body
    );

    let created = browser
        .submit(
            &page,
            &format!("{page}/keys"),
            &[("name", "Stock sync"), ("expires_in_days", "")],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.location().is_empty(), "rendered, not redirected");
    assert!(
        created.header("cache-control").contains("no-store"),
        "{}",
        created.header("cache-control")
    );
    assert!(
        created.shows("it will not be shown again"),
        "{}",
        created.body
    );
    let key = created.text_of("<code class=\"secret\" id=\"new-key\"");
    assert!(key.starts_with("bzk_"), "{key}");

    // Shown once: the page never shows it again.
    let listed = browser.get(&page).await;
    assert!(listed.shows("Stock sync"), "{}", listed.body);
    assert!(!listed.shows(&key), "the secret is shown once only");
    assert!(listed.shows("Revoke<span class=\"visually-hidden\"> key Stock sync</span>"));
    assert!(
        !listed.shows(" UTC</td>"),
        "never used yet: {}",
        listed.body
    );

    // The key works, and its use is recorded (in the API and on the page).
    let keys = json_of(get_with_token(&app, &key, "/v1/api_keys").await, 200).await;
    let row = &keys["data"][0];
    assert_eq!(row["name"], "Stock sync");
    assert!(row["last_used_at"].is_string(), "{row}");
    let key_id = row["id"].as_str().unwrap().to_owned();
    let used = browser.get(&page).await;
    assert!(used.shows(" UTC</td>"), "last used shown: {}", used.body);

    let revoked = browser
        .submit(&page, &format!("{page}/keys/{key_id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    let after = browser.get(revoked.location()).await;
    assert!(after.shows("The key is revoked."), "{}", after.body);
    assert!(after.shows("You have no API keys."), "{}", after.body);
    let refused = get_with_token(&app, &key, "/v1/api_keys").await;
    assert_eq!(refused.status(), 401);
    // Revoking it again is the 404 page: the domain's answer.
    let again = browser
        .submit(&page, &format!("{page}/keys/{key_id}/revoke"), &[])
        .await;
    assert_eq!(again.status, 404, "{}", again.body);
}

#[tokio::test]
async fn a_bad_name_or_life_is_refused_beside_its_field_and_makes_no_key() {
    let app = TestApp::spawn().await;
    let (seller, shop_id) = seller_with_shop(&app).await;
    let mut browser = signed_in(&app, &seller).await;
    let page = format!("/seller/shops/{shop_id}/security");
    let long = "n".repeat(101);
    for (name, days, field) in [
        ("   ", "", "name"),
        (long.as_str(), "", "name"),
        ("Good name", "0", "expires_in_days"),
        ("Good name", "soon", "expires_in_days"),
    ] {
        let refused = browser
            .submit(
                &page,
                &format!("{page}/keys"),
                &[("name", name), ("expires_in_days", days)],
            )
            .await;
        assert_eq!(refused.status, 422, "{name:?} {days:?}: {}", refused.body);
        assert!(
            refused.shows(&format!("id=\"{field}-error\"")),
            "{}",
            refused.body
        );
        assert!(refused.shows("aria-invalid=\"true\""));
        assert!(!refused.shows("it will not be shown again"));
    }
    assert!(keys_of(&app, &seller).await.is_empty(), "no key made");
    // A valid life is the domain's: 365 days at most, and shown.
    let made = browser
        .submit(
            &page,
            &format!("{page}/keys"),
            &[("name", "Yearly"), ("expires_in_days", "365")],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let keys = keys_of(&app, &seller).await;
    assert_eq!(keys.len(), 1);
    assert!(keys[0]["expires_at"].is_string());
}

#[tokio::test]
async fn another_accounts_key_and_shop_are_404_pages_and_the_key_keeps_working() {
    let app = TestApp::spawn().await;
    let (ann, ann_shop) = seller_with_shop(&app).await;
    let (bob, bob_shop) = seller_with_shop(&app).await;
    let ann_key = json_of(
        post_as(&app, &ann, "/v1/api_keys", &json!({"name": "Ann's sync"})).await,
        201,
    )
    .await;
    let (key_id, key) = (
        ann_key["id"].as_str().unwrap(),
        ann_key["key"].as_str().unwrap(),
    );
    let mut browser = signed_in(&app, &bob).await;
    let bob_page = format!("/seller/shops/{bob_shop}/security");
    let not_found = browser
        .submit(&bob_page, &format!("{bob_page}/keys/{key_id}/revoke"), &[])
        .await;
    assert_eq!(not_found.status, 404, "{}", not_found.body);
    assert!(not_found.shows("Page not found"), "{}", not_found.body);
    assert_eq!(
        get_with_token(&app, key, "/v1/api_keys").await.status(),
        200
    );

    // Ann's shop is not Bob's: its security page and forms are 404 pages.
    let ann_page = format!("/seller/shops/{ann_shop}/security");
    assert_eq!(browser.get(&ann_page).await.status, 404);
    let posted = browser
        .submit(&bob_page, &format!("{ann_page}/keys"), &[("name", "Mine")])
        .await;
    assert_eq!(posted.status, 404, "{}", posted.body);
    let posted = browser
        .submit(&bob_page, &format!("{ann_page}/keys/{key_id}/revoke"), &[])
        .await;
    assert_eq!(posted.status, 404, "{}", posted.body);
    assert_eq!(
        get_with_token(&app, key, "/v1/api_keys").await.status(),
        200
    );
    assert!(keys_of(&app, &bob).await.is_empty());
    // Bob's own page does not list Ann's key.
    let own = browser.get(&bob_page).await;
    assert!(!own.shows("Ann&#x27;s sync") && !own.shows("Ann's sync"));
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let (seller, shop_id) = seller_with_shop(&app).await;
    let mut browser = signed_in(&app, &seller).await;
    let page = format!("/seller/shops/{shop_id}/security");
    let key = json_of(
        post_as(&app, &seller, "/v1/api_keys", &json!({"name": "Kept"})).await,
        201,
    )
    .await;
    let key_id = key["id"].as_str().unwrap();
    for (path, form) in [
        (format!("{page}/keys"), vec![("name", "Forged")]),
        (format!("{page}/keys/{key_id}/revoke"), vec![]),
        (format!("{page}/totp"), vec![]),
        (format!("{page}/totp/confirm"), vec![("code", "123456")]),
        (
            format!("{page}/totp/disable"),
            vec![("password", PASSWORD), ("disable_code", "123456")],
        ),
    ] {
        let refused = browser.post(&path, &form).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        let zeros = "0".repeat(64);
        let mut forged_form = vec![("csrf_token", zeros.as_str())];
        forged_form.extend_from_slice(&form);
        let forged = browser.post(&path, &forged_form).await;
        assert_eq!(forged.status, 403, "{path}: {}", forged.body);
    }
    let keys = keys_of(&app, &seller).await;
    assert_eq!(keys.len(), 1, "nothing made, nothing revoked");
    assert_eq!(keys[0]["name"], "Kept");
    let me = json_of(get_as(&app, &seller, "/v1/me").await, 200).await;
    assert_eq!(me["totp_enrolled"], false);
}

#[tokio::test]
async fn two_step_sign_in_is_turned_on_from_the_page_and_then_asked_for() {
    let app = TestApp::spawn().await;
    let (seller, shop_id) = seller_with_shop(&app).await;
    let mut browser = signed_in(&app, &seller).await;
    let page = format!("/seller/shops/{shop_id}/security");
    let off = browser.get(&page).await;
    assert!(off.shows("Two-step sign-in is off."), "{}", off.body);

    let started = browser.submit(&page, &format!("{page}/totp"), &[]).await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert!(started.header("cache-control").contains("no-store"));
    assert!(started.shows("Add Bazaar to your authenticator app"));
    let secret = started.input("secret");
    let grouped = started.text_of("<code class=\"secret\" id=\"totp-secret\"");
    assert_eq!(grouped.replace(' ', ""), secret, "grouped for reading");
    assert!(started.shows("otpauth://totp/"), "{}", started.body);
    assert!(
        started.shows("role=\"img\" aria-label=\"QR code"),
        "a QR code: {}",
        started.body
    );
    assert!(started.shows("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    let csrf = started.input("csrf_token");
    let url = started.input("otpauth_url");

    let right = totp_code(&secret, unix_now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let confirm = format!("{page}/totp/confirm");
    let refused = browser
        .post(
            &confirm,
            &[
                ("csrf_token", csrf.as_str()),
                ("code", wrong),
                ("secret", secret.as_str()),
                ("otpauth_url", url.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("id=\"code-error\""), "{}", refused.body);
    assert!(refused.shows(&secret), "the enrolment is shown again");
    let me = json_of(get_as(&app, &seller, "/v1/me").await, 200).await;
    assert_eq!(me["totp_enrolled"], false, "a wrong code enrols nothing");

    let right = totp_code(&secret, unix_now());
    let confirmed = browser
        .post(
            &confirm,
            &[
                ("csrf_token", csrf.as_str()),
                ("code", right.as_str()),
                ("secret", secret.as_str()),
                ("otpauth_url", url.as_str()),
            ],
        )
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    let on = browser.get(confirmed.location()).await;
    assert!(on.shows("Two-step sign-in is on."), "{}", on.body);
    assert!(!on.shows("Turn on two-step sign-in"));
    let me = json_of(get_as(&app, &seller, "/v1/me").await, 200).await;
    assert_eq!(me["totp_enrolled"], true);

    // The password alone no longer opens the workspace: the form asks for the code.
    let (mut stranger, asked) = sign_in_page(&app, &seller.email, None).await;
    assert_eq!(asked.status, 401, "{}", asked.body);
    assert!(asked.shows("id=\"totp_code\""), "{}", asked.body);
    assert!(asked.shows("id=\"totp_code-error\""), "{}", asked.body);
    assert!(!stranger.cookies.contains_key("bz_session"));
    assert_eq!(stranger.get(&page).await.status, 303, "still signed out");
    let (_, wrong_code) = sign_in_page(&app, &seller.email, Some(wrong)).await;
    assert_eq!(wrong_code.status, 401, "{}", wrong_code.body);
    assert!(wrong_code.shows("id=\"totp_code-error\""));

    // The confirming code's step is used up: the next step's code signs in.
    let next = totp_code(&secret, unix_now() + 30);
    let (mut owner, signed) = sign_in_page(&app, &seller.email, Some(&next)).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), "/seller");
    assert!(owner.cookies.contains_key("bz_session"));
    assert_eq!(owner.get(&page).await.status, 200);
}

#[tokio::test]
async fn two_step_sign_in_is_turned_off_with_the_password_and_a_fresh_code() {
    let app = TestApp::spawn().await;
    let (seller, shop_id) = seller_with_shop(&app).await;
    let started = json_of(post_as(&app, &seller, "/v1/me/totp", &json!({})).await, 201).await;
    let secret = started["secret"].as_str().unwrap().to_owned();
    let earlier = totp_code(&secret, unix_now() - 30);
    let body = json!({ "code": earlier });
    json_of(
        post_as(&app, &seller, "/v1/me/totp/confirm", &body).await,
        200,
    )
    .await;

    let mut browser = Browser::new(&app);
    let signed = browser
        .submit(
            "/signin",
            "/signin",
            &[
                ("email", seller.email.as_str()),
                ("password", PASSWORD),
                ("totp_code", totp_code(&secret, unix_now()).as_str()),
                ("next", "/seller"),
            ],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let page = format!("/seller/shops/{shop_id}/security");
    let shown = browser.get(&page).await;
    assert!(shown.shows("Turn off two-step sign-in"), "{}", shown.body);
    let disable = format!("{page}/totp/disable");
    let enrolled = |me: Value| me["totp_enrolled"] == true;

    // A wrong password: refused beside its field, whatever the code.
    let now = totp_code(&secret, unix_now() + 30);
    let refused = browser
        .submit(
            &page,
            &disable,
            &[
                ("password", "not-the-password"),
                ("disable_code", now.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.shows("id=\"password-error\""), "{}", refused.body);
    assert!(enrolled(
        json_of(get_as(&app, &seller, "/v1/me").await, 200).await
    ));
    // A code already used (the one that confirmed the enrolment) is refused.
    let replayed = browser
        .submit(
            &page,
            &disable,
            &[("password", PASSWORD), ("disable_code", earlier.as_str())],
        )
        .await;
    assert_eq!(replayed.status, 422, "{}", replayed.body);
    assert!(
        replayed.shows("id=\"disable_code-error\""),
        "{}",
        replayed.body
    );
    assert!(enrolled(
        json_of(get_as(&app, &seller, "/v1/me").await, 200).await
    ));

    // The password and a fresh code: off, and the sign-in asks for no code.
    let off = browser
        .submit(
            &page,
            &disable,
            &[("password", PASSWORD), ("disable_code", now.as_str())],
        )
        .await;
    assert_eq!(off.status, 303, "{}", off.body);
    assert_eq!(off.location(), format!("{page}?done=totp_off"));
    let after = browser.get(off.location()).await;
    assert!(after.shows("Two-step sign-in is off."), "{}", after.body);
    assert!(after.shows("Turn on two-step sign-in"));
    assert!(!enrolled(
        json_of(get_as(&app, &seller, "/v1/me").await, 200).await
    ));
    let (_, password_only) = sign_in_page(&app, &seller.email, None).await;
    assert_eq!(password_only.status, 303, "{}", password_only.body);
    // Once off, the API says so.
    let body = json!({ "password": PASSWORD, "code": now });
    common::assert_error(
        post_as(&app, &seller, "/v1/me/totp/disable", &body).await,
        409,
        "totp_not_enrolled",
    )
    .await;
}
