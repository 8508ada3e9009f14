//! [`quote`]: what a shop charges to ship one order part. Pure: the rates are
//! read by the caller, so the rule is tested without a database.

use super::model::{Destination, ShippingRate, HANDLING_DAYS_DEFAULT};
use crate::money::{Money, MoneyError};

/// What shipping a part costs, or why it cannot be shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    /// The part ships for `shipping`, due `handling_days` after payment.
    Ships { shipping: Money, handling_days: i32 },
    /// The shop has rates, and none covers this country in this currency.
    CannotShip,
}

/// The shipping of one part of `units` units whose items come to `items`,
/// to `country` (uppercase ISO 3166-1 alpha-2), under the shop's `rates`:
///
/// - no rates at all: the shop charges no shipping and ships everywhere
///   ([`HANDLING_DAYS_DEFAULT`] handling days);
/// - else the rate for `country` in the items' currency, or failing that the
///   `*` rate in that currency; neither: [`Quote::CannotShip`];
/// - the rate's `free_above_minor` reached by the items: free;
/// - else `first_item_minor + additional_item_minor × (units − 1)`.
///
/// # Errors
/// [`MoneyError::Overflow`] when the amount does not fit (never for rates
/// that passed validation and a cart's quantities).
///
/// # Panics
/// When `units` < 1 or `items` is negative: a part always has a unit, and
/// its items are never negative (a bug, not an input error).
pub fn quote(
    rates: &[ShippingRate],
    country: &str,
    items: Money,
    units: i64,
) -> Result<Quote, MoneyError> {
    assert!(units >= 1, "a part ships at least one unit");
    assert!(!items.is_negative(), "a part's items are never negative");
    let currency = items.currency;
    if rates.is_empty() {
        return Ok(Quote::Ships {
            shipping: Money::zero(currency),
            handling_days: HANDLING_DAYS_DEFAULT,
        });
    }
    let in_currency = |destination: &Destination| {
        rates
            .iter()
            .find(|r| r.currency == currency && r.destination == *destination)
    };
    let Some(rate) = in_currency(&Destination::Country(country.to_owned()))
        .or_else(|| in_currency(&Destination::Elsewhere))
    else {
        return Ok(Quote::CannotShip);
    };
    let free = rate
        .free_above_minor
        .is_some_and(|threshold| items.minor >= threshold);
    let minor = if free {
        0
    } else {
        rate.additional_item_minor
            .checked_mul(units - 1)
            .and_then(|more| more.checked_add(rate.first_item_minor))
            .ok_or(MoneyError::Overflow)?
    };
    assert!(minor >= 0, "shipping is never negative");
    Ok(Quote::Ships {
        shipping: Money::new(minor, currency),
        handling_days: rate.handling_days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::parse("USD").unwrap())
    }

    fn jpy(minor: i64) -> Money {
        Money::new(minor, Currency::parse("JPY").unwrap())
    }

    fn rate(destination: &str, currency: &str, first: i64, more: i64) -> ShippingRate {
        ShippingRate {
            destination: if destination == "*" {
                Destination::Elsewhere
            } else {
                Destination::Country(destination.into())
            },
            currency: Currency::parse(currency).unwrap(),
            first_item_minor: first,
            additional_item_minor: more,
            free_above_minor: None,
            handling_days: 2,
        }
    }

    fn ships(minor: Money, handling_days: i32) -> Quote {
        Quote::Ships {
            shipping: minor,
            handling_days,
        }
    }

    #[test]
    fn a_shop_without_rates_ships_everywhere_for_nothing() {
        assert_eq!(
            quote(&[], "NZ", usd(12_345), 7).unwrap(),
            ships(usd(0), HANDLING_DAYS_DEFAULT)
        );
    }

    #[test]
    fn the_first_unit_and_each_one_after_it() {
        let rates = [rate("US", "USD", 500, 150)];
        assert_eq!(
            quote(&rates, "US", usd(1000), 1).unwrap(),
            ships(usd(500), 2)
        );
        // 500 + 2 × 150
        assert_eq!(
            quote(&rates, "US", usd(3000), 3).unwrap(),
            ships(usd(800), 2)
        );
        let zero_decimals = [rate("JP", "JPY", 800, 0)];
        assert_eq!(
            quote(&zero_decimals, "JP", jpy(5000), 4).unwrap(),
            ships(jpy(800), 2)
        );
    }

    #[test]
    fn the_country_wins_over_elsewhere_and_currencies_must_match() {
        let mut france = rate("FR", "USD", 900, 0);
        france.handling_days = 5;
        let rates = [rate("*", "USD", 2000, 500), france, rate("DE", "EUR", 1, 1)];
        assert_eq!(
            quote(&rates, "FR", usd(100), 2).unwrap(),
            ships(usd(900), 5)
        );
        // 2000 + 500: Germany is priced in euros only, so `*` in dollars applies.
        assert_eq!(
            quote(&rates, "DE", usd(100), 2).unwrap(),
            ships(usd(2500), 2)
        );
        let euros_only = [rate("FR", "EUR", 900, 0)];
        assert_eq!(
            quote(&euros_only, "FR", usd(100), 1).unwrap(),
            Quote::CannotShip
        );
        let france_only = [rate("FR", "USD", 900, 0)];
        assert_eq!(
            quote(&france_only, "US", usd(100), 1).unwrap(),
            Quote::CannotShip
        );
    }

    #[test]
    fn free_once_the_items_reach_the_threshold() {
        let mut free_above = rate("US", "USD", 500, 100);
        free_above.free_above_minor = Some(5000);
        let rates = [free_above];
        // 500 + 3 × 100 just below the threshold; nothing at it and above.
        assert_eq!(
            quote(&rates, "US", usd(4999), 4).unwrap(),
            ships(usd(800), 2)
        );
        assert_eq!(quote(&rates, "US", usd(5000), 4).unwrap(), ships(usd(0), 2));
        assert_eq!(quote(&rates, "US", usd(9000), 1).unwrap(), ships(usd(0), 2));
    }

    #[test]
    fn an_amount_that_does_not_fit_is_an_error_not_a_wrap() {
        let rates = [rate("US", "USD", i64::MAX, 1)];
        assert_eq!(quote(&rates, "US", usd(1), 2), Err(MoneyError::Overflow));
        let rates = [rate("US", "USD", 0, i64::MAX)];
        assert_eq!(quote(&rates, "US", usd(1), 3), Err(MoneyError::Overflow));
    }

    #[test]
    #[should_panic(expected = "at least one unit")]
    fn a_part_without_units_is_a_bug() {
        let _ = quote(&[], "US", usd(0), 0);
    }
}
