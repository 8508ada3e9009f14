//! What a seller tells buyers about the shop: its name, a description, a
//! logo, the support address and the return policy. Each change is audited
//! with the fields it changed, in the transaction that makes it.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::shops;
use super::shops::{shop_for, NAME_CHARS_MAX};
use crate::auth::{record_audit, AuditEntry, RequestContext, UserId};
use crate::catalog::model::{is_web_url, IMAGE_URL_CHARS_MAX};
use crate::db::{self, DbConnection};
use crate::error::AppError;
use crate::http::text::{display_text, Lines};

/// Longest shop description, in characters.
pub const DESCRIPTION_CHARS_MAX: usize = 2000;
/// Longest return policy, in characters.
pub const RETURN_POLICY_CHARS_MAX: usize = 2000;

/// `PATCH /v1/shops/{id}`: every field optional; absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopProfileRequest {
    /// 1 to 100 characters on one line.
    pub name: Option<String>,
    /// Plain text, up to 2000 characters; line breaks kept.
    pub description: Option<String>,
    /// An http(s) URL or a `/media/…` path; empty removes the logo.
    pub logo_url: Option<String>,
    pub support_email: Option<String>,
    /// Plain text, up to 2000 characters; line breaks kept.
    pub return_policy: Option<String>,
}

/// A validated profile change; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the logo.
    pub logo_url: Option<Option<String>>,
    pub support_email: Option<String>,
    pub return_policy: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_value", message, Some(param.to_owned()))
}

impl TryFrom<ShopProfileRequest> for ProfilePatch {
    type Error = AppError;

    fn try_from(request: ShopProfileRequest) -> Result<Self, AppError> {
        let name = request
            .name
            .as_deref()
            .map(|n| display_text("name", n, 1, NAME_CHARS_MAX, Lines::Single))
            .transpose()?;
        let description = request
            .description
            .as_deref()
            .map(|d| display_text("description", d, 0, DESCRIPTION_CHARS_MAX, Lines::Multi))
            .transpose()?;
        let logo_url = request
            .logo_url
            .as_deref()
            .map(str::trim)
            .map(|url| match url {
                "" => Ok(None),
                url if is_web_url(url) => Ok(Some(url.to_owned())),
                _ => Err(invalid(
                    "logo_url",
                    format!(
                        "a logo URL is an http(s) URL, or a path under /media/, \
                         of at most {IMAGE_URL_CHARS_MAX} characters"
                    ),
                )),
            })
            .transpose()?;
        let support_email = request
            .support_email
            .as_deref()
            .map(|email| {
                crate::auth::Email::parse(email)
                    .map(|e| e.as_str().to_owned())
                    .map_err(|_| {
                        invalid(
                            "support_email",
                            "expected an email address like help@example.com",
                        )
                    })
            })
            .transpose()?;
        let return_policy = request
            .return_policy
            .as_deref()
            .map(|p| display_text("return_policy", p, 0, RETURN_POLICY_CHARS_MAX, Lines::Multi))
            .transpose()?;
        Ok(Self {
            name,
            description,
            logo_url,
            support_email,
            return_policy,
        })
    }
}

/// A shop's profile as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = shops)]
pub struct ShopProfile {
    pub id: String,
    pub name: String,
    pub description: String,
    pub logo_url: Option<String>,
    pub support_email: String,
    pub return_policy: String,
}

/// The profile of a shop `viewer` may see (its owner, or staff).
///
/// # Errors
/// 404 `not_found` for an unknown shop or someone else's.
pub fn shop_profile(
    conn: &mut DbConnection,
    shop_id: &str,
    viewer: &str,
    staff: bool,
) -> Result<ShopProfile, AppError> {
    shop_for(conn, shop_id, viewer, staff)?;
    profile_of(conn, shop_id)?.ok_or(AppError::NotFound { resource: "shop" })
}

/// The profile of any shop; buyers' pages check whether it sells first.
///
/// # Errors
/// A database failure.
pub(crate) fn profile_of(
    conn: &mut DbConnection,
    shop_id: &str,
) -> Result<Option<ShopProfile>, AppError> {
    Ok(shops::table
        .find(shop_id)
        .select(ShopProfile::as_select())
        .first(conn)
        .optional()?)
}

/// Longest text kept of a description or policy in the audit log: both
/// sides of a change of every field must fit its 16 KiB per document.
const AUDIT_TEXT_CHARS_MAX: usize = 1000;

/// Long text as the audit log keeps it: cut, with its full length noted.
fn audited(text: &str) -> serde_json::Value {
    match text.char_indices().nth(AUDIT_TEXT_CHARS_MAX) {
        None => text.into(),
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.chars().count()).into(),
    }
}

/// The columns a patch may set; `None` leaves a column alone.
#[derive(AsChangeset)]
#[diesel(table_name = shops)]
struct Changes<'a> {
    name: Option<&'a str>,
    description: Option<&'a str>,
    logo_url: Option<Option<&'a str>>,
    support_email: Option<&'a str>,
    return_policy: Option<&'a str>,
    updated_at: chrono::NaiveDateTime,
}

/// Changes the profile of a shop `actor` owns (or any shop, for `staff`),
/// and records who changed what in the audit log (`shop.profile_update`,
/// with the changed fields before and after), in one transaction. A patch
/// that changes nothing writes nothing.
///
/// # Errors
/// 404 `not_found` for an unknown shop or someone else's.
#[tracing::instrument(skip(conn, context, patch))]
pub fn update_shop_profile(
    conn: &mut DbConnection,
    shop_id: &str,
    actor: &UserId,
    staff: bool,
    context: &RequestContext,
    patch: &ProfilePatch,
) -> Result<ShopProfile, AppError> {
    db::write_transaction(conn, |conn| {
        let before = shop_profile(conn, shop_id, &actor.0, staff)?;
        let changes = Changes {
            name: patch.name.as_deref().filter(|v| *v != before.name),
            description: patch
                .description
                .as_deref()
                .filter(|v| *v != before.description),
            logo_url: patch
                .logo_url
                .as_ref()
                .map(Option::as_deref)
                .filter(|v| *v != before.logo_url.as_deref()),
            support_email: patch
                .support_email
                .as_deref()
                .filter(|v| *v != before.support_email),
            return_policy: patch
                .return_policy
                .as_deref()
                .filter(|v| *v != before.return_policy),
            updated_at: db::now(),
        };
        let mut was = serde_json::Map::new();
        let mut now = serde_json::Map::new();
        let mut note = |field: &str, old: serde_json::Value, new: Option<serde_json::Value>| {
            if let Some(new) = new {
                was.insert(field.to_owned(), old);
                now.insert(field.to_owned(), new);
            }
        };
        note(
            "name",
            before.name.clone().into(),
            changes.name.map(Into::into),
        );
        note(
            "description",
            audited(&before.description),
            changes.description.map(audited),
        );
        note(
            "logo_url",
            before.logo_url.clone().into(),
            changes.logo_url.map(Into::into),
        );
        note(
            "support_email",
            before.support_email.clone().into(),
            changes.support_email.map(Into::into),
        );
        note(
            "return_policy",
            audited(&before.return_policy),
            changes.return_policy.map(audited),
        );
        if now.is_empty() {
            return Ok(before);
        }
        diesel::update(shops::table.find(shop_id))
            .set(&changes)
            .execute(conn)?;
        record_audit(
            conn,
            AuditEntry::new("shop.profile_update", shop_id)
                .actor(actor)
                .context(context)
                .before(was.into())
                .after(now.into()),
        )?;
        profile_of(conn, shop_id)?.ok_or(AppError::NotFound { resource: "shop" })
    })
}
