//! The console's role walk: every console page and every action, as each
//! staff role, as a buyer, as a seller and signed out. What a role may do
//! succeeds; anything else is a 403 page (staff) or a 404 page (buyers and
//! sellers, to whom the console does not exist) and changes nothing. The
//! expectations are written here from the roles' job descriptions, not read
//! from the code's rules, so a rule that drifts fails this test.
//!
//! Also the console's CSRF defence: a state-changing request without the
//! form's token, or from another origin, changes nothing.

use crate::common;
use crate::orders_support;
use crate::web_support;

use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{json, Value};

use common::people::{pool, post_as, signup, staff, Person};
use common::TestApp;
use orders_support::{active_shop, add_to_cart, checkout_ok, market, product};
use web_support::{console, signed_in, Browser};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Operator,
    Finance,
    Support,
    Buyer,
    Seller,
}

const EVERYONE: [Who; 5] = [
    Who::Operator,
    Who::Finance,
    Who::Support,
    Who::Buyer,
    Who::Seller,
];
const STAFF: &[Who] = &[Who::Operator, Who::Finance, Who::Support];
const OPERATOR: &[Who] = &[Who::Operator];
const FINANCE: &[Who] = &[Who::Operator, Who::Finance];
const SUPPORT: &[Who] = &[Who::Operator, Who::Support];

