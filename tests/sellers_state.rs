//! The shop onboarding state machine as a domain function, on the suite's backend.

use crate::common;

use bazaar::db;
use bazaar::error::AppError;
use bazaar::payments::ConnectedAccount;
use bazaar::sellers::shops::{self, NewShop};
use bazaar::sellers::OnboardingStatus;
use common::{test_settings, TestDatabase};

fn account(
    id: &str,
    charges: bool,
    payouts: bool,
    submitted: bool,
    due: &[&str],
    reason: Option<&str>,
) -> ConnectedAccount {
    ConnectedAccount {
        id: id.into(),
        charges_enabled: charges,
        payouts_enabled: payouts,
        details_submitted: submitted,
        currently_due: due.iter().map(|s| (*s).to_owned()).collect(),
        disabled_reason: reason.map(str::to_owned),
    }
}

#[test]
fn the_provider_state_decides_the_status() {
    let cases = [
        (
            account("a", false, false, false, &["external_account"], None),
            OnboardingStatus::Pending,
        ),
        (
            account("a", true, false, true, &[], None),
            OnboardingStatus::Restricted,
        ),
        (
            account("a", true, true, true, &[], None),
            OnboardingStatus::Active,
        ),
        (
            account(
                "a",
                false,
                false,
                true,
                &["individual.verification.document"],
                Some("requirements.past_due"),
            ),
            OnboardingStatus::Restricted,
        ),
        (
            account("a", false, true, false, &["tos_acceptance.date"], None),
            OnboardingStatus::Pending,
        ),
    ];
    for (account, expected) in cases {
        assert_eq!(
            OnboardingStatus::of_account(&account),
            expected,
            "{account:?}"
        );
    }
}

fn demo_shop() -> NewShop {
    NewShop::parse(
        "Ann's Pottery",
        "anns-pottery",
        "US",
        "usd",
        "Help@Anns.example",
    )
    .unwrap()
}

#[test]
fn a_shop_moves_through_onboarding_and_back() {
    let database = TestDatabase::create();
    let pool = db::connect_pool(&test_settings(&database.url, &[]).database).unwrap();
    let mut conn = pool.get().unwrap();
    db::migrate(&mut conn).unwrap();

    let shop = shops::create_shop(&mut conn, "usr_ann", &demo_shop()).unwrap();
    assert_eq!(shop.status(), "not_started");
    assert_eq!(shop.support_email, "help@anns.example");
    assert!(!shop.can_sell());

    let pending = account("acct_1", false, false, false, &["external_account"], None);
    let shop = shops::attach_account(&mut conn, &shop.id, &pending).unwrap();
    assert_eq!(shop.status(), "pending");
    assert_eq!(shop.requirements_due, ["external_account"]);

    let active = account("acct_1", true, true, true, &[], None);
    let moved = shops::apply_account_update(&mut conn, &active)
        .unwrap()
        .unwrap();
    assert_eq!(
        (moved.from, moved.to),
        (OnboardingStatus::Pending, OnboardingStatus::Active)
    );
    // The same event delivered again changes nothing.
    let again = shops::apply_account_update(&mut conn, &active)
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.from, again.to),
        (OnboardingStatus::Active, OnboardingStatus::Active)
    );
    let shop = shops::find_shop(&mut conn, &shop.id).unwrap().unwrap();
    assert!(shop.can_sell() && shop.can_be_paid_out());

    let restricted = account(
        "acct_1",
        false,
        false,
        true,
        &["individual.id_number"],
        Some("requirements.past_due"),
    );
    let moved = shops::apply_account_update(&mut conn, &restricted)
        .unwrap()
        .unwrap();
    assert_eq!(moved.to, OnboardingStatus::Restricted);
    let shop = shops::find_shop(&mut conn, &shop.id).unwrap().unwrap();
    assert_eq!(
        shop.disabled_reason.as_deref(),
        Some("requirements.past_due")
    );
    assert!(!shop.can_sell());

    shops::apply_account_update(&mut conn, &active).unwrap();
    let frozen = shops::set_frozen(&mut conn, &shop.id, true, Some("chargeback ratio")).unwrap();
    assert_eq!(frozen.status(), "frozen");
    assert!(!frozen.can_sell() && !frozen.can_be_paid_out());
    let unfrozen = shops::set_frozen(&mut conn, &shop.id, false, None).unwrap();
    assert_eq!(unfrozen.status(), "active");
    assert!(unfrozen.frozen_reason.is_none());
}

#[test]
fn updates_for_unknown_accounts_are_ignored_and_accounts_are_not_swapped() {
    let database = TestDatabase::create();
    let pool = db::connect_pool(&test_settings(&database.url, &[]).database).unwrap();
    let mut conn = pool.get().unwrap();
    db::migrate(&mut conn).unwrap();
    let stranger = account("acct_unknown", true, true, true, &[], None);
    assert_eq!(
        shops::apply_account_update(&mut conn, &stranger).unwrap(),
        None
    );

    let shop = shops::create_shop(&mut conn, "usr_ann", &demo_shop()).unwrap();
    shops::attach_account(
        &mut conn,
        &shop.id,
        &account("acct_1", false, false, false, &[], None),
    )
    .unwrap();
    let error = shops::attach_account(
        &mut conn,
        &shop.id,
        &account("acct_2", true, true, true, &[], None),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            AppError::Conflict {
                code: "account_already_attached",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn shop_fields_are_validated_and_slugs_are_unique() {
    let database = TestDatabase::create();
    let pool = db::connect_pool(&test_settings(&database.url, &[]).database).unwrap();
    let mut conn = pool.get().unwrap();
    db::migrate(&mut conn).unwrap();
    let param_of = |result: Result<NewShop, AppError>| match result {
        Err(AppError::Unprocessable { param, .. }) => param.unwrap_or_default(),
        other => panic!("expected a 422, got {other:?}"),
    };
    assert_eq!(
        param_of(NewShop::parse("", "s", "US", "USD", "a@b.co")),
        "name"
    );
    assert_eq!(
        param_of(NewShop::parse("Shop", "Has Spaces", "US", "USD", "a@b.co")),
        "slug"
    );
    assert_eq!(
        param_of(NewShop::parse("Shop", "shop", "usa", "USD", "a@b.co")),
        "country"
    );
    assert_eq!(
        param_of(NewShop::parse("Shop", "shop", "US", "XYZ", "a@b.co")),
        "default_currency"
    );
    assert_eq!(
        param_of(NewShop::parse("Shop", "shop", "US", "USD", "not an email")),
        "support_email"
    );
    assert_eq!(
        param_of(NewShop::parse(
            &"x".repeat(101),
            "shop",
            "US",
            "USD",
            "a@b.co"
        )),
        "name"
    );

    shops::create_shop(&mut conn, "usr_ann", &demo_shop()).unwrap();
    let error = shops::create_shop(&mut conn, "usr_bob", &demo_shop()).unwrap_err();
    assert!(
        matches!(
            error,
            AppError::Conflict {
                code: "slug_taken",
                ..
            }
        ),
        "{error:?}"
    );
}
