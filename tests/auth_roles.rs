//! Who may call what, role changes by operators, and the audit log itself.

use crate::common;

use common::people::{
    audit_rows, everyone, get_as, operator, pool, post_as, signup, staff, step_up, unique_email,
    Person,
};
use common::{assert_error, TestApp};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy)]
enum Call {
    Me,
    ListApiKeys,
    CreateApiKey,
    FindUsers,
    ChangeRole,
    AuditLog,
}

/// Expected status per role: buyer, seller, finance, support, operator; and anonymous.
const MATRIX: [(Call, [u16; 5], u16); 6] = [
    (Call::Me, [200, 200, 200, 200, 200], 401),
    (Call::ListApiKeys, [403, 200, 200, 200, 200], 401),
    (Call::CreateApiKey, [403, 201, 201, 201, 201], 401),
    (Call::FindUsers, [403, 403, 403, 200, 200], 401),
    (Call::ChangeRole, [403, 403, 403, 403, 200], 401),
    (Call::AuditLog, [403, 403, 403, 403, 200], 401),
];

async fn call(app: &TestApp, who: Option<&Person>, call: Call, target: &str) -> reqwest::Response {
    let (method, path, body) = match call {
        Call::Me => ("GET", "/v1/me".to_owned(), None),
        Call::ListApiKeys => ("GET", "/v1/api_keys".to_owned(), None),
        Call::CreateApiKey => (
            "POST",
            "/v1/api_keys".to_owned(),
            Some(json!({"name": "k"})),
        ),
        Call::FindUsers => (
            "GET",
            "/v1/users?email=someone%40example.com".to_owned(),
            None,
        ),
        Call::ChangeRole => (
            "POST",
            format!("/v1/users/{target}/role"),
            Some(json!({"role": "seller"})),
        ),
        Call::AuditLog => ("GET", "/v1/audit_log".to_owned(), None),
    };
    let url = format!("{}{path}", app.address);
    let mut request = match method {
        "GET" => app.client.get(url),
        _ => app.client.post(url).json(&body.unwrap()),
    };
    if let Some(person) = who {
        request = request.bearer_auth(&person.token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn each_role_against_each_auth_endpoint() {
    let app = TestApp::spawn().await;
    let people = everyone(&app).await;
    let target = signup(&app, "buyer").await;
    for (endpoint, expected, anonymous) in MATRIX {
        for (person, status) in people.iter().zip(expected) {
            // Staff create keys with the step up: a TOTP session and a fresh code.
            let response = if matches!(endpoint, Call::CreateApiKey) && person.totp_secret.is_some()
            {
                let (person, code) = step_up(&app, person).await;
                let body = json!({"name": "k", "totp_code": code});
                post_as(&app, &person, "/v1/api_keys", &body).await
            } else {
                call(&app, Some(person), endpoint, &target.user_id).await
            };
            assert_eq!(
                response.status().as_u16(),
                status,
                "{endpoint:?} as {}",
                person.role
            );
            if status == 403 {
                assert_error(response, 403, "forbidden").await;
            }
        }
        let response = call(&app, None, endpoint, &target.user_id).await;
        assert_eq!(
            response.status().as_u16(),
            anonymous,
            "{endpoint:?} anonymously"
        );
    }
}

#[tokio::test]
async fn an_operator_changes_a_role_and_it_is_audited() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let ann = signup(&app, "seller").await;
    let path = format!("/v1/users/{}/role", ann.user_id);

    let response = post_as(&app, &operator, &path, &json!({"role": "support"})).await;
    assert_eq!(response.status(), 200);
    let user: Value = response.json().await.unwrap();
    assert_eq!(
        user,
        json!({"id": ann.user_id, "email": ann.email, "role": "support"})
    );
    // Effective at once: Ann is staff now and must enrol first.
    assert_error(
        get_as(&app, &ann, "/v1/me").await,
        403,
        "totp_enrollment_required",
    )
    .await;

    let rows = audit_rows(&app, &operator, "user.role_change").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["subject"], ann.user_id.as_str());
    assert_eq!(rows[0]["actor_user_id"], operator.user_id.as_str());
    assert_eq!(rows[0]["before"], json!({"role": "seller"}));
    assert_eq!(rows[0]["after"], json!({"role": "support"}));

    // The same role again changes nothing and records nothing.
    assert_eq!(
        post_as(&app, &operator, &path, &json!({"role": "support"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        audit_rows(&app, &operator, "user.role_change").await.len(),
        1
    );

    let own = format!("/v1/users/{}/role", operator.user_id);
    assert_error(
        post_as(&app, &operator, &own, &json!({"role": "buyer"})).await,
        409,
        "cannot_change_own_role",
    )
    .await;
    assert_error(
        post_as(
            &app,
            &operator,
            "/v1/users/usr_nobody/role",
            &json!({"role": "buyer"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let error = assert_error(
        post_as(&app, &operator, &path, &json!({"role": "root"})).await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "role");
}

#[tokio::test]
async fn support_finds_users_by_email() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    let support = staff(&app, &operator, "support").await;
    let ann = signup(&app, "buyer").await;
    let path = format!("/v1/users?email={}", ann.email.to_uppercase());
    let found: Value = get_as(&app, &support, &path).await.json().await.unwrap();
    assert_eq!(
        found["data"],
        json!([{"id": ann.user_id, "email": ann.email, "role": "buyer"}])
    );
    let path = format!("/v1/users?email={}", unique_email("nobody"));
    let found: Value = get_as(&app, &support, &path).await.json().await.unwrap();
    assert_eq!(found["data"], json!([]));
    assert_error(
        get_as(&app, &support, "/v1/users").await,
        400,
        "invalid_query",
    )
    .await;
    assert_error(
        get_as(&app, &support, "/v1/users?email=nope").await,
        422,
        "invalid_email",
    )
    .await;
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_and_cannot_be_rewritten() {
    let app = TestApp::spawn().await;
    let operator = operator(&app).await;
    for _ in 0..3 {
        signup(&app, "buyer").await;
    }
    let all: Value = get_as(&app, &operator, "/v1/audit_log?limit=100")
        .await
        .json()
        .await
        .unwrap();
    let all = all["data"].as_array().unwrap().clone();
    assert!(all.len() >= 8, "{}", all.len());
    // Compared as instants: RFC 3339 drops trailing zeros of the fraction
    // ("…02.012Z"), so the strings do not sort like the times they name.
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = all
        .iter()
        .map(|r| chrono::DateTime::parse_from_rfc3339(r["at"].as_str().unwrap()).unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");

    let mut paged = Vec::new();
    let mut path = "/v1/audit_log?limit=3".to_owned();
    loop {
        let page: Value = get_as(&app, &operator, &path).await.json().await.unwrap();
        let rows = page["data"].as_array().unwrap();
        assert!(rows.len() <= 3);
        paged.extend(rows.iter().map(|r| r["id"].clone()));
        match page["next_before"].as_str() {
            Some(cursor) => path = format!("/v1/audit_log?limit=3&before={cursor}"),
            None => break,
        }
    }
    // The operator's own reads are not audited, so the log did not move meanwhile.
    let ids: Vec<Value> = all.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(paged, ids);

    let error = assert_error(
        get_as(&app, &operator, "/v1/audit_log?limit=101").await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "limit");
    let error = assert_error(
        get_as(&app, &operator, "/v1/audit_log?before=aud_x").await,
        422,
        "invalid_value",
    )
    .await;
    assert_eq!(error["param"], "before");

    // Append-only, even for SQL that bypasses the application.
    use diesel::RunQueryDsl;
    let db = pool(&app);
    let mut conn = db.get().unwrap();
    assert!(diesel::sql_query("UPDATE audit_log SET action = 'x'")
        .execute(&mut conn)
        .is_err());
    assert!(diesel::sql_query("DELETE FROM audit_log")
        .execute(&mut conn)
        .is_err());
    bazaar::auth::record_audit(
        &mut conn,
        bazaar::auth::AuditEntry::new("shop.freeze", "shp_1")
            .actor(&bazaar::auth::UserId(operator.user_id.clone()))
            .before(json!({"frozen": false}))
            .after(json!({"frozen": true})),
    )
    .unwrap();
    let rows = audit_rows(&app, &operator, "shop.freeze").await;
    assert_eq!(rows[0]["after"], json!({"frozen": true}));
}