/// A console action: its path, its form's fields, who may send it, and the
/// audit action it leaves.
type Action = (
    String,
    Vec<(&'static str, String)>,
    &'static [Who],
    &'static str,
);

#[derive(QueryableByName)]
struct Fingerprint {
    #[diesel(sql_type = Text)]
    state: String,
}

/// Everything a console action could change, in one string: the audit log,
/// the books, refunds, fee rules, shops' freezes, users' roles and
/// disabling, the job queue and the outbox, reconciliation reports.
fn fingerprint(app: &TestApp) -> String {
    let mut conn = pool(app).get().unwrap();
    let counts = [
        "SELECT COUNT(*) FROM audit_log",
        "SELECT COUNT(*) FROM ledger_entries",
        "SELECT COUNT(*) FROM refunds",
        "SELECT COUNT(*) FROM fee_rules",
        "SELECT COUNT(*) FROM fee_rule_versions",
        "SELECT COUNT(*) FROM fee_rules WHERE effective_to IS NOT NULL",
        "SELECT COUNT(*) FROM shops WHERE frozen",
        "SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL",
        "SELECT COUNT(*) FROM users WHERE role = 'buyer'",
        "SELECT COUNT(*) FROM reconciliation_reports",
        "SELECT COUNT(*) FROM jobs WHERE status = 'dead'",
        "SELECT COUNT(*) FROM outbox WHERE status = 'dead'",
    ];
    let query = counts
        .iter()
        .map(|count| format!("CAST(({count}) AS TEXT)"))
        .collect::<Vec<_>>()
        .join(" || ',' || ");
    diesel::sql_query(format!("SELECT {query} AS state"))
        .get_result::<Fingerprint>(&mut conn)
        .unwrap()
        .state
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Audit rows of `action` by `actor`.
fn audit_count(app: &TestApp, action: &str, actor: &str) -> i64 {
    let mut conn = pool(app).get().unwrap();
    diesel::sql_query(
        "SELECT COUNT(*) AS n FROM audit_log WHERE action = $1 AND actor_user_id = $2",
    )
    .bind::<Text, _>(action)
    .bind::<Text, _>(actor)
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n
}

/// A dead job, as a job out of attempts is: for the replay actions.
fn dead_job(app: &TestApp, subject: &str) -> String {
    let mut conn = pool(app).get().unwrap();
    bazaar::jobs::enqueue(&mut conn, "webhook_event", subject).unwrap();
    diesel::sql_query(
        "UPDATE jobs SET status = 'dead', attempts = 8, last_error = 'gone' WHERE subject = $1",
    )
    .bind::<Text, _>(subject)
    .execute(&mut conn)
    .unwrap();
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    diesel::sql_query("SELECT id FROM jobs WHERE subject = $1")
        .bind::<Text, _>(subject)
        .get_result::<Id>(&mut conn)
        .unwrap()
        .id
}

struct World {
    shop_id: String,
    order_id: String,
    part_id: String,
    user_id: String,
    rule_id: String,
    account_id: String,
    entry_id: String,
    report_id: String,
    job_id: String,
}

async fn world(app: &TestApp, operator: &Person) -> World {
    let buyer = signup(app, "buyer").await;
    let seller = signup(app, "seller").await;
    let shop = active_shop(app, &seller, "USD").await;
    let mug = product(app, &seller, &shop, "Walk Mug", 1250, 10).await;
    add_to_cart(app, &buyer, &mug, 2).await;
    let order = checkout_ok(app, &buyer, "walk-order-1", Some("pm_card_visa")).await;
    assert_eq!(order["status"], "paid");
    let rules = common::people::get_as(app, operator, "/v1/fee_rules").await;
    let rules: Value = rules.json().await.unwrap();
    let accounts = common::people::get_as(app, operator, "/v1/ledger/accounts").await;
    let accounts: Value = accounts.json().await.unwrap();
    let order_ledger = common::people::get_as(
        app,
        operator,
        &format!("/v1/orders/{}/ledger", order["id"].as_str().unwrap()),
    )
    .await;
    let order_ledger: Value = order_ledger.json().await.unwrap();
    let report = post_as(app, operator, "/v1/reconciliation/reports", &json!({})).await;
    assert_eq!(report.status(), 201, "a reconciliation runs");
    let report: Value = report.json().await.unwrap();
    let first_id = |list: &Value| -> String {
        let data = list.get("data").unwrap_or(list);
        data[0]["id"].as_str().expect("an id").to_owned()
    };
    World {
        shop_id: shop["id"].as_str().unwrap().to_owned(),
        order_id: order["id"].as_str().unwrap().to_owned(),
        part_id: order["parts"][0]["id"].as_str().unwrap().to_owned(),
        user_id: buyer.user_id.clone(),
        rule_id: first_id(&rules),
        account_id: first_id(&accounts),
        entry_id: order_ledger["postings"][0]["entry_id"]
            .as_str()
            .expect("the order's first ledger entry")
            .to_owned(),
        report_id: report["id"].as_str().unwrap().to_owned(),
        job_id: dead_job(app, "evt_walk_dead"),
    }
}

/// What a refused request must answer: staff get the 403 page, anyone
/// else the 404 page (the console does not exist for them).
fn refused_status(who: Who) -> u16 {
    if STAFF.contains(&who) {
        403
    } else {
        404
    }
}

#[tokio::test]
async fn every_console_page_and_action_as_every_role() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let operator = market.operator;
    let finance = staff(&app, &operator, "finance").await;
    let support = staff(&app, &operator, "support").await;
    let buyer = signup(&app, "buyer").await;
    let seller = signup(&app, "seller").await;
    let w = world(&app, &operator).await;

    let mut browsers: Vec<(Who, Browser<'_>)> = vec![
        (Who::Operator, console(&app, &operator).await),
        (Who::Finance, console(&app, &finance).await),
        (Who::Support, console(&app, &support).await),
        (Who::Buyer, signed_in(&app, &buyer).await),
        (Who::Seller, signed_in(&app, &seller).await),
    ];
    let user_of = |who: Who| -> String {
        match who {
            Who::Operator => operator.user_id.clone(),
            Who::Finance => finance.user_id.clone(),
            Who::Support => support.user_id.clone(),
            Who::Buyer => buyer.user_id.clone(),
            Who::Seller => seller.user_id.clone(),
        }
    };

    // Every page, and who may open it.
    let pages: Vec<(String, &[Who])> = vec![
        ("/ops".into(), STAFF),
        ("/ops/shops".into(), STAFF),
        (format!("/ops/shops/{}", w.shop_id), STAFF),
        ("/ops/users".into(), SUPPORT),
        ("/ops/users/stale".into(), SUPPORT),
        (format!("/ops/users/{}", w.user_id), SUPPORT),
        ("/ops/fee-rules".into(), FINANCE),
        (format!("/ops/fee-rules/{}", w.rule_id), FINANCE),
        ("/ops/fee-rules/preview".into(), FINANCE),
        ("/ops/orders".into(), STAFF),
        (format!("/ops/orders/{}", w.order_id), STAFF),
        ("/ops/money".into(), STAFF),
        ("/ops/money/payouts".into(), STAFF),
        ("/ops/money/exports/payouts.csv".into(), STAFF),
        ("/ops/money/exports/orders.csv".into(), STAFF),
        ("/ops/money/exports/fees.csv".into(), FINANCE),
        ("/ops/money/ledger".into(), FINANCE),
        (
            format!("/ops/money/ledger/accounts/{}", w.account_id),
            FINANCE,
        ),
        (format!("/ops/money/ledger/entries/{}", w.entry_id), FINANCE),
        ("/ops/money/trial-balance".into(), FINANCE),
        ("/ops/money/adjustments".into(), FINANCE),
        ("/ops/money/reconciliation".into(), FINANCE),
        (
            format!("/ops/money/reconciliation/{}", w.report_id),
            FINANCE,
        ),
        ("/ops/money/reports".into(), FINANCE),
        ("/ops/operations".into(), STAFF),
        ("/ops/operations/jobs".into(), FINANCE),
        ("/ops/operations/emails".into(), SUPPORT),
        ("/ops/operations/audit".into(), OPERATOR),
    ];
    let mut anonymous = Browser::new(&app);
    for (path, allowed) in &pages {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, 303, "GET {path} signed out");
        assert!(page.location().starts_with("/signin?next="), "{path}");
        for (who, browser) in &mut browsers {
            let page = browser.get(path).await;
            let expected = if allowed.contains(who) {
                200
            } else {
                refused_status(*who)
            };
            assert_eq!(
                page.status, expected,
                "GET {path} as {who:?}: {}",
                page.body
            );
        }
    }

    // Every action: its form, and who may send it. Each refused role's try
    // changes nothing; then the allowed roles' tries succeed (303) and leave
    // an audit row with their account as the actor.
    let actions: Vec<Action> = vec![
        (
            format!("/ops/shops/{}/sync", w.shop_id),
            vec![],
            SUPPORT,
            "shop.sync",
        ),
        (
            format!("/ops/shops/{}/freeze", w.shop_id),
            vec![("reason", "role walk".into())],
            OPERATOR,
            "shop.freeze",
        ),
        (
            format!("/ops/shops/{}/unfreeze", w.shop_id),
            vec![("reason", "role walk done".into())],
            OPERATOR,
            "shop.unfreeze",
        ),
        (
            format!("/ops/users/{}/role", w.user_id),
            vec![("role", "seller".into())],
            OPERATOR,
            "user.role_change",
        ),
        (
            format!("/ops/users/{}/disable", w.user_id),
            vec![("reason", "role walk".into())],
            OPERATOR,
            "user.disable",
        ),
        (
            format!("/ops/users/{}/enable", w.user_id),
            vec![],
            OPERATOR,
            "user.enable",
        ),
        (
            format!("/ops/fee-rules/{}/versions", w.rule_id),
            vec![
                ("percentage", "11".into()),
                ("fixed", "USD 30".into()),
                ("processing_fee_payer", "platform".into()),
                ("refund_fee_proportionally", "on".into()),
                ("effective_from", "2030-01-01".into()),
            ],
            OPERATOR,
            "fee_rule.version",
        ),
        (
            format!("/ops/orders/{}/sync", w.order_id),
            vec![],
            SUPPORT,
            "order.sync",
        ),
        (
            format!("/ops/orders/{}/refund", w.order_id),
            vec![
                ("kind", "amount".into()),
                ("part_id", w.part_id.clone()),
                ("amount", "1.00".into()),
                ("amount_reason", "role walk".into()),
            ],
            SUPPORT,
            "order.refund",
        ),
        (
            "/ops/money/reconciliation".into(),
            vec![],
            FINANCE,
            "reconciliation.run",
        ),
        (
            format!("/ops/operations/jobs/{}/replay", w.job_id),
            vec![],
            OPERATOR,
            "job.replay",
        ),
    ];
    for (path, fields, allowed, audited) in &actions {
        for (who, browser) in &mut browsers {
            if allowed.contains(who) {
                continue;
            }
            let before = fingerprint(&app);
            let token = browser
                .get(if STAFF.contains(who) { "/ops" } else { "/" })
                .await
                .input("csrf_token");
            let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
            let key = uuid::Uuid::new_v4().to_string();
            form.push(("idempotency_key", key.as_str()));
            form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            let page = browser.post(path, &form).await;
            assert_eq!(
                page.status,
                refused_status(*who),
                "POST {path} as {who:?}: {}",
                page.body
            );
            assert_eq!(
                fingerprint(&app),
                before,
                "POST {path} as {who:?} changed something"
            );
        }
        for (who, browser) in &mut browsers {
            if !allowed.contains(who) {
                continue;
            }
            // Operators pass every rule: where another role is allowed too,
            // that role's success is the one that says the rule admits it.
            if *who == Who::Operator && allowed.len() > 1 {
                continue;
            }
            let token = browser.get("/ops").await.input("csrf_token");
            let key = uuid::Uuid::new_v4().to_string();
            let mut form: Vec<(&str, &str)> = vec![
                ("csrf_token", token.as_str()),
                ("idempotency_key", key.as_str()),
            ];
            form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            let before = audit_count(&app, audited, &user_of(*who));
            let page = browser.post(path, &form).await;
            assert_eq!(page.status, 303, "POST {path} as {who:?}: {}", page.body);
            assert_eq!(
                audit_count(&app, audited, &user_of(*who)),
                before + 1,
                "POST {path} as {who:?}: one `{audited}` audit row with the actor"
            );
        }
    }
    assert_eq!(EVERYONE.len(), browsers.len(), "every role walked");
}

