//! What every workspace page shares: who may see it, its navigation, and
//! the banner that turns the shop's state into the next thing to do.

use actix_web::HttpRequest;

use crate::auth::{BrowserSession, Role};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::payouts;
use crate::sellers::{shops, OnboardingStatus, Shop};
use crate::web::format;
use crate::web::render::{self, PageError, PageResult};
use crate::web::visitor::Visitor;

/// The workspace's sections, in the navigation's order: `(tab, label, path
/// under the shop)`.
pub(crate) const TABS: &[(&str, &str, &str)] = &[
    ("overview", "Overview", ""),
    ("products", "Products", "/products"),
    ("orders", "Orders", "/orders"),
    ("money", "Money", "/money"),
    ("notifications", "Notifications", "/notifications"),
    ("profile", "Shop profile", "/profile"),
    ("security", "Security", "/security"),
];

/// The signed-in seller and their shop `shop_id`.
///
/// Anyone not signed in is sent to sign in and brought back to `here`; a
/// signed-in account that does not own the shop gets the 404 page, as the
/// API answers 404: a shop id reveals nothing.
///
/// # Errors
/// The answer to send instead of the page.
pub(crate) async fn seller_shop(
    visitor: &Visitor,
    pool: &DbPool,
    shop_id: String,
    here: &str,
) -> Result<(BrowserSession, Shop), PageResult> {
    let session = signed_in_seller(visitor, here)?;
    let owner = session.caller.user_id.0.clone();
    let shop = db::run(pool, move |conn| {
        shops::shop_for(conn, &shop_id, &owner, false)
    })
    .await
    .map_err(|error| Err(PageError(error)))?;
    Ok((session, shop))
}

/// The signed-in seller, or the answer for anyone else: sign in first, or
/// a 403 page for an account that does not sell.
///
/// # Errors
/// The answer to send instead of the page.
// The refusal is the finished answer, made at most once per request: boxing
// it would only add an allocation to every caller's `return`.
#[allow(clippy::result_large_err)]
pub(crate) fn signed_in_seller(
    visitor: &Visitor,
    here: &str,
) -> Result<BrowserSession, PageResult> {
    let Some(session) = visitor.session.clone() else {
        let location = format!("/signin?next={}", encode(here));
        return Err(Ok(visitor.finish(render::see_other(&location).finish())));
    };
    if session.caller.role != Role::Seller {
        return Err(Err(PageError(AppError::ForbiddenWith {
            code: "not_a_seller",
            message: "the seller workspace is for seller accounts; create one at /sell".into(),
        })));
    }
    Ok(session)
}

pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// One workspace navigation link.
#[derive(Debug, Clone)]
pub(crate) struct Tab {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
    /// Unread notices, on the notifications tab when there are any.
    pub unread: Option<i64>,
}

/// A call to action on a banner: a form posting to `action` (the only
/// kind a banner needs: each one changes something).
#[derive(Debug, Clone)]
pub(crate) struct BannerAction {
    pub label: &'static str,
    pub action: String,
}

/// What the shop's state asks of the seller.
#[derive(Debug, Clone)]
pub(crate) struct Banner {
    /// `success`, `warning` or `danger`.
    pub tone: &'static str,
    pub heading: String,
    pub body: Vec<String>,
    pub button: Option<BannerAction>,
}

/// The frame around every workspace page.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub shop_id: String,
    pub shop_name: String,
    pub tabs: Vec<Tab>,
    pub banners: Vec<Banner>,
    /// The shop's unread notices.
    pub unread: i64,
}

impl Frame {
    /// The frame of `shop`'s page in section `tab`, with its banners.
    ///
    /// # Errors
    /// A database failure.
    pub(crate) async fn of(pool: &DbPool, shop: &Shop, tab: &str) -> Result<Self, AppError> {
        let shop_id = shop.id.clone();
        // One trip to the database for everything the frame shows.
        let (latest_payout, unread) = db::run(pool, move |conn| {
            let latest = payouts::page(conn, Some(&shop_id), None, None, 1)?;
            let unread = crate::sellers::notices::unread_count(conn, &shop_id)?;
            Ok((latest.into_iter().next(), unread))
        })
        .await?;
        Ok(Self {
            shop_id: shop.id.clone(),
            shop_name: shop.name.clone(),
            tabs: TABS
                .iter()
                .map(|(name, label, path)| Tab {
                    label,
                    href: format!("/seller/shops/{}{path}", shop.id),
                    current: *name == tab,
                    unread: (*name == "notifications" && unread > 0).then_some(unread),
                })
                .collect(),
            // "Live" is news on the home page only; problems show everywhere.
            banners: banners(shop, latest_payout.as_ref())
                .into_iter()
                .filter(|b| tab == "overview" || b.tone != "success")
                .collect(),
            unread,
        })
    }
}

