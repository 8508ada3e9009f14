//! The ledger for finance: every account with its balance (`ledger::balances`,
//! as `GET /v1/ledger/accounts`), one account's postings (`ledger::balance`
//! and `ledger::account_postings`), one entry (`ledger::entry`), the trial
//! balance (`ledger::trial_balance`), and the adjustment form posting through
//! `ledger::adjustments::post_adjustment_audited`, as
//! `POST /v1/ledger/adjustments` does, with its idempotency key carried by
//! the form (made when the form is drawn) so a second press posts nothing.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;

use super::super::console::{self, Console};
use super::{price, when, with_query};
use crate::auth::{policy, RequestContext};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::ledger::adjustments::{AdjustmentLine, AdjustmentRequest};
use crate::ledger::{self, AccountBalance, PostingView};
use crate::money::{Currency, Money};
use crate::web::forms::{sentence, FieldError, FormErrors};
use crate::web::render::{self, Chrome, Meta, PageError, PageResult};
use crate::web::visitor::Visitor;

/// Postings one page of an account shows.
const POSTINGS_SHOWN: i64 = 50;
/// Lines the adjustment form offers (the API takes up to
/// `ADJUSTMENT_POSTINGS_MAX`; a correction rarely needs more than two).
const FORM_LINES: usize = 4;

/// What an account is, in words: `(owner shop, its name for people)`.
fn account_words(code: &str) -> (Option<String>, String) {
    if let Some(rest) = code.strip_prefix("shop:") {
        let (shop_id, name) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let words = match name {
            "payable" => "owed to the seller by the platform",
            "transferred_in" => "transferred to the connected account (memo)",
            "connected_balance" => "available on the connected account (memo)",
            "connected_pending" => "pending on the connected account (memo)",
            "in_transit" => "paid out, on its way to the bank (memo)",
            "paid_out" => "arrived at the seller's bank (memo)",
            _ => "other",
        };
        return (Some(shop_id.to_owned()), words.to_owned());
    }
    let words = match code.trim_start_matches("platform:") {
        "cash" => "Platform cash at the provider",
        "buyer_clearing" => "Paid by buyers, not yet allocated",
        "fee_revenue" => "Platform fee revenue",
        "processing_fees" => "Processing fees paid to the provider",
        "processing_fees_recovered" => "Processing fees recovered from sellers",
        "refunds_borne" => "The platform's portion of refunds",
        "disputes_open" => "Disputed funds, while disputes are open",
        "dispute_fees" => "Dispute fees",
        "dispute_losses" => "Disputes lost",
        "adjustments" => "Manual adjustments",
        _ => "Platform account",
    };
    (None, words.to_owned())
}

/// An account as a row: what it is (with its shop's name and link) and its figures.
struct AccountRow {
    id: String,
    code: String,
    shop_id: String,
    shop_name: String,
    words: String,
    currency: String,
    debits: String,
    credits: String,
    balance: String,
}

fn account_row(a: &AccountBalance, names: &HashMap<String, String>) -> AccountRow {
    let (shop, words) = account_words(&a.code);
    let shop_id = shop.unwrap_or_default();
    AccountRow {
        id: a.id.clone(),
        code: a.code.clone(),
        shop_name: names.get(&shop_id).cloned().unwrap_or_default(),
        shop_id,
        words,
        currency: a.currency.clone(),
        debits: price(a.debits_minor, &a.currency),
        credits: price(a.credits_minor, &a.currency),
        balance: price(a.balance_minor, &a.currency),
    }
}

