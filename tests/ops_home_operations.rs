//! The console's home and operations pages over HTTP, against the real app:
//! the home's counts equal what the story set up (a failed payout, dead jobs
//! and emails, an order whose share is held, open disputes (evidence due soonest
//! first, with its date), shops waiting
//! on the provider, the latest reconciliation) and each role sees only the
//! counts whose lists it may open; dead jobs and emails replayed from the
//! page by operators only, audited as the API's replays are; finance reads
//! jobs but may not replay, support reads emails but not jobs; the audit
//! log narrowed by each filter, bad filters answered 422 beside their
//! fields; buyers and sellers do not find the console; a form without its
//! token changes nothing.

use crate::common;
use crate::orders_support;
use crate::web_support;

use diesel::prelude::*;
use serde_json::{json, Value};

use common::people::{forget_used_step, get_as, pool, post_as, signup, staff, Person};
use common::{assert_error, wait_until, TestApp};
use orders_support::*;
use web_support::{signed_in, Browser, Page};

/// A browser signed in to the console as the enrolled staff `person`.
async fn console<'a>(app: &'a TestApp, person: &Person) -> Browser<'a> {
    forget_used_step(app, person).await;
    web_support::console(app, person).await
}

/// The number a home page shows for `key`, if it shows one.
fn count_on(page: &Page, key: &str) -> Option<i64> {
    let marker = format!("data-attention=\"{key}\"");
    let at = page.body.find(&marker)?;
    let rest = &page.body[at..];
    let open = rest.find("<strong class=\"count\">").unwrap() + "<strong class=\"count\">".len();
    let close = rest[open..].find("</strong>").unwrap() + open;
    Some(rest[open..close].trim().parse().unwrap())
}

/// Runs `work` on the app's database.
async fn in_db<T: Send + 'static>(
    app: &TestApp,
    work: impl FnOnce(&mut bazaar::db::DbConnection) -> T + Send + 'static,
) -> T {
    let pool = pool(app);
    tokio::task::spawn_blocking(move || work(&mut pool.get().unwrap()))
        .await
        .unwrap()
}

