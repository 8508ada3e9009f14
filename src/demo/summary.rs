//! The summary: what the day left in the books, read from the API as an
//! operator would — shops, orders, fee revenue by shop, transfers, payouts,
//! the trial balance and a fresh reconciliation report. Nothing here is
//! computed from the demo's own script, so the summary can disagree with it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::client::Api;
use super::day::Day;
use super::morning::{Cast, OPERATOR_EMAIL};
use super::{Progress, Seeded, DEMO_PASSWORD};
use crate::money::{Currency, Money};

/// Steps the summary counts on the progress bar.
pub const STEPS: u64 = 1;

/// The books' verdict, and the summary to print.
pub struct Books {
    /// The printable summary.
    pub text: String,
    /// Currencies whose debits and credits differ: (currency, debits, credits).
    pub unbalanced: Vec<(String, i64, i64)>,
    pub reconciliation_differences: usize,
}

impl Books {
    /// `Ok` when the trial balance is zero and reconciliation is clean.
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
        Ok(())
    }
}

/// `12.34 USD` from minor units and a code, as the money module writes it.
pub fn format_money(minor: Option<i64>, currency: Option<&str>) -> String {
    let (Some(minor), Some(code)) = (minor, currency) else {
        return "?".to_owned();
    };
    match Currency::parse(code) {
        Ok(currency) => Money::new(minor, currency).to_string(),
        Err(_) => format!("{minor} {code}"),
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
    let payouts = list(&api.get(operator, "/v1/payouts?limit=100").await?);
    let dead_jobs = list(&api.get(operator, "/v1/jobs?status=dead&limit=100").await?);

    let names: BTreeMap<&str, &str> = shops
        .iter()
        .map(|s| (str_of(s, "id"), str_of(s, "name")))
        .collect();
    let name_of = |id: &str| names.get(id).copied().unwrap_or(id).to_owned();
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "\n== The demo day, as the API reports it ==");

    let _ = writeln!(w, "\nShops ({})", shops.len());
    // Oldest first: the catalog's shops, then the morning's.
    for shop in shops.iter().rev() {
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
        let mut facts = vec![format!(
            "{} shop(s)",
            order["parts"].as_array().map_or(0, Vec::len)
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

    let _ = writeln!(
        w,
        "\nPlatform fees by shop (GET /v1/reports/fee-revenue, orders paid in the last 30 days)"
    );
    for row in fees["by_shop"].as_array().into_iter().flatten() {
        let currency = row["currency"].as_str();
        let _ = writeln!(
            w,
            "  {:<24} {} part(s)  sales {:>12}  fees {:>10}",
            name_of(str_of(row, "key")),
            row["parts"].as_i64().unwrap_or(0),
            format_money(row["subtotal_minor"].as_i64(), currency),
            format_money(row["fees_minor"].as_i64(), currency)
        );
    }

    let _ = writeln!(
        w,
        "\nTransfers to sellers, net of reversals (ledger: shop:…:transferred_in)"
    );
    let accounts = trial["accounts"].as_array().cloned().unwrap_or_default();
    for account in &accounts {
        let code = str_of(account, "code");
        if let Some(shop) = code
            .strip_prefix("shop:")
            .and_then(|rest| rest.strip_suffix(":transferred_in"))
        {
            let _ = writeln!(
                w,
                "  {:<24} {:>12}",
                name_of(shop),
                format_money(
                    account["balance_minor"].as_i64(),
                    account["currency"].as_str()
                )
            );
        }
    }

    let _ = writeln!(w, "\nPayouts ({}, failed first)", payouts.len());
    for payout in &payouts {
        let mut line = format!(
            "  {:<24} {:>12}  {}",
            name_of(str_of(payout, "shop_id")),
            format_money(payout["amount_minor"].as_i64(), payout["currency"].as_str()),
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
        let balance = account["balance_minor"].as_i64().unwrap_or(0);
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
        let debits = pair[0].as_i64().unwrap_or(0);
        let credits = pair[1].as_i64().unwrap_or(0);
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
    })
}

/// What a person needs to explore the running marketplace.
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