/// The names of the shops these accounts belong to.
fn owner_names(
    conn: &mut crate::db::DbConnection,
    accounts: &[AccountBalance],
) -> Result<HashMap<String, String>, AppError> {
    let mut ids: Vec<&str> = accounts
        .iter()
        .filter_map(|a| a.owner_shop_id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    crate::sellers::public::shop_names(conn, &ids)
}

/// Per currency: total debits and credits, and whether they are equal, in words.
struct Total {
    currency: String,
    debits: String,
    credits: String,
    balanced: bool,
    words: String,
}

fn totals_of(totals: &BTreeMap<String, (i64, i64)>) -> Vec<Total> {
    totals
        .iter()
        .map(|(currency, (debits, credits))| {
            let (d, c) = (price(*debits, currency), price(*credits, currency));
            let balanced = debits == credits;
            Total {
                words: if balanced {
                    format!("In {currency}, debits ({d}) equal credits ({c}): the ledger balances.")
                } else {
                    format!("In {currency}, debits ({d}) do not equal credits ({c}): the ledger does not balance.")
                },
                currency: currency.clone(),
                debits: d,
                credits: c,
                balanced,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "ops/money_accounts.html", config = "src/web/askama.toml")]
struct AccountsPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    /// `true` for the trial balance, `false` for the accounts list.
    trial: bool,
    rows: Vec<AccountRow>,
    totals: Vec<Total>,
}

/// `GET /ops/money/ledger`: policy::READ_LEDGER, as `GET /v1/ledger/accounts`.
pub(super) async fn accounts(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/money/ledger", policy::READ_LEDGER) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let rows = db::run(&pool, |conn| {
        let all = ledger::balances(conn)?;
        let names = owner_names(conn, &all)?;
        Ok(all.iter().map(|a| account_row(a, &names)).collect())
    })
    .await?;
    let page = AccountsPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Ledger accounts — Console — Bazaar"),
        console: Console::of(&session.caller, "money"),
        trial: false,
        rows,
        totals: Vec::new(),
    };
    console::answer(&req, &visitor, &page, StatusCode::OK)
}

/// `GET /ops/money/trial-balance`: policy::READ_LEDGER, as
/// `GET /v1/ledger/trial-balance`.
pub(super) async fn trial_balance(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/money/trial-balance", policy::READ_LEDGER) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let (rows, totals) = db::run(&pool, |conn| {
        let trial = ledger::trial_balance(conn, None)?;
        let names = owner_names(conn, &trial.accounts)?;
        let rows: Vec<AccountRow> = trial
            .accounts
            .iter()
            .map(|a| account_row(a, &names))
            .collect();
        let totals: BTreeMap<String, (i64, i64)> = trial
            .totals
            .into_iter()
            .map(|(currency, t)| (currency, (t.debits.minor, t.credits.minor)))
            .collect();
        Ok((rows, totals))
    })
    .await?;
    let page = AccountsPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Trial balance — Console — Bazaar"),
        console: Console::of(&session.caller, "money"),
        trial: true,
        rows,
        totals: totals_of(&totals),
    };
    console::answer(&req, &visitor, &page, StatusCode::OK)
}

/// A posting as a row.
struct PostingRow {
    entry_id: String,
    account_id: String,
    account_words: String,
    cause: String,
    description: String,
    when: String,
    debit: String,
    credit: String,
    provider_ref: String,
}

/// The currency of an account id (`{code}:{currency}`).
fn currency_of(account_id: &str) -> &str {
    account_id.rsplit(':').next().unwrap_or_default()
}

fn posting_row(p: PostingView, names: &HashMap<String, String>) -> PostingRow {
    let currency = currency_of(&p.account_id).to_owned();
    let code = p
        .account_id
        .rsplit_once(':')
        .map_or(p.account_id.as_str(), |(code, _)| code);
    let (shop, words) = account_words(code);
    let account_words = match shop {
        Some(shop_id) => format!(
            "{}: {words}",
            names.get(&shop_id).map_or(shop_id.as_str(), String::as_str)
        ),
        None => words,
    };
    let side = |minor: i64| {
        if minor == 0 {
            String::new()
        } else {
            price(minor, &currency)
        }
    };
    PostingRow {
        entry_id: p.entry_id,
        account_words,
        cause: p.cause,
        description: p.description,
        when: when(p.created_at),
        debit: side(p.debit_minor),
        credit: side(p.credit_minor),
        provider_ref: p.provider_ref.unwrap_or_default(),
        account_id: p.account_id,
    }
}

/// The shops behind these postings' accounts, by name.
fn posting_names(
    conn: &mut crate::db::DbConnection,
    postings: &[PostingView],
) -> Result<HashMap<String, String>, AppError> {
    let mut ids: Vec<&str> = postings
        .iter()
        .filter_map(|p| p.account_id.strip_prefix("shop:"))
        .filter_map(|rest| rest.split(':').next())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    crate::sellers::public::shop_names(conn, &ids)
}

#[derive(Template)]
#[template(path = "ops/money_account.html", config = "src/web/askama.toml")]
struct AccountPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    account: AccountRow,
    postings: Vec<PostingRow>,
    /// The link to the next (older) page, if there is one.
    older: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    starting_after: Option<String>,
}