/// The banners for a shop: at most one for its standing (frozen, not yet
/// onboarded, restricted, or live), and one for a failed latest payout.
pub(crate) fn banners(shop: &Shop, latest_payout: Option<&payouts::PayoutRow>) -> Vec<Banner> {
    let onboarding = format!("/seller/shops/{}/onboarding", shop.id);
    let needed = needs(&shop.requirements_due);
    let mut banners = Vec::new();
    if shop.frozen {
        banners.push(Banner {
            tone: "danger",
            heading: "The marketplace has frozen this shop".into(),
            body: vec![
                format!(
                    "The operators' reason: {}",
                    shop.frozen_reason.as_deref().unwrap_or("none given")
                ),
                "Buyers cannot see your products and nothing is paid out until the operators lift the freeze. Reply to the email they sent you to sort it out.".into(),
            ],
            button: None,
        });
    } else {
        match shop.onboarding_status {
            OnboardingStatus::NotStarted | OnboardingStatus::Pending => banners.push(Banner {
                tone: "warning",
                heading: "Finish setting up payments".into(),
                body: vec![
                    "Buyers see your products once the payments provider has what it needs to pay you.".into(),
                    if needed.is_empty() {
                        "Start at the provider's onboarding: your business, who runs it, and a bank account.".into()
                    } else {
                        format!("Still needed: {}.", needed.join(", "))
                    },
                ],
                button: Some(BannerAction {
                    label: "Continue onboarding",
                    action: onboarding,
                }),
            }),
            OnboardingStatus::Restricted => banners.push(Banner {
                tone: "danger",
                heading: "The payments provider has restricted this shop".into(),
                body: [
                    Some(format!(
                        "Why: {}.",
                        restriction(shop.disabled_reason.as_deref(), !shop.payouts_enabled)
                    )),
                    (!needed.is_empty()).then(|| format!("Still needed: {}.", needed.join(", "))),
                    Some("Update your details at the provider; the shop is open again as soon as it lifts the restriction.".into()),
                ]
                .into_iter()
                .flatten()
                .collect(),
                button: Some(BannerAction {
                    label: "Update your details at the provider",
                    action: onboarding.clone(),
                }),
            }),
            OnboardingStatus::Active => banners.push(Banner {
                tone: "success",
                heading: "Your shop is live".into(),
                body: vec!["Buyers can find and buy your products.".into()],
                button: None,
            }),
        }
    }
    if let Some(payout) = latest_payout.filter(|p| p.status == "failed") {
        let amount = crate::money::Currency::parse(&payout.currency)
            .map(|currency| format::price(crate::money::Money::new(payout.amount_minor, currency)))
            .unwrap_or_else(|_| format!("{} {}", payout.amount_minor, payout.currency));
        banners.push(Banner {
            tone: "danger",
            heading: format!("Your payout of {amount} failed"),
            body: vec![
                format!(
                    "The bank said: {}",
                    payout
                        .failure_message
                        .as_deref()
                        .unwrap_or("no reason given")
                ),
                "The money is still yours: it stays on your balance and is paid out again once the bank account works. Enter a bank account that can take payouts at the provider.".into(),
            ],
            button: Some(BannerAction {
                label: "Fix the bank account",
                action: format!("/seller/shops/{}/onboarding", shop.id),
            }),
        });
    }
    banners
}

/// The provider's requirement names as a seller reads them, each once.
pub(crate) fn needs(requirements: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for requirement in requirements {
        let plain = match requirement.split('.').next().unwrap_or_default() {
            "external_account" => "a bank account for payouts".to_owned(),
            "business_profile" | "business_type" | "company" => "your business details".to_owned(),
            "representative" | "individual" | "person" | "owners" | "directors" | "executives" => {
                "details of the person who runs the business".to_owned()
            }
            "tos_acceptance" => "acceptance of the provider's terms".to_owned(),
            other => other.replace('_', " "),
        };
        if !out.contains(&plain) {
            out.push(plain);
        }
    }
    out
}

/// The provider's `disabled_reason` as a sentence fragment.
fn restriction(reason: Option<&str>, payouts_paused: bool) -> String {
    match reason {
        Some("requirements.past_due") => "information the provider asked for is overdue".into(),
        Some("requirements.pending_verification") => {
            "the provider is still checking the details you gave".into()
        }
        Some("under_review") => "the provider is reviewing the account".into(),
        Some(r) if r.starts_with("rejected") => {
            "the provider rejected the account; contact the marketplace".into()
        }
        Some(other) => format!("the provider gives the reason `{other}`"),
        None if payouts_paused => {
            "payouts are paused: the bank account could not take the last payout".into()
        }
        None => "the provider has not given a reason yet".into(),
    }
}

/// The base of the provider's return and refresh URLs: the configured
/// public address, or the one this request came to.
pub(crate) fn public_base(req: &HttpRequest, settings: &crate::config::Settings) -> String {
    settings
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| render::absolute(req, ""))
}

/// Whether the domain refused the input (a 4xx the form shows beside its
/// fields) rather than failed (an error page).
pub(crate) fn is_refusal(error: &AppError) -> bool {
    actix_web::ResponseError::status_code(error).is_client_error()
}

/// A shop's status as its seller reads it.
pub(crate) fn status_label(status: &str) -> &'static str {
    match status {
        "not_started" => "Payments not set up",
        "pending" => "Payments set-up in progress",
        "active" => "Live",
        "restricted" => "Restricted by the payments provider",
        "frozen" => "Frozen by the marketplace",
        _ => "Unknown",
    }
}

/// A workspace page's answer: personal, never stored by a cache, with the
/// browser's cookies as this request left them.
///
/// # Errors
/// The template failed to render.
pub(crate) fn answer(
    req: &HttpRequest,
    visitor: &Visitor,
    page: &impl askama::Template,
    status: actix_web::http::StatusCode,
) -> PageResult {
    Ok(visitor.finish(render::page_with(
        req,
        page,
        render::Caching::NoStore,
        status,
        render::PAGE_CSP,
    )?))
}
