//! Test binary `sandbox`: the provider sandbox, the provider client, the demo and email delivery.
//!
//! Each module is one file of `tests/`; a binary per capability, not per
//! file, because each binary links the whole crate (see docs/testing.md).

include!("support.rs");

#[path = "../demo_day.rs"]
mod demo_day;
#[path = "../demo_determinism.rs"]
mod demo_determinism;
#[path = "../demo_seed.rs"]
mod demo_seed;
#[path = "../emails_smtp.rs"]
mod emails_smtp;
#[path = "../provider_flows.rs"]
mod provider_flows;
#[path = "../provider_official_client.rs"]
mod provider_official_client;
#[path = "../sandbox_api.rs"]
mod sandbox_api;
#[path = "../sandbox_client.rs"]
mod sandbox_client;
#[path = "../sandbox_durable.rs"]
mod sandbox_durable;
#[path = "../sandbox_form.rs"]
mod sandbox_form;
#[path = "../sandbox_money.rs"]
mod sandbox_money;
#[path = "../sandbox_onboarding_form.rs"]
mod sandbox_onboarding_form;
#[path = "../sandbox_strict.rs"]
mod sandbox_strict;
#[path = "../sandbox_webhooks.rs"]
mod sandbox_webhooks;