/// `GET /ops/money/ledger/accounts/{id}?starting_after`: policy::READ_LEDGER,
/// as `GET /v1/ledger/accounts/{id}`.
pub(super) async fn account(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = with_query(&format!("/ops/money/ledger/accounts/{id}"), &req);
    let session = match console::staff(&visitor, &here, policy::READ_LEDGER) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let after = query.into_inner().starting_after;
    let account_id = id.clone();
    let (account, page, names) = db::run(&pool, move |conn| {
        let account = ledger::balance(conn, &account_id)?;
        let page = ledger::account_postings(conn, &account_id, POSTINGS_SHOWN, after.as_deref())?;
        let mut names = owner_names(conn, std::slice::from_ref(&account))?;
        names.extend(posting_names(conn, &page.data)?);
        Ok((account, page, names))
    })
    .await?;
    let older = match (page.has_more, page.data.last()) {
        (true, Some(last)) => format!("/ops/money/ledger/accounts/{id}?starting_after={}", last.id),
        _ => String::new(),
    };
    let account = account_row(&account, &names);
    let page = AccountPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Account {} — Console — Bazaar", account.id)),
        console: Console::of(&session.caller, "money"),
        postings: page
            .data
            .into_iter()
            .map(|p| posting_row(p, &names))
            .collect(),
        account,
        older,
    };
    console::answer(&req, &visitor, &page, StatusCode::OK)
}

#[derive(Template)]
#[template(path = "ops/money_entry.html", config = "src/web/askama.toml")]
struct EntryPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    id: String,
    cause: String,
    description: String,
    when: String,
    /// The order the entry is of, when its cause names one.
    order_id: String,
    postings: Vec<PostingRow>,
    totals: Vec<Total>,
    notice: &'static str,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct EntryQuery {
    #[serde(default)]
    done: String,
}

/// `GET /ops/money/ledger/entries/{id}`: policy::READ_LEDGER, as
/// `GET /v1/ledger/entries/{id}` (an id or a cause).
pub(super) async fn entry(
    req: HttpRequest,
    mut visitor: Visitor,
    path: web::Path<String>,
    query: web::Query<EntryQuery>,
    pool: web::Data<DbPool>,
) -> PageResult {
    let id = path.into_inner();
    let here = format!("/ops/money/ledger/entries/{id}");
    let session = match console::staff(&visitor, &here, policy::READ_LEDGER) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let wanted = id.clone();
    let (postings, names) = db::run(&pool, move |conn| {
        let postings = ledger::entry(conn, &wanted)?;
        let names = posting_names(conn, &postings)?;
        Ok((postings, names))
    })
    .await?;
    let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for p in &postings {
        let t = totals
            .entry(currency_of(&p.account_id).to_owned())
            .or_default();
        t.0 += p.debit_minor;
        t.1 += p.credit_minor;
    }
    let first = postings[0].clone();
    let order_id = ["allocation:", "late_payment:"]
        .iter()
        .find_map(|prefix| first.cause.strip_prefix(prefix))
        .unwrap_or_default()
        .to_owned();
    let page = EntryPage {
        chrome: visitor.chrome(),
        meta: Meta::personal(&format!("Entry {} — Console — Bazaar", first.entry_id)),
        console: Console::of(&session.caller, "money"),
        id: first.entry_id,
        cause: first.cause,
        description: first.description,
        when: when(first.created_at),
        order_id,
        postings: postings
            .into_iter()
            .map(|p| posting_row(p, &names))
            .collect(),
        totals: totals_of(&totals),
        notice: if query.done == "posted" {
            "The adjustment is posted: these are its postings."
        } else {
            ""
        },
    };
    console::answer(&req, &visitor, &page, StatusCode::OK)
}

/// The adjustment form as sent: each line's account and amounts in major
/// units (`12.50`), as people write them.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct AdjustmentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    account_1: String,
    #[serde(default)]
    debit_1: String,
    #[serde(default)]
    credit_1: String,
    #[serde(default)]
    account_2: String,
    #[serde(default)]
    debit_2: String,
    #[serde(default)]
    credit_2: String,
    #[serde(default)]
    account_3: String,
    #[serde(default)]
    debit_3: String,
    #[serde(default)]
    credit_3: String,
    #[serde(default)]
    account_4: String,
    #[serde(default)]
    debit_4: String,
    #[serde(default)]
    credit_4: String,
}

impl AdjustmentForm {
    /// The form's lines: `(account, debit, credit)`, in order.
    fn lines(&self) -> [(&str, &str, &str); FORM_LINES] {
        [
            (&self.account_1, &self.debit_1, &self.credit_1),
            (&self.account_2, &self.debit_2, &self.credit_2),
            (&self.account_3, &self.debit_3, &self.credit_3),
            (&self.account_4, &self.debit_4, &self.credit_4),
        ]
        .map(|(a, d, c)| (a.trim(), d.trim(), c.trim()))
    }
}

