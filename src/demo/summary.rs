//! The summary: what the day left in the books, read from the API as an
//! operator would — shops, orders, the parts held until delivery (their
//! parcels, how each was released, what is still held), returns, fee revenue
//! by shop, transfers, payouts, the trial balance and a fresh reconciliation
//! report. Nothing here is
//! computed from the demo's own script, so the summary can disagree with it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::client::{Api, Session};
use super::day::Day;
use super::morning::{Cast, OPERATOR_EMAIL};
use super::text::format_money;
use super::{Progress, Seeded, DEMO_PASSWORD};

/// Steps the summary counts on the progress bar.
pub const STEPS: u64 = 1;

/// The books' verdict, and the summary to print.
pub struct Books {
    /// The printable summary.
    pub text: String,
    /// Currencies whose debits and credits differ: (currency, debits, credits).
    pub unbalanced: Vec<(String, i64, i64)>,
    pub reconciliation_differences: usize,
    /// What is wrong with the held funds and the returns: a delivered part
    /// not released, money still held, a return not refunded.
    pub fulfilment_problems: Vec<String>,
}

impl Books {
    /// `Ok` when the trial balance is zero, reconciliation is clean, every
    /// held part was delivered and released and every return refunded.
    ///
    /// # Errors
    /// Names what is wrong with the books.
    pub fn verdict(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.unbalanced.is_empty(),
            "the trial balance is not zero in {}",
            self.unbalanced
                .iter()
                .map(|(c, _, _)| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        anyhow::ensure!(
            self.reconciliation_differences == 0,
            "reconciliation found {} difference(s)",
            self.reconciliation_differences
        );
        anyhow::ensure!(
            self.fulfilment_problems.is_empty(),
            "held funds and returns: {}",
            self.fulfilment_problems.join("; ")
        );
        Ok(())
    }
}

fn list(value: &Value) -> Vec<Value> {
    value["data"].as_array().cloned().unwrap_or_default()
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

/// Runs a reconciliation and reads everything the summary shows.
///
/// # Errors
/// A call was refused.
pub async fn report(
    api: &Api,
    cast: &Cast,
    day: &Day,
    progress: &Progress,
) -> anyhow::Result<Books> {
    let operator = &cast.operator;
    progress.step("reconciling the ledger with the provider");
    let reconciliation = api
        .post(
            Some(operator),
            "/v1/reconciliation/reports",
            None,
            &json!({}),
            201,
        )
        .await?;
    progress.done("reconciliation report stored");
    let shops = list(&api.get(operator, "/v1/shops").await?);
    let orders = list(&api.get(operator, "/v1/orders?limit=100").await?);
    let fees = api.get(operator, "/v1/reports/fee-revenue").await?;
    let trial = api.get(operator, "/v1/ledger/trial-balance").await?;
    let mut payouts = list(&api.get(operator, "/v1/payouts?limit=100").await?);
    let dead_jobs = list(&api.get(operator, "/v1/jobs?status=dead&limit=100").await?);

    let names: BTreeMap<&str, &str> = shops
        .iter()
        .map(|s| (str_of(s, "id"), str_of(s, "name")))
        .collect();
    let name_of = |id: &str| names.get(id).copied().unwrap_or(id).to_owned();
    // The API lists by id or by creation time, which differ from run to run;
    // the story reads the same every time: by shop name, failed payouts first.
    payouts.sort_by_cached_key(|p| {
        (
            p["status"] != "failed",
            name_of(str_of(p, "shop_id")),
            p.to_string(),
        )
    });
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "\n== The demo day, as the API reports it ==");

    let _ = writeln!(w, "\nShops ({})", shops.len());
    // Oldest first: the catalog's shops, then the morning's; shops seeded in
    // the same instant by name.
    let mut oldest_first: Vec<&Value> = shops.iter().collect();
    oldest_first.sort_by_key(|shop| (str_of(shop, "created_at"), str_of(shop, "name")));
    for shop in oldest_first {
        let id = str_of(shop, "id");
        let mut status = str_of(shop, "status").to_owned();
        if status == "restricted" {
            let failed_payout = payouts
                .iter()
                .any(|p| p["shop_id"] == id && p["status"] == "failed");
            let why = match shop["disabled_reason"].as_str() {
                Some(reason) => format!("the provider disabled the account: {reason}"),
                None if failed_payout => {
                    "the provider stopped payouts after a failed payout".to_owned()
                }
                None => "cannot sell or be paid out".to_owned(),
            };
            status = format!("restricted ({why})");
        }
        let _ = writeln!(
            w,
            "  {:<24} {}  {status}",
            str_of(shop, "name"),
            str_of(shop, "default_currency")
        );
    }

    let _ = writeln!(w, "\nOrders ({})", orders.len());
    for order in orders.iter().rev() {
        let id = str_of(order, "id");
        let played = day.orders.iter().find(|o| o.id == id);
        let parts = order["parts"].as_array().cloned().unwrap_or_default();
        let shipping: i64 = parts
            .iter()
            .filter_map(|p| p["shipping"]["minor"].as_i64())
            .sum();
        let mut facts = vec![format!(
            "{} shop(s), shipping {}",
            parts.len(),
            format_money(Some(shipping), order["total"]["currency"].as_str())
        )];
        if let Some(decline) = played.and_then(|p| p.declined_with.as_deref()) {
            facts.push(format!("card declined ({decline}), then paid"));
        }
        if order["refunded"]["minor"].as_i64().unwrap_or(0) > 0 {
            facts.push(format!(
                "refunded {}",
                format_money(
                    order["refunded"]["minor"].as_i64(),
                    order["refunded"]["currency"].as_str()
                )
            ));
        }
        for dispute in order["disputes"].as_array().into_iter().flatten() {
            facts.push(format!("dispute {}", str_of(dispute, "outcome")));
        }
        let _ = writeln!(
            w,
            "  {id}  {:<8} {:>12}  {:<34} {}",
            str_of(order, "status"),
            format_money(
                order["total"]["minor"].as_i64(),
                order["total"]["currency"].as_str()
            ),
            str_of(order, "buyer_email"),
            facts.join(", ")
        );
    }

    let mut fulfilment_problems = Vec::new();
    held_and_returned(
        api,
        operator,
        &orders,
        day,
        &name_of,
        w,
        &mut fulfilment_problems,
    )
    .await?;

    let _ = writeln!(
        w,
        "\nPlatform fees by shop (GET /v1/reports/fee-revenue, orders paid in the last 30 days)"
    );
    let mut fee_rows = fees["by_shop"].as_array().cloned().unwrap_or_default();
    fee_rows.sort_by_cached_key(|row| (name_of(str_of(row, "key")), row.to_string()));
    for row in &fee_rows {
        let currency = row["subtotal"]["currency"].as_str();
        let _ = writeln!(
            w,
            "  {:<24} {} part(s)  sales {:>12}  fees {:>10}",
            name_of(str_of(row, "key")),
            row["parts"].as_i64().unwrap_or(0),
            format_money(row["subtotal"]["minor"].as_i64(), currency),
            format_money(row["fees"]["minor"].as_i64(), currency)
        );
    }

    let _ = writeln!(
        w,
        "\nTransfers to sellers, net of reversals (ledger: shop:…:transferred_in)"
    );
    let accounts = trial["accounts"].as_array().cloned().unwrap_or_default();
    let mut transfers: Vec<(String, String)> = accounts
        .iter()
        .filter_map(|account| {
            let shop = str_of(account, "code")
                .strip_prefix("shop:")?
                .strip_suffix(":transferred_in")?;
            let balance = &account["balance"];
            let amount = format_money(balance["minor"].as_i64(), balance["currency"].as_str());
            Some((name_of(shop), amount))
        })
        .collect();
    transfers.sort();
    for (name, amount) in &transfers {
        let _ = writeln!(w, "  {name:<24} {amount:>12}");
    }

    let _ = writeln!(w, "\nPayouts ({}, failed first)", payouts.len());
    for payout in &payouts {
        let mut line = format!(
            "  {:<24} {:>12}  {}",
            name_of(str_of(payout, "shop_id")),
            format_money(
                payout["amount"]["minor"].as_i64(),
                payout["amount"]["currency"].as_str()
            ),
            str_of(payout, "status")
        );
        if let Some(code) = payout["failure_code"].as_str() {
            let _ = write!(line, " ({code}): {}", str_of(payout, "action"));
        }
        let _ = writeln!(w, "{line}");
    }

    let _ = writeln!(w, "\nPlatform accounts (ledger)");
    for account in &accounts {
        let code = str_of(account, "code");
        let balance = account["balance"]["minor"].as_i64().unwrap_or(0);
        if code.starts_with("platform:") && balance != 0 {
            let _ = writeln!(
                w,
                "  {:<38} {:>12}",
                code,
                format_money(Some(balance), account["currency"].as_str())
            );
        }
    }

    let _ = writeln!(w, "\nTrial balance (GET /v1/ledger/trial-balance)");
    let mut unbalanced = Vec::new();
    let totals = trial["totals"].as_object().cloned().unwrap_or_default();
    for (currency, pair) in &totals {
        let debits = pair["debits"]["minor"].as_i64().unwrap_or(0);
        let credits = pair["credits"]["minor"].as_i64().unwrap_or(0);
        let code = Some(currency.as_str());
        let _ = writeln!(
            w,
            "  {currency}  debits {:>14}  credits {:>14}  difference {}",
            format_money(Some(debits), code),
            format_money(Some(credits), code),
            format_money(debits.checked_sub(credits), code)
        );
        if debits != credits {
            unbalanced.push((currency.clone(), debits, credits));
        }
    }
    let currencies: Vec<&str> = totals.keys().map(String::as_str).collect();
    if unbalanced.is_empty() {
        let _ = writeln!(
            w,
            "  trial balance: zero (debits = credits in {})",
            currencies.join(", ")
        );
    } else {
        let _ = writeln!(w, "  trial balance: NOT ZERO");
    }

    let differences = reconciliation["differences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let _ = writeln!(w, "\nReconciliation (POST /v1/reconciliation/reports)");
    let _ = writeln!(
        w,
        "  report {}: {} account(s), {} balance transaction(s) compared",
        str_of(&reconciliation, "id"),
        reconciliation["accounts_checked"].as_i64().unwrap_or(0),
        reconciliation["transactions_checked"].as_i64().unwrap_or(0)
    );
    for d in &differences {
        let _ = writeln!(
            w,
            "  {} {} {} {}: {}",
            str_of(d, "kind"),
            str_of(d, "scope"),
            str_of(d, "object"),
            str_of(d, "currency"),
            str_of(d, "detail")
        );
    }
    if differences.is_empty() {
        let _ = writeln!(w, "  reconciliation: clean (0 differences)");
    } else {
        let _ = writeln!(w, "  reconciliation: {} difference(s)", differences.len());
    }
    if !dead_jobs.is_empty() {
        let _ = writeln!(
            w,
            "\n{} dead job(s): GET /v1/jobs?status=dead",
            dead_jobs.len()
        );
    }
    Ok(Books {
        text: out,
        unbalanced,
        reconciliation_differences: differences.len(),
        fulfilment_problems,
    })
}

/// The parts held until delivery, their parcels and releases, and the
/// returns; what in them is wrong goes to `problems`.
async fn held_and_returned(
    api: &Api,
    operator: &Session,
    orders: &[Value],
    day: &Day,
    name_of: &dyn Fn(&str) -> String,
    w: &mut String,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    let _ = writeln!(
        w,
        "\nHeld until delivery (fee rule release_policy on_delivery; GET /v1/orders, /v1/orders/{{id}}/shipments, /v1/shops/{{id}}/balance)"
    );
    // Oldest first, by shop.
    let mut by_shop: BTreeMap<&str, Vec<(&Value, &Value)>> = BTreeMap::new();
    for order in orders.iter().rev() {
        for part in order["parts"].as_array().into_iter().flatten() {
            if part["fulfilment"]["release_policy"] != "on_payment" {
                by_shop
                    .entry(str_of(part, "shop_id"))
                    .or_default()
                    .push((order, part));
            }
        }
    }
    if by_shop.is_empty() {
        let _ = writeln!(w, "  no part was held");
        problems.push("no part was held until delivery".to_owned());
    }
    let (mut by_person, mut automatic) = (0usize, 0usize);
    for (shop_id, parts) in &by_shop {
        let name = name_of(shop_id);
        let currency = parts[0].1["subtotal"]["currency"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let after_sales: Vec<String> = day
            .held_after_sales
            .iter()
            .filter(|(shop, _, _)| shop == shop_id)
            .map(|(_, c, minor)| format_money(Some(*minor), Some(c)))
            .collect();
        let balance = api
            .get(operator, &format!("/v1/shops/{shop_id}/balance"))
            .await?;
        let held_now: Vec<(String, i64)> = balance["currencies"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(c, b)| {
                b["held"]["minor"]
                    .as_i64()
                    .filter(|h| *h != 0)
                    .map(|h| (c.clone(), h))
            })
            .collect();
        let mut lines = Vec::new();
        let mut shipments_made = 0usize;
        let (mut shop_by_person, mut shop_automatic) = (0usize, 0usize);
        for (order, part) in parts {
            let (order_id, part_id) = (str_of(order, "id"), str_of(part, "id"));
            let shipments = list(
                &api.get(operator, &format!("/v1/orders/{order_id}/shipments"))
                    .await?,
            );
            let parcels: Vec<&Value> = shipments
                .iter()
                .filter(|s| s["part_id"] == part_id)
                .collect();
            shipments_made += parcels.len();
            let tracking = parcels
                .iter()
                .map(|s| {
                    let mut t =
                        format!("{} {}", str_of(s, "carrier"), str_of(s, "tracking_number"));
                    if let Some(url) = s["tracking_url"].as_str() {
                        let _ = write!(t, " <{url}>");
                    }
                    t
                })
                .collect::<Vec<_>>()
                .join(", ");
            let fulfilment = &part["fulfilment"];
            let status = str_of(fulfilment, "status");
            let settlement = str_of(&part["settlement"], "status");
            let released = fulfilment["released_at"].is_string();
            let delivered_by = fulfilment["delivered_by"].as_str();
            let how = match (status, delivered_by) {
                ("delivered", Some("automatic")) => {
                    shop_automatic += 1;
                    format!(
                        "delivered automatically ({} days after shipment)",
                        fulfilment["release_after_days"].as_i64().unwrap_or(0)
                    )
                }
                ("delivered", Some(by)) => {
                    shop_by_person += 1;
                    format!("delivered, confirmed by the {by}")
                }
                (other, _) => other.to_owned(),
            };
            let money_state = if released {
                let refunded = part["refunded"]["minor"].as_i64().unwrap_or(0);
                format!(
                    "released, {} transferred{} ({settlement})",
                    format_money(
                        part["settlement"]["transferred"]["minor"].as_i64(),
                        part["settlement"]["transferred"]["currency"].as_str()
                    ),
                    if refunded > 0 {
                        format!(
                            " net of {} refunded",
                            format_money(Some(refunded), part["refunded"]["currency"].as_str())
                        )
                    } else {
                        String::new()
                    }
                )
            } else {
                format!("still held ({settlement})")
            };
            lines.push(format!(
                "    {order_id}  {}  {how}; {money_state}",
                if tracking.is_empty() {
                    "not shipped".to_owned()
                } else {
                    tracking
                }
            ));
            // What the day did to the part, against what the API says of it.
            if let Some(played) = day.held.iter().find(|h| h.part_id == part_id) {
                if !parcels
                    .iter()
                    .any(|s| s["tracking_number"] == played.tracking_number.as_str())
                {
                    problems.push(format!(
                        "{name}: part {part_id} has no parcel tracked {}",
                        played.tracking_number
                    ));
                }
                let expected = if played.confirmed {
                    "confirmed by its buyer"
                } else {
                    "delivered automatically"
                };
                if (delivered_by == Some("automatic")) == played.confirmed {
                    problems.push(format!(
                        "{name}: part {part_id} should have been {expected} (delivered_by {})",
                        delivered_by.unwrap_or("none")
                    ));
                }
            }
            if parcels.is_empty() {
                problems.push(format!(
                    "{name}: part {part_id} of order {order_id} was never shipped"
                ));
            }
            if status != "delivered" {
                problems.push(format!(
                    "{name}: part {part_id} of order {order_id} is {status}, not delivered"
                ));
            } else if !released || settlement != "settled" {
                problems.push(format!(
                    "{name}: part {part_id} of order {order_id} is delivered but its share is {} ({settlement})",
                    if released { "released" } else { "not released" }
                ));
            }
        }
        by_person += shop_by_person;
        automatic += shop_automatic;
        let still_held = if held_now.is_empty() {
            format_money(Some(0), Some(&currency))
        } else {
            held_now
                .iter()
                .map(|(c, h)| format_money(Some(*h), Some(c)))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        if !held_now.is_empty() {
            problems.push(format!("{name} still holds {still_held}"));
        }
        let _ = writeln!(
            w,
            "  {name:<24} {} part(s) held after the sales: {}; {shipments_made} shipment(s)",
            parts.len(),
            if after_sales.is_empty() {
                "nothing".to_owned()
            } else {
                after_sales.join(" + ")
            }
        );
        for line in lines {
            let _ = writeln!(w, "{line}");
        }
        let _ = writeln!(
            w,
            "    released by confirmation {shop_by_person}, automatically {shop_automatic}, still held {still_held}"
        );
    }
    for played in &day.held {
        let listed = by_shop.get(played.shop_id.as_str()).is_some_and(|parts| {
            parts
                .iter()
                .any(|(_, p)| p["id"] == played.part_id.as_str())
        });
        if !listed {
            problems.push(format!(
                "part {} of order {} was held after payment but is not under on_delivery",
                played.part_id, played.order_id
            ));
        }
    }
    if !by_shop.is_empty() && by_person == 0 {
        problems.push("no held part was released by a delivery confirmation".to_owned());
    }
    if !by_shop.is_empty() && automatic == 0 {
        problems.push("no held part was delivered automatically".to_owned());
    }

    returns_section(api, operator, orders, day, name_of, w, problems).await?;
    if problems.is_empty() {
        let _ = writeln!(
            w,
            "  held funds: every delivered part released, nothing held; every return refunded"
        );
    } else {
        let _ = writeln!(w, "  held funds and returns: {} problem(s)", problems.len());
        for problem in problems.iter() {
            let _ = writeln!(w, "    {problem}");
        }
    }
    Ok(())
}

/// The returns, and whether each was received and refunded in full.
async fn returns_section(
    api: &Api,
    operator: &Session,
    orders: &[Value],
    day: &Day,
    name_of: &dyn Fn(&str) -> String,
    w: &mut String,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    let returns = list(&api.get(operator, "/v1/returns?limit=100").await?);
    let _ = writeln!(w, "\nReturns ({}, GET /v1/returns)", returns.len());
    if returns.is_empty() {
        problems.push("no return was made".to_owned());
    }
    if !returns.iter().any(|r| r["id"] == day.return_id.as_str()) {
        problems.push(format!("return {} is not listed", day.return_id));
    }
    for ret in returns.iter().rev() {
        let id = str_of(ret, "id");
        let status = str_of(ret, "status");
        let what = ret["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                format!(
                    "{} × {}",
                    l["quantity"].as_i64().unwrap_or(0),
                    str_of(l, "title")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let amount = &ret["amount"];
        let refund = &ret["refund"];
        let refund_text = if refund.is_object() {
            format!(
                "refund {} {}",
                format_money(
                    refund["amount"]["minor"].as_i64(),
                    refund["amount"]["currency"].as_str()
                ),
                str_of(refund, "status")
            )
        } else {
            "no refund".to_owned()
        };
        let _ = writeln!(
            w,
            "  {id}  {:<24} {what}  {status}{}: {refund_text}",
            name_of(str_of(ret, "shop_id")),
            if ret["restock"] == true {
                " (restocked)"
            } else {
                ""
            }
        );
        if status != "received" {
            problems.push(format!("return {id} is {status}, not received"));
        } else if refund["status"] != "succeeded" {
            problems.push(format!(
                "return {id} was received but its refund is {}",
                refund["status"]
            ));
        } else if refund["amount"]["currency"] != amount["currency"]
            || refund["amount"]["minor"].as_i64().unwrap_or(0)
                < amount["minor"].as_i64().unwrap_or(0)
        {
            problems.push(format!(
                "return {id}'s refund {} is less than its lines' {}",
                format_money(
                    refund["amount"]["minor"].as_i64(),
                    refund["amount"]["currency"].as_str()
                ),
                format_money(amount["minor"].as_i64(), amount["currency"].as_str())
            ));
        }
        // The order shows the units refunded.
        let order = orders.iter().find(|o| o["id"] == ret["order_id"]);
        for line in ret["lines"].as_array().into_iter().flatten() {
            let refunded = order
                .and_then(|o| o["parts"].as_array())
                .into_iter()
                .flatten()
                .flat_map(|p| p["lines"].as_array().into_iter().flatten())
                .find(|l| l["id"] == line["line_id"])
                .and_then(|l| l["refunded_quantity"].as_i64())
                .unwrap_or(0);
            if status == "received" && refunded < line["quantity"].as_i64().unwrap_or(0) {
                problems.push(format!(
                    "return {id}: its order shows {refunded} unit(s) of line {} refunded",
                    str_of(line, "line_id")
                ));
            }
        }
    }
    Ok(())
}

/// What a person needs to explore the running marketplace.
/// The demo's accounts as a text file's content: every account's email,
/// the shared password and the operator's TOTP secret, so its people can
/// sign in after the run (the operator needs the secret for its code).
pub fn accounts_text(cast: &Cast, seeded: &Seeded) -> String {
    let secret = &cast.operator_totp_secret;
    let mut text = format!(
        "# Bazaar demo accounts (demo data only). Password for every one: {DEMO_PASSWORD}\n\
         operator {OPERATOR_EMAIL}\n\
         operator_totp_secret {secret}   (an authenticator app, or `oathtool --totp -b {secret}`)\n"
    );
    for buyer in &cast.buyers {
        text.push_str(&format!("buyer {}\n", buyer.email));
    }
    for seller in seeded
        .sellers
        .iter()
        .map(String::as_str)
        .chain(cast.new_sellers.iter().map(|s| s.email.as_str()))
    {
        text.push_str(&format!("seller {seller}\n"));
    }
    text
}

pub fn print_explore(api: &Api, cast: &Cast, seeded: &Seeded, sandbox_key: Option<&str>) {
    let base = api.base();
    let sellers: Vec<&str> = seeded
        .sellers
        .iter()
        .map(String::as_str)
        .chain(cast.new_sellers.iter().map(|s| s.email.as_str()))
        .collect();
    let buyers: Vec<&str> = cast.buyers.iter().map(|b| b.email.as_str()).collect();
    let secret = &cast.operator_totp_secret;
    println!("\nThe marketplace keeps running; Ctrl-C stops it.");
    println!("  shop     {base}/   (the storefront: open it in a browser)");
    println!("  API      {base}   (GET {base}/v1/products?limit=5 needs no sign-in)");
    println!(
        "  sandbox  {}   (Stripe-compatible provider; API key: {})",
        api.sandbox_url(),
        sandbox_key.unwrap_or("provider.secret_key")
    );
    println!("\nDemo accounts — password for every one: {DEMO_PASSWORD} (demo data only)");
    println!("  operator {OPERATOR_EMAIL}");
    println!("           TOTP secret {secret} (add it to an authenticator app, or `oathtool --totp -b {secret}`)");
    println!(
        "           signed in already: export OP={}",
        cast.operator.token
    );
    println!("  buyers   {}", buyers.join(", "));
    println!("  sellers  {}", sellers.join(",\n           "));
    println!("\nTry:");
    println!("  curl -s -H \"authorization: Bearer $OP\" {base}/v1/ledger/trial-balance");
    println!("  curl -s -H \"authorization: Bearer $OP\" {base}/v1/payouts");
    println!("  curl -s -H \"authorization: Bearer $OP\" '{base}/v1/orders?limit=5'");
    println!(
        "  curl -s -X POST {base}/v1/sessions -H 'content-type: application/json' -d '{{\"email\":\"{}\",\"password\":\"{DEMO_PASSWORD}\"}}'",
        buyers.first().copied().unwrap_or_default()
    );
}
