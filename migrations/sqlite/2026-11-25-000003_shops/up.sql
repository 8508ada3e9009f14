-- A seller's shop and its connected account at the provider.
-- onboarding_status follows the provider's account state:
--   not_started (no account yet) -> pending (requirements due) -> active (charges
--   and payouts enabled) <-> restricted (the provider disabled it after onboarding).
-- frozen is an operator's decision layered on top of it.
CREATE TABLE shops (
    id TEXT PRIMARY KEY NOT NULL,
    owner_user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    default_currency TEXT NOT NULL,
    support_email TEXT NOT NULL,
    provider_account_id TEXT UNIQUE,
    onboarding_status TEXT NOT NULL CHECK (onboarding_status IN ('not_started', 'pending', 'active', 'restricted')),
    requirements_due TEXT NOT NULL,
    disabled_reason TEXT,
    charges_enabled BOOLEAN NOT NULL,
    payouts_enabled BOOLEAN NOT NULL,
    frozen BOOLEAN NOT NULL,
    frozen_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX shops_owner ON shops (owner_user_id);