/// One line of the form as drawn.
struct LineView {
    number: usize,
    account: String,
    debit: String,
    credit: String,
}

/// One account the form offers.
struct AccountChoice {
    code: String,
    label: String,
}

#[derive(Template)]
#[template(path = "ops/money_adjustment.html", config = "src/web/askama.toml")]
struct AdjustmentPage {
    chrome: Chrome,
    meta: Meta,
    console: Console,
    key: String,
    description: String,
    currency: String,
    lines: Vec<LineView>,
    choices: Vec<AccountChoice>,
    errors: FormErrors,
}

/// The accounts an adjustment may touch: the platform's (not its cash) and
/// the payable account of every shop with ledger history, by shop name.
fn choices(conn: &mut crate::db::DbConnection) -> Result<Vec<AccountChoice>, AppError> {
    let mut out: Vec<AccountChoice> = ledger::adjustments::platform_adjustable_codes()
        .into_iter()
        .map(|code| AccountChoice {
            label: format!("{} ({code})", account_words(&code).1),
            code,
        })
        .collect();
    let all = ledger::balances(conn)?;
    let names = owner_names(conn, &all)?;
    let mut shops: Vec<AccountChoice> = all
        .iter()
        .filter(|a| a.owner_shop_id.is_some() && a.code.ends_with(":payable"))
        .map(|a| {
            let shop_id = a.owner_shop_id.clone().unwrap_or_default();
            AccountChoice {
                label: format!(
                    "{}: owed to the seller ({})",
                    names.get(&shop_id).map_or(shop_id.as_str(), String::as_str),
                    a.code
                ),
                code: a.code.clone(),
            }
        })
        .collect();
    shops.sort_by(|a, b| a.label.cmp(&b.label));
    shops.dedup_by(|a, b| a.code == b.code);
    out.extend(shops);
    Ok(out)
}

async fn adjustment_page(
    req: &HttpRequest,
    visitor: &mut Visitor,
    pool: &DbPool,
    console: Console,
    form: AdjustmentForm,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let choices = db::run(pool, choices).await?;
    let key = if form.idempotency_key.trim().is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        form.idempotency_key.clone()
    };
    let lines = form
        .lines()
        .iter()
        .enumerate()
        .map(|(i, (account, debit, credit))| LineView {
            number: i + 1,
            account: (*account).to_owned(),
            debit: (*debit).to_owned(),
            credit: (*credit).to_owned(),
        })
        .collect();
    let page = AdjustmentPage {
        chrome: visitor.chrome(),
        meta: Meta::personal("Post an adjustment — Console — Bazaar"),
        console,
        key,
        description: form.description.clone(),
        currency: if form.currency.trim().is_empty() {
            "USD".to_owned()
        } else {
            form.currency.clone()
        },
        lines,
        choices,
        errors,
    };
    console::answer(req, visitor, &page, status)
}

