//! Who may do what: one named rule per staff-facing action, taken by the API
//! handler and by the console page alike, so a role's reach is written once.
//!
//! Each rule lists the roles allowed besides the operator, who passes every
//! rule ([`super::Caller::require`]). The console shows a link or a button
//! only when [`super::Caller::may`] says yes, and its handler still calls
//! `require` with the same rule: hidden is not the same as refused.
//!
//! Rules that also admit buyers or sellers (reading an order, syncing it)
//! keep their ownership checks in the domain functions; here is only the
//! role half.

use super::Role;

/// Open the operator console (every staff role).
pub const CONSOLE: &[Role] = &[Role::Finance, Role::Support];

/// Read shops (their requirements and state, orders, balance, payouts and
/// statements; sellers only their own).
pub const READ_SHOPS: &[Role] = &[Role::Seller, Role::Finance, Role::Support];
/// Ask the provider for a shop's current state.
pub const SYNC_SHOP: &[Role] = &[Role::Seller, Role::Support];
/// Freeze or unfreeze a shop.
pub const FREEZE_SHOP: &[Role] = &[Role::Operator];

/// Find users by email or role and read one.
pub const FIND_USERS: &[Role] = &[Role::Support];
/// Change a user's role.
pub const CHANGE_ROLE: &[Role] = &[Role::Operator];
/// Disable a user or enable them again.
pub const DISABLE_USER: &[Role] = &[Role::Operator];

/// Register, change and delete webhook endpoints, read their delivery log,
/// redeliver and replay (sellers only for their own shops; platform-wide
/// endpoints are the operators').
pub const MANAGE_WEBHOOK_ENDPOINTS: &[Role] = &[Role::Seller];

/// Read fee rules and their versions, and preview a breakdown.
pub const READ_FEE_RULES: &[Role] = &[Role::Finance];
/// Create a fee rule, add a version, retire one.
pub const MANAGE_FEE_RULES: &[Role] = &[Role::Operator];

/// Read any order (buyers read their own).
pub const READ_ORDERS: &[Role] = &[Role::Buyer, Role::Finance, Role::Support];
/// Ask the provider for an order's payment state.
pub const SYNC_ORDER: &[Role] = &[Role::Buyer, Role::Support];
/// Refund an order's lines or an amount (sellers refund their own parts).
pub const REFUND: &[Role] = &[Role::Support, Role::Seller];
/// Ask the provider for a dispute's state.
pub const SYNC_DISPUTE: &[Role] = &[Role::Support];
/// Read one order's ledger entries and P&L.
pub const READ_ORDER_LEDGER: &[Role] = &[Role::Finance, Role::Support];
/// Download the orders CSV.
pub const EXPORT_ORDERS: &[Role] = &[Role::Finance, Role::Support];

/// Read every shop's payouts, the payouts CSV, the shops in the red.
pub const READ_PAYOUTS: &[Role] = &[Role::Finance, Role::Support];
/// Read the ledger: accounts, postings, entries, trial balance, P&L, fee
/// revenue and the fees CSV.
pub const READ_LEDGER: &[Role] = &[Role::Finance];
/// Post a manual adjustment to the ledger.
pub const POST_ADJUSTMENT: &[Role] = &[Role::Finance];
/// Read and run reconciliation reports.
pub const RECONCILE: &[Role] = &[Role::Finance];

/// Read every event in the feed (sellers read their own shops' events,
/// checked in the handler).
pub const READ_EVENTS: &[Role] = &[Role::Seller, Role::Finance, Role::Support];
/// Read the job queue.
pub const READ_JOBS: &[Role] = &[Role::Finance];
/// Replay a dead job, or all of them.
pub const REPLAY_JOBS: &[Role] = &[Role::Operator];
/// Read the email outbox.
pub const READ_EMAILS: &[Role] = &[Role::Support];
/// Read the audit log.
pub const READ_AUDIT_LOG: &[Role] = &[Role::Operator];
