//! What every console page shares: who may see it (staff only, enrolled in
//! two-step sign-in, and allowed by the page's rule in `auth::policy`), the
//! console's navigation (only the sections the role may open), and the
//! answer's headers.

use actix_web::HttpRequest;

use crate::auth::{policy, BrowserSession, Caller, Role};
use crate::error::AppError;
use crate::web::render::{self, PageError, PageResult};
use crate::web::seller::workspace;
use crate::web::visitor::Visitor;

/// The console's sections, in the navigation's order: `(section, label,
/// path, the rules any one of which opens it)`.
const SECTIONS: &[(&str, &str, &str, &[&[Role]])] = &[
    ("home", "Home", "/ops", &[policy::CONSOLE]),
    ("shops", "Shops", "/ops/shops", &[policy::READ_SHOPS]),
    ("users", "Users", "/ops/users", &[policy::FIND_USERS]),
    (
        "fees",
        "Fee rules",
        "/ops/fee-rules",
        &[policy::READ_FEE_RULES],
    ),
    ("orders", "Orders", "/ops/orders", &[policy::READ_ORDERS]),
    (
        "money",
        "Money",
        "/ops/money",
        &[policy::READ_PAYOUTS, policy::READ_LEDGER],
    ),
    (
        "operations",
        "Operations",
        "/ops/operations",
        &[
            policy::READ_JOBS,
            policy::READ_EMAILS,
            policy::READ_AUDIT_LOG,
        ],
    ),
];

/// One console navigation link.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// The frame around every console page.
#[derive(Debug, Clone)]
pub(crate) struct Console {
    /// The signed-in staff member.
    pub caller: Caller,
    /// Their role as shown (`Operator`, `Finance`, `Support`).
    pub role: &'static str,
    pub sections: Vec<Section>,
}

impl Console {
    /// The frame of a page in `section` for `caller`.
    pub(crate) fn of(caller: &Caller, section: &str) -> Self {
        Self {
            role: match caller.role {
                Role::Operator => "Operator",
                Role::Finance => "Finance",
                Role::Support => "Support",
                Role::Buyer | Role::Seller => "",
            },
            sections: SECTIONS
                .iter()
                .filter(|(_, _, _, rules)| rules.iter().any(|rule| caller.may(rule)))
                .map(|(name, label, href, _)| Section {
                    label,
                    href,
                    current: *name == section,
                })
                .collect(),
            caller: caller.clone(),
        }
    }

    /// Whether the signed-in staff member passes `rule`: a page shows a
    /// link or a form only when this says yes.
    pub(crate) fn may(&self, rule: &[Role]) -> bool {
        self.caller.may(rule)
    }
}

/// The signed-in staff member, if `rule` lets them open the page at `here`.
///
/// - Not signed in: sent to sign in and brought back to `here`.
/// - A staff member who has not enrolled two-step sign-in yet: sent to
///   enrol first (the API refuses them everything else too).
/// - A buyer or a seller: the 404 page (the console is not theirs to find).
/// - A staff member whose role the rule does not allow: the 403 page.
///
/// # Errors
/// The answer to send instead of the page.
// The refusal is the finished answer, made at most once per request.
#[allow(clippy::result_large_err)]
pub(crate) fn staff(
    visitor: &Visitor,
    here: &str,
    rule: &[Role],
) -> Result<BrowserSession, PageResult> {
    let Some(session) = visitor.session.clone() else {
        let location = format!("/signin?next={}", workspace::encode(here));
        return Err(Ok(visitor.finish(render::see_other(&location).finish())));
    };
    if !session.caller.role.is_staff() {
        return Err(Err(PageError(AppError::RouteNotFound)));
    }
    if session.totp_enrollment_pending {
        return Err(Ok(visitor.finish(render::see_other("/ops/enrol").finish())));
    }
    if let Err(refused) = session.caller.require(rule) {
        return Err(Err(PageError(match refused {
            AppError::Forbidden => AppError::ForbiddenWith {
                code: "forbidden",
                message: format!(
                    "your role ({}) cannot open this page or do this; ask an operator if you need it",
                    session.caller.role
                ),
            },
            other => other,
        })));
    }
    Ok(session)
}

/// A console page's answer: personal, never stored by a cache.
///
/// # Errors
/// The template failed to render.
pub(crate) fn answer(
    req: &HttpRequest,
    visitor: &Visitor,
    page: &impl askama::Template,
    status: actix_web::http::StatusCode,
) -> PageResult {
    workspace::answer(req, visitor, page, status)
}