/// `GET /ops/money/adjustments`: policy::POST_ADJUSTMENT.
pub(super) async fn adjustment_form(
    req: HttpRequest,
    mut visitor: Visitor,
    pool: web::Data<DbPool>,
) -> PageResult {
    let session = match console::staff(&visitor, "/ops/money/adjustments", policy::POST_ADJUSTMENT)
    {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let console = Console::of(&session.caller, "money");
    adjustment_page(
        &req,
        &mut visitor,
        &pool,
        console,
        AdjustmentForm::default(),
        FormErrors::none(),
        StatusCode::OK,
    )
    .await
}

/// The form as the API's request, and the form row of each of its lines
/// (empty rows are left out); an amount people cannot have meant is the
/// field's error.
fn request_of(form: &AdjustmentForm) -> Result<(AdjustmentRequest, Vec<usize>), FormErrors> {
    let currency = Currency::parse(form.currency.trim());
    let mut errors = FormErrors::none();
    let mut postings = Vec::new();
    let mut rows = Vec::new();
    for (i, (account, debit, credit)) in form.lines().iter().enumerate() {
        let number = i + 1;
        if account.is_empty() && debit.is_empty() && credit.is_empty() {
            continue;
        }
        let mut minor = |field: String, text: &str| -> i64 {
            if text.is_empty() {
                return 0;
            }
            // An unknown currency is the currency field's error (the
            // API's); the amount waits for it.
            let Ok(currency) = currency else { return 0 };
            match Money::parse_decimal(text, currency) {
                Ok(money) if money.minor > 0 => money.minor,
                _ => {
                    errors.fields.push(FieldError {
                        field,
                        message: format!(
                            "Enter an amount above zero in {}, like 12.50.",
                            currency.code()
                        ),
                    });
                    0
                }
            }
        };
        let debit_minor = minor(format!("debit_{number}"), debit);
        let credit_minor = minor(format!("credit_{number}"), credit);
        postings.push(AdjustmentLine {
            account: (*account).to_owned(),
            debit_minor,
            credit_minor,
        });
        rows.push(number);
    }
    if errors.any() {
        return Err(errors);
    }
    Ok((
        AdjustmentRequest {
            description: form.description.clone(),
            currency: form.currency.trim().to_owned(),
            postings,
        },
        rows,
    ))
}

/// The field a domain error's `param` names on this form.
fn field_of(param: &str, rows: &[usize]) -> Option<String> {
    match param {
        "description" | "currency" => Some(param.to_owned()),
        _ => {
            let rest = param.strip_prefix("postings[")?;
            let (index, tail) = rest.split_once(']')?;
            let number = rows.get(index.parse::<usize>().ok()?)?;
            Some(if tail == ".account" {
                format!("account_{number}")
            } else {
                format!("debit_{number}")
            })
        }
    }
}

/// `POST /ops/money/adjustments`: policy::POST_ADJUSTMENT; posts through the
/// API's domain function (audited there), once per the form's key; then to
/// the entry's page.
pub(super) async fn post_adjustment(
    req: HttpRequest,
    mut visitor: Visitor,
    context: RequestContext,
    pool: web::Data<DbPool>,
    form: web::Form<AdjustmentForm>,
) -> PageResult {
    let form = form.into_inner();
    visitor.check_form(&req, &form.csrf_token)?;
    let session = match console::staff(&visitor, "/ops/money/adjustments", policy::POST_ADJUSTMENT)
    {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let console = Console::of(&session.caller, "money");
    let (request, rows) = match request_of(&form) {
        Ok(parsed) => parsed,
        Err(errors) => {
            return adjustment_page(
                &req,
                &mut visitor,
                &pool,
                console,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let key = match crate::http::idempotency_key(Some(&form.idempotency_key)) {
        Ok(key) => key,
        Err(_) => {
            let errors = FormErrors {
                fields: Vec::new(),
                general: Some(
                    "This form has lost its key: nothing was posted. Check the lines and post it again."
                        .into(),
                ),
            };
            let form = AdjustmentForm {
                idempotency_key: String::new(),
                ..form
            };
            return adjustment_page(
                &req,
                &mut visitor,
                &pool,
                console,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let actor = session.caller.user_id.clone();
    // The sums in the currency's own format, should the domain refuse them
    // as unbalanced (its message counts minor units, for programs).
    let sums = (
        request.postings.iter().map(|l| l.debit_minor).sum::<i64>(),
        request.postings.iter().map(|l| l.credit_minor).sum::<i64>(),
        request.currency.clone(),
    );
    let posted = db::run(&pool, move |conn| {
        ledger::adjustments::post_adjustment_audited(conn, &key, &request, &actor, &context)
    })
    .await;
    match posted {
        Ok(adjustment) => Ok(visitor.finish(
            render::see_other(&format!(
                "/ops/money/ledger/entries/{}?done=posted",
                adjustment.entry_id
            ))
            .finish(),
        )),
        Err(error) if actix_web::ResponseError::status_code(&error).is_client_error() => {
            let status = actix_web::ResponseError::status_code(&error);
            let message = if error.code() == "unbalanced_entry" {
                format!(
                    "The debits ({}) must equal the credits ({}).",
                    price(sums.0, &sums.2),
                    price(sums.1, &sums.2)
                )
            } else {
                sentence(&error.to_string())
            };
            let errors = match error.param().and_then(|p| field_of(p, &rows)) {
                Some(field) => FormErrors::field(&field, message),
                None => FormErrors {
                    fields: Vec::new(),
                    general: Some(message),
                },
            };
            // A key that posted other lines before: this form needs a new one.
            let form = if status == StatusCode::CONFLICT {
                AdjustmentForm {
                    idempotency_key: String::new(),
                    ..form
                }
            } else {
                form
            };
            adjustment_page(&req, &mut visitor, &pool, console, form, errors, status).await
        }
        Err(error) => Err(PageError(error)),
    }
}
