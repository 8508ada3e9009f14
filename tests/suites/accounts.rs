//! Test binary `accounts`: accounts, sign-in, roles, API keys, TOTP, rate limits and the security checks.
//!
//! Each module is one file of `tests/`; a binary per capability, not per
//! file, because each binary links the whole crate (see docs/testing.md).

include!("support.rs");

#[path = "../auth_account.rs"]
mod auth_account;
#[path = "../auth_api_keys.rs"]
mod auth_api_keys;
#[path = "../auth_roles.rs"]
mod auth_roles;
#[path = "../auth_sessions.rs"]
mod auth_sessions;
#[path = "../auth_signup.rs"]
mod auth_signup;
#[path = "../auth_throttle.rs"]
mod auth_throttle;
#[path = "../auth_totp.rs"]
mod auth_totp;
#[path = "../rate_limits.rs"]
mod rate_limits;
#[path = "../security_csv.rs"]
mod security_csv;
#[path = "../security_input.rs"]
mod security_input;
#[path = "../security_limits.rs"]
mod security_limits;
#[path = "../security_login_flood.rs"]
mod security_login_flood;
#[path = "../security_roles.rs"]
mod security_roles;
#[path = "../security_secrets.rs"]
mod security_secrets;