#[tokio::test]
async fn a_console_form_without_its_token_or_from_another_origin_changes_nothing() {
    let app = TestApp::spawn().await;
    let market = market(&app).await;
    let operator = market.operator;
    let seller = signup(&app, "seller").await;
    let shop = active_shop(&app, &seller, "USD").await;
    let shop_id = shop["id"].as_str().unwrap().to_owned();
    let mut browser = console(&app, &operator).await;
    let path = format!("/ops/shops/{shop_id}/freeze");
    let before = fingerprint(&app);

    // No token.
    let page = browser.post(&path, &[("reason", "forged")]).await;
    assert_eq!(page.status, 403, "{}", page.body);
    // A wrong token.
    let page = browser
        .post(
            &path,
            &[
                ("csrf_token", "0".repeat(64).as_str()),
                ("reason", "forged"),
            ],
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    // The right token, sent from another site.
    let token = browser
        .get(&format!("/ops/shops/{shop_id}"))
        .await
        .input("csrf_token");
    let forged = app
        .client
        .post(format!("{}{path}", app.address))
        .header("origin", "https://evil.example")
        .header("cookie", browser.cookie_header_for_tests())
        .form(&[("csrf_token", token.as_str()), ("reason", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        fingerprint(&app),
        before,
        "a forged request changed something"
    );

    // The same form, sent properly, freezes.
    let page = browser
        .post(&path, &[("csrf_token", token.as_str()), ("reason", "real")])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_ne!(fingerprint(&app), before);
}