/// Every job as the API lists it in `status` (up to 100).
async fn jobs_in(app: &TestApp, operator: &Person, status: &str) -> Vec<Value> {
    let path = format!("/v1/jobs?status={status}&limit=100");
    json_of(get_as(app, operator, &path).await, 200).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// Every email as the API lists it (up to 100).
async fn emails(app: &TestApp, operator: &Person) -> Vec<Value> {
    json_of(get_as(app, operator, "/v1/emails?limit=100").await, 200).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// A job nobody handles: the worker fails it until it is dead.
fn enqueue_unhandled(conn: &mut bazaar::db::DbConnection, subject: &str) {
    assert!(bazaar::jobs::enqueue(conn, "ops_test_unhandled", subject).unwrap());
}

/// An outbox folder that cannot be made (under a file): every email fails.
fn broken_outbox() -> (tempfile::NamedTempFile, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    let dir = file.path().join("outbox").display().to_string();
    (file, dir)
}

#[tokio::test]
async fn the_home_counts_what_needs_attention_and_each_role_sees_only_its_lists() {
    let (_file, outbox) = broken_outbox();
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__JOBS__ATTEMPTS_MAX", "2"),
            ("BAZAAR__EMAIL__OUTBOX_DIR", &outbox),
        ],
        |_| {},
    )
    .await;
    let market = market(&app).await;
    let operator = market.operator.clone();
    let finance = staff(&app, &operator, "finance").await;
    let support = staff(&app, &operator, "support").await;

    // Bob's bank account cannot take payouts: his first payout fails.
    let (ann, shop_a, bob, shop_b) = a_seller_and_one_with_a_closed_bank(&app).await;
    let vase = product(&app, &ann, &shop_a, "Vase", 3000, 5).await;
    let bowl = product(&app, &bob, &shop_b, "Bowl", 2000, 5).await;
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    checkout_ok(&app, &market.buyer, "a", Some("pm_card_visa")).await;
    add_to_cart(&app, &market.buyer, &bowl, 1).await;
    checkout_ok(&app, &market.buyer, "b", Some("pm_card_visa")).await;
    let (_, failed) = four_days_of_payouts(&app, (&ann, &shop_a), (&bob, &shop_b)).await;
    assert_eq!(failed["status"], "failed");
    // Two sales the buyer disputes at once: two open disputes, each with the
    // provider's evidence due date (the sandbox's: a week after it opens).
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let disputed = checkout_ok(&app, &market.buyer, "c", Some("pm_card_createDispute")).await;
    let disputed_id = disputed["id"].as_str().unwrap().to_owned();
    add_to_cart(&app, &market.buyer, &vase, 1).await;
    let later = checkout_ok(&app, &market.buyer, "e", Some("pm_card_createDispute")).await;
    let later_id = later["id"].as_str().unwrap().to_owned();
    for id in [&disputed_id, &later_id] {
        wait_until(|| async { staff_view(&app, id).await["disputed"] == true }).await;
    }
    // Each dispute's due date is the provider's (the sandbox gives a week
    // from the dispute's creation on its own clock).
    const WEEK_S: i64 = 7 * 86_400;
    let mut due_by = Vec::new();
    for id in [&disputed_id, &later_id] {
        let view = staff_view(&app, id).await;
        let dispute_id = view["disputes"][0]["id"].as_str().unwrap();
        let at_provider = sandbox_get(&app, &format!("/v1/disputes/{dispute_id}")).await;
        let provider_due = at_provider["evidence_details"]["due_by"].as_i64().unwrap();
        assert_eq!(
            provider_due,
            at_provider["created"].as_i64().unwrap() + WEEK_S,
            "{at_provider}"
        );
        let due = view["disputes"][0]["evidence_due_by"].as_str().unwrap();
        let due = chrono::DateTime::parse_from_rfc3339(due)
            .unwrap()
            .timestamp();
        assert_eq!(due, provider_due, "{view}");
        due_by.push(due);
    }
    // The provider gave the first dispute's evidence longer (as it does for
    // some reasons): the later one is listed first, being due first.
    let first_dispute = staff_view(&app, &disputed_id).await["disputes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let extended = chrono::DateTime::from_timestamp(due_by[1] + 3 * 86_400, 0)
        .unwrap()
        .naive_utc();
    in_db(&app, move |conn| {
        use bazaar::orders::schema::disputes;
        diesel::update(disputes::table.find(first_dispute))
            .set(disputes::evidence_due_by.eq(extended))
            .execute(conn)
            .unwrap();
    })
    .await;
    let due_label = |at: chrono::NaiveDateTime| at.format("%-d %b %Y").to_string();
    let later_due = due_label(
        chrono::DateTime::from_timestamp(due_by[1], 0)
            .unwrap()
            .naive_utc(),
    );

    // Cleo's order is paid after the provider restricted her shop: the
    // share is held on the platform.
    let cleo = signup(&app, "seller").await;
    let shop_c = active_shop(&app, &cleo, "USD").await;
    let cup = product(&app, &cleo, &shop_c, "Cup", 1500, 5).await;
    add_to_cart(&app, &market.buyer, &cup, 1).await;
    let unpaid = checkout_ok(&app, &market.buyer, "d", None).await;
    let unpaid_id = unpaid["id"].as_str().unwrap().to_owned();
    let account = shop_c["provider_account_id"].as_str().unwrap();
    app.sandbox_post(
        &format!("/v1/test_helpers/accounts/{account}/restrict"),
        &[("disabled_reason", "requirements.past_due")],
    )
    .await;
    let path = format!("/v1/shops/{}/sync", shop_c["id"].as_str().unwrap());
    let synced = json_of(post_as(&app, &cleo, &path, &json!({})).await, 200).await;
    assert_eq!(synced["status"], "restricted");
    json_of(
        post_keyed(
            &app,
            &market.buyer,
            &format!("/v1/orders/{unpaid_id}/pay"),
            "d-pay",
            &json!({"payment_method": "pm_card_visa"}),
        )
        .await,
        200,
    )
    .await;
    wait_until(|| async {
        staff_view(&app, &unpaid_id).await["parts"][0]["settlement"]["status"] == "held"
    })
    .await;

    // Dan has not finished onboarding: his shop waits on requirements.
    let dan = signup(&app, "seller").await;
    let slug = format!("dan-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let body = json!({"name": "Dan's", "slug": slug, "country": "US", "default_currency": "USD", "support_email": "d@dan.example"});
    let dans = json_of(post_as(&app, &dan, "/v1/shops", &body).await, 201).await;
    assert_eq!(dans["status"], "pending");

    // A job nobody handles dies; every email dies (the outbox cannot be written).
    in_db(&app, |conn| enqueue_unhandled(conn, "home-1")).await;
    let mut settled = false;
    for _ in 0..400 {
        let all = emails(&app, &operator).await;
        settled = !all.is_empty()
            && all
                .iter()
                .all(|e| e["job_status"] == "dead" || e["status"] == "withdrawn")
            && jobs_in(&app, &operator, "queued").await.is_empty()
            && jobs_in(&app, &operator, "running").await.is_empty()
            && jobs_in(&app, &operator, "dead")
                .await
                .iter()
                .any(|j| j["subject"] == "home-1");
        if settled {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        settled,
        "every job dead or done: emails {:?}, queued {:?}, running {:?}",
        emails(&app, &operator).await,
        jobs_in(&app, &operator, "queued").await,
        jobs_in(&app, &operator, "running").await,
    );
    // Verification emails are withdrawn (the test verified the accounts
    // itself); every other one is dead.
    let dead_emails = emails(&app, &operator)
        .await
        .iter()
        .filter(|e| e["job_status"] == "dead" && e["status"] == "queued")
        .count() as i64;
    assert!(
        dead_emails >= 4,
        "order, new-order, payout and restriction emails"
    );
    let dead_jobs = jobs_in(&app, &operator, "dead").await;
    assert!(dead_jobs
        .iter()
        .all(|j| j["kind"] == "email" || j["subject"] == "home-1"));
    let dead_jobs = dead_jobs.len() as i64;
    assert_eq!(
        dead_jobs,
        dead_emails + 1,
        "each email's job, and the unhandled one"
    );

    // The latest reconciliation, run by finance.
    let report = json_of(
        post_as(&app, &finance, "/v1/reconciliation/reports", &json!({})).await,
        201,
    )
    .await;
    let report_id = report["id"].as_str().unwrap().to_owned();
    let differences = report["differences"].as_array().unwrap().len() as i64;

    // Shop statuses as the API reports them (Bob's failed payout may have
    // restricted his shop too).
    let mut restricted = 0;
    let mut pending = 0;
    for shop in [&shop_a, &shop_b, &shop_c, &dans] {
        let path = format!("/v1/shops/{}", shop["id"].as_str().unwrap());
        match json_of(get_as(&app, &operator, &path).await, 200).await["status"]
            .as_str()
            .unwrap()
        {
            "restricted" => restricted += 1,
            "pending" => pending += 1,
            _ => {}
        }
    }
    assert_eq!(pending, 1);
    assert!(restricted >= 1);

    // The operator sees every count, each linking to its list.
    let mut op = console(&app, &operator).await;
    let home = op.get("/ops?done=enrolled").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.shows("<div role=\"status\"><p class=\"notice\">Two-step sign-in is on."));
    assert_eq!(count_on(&home, "failed_payouts"), Some(1));
    assert_eq!(count_on(&home, "dead_jobs"), Some(dead_jobs));
    assert_eq!(count_on(&home, "dead_emails"), Some(dead_emails));
    assert_eq!(count_on(&home, "held_orders"), Some(1));
    assert_eq!(count_on(&home, "open_disputes"), Some(2));
    assert_eq!(count_on(&home, "shops_pending"), Some(pending));
    assert_eq!(count_on(&home, "shops_restricted"), Some(restricted));
    assert_eq!(count_on(&home, "reconciliation"), Some(differences));
    for link in [
        "/ops/money/payouts?status=failed",
        "/ops/operations/jobs?status=dead",
        "/ops/operations/emails?status=dead",
        "/ops/orders?held=true",
        "/ops/shops?status=pending",
        "/ops/shops?status=restricted",
    ] {
        assert!(home.shows(&format!("href=\"{link}\"")), "{link}");
    }
    assert!(home.shows(&format!("href=\"/ops/money/reconciliation/{report_id}\"")));
    assert!(home.shows(&format!(
        "<a href=\"/ops/orders/{disputed_id}\">Order {disputed_id}</a>"
    )));
    // Soonest evidence first, each with its due date.
    let row_of = |order: &str| {
        home.body
            .find(&format!(
                "<a href=\"/ops/orders/{order}\">Order {order}</a>"
            ))
            .unwrap()
    };
    assert!(row_of(&later_id) < row_of(&disputed_id), "{}", home.body);
    let later_row = &home.body[row_of(&later_id)..row_of(&disputed_id)];
    assert!(
        later_row.contains(&format!("<td>{later_due}</td>")),
        "{later_row}"
    );
    let first_row = &home.body[row_of(&disputed_id)..];
    let first_row = &first_row[..first_row.find("</tr>").unwrap()];
    assert!(
        first_row.contains(&format!("<td>{}</td>", due_label(extended))),
        "{first_row}"
    );
    // Without the news, the status region is there but empty.
    let plain = op.get("/ops").await;
    assert!(plain.shows("<div role=\"status\"></div>"));

    // Finance: no emails; support: no jobs, no reconciliation.
    let finance_home = console(&app, &finance).await.get("/ops").await;
    assert_eq!(finance_home.status, 200);
    assert_eq!(count_on(&finance_home, "dead_jobs"), Some(dead_jobs));
    assert_eq!(count_on(&finance_home, "failed_payouts"), Some(1));
    assert_eq!(count_on(&finance_home, "reconciliation"), Some(differences));
    assert_eq!(count_on(&finance_home, "dead_emails"), None);
    assert!(!finance_home.shows("/ops/operations/emails"));
    let support_home = console(&app, &support).await.get("/ops").await;
    assert_eq!(support_home.status, 200);
    assert_eq!(count_on(&support_home, "dead_emails"), Some(dead_emails));
    assert_eq!(count_on(&support_home, "held_orders"), Some(1));
    assert_eq!(count_on(&support_home, "open_disputes"), Some(2));
    assert_eq!(count_on(&support_home, "dead_jobs"), None);
    assert_eq!(count_on(&support_home, "reconciliation"), None);
    assert!(!support_home.shows("/ops/operations/jobs"));
    assert!(!support_home.shows("/ops/money/reconciliation/"));
}

/// Marks every due job failed, as the worker does when its handler fails
/// (`jobs.attempts_max` is 1 here, so each is dead); returns how many.
async fn kill_due_jobs(app: &TestApp) -> usize {
    let settings = app.settings.jobs.clone();
    in_db(app, move |conn| {
        let claimed = bazaar::jobs::claim(conn, 50, std::time::Duration::from_secs(60)).unwrap();
        for job in &claimed {
            bazaar::jobs::fail(conn, job, "relay refused: 554", &settings).unwrap();
        }
        claimed.len()
    })
    .await
}

/// A job's status and attempts, read from the table.
async fn job_state(app: &TestApp, id: &str) -> (String, i32) {
    use bazaar::jobs::schema::jobs;
    let id = id.to_owned();
    in_db(app, move |conn| {
        jobs::table
            .find(id)
            .select((jobs::status, jobs::attempts))
            .first(conn)
            .unwrap()
    })
    .await
}

/// The audit rows of `action` about `subject`, as the API lists them.
async fn audited(app: &TestApp, operator: &Person, action: &str, subject: &str) -> Vec<Value> {
    let path = format!("/v1/audit_log?action={action}&subject={subject}&limit=100");
    json_of(get_as(app, operator, &path).await, 200).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn dead_jobs_and_emails_are_replayed_from_the_page_by_operators_only() {
    // No worker: the test fails jobs as the worker would, and replayed ones
    // stay queued to be seen.
    let app = TestApp::spawn_with(
        &[
            ("BAZAAR__JOBS__WORKERS", "0"),
            ("BAZAAR__JOBS__ATTEMPTS_MAX", "1"),
        ],
        |_| {},
    )
    .await;
    let operator = common::people::operator(&app).await;
    let finance = staff(&app, &operator, "finance").await;
    let support = staff(&app, &operator, "support").await;
    let buyer = signup(&app, "buyer").await;
    let seller = signup(&app, "seller").await;
    in_db(&app, |conn| {
        enqueue_unhandled(conn, "replay-1");
        enqueue_unhandled(conn, "replay-2");
    })
    .await;
    let killed = kill_due_jobs(&app).await;
    let dead = jobs_in(&app, &operator, "dead").await;
    assert_eq!(dead.len(), killed);
    let emails_now = emails(&app, &operator).await;
    // Signing up queued a verification email each (staff were buyers first).
    assert!(emails_now.len() >= 4);
    assert!(emails_now.iter().all(|e| e["job_status"] == "dead"));
    assert_eq!(killed, emails_now.len() + 2);
    let job_id = |subject: &str| -> String {
        dead.iter().find(|j| j["subject"] == subject).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (first, second) = (job_id("replay-1"), job_id("replay-2"));

    // Buyers and sellers do not find the pages.
    let mut buyer_browser = signed_in(&app, &buyer).await;
    let mut seller_browser = signed_in(&app, &seller).await;
    for path in [
        "/ops",
        "/ops/operations",
        "/ops/operations/jobs",
        "/ops/operations/emails",
        "/ops/operations/audit",
    ] {
        assert_eq!(buyer_browser.get(path).await.status, 404, "{path}");
        assert_eq!(seller_browser.get(path).await.status, 404, "{path}");
    }
    let token = buyer_browser.get("/").await.input("csrf_token");
    let page = buyer_browser
        .post(
            &format!("/ops/operations/jobs/{first}/replay"),
            &[("csrf_token", token.as_str())],
        )
        .await;
    assert_eq!(page.status, 404);
    assert_eq!(job_state(&app, &first).await.0, "dead");

    // Finance reads the queue, dead first, without Replay buttons; a replay
    // it sends anyway is refused and changes nothing.
    let mut fin = console(&app, &finance).await;
    let jobs_page = fin.get("/ops/operations/jobs").await;
    assert_eq!(jobs_page.status, 200, "{}", jobs_page.body);
    assert!(jobs_page.shows(&format!("data-job=\"{first}\" class=\"dead\"")));
    assert!(jobs_page.shows("relay refused: 554"));
    assert!(!jobs_page.shows("Replay all dead jobs"));
    assert!(!jobs_page.shows("/replay\""));
    assert_eq!(fin.get("/ops/operations/emails").await.status, 403);
    assert_eq!(fin.get("/ops/operations/audit").await.status, 403);
    for path in [
        format!("/ops/operations/jobs/{first}/replay"),
        "/ops/operations/jobs/replay".to_owned(),
    ] {
        let page = fin.submit("/ops/operations/jobs", &path, &[]).await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
    }
    assert_eq!(job_state(&app, &first).await, ("dead".to_owned(), 1));
    assert!(audited(&app, &operator, "job.replay", &first)
        .await
        .is_empty());

    // Support reads the outbox, not the queue, and may not replay emails.
    let mut sup = console(&app, &support).await;
    assert_eq!(sup.get("/ops/operations/jobs").await.status, 403);
    let emails_page = sup.get("/ops/operations/emails?status=dead").await;
    assert_eq!(emails_page.status, 200, "{}", emails_page.body);
    let email_id = emails_now[0]["id"].as_str().unwrap().to_owned();
    assert!(emails_page.shows(&format!("data-email=\"{email_id}\" class=\"dead\"")));
    assert!(!emails_page.shows("Send again"));
    // The recipient is named and linked to their account.
    assert!(emails_page.shows(&format!(
        "<a href=\"/ops/users/{}\">{}</a>",
        buyer.user_id, buyer.email
    )));
    let page = sup
        .submit(
            "/ops/operations/emails",
            &format!("/ops/operations/emails/{email_id}/replay"),
            &[],
        )
        .await;
    assert_eq!(page.status, 403);
    let index = sup.get("/ops/operations").await;
    assert_eq!(index.status, 200);
    assert!(index.shows("href=\"/ops/operations/emails\""));
    assert!(!index.shows("href=\"/ops/operations/jobs\""));

    // The operator: a form without its token changes nothing…
    let mut op = console(&app, &operator).await;
    let page = op
        .post(&format!("/ops/operations/jobs/{first}/replay"), &[])
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(job_state(&app, &first).await.0, "dead");
    // …the page's Replay puts the job back in the queue, audited like the API's.
    let listed = op.get("/ops/operations/jobs?status=dead").await;
    assert!(listed.shows(&format!("action=\"/ops/operations/jobs/{first}/replay\"")));
    let page = op
        .submit(
            "/ops/operations/jobs",
            &format!("/ops/operations/jobs/{first}/replay"),
            &[],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), "/ops/operations/jobs?done=replayed");
    assert_eq!(job_state(&app, &first).await, ("queued".to_owned(), 0));
    let news = op.get(page.location()).await;
    assert!(news.shows("The job is queued again"));
    let rows = audited(&app, &operator, "job.replay", &first).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor_user_id"], operator.user_id.as_str());
    assert_eq!(rows[0]["before"]["status"], "dead");
    assert_eq!(rows[0]["after"], json!({"status": "queued"}));
    // The API's replay writes the same row.
    let replayed = json_of(
        post_as(
            &app,
            &operator,
            &format!("/v1/jobs/{second}/replay"),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(replayed["status"], "queued");
    let api_rows = audited(&app, &operator, "job.replay", &second).await;
    assert_eq!(api_rows.len(), 1);
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&api_rows[0]["before"]), keys(&rows[0]["before"]));
    assert_eq!(api_rows[0]["after"], rows[0]["after"]);
    // Replaying a job that is not dead is refused on the page, nothing changed.
    let page = op
        .submit(
            "/ops/operations/jobs",
            &format!("/ops/operations/jobs/{first}/replay"),
            &[],
        )
        .await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(page.shows("There is a problem"));
    assert_eq!(
        audited(&app, &operator, "job.replay", &first).await.len(),
        1
    );

    // Emails: one sent again from the page, then all the others at once.
    let page = op
        .submit(
            "/ops/operations/emails",
            &format!("/ops/operations/emails/{email_id}/replay"),
            &[],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let email_job = emails_now[0]["job_id"].as_str().unwrap().to_owned();
    assert_eq!(job_state(&app, &email_job).await, ("queued".to_owned(), 0));
    let rows = audited(&app, &operator, "email.replay", &email_id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor_user_id"], operator.user_id.as_str());
    assert_eq!(rows[0]["before"]["job_status"], "dead");
    assert_eq!(rows[0]["after"]["job_status"], "queued");
    let page = op
        .submit(
            "/ops/operations/emails",
            "/ops/operations/emails/replay",
            &[],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location(),
        format!(
            "/ops/operations/emails?done=replayed_all&count={}",
            emails_now.len() - 1
        )
    );
    let still_dead = json_of(get_as(&app, &operator, "/v1/emails?status=dead").await, 200).await;
    assert_eq!(still_dead["data"].as_array().unwrap().len(), 0);
    // The API: an email that is not dead any more, and one that does not exist.
    assert_error(
        post_as(
            &app,
            &operator,
            &format!("/v1/emails/{email_id}/replay"),
            &json!({}),
        )
        .await,
        409,
        "email_not_dead",
    )
    .await;
    assert_error(
        post_as(&app, &operator, "/v1/emails/eml_nope/replay", &json!({})).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        post_as(&app, &support, "/v1/emails/replay", &json!({})).await,
        403,
        "forbidden",
    )
    .await;

    // All dead jobs at once: every job replayed above dies again first.
    kill_due_jobs(&app).await;
    let dead_now = jobs_in(&app, &operator, "dead").await.len();
    assert!(dead_now > 0);
    let page = op
        .submit("/ops/operations/jobs", "/ops/operations/jobs/replay", &[])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location(),
        format!("/ops/operations/jobs?done=replayed_all&count={dead_now}")
    );
    assert!(jobs_in(&app, &operator, "dead").await.is_empty());
}

#[tokio::test]
async fn the_audit_log_is_narrowed_by_each_filter() {
    let app = TestApp::spawn().await;
    let first = common::people::operator(&app).await;
    let second = common::people::operator(&app).await;
    let finance = staff(&app, &first, "finance").await;
    let support = staff(&app, &second, "support").await;
    let mut op = console(&app, &first).await;

    let everything = op.get("/ops/operations/audit").await;
    assert_eq!(everything.status, 200, "{}", everything.body);
    assert!(everything.shows("<caption id=\"audit-caption\">"));
    // Actors by email, linked to their page.
    assert!(everything.shows(&format!(
        "<a href=\"/ops/users/{}\">{}</a>",
        first.user_id, first.email
    )));

    // By actor: only the first operator's rows (and the role change is theirs).
    let by_actor = op
        .get(&format!("/ops/operations/audit?actor={}", first.email))
        .await;
    assert_eq!(by_actor.status, 200);
    assert!(by_actor.shows(&format!(
        "/ops/users/{}\">{}",
        finance.user_id, finance.user_id
    )));
    assert!(!by_actor.shows(&format!(
        "/ops/users/{}\">{}</a>",
        second.user_id, second.email
    )));
    // By action and subject, through the API too.
    let api = json_of(
        get_as(
            &app,
            &first,
            &format!(
                "/v1/audit_log?action=user.role_change&actor={}",
                second.email.to_uppercase()
            ),
        )
        .await,
        200,
    )
    .await;
    let data = api["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{api}");
    assert_eq!(data[0]["subject"], support.user_id.as_str());
    let by_subject = op
        .get(&format!(
            "/ops/operations/audit?action=user.role_change&subject={}",
            finance.user_id
        ))
        .await;
    assert_eq!(by_subject.status, 200);
    assert_eq!(
        by_subject
            .body
            .matches("<code>user.role_change</code>")
            .count(),
        1
    );
    assert!(by_subject.shows(&format!("href=\"/ops/users/{}\"", finance.user_id)));
    // By period: today holds them all, tomorrow nothing.
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let page = op
        .get(&format!(
            "/ops/operations/audit?action=user.role_change&from={today}&to={today}"
        ))
        .await;
    assert_eq!(
        page.body.matches("<code>user.role_change</code>").count(),
        2
    );
    let page = op
        .get(&format!("/ops/operations/audit?from={tomorrow}"))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.shows("No entries match."));

    // Bad filters: the form again, 422, the message beside its field.
    let page = op.get("/ops/operations/audit?from=31/12/2026").await;
    assert_eq!(page.status, 422);
    assert!(page.shows("id=\"from-error\""));
    let page = op
        .get("/ops/operations/audit?actor=nobody%40example.com")
        .await;
    assert_eq!(page.status, 422);
    assert!(page.shows("id=\"actor-error\""));
    assert!(page.shows("o account has the email nobody@example.com"));
    let page = op
        .get(&format!("/ops/operations/audit?from={tomorrow}&to={today}"))
        .await;
    assert_eq!(page.status, 422);
    assert!(page.shows("id=\"from-error\""));

    // Finance and support may not read the log; nor through the API.
    assert_eq!(
        console(&app, &finance)
            .await
            .get("/ops/operations/audit")
            .await
            .status,
        403
    );
    assert_eq!(
        console(&app, &support)
            .await
            .get("/ops/operations/audit")
            .await
            .status,
        403
    );
    assert_error(
        get_as(&app, &support, "/v1/audit_log").await,
        403,
        "forbidden",
    )
    .await;
}
