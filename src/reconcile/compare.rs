//! The pure comparison: what the provider's balance transactions sum to per
//! object against what the ledger's postings mirroring them sum to.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::AppError;
use crate::money::Money;

/// How a line differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The provider moved money the ledger does not record.
    MissingInLedger,
    /// The ledger records money the provider did not move.
    MissingAtProvider,
    /// Both have it, with different amounts.
    AmountDiffers,
    /// Both have it, in different states (a payout's status).
    StatusDiffers,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingInLedger => "missing_in_ledger",
            Self::MissingAtProvider => "missing_at_provider",
            Self::AmountDiffers => "amount_differs",
            Self::StatusDiffers => "status_differs",
        }
    }
}

/// One difference between the ledger and the provider. Answers show it as
/// [`DifferenceJson`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: Kind,
    /// `platform`, or `shop:{id}` for a shop's connected account.
    pub scope: String,
    /// The provider object (`ch_…`, `tr_…`, `po_…`), or `balance:pending` /
    /// `balance:available` / `balance:total`, or `payout:{id}:status`.
    pub object: String,
    pub currency: String,
    pub provider_minor: Option<i64>,
    pub ledger_minor: Option<i64>,
    pub detail: String,
    /// The shop's name, for a difference of a shop's connected account
    /// (`scope` `shop:{id}`); filled in when a report is run or read.
    pub shop_name: Option<String>,
}

/// One difference between the ledger and the provider.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Difference)]
pub struct DifferenceJson<'a> {
    pub kind: Kind,
    /// `platform`, or `shop:{id}` for a shop's connected account.
    pub scope: &'a str,
    /// The provider object (`ch_…`, `tr_…`, `po_…`), or `balance:pending` /
    /// `balance:available` / `balance:total`, or `payout:{id}:status`.
    pub object: &'a str,
    /// What the provider holds; null when it has nothing for the object.
    pub provider: Option<Money>,
    /// What the ledger holds; null when it has nothing for the object.
    pub ledger: Option<Money>,
    pub detail: &'a str,
    /// The shop's name, for a difference of a shop's connected account
    /// (`scope` `shop:{id}`); filled in when a report is run or read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop_name: Option<&'a str>,
}

impl Difference {
    /// The difference as answers show it.
    ///
    /// # Errors
    /// A currency that is no currency: a corrupt stored report.
    pub fn json(&self) -> Result<DifferenceJson<'_>, AppError> {
        let currency = crate::ledger::stored_currency(&self.currency, &self.object)?;
        let money = |minor: Option<i64>| minor.map(|minor| Money::new(minor, currency));
        Ok(DifferenceJson {
            kind: self.kind,
            scope: &self.scope,
            object: &self.object,
            provider: money(self.provider_minor),
            ledger: money(self.ledger_minor),
            detail: &self.detail,
            shop_name: self.shop_name.as_deref(),
        })
    }
}

crate::http::json::answered_as!(Difference => DifferenceJson);

impl Difference {
    /// The shop whose connected account differs, if it is a shop's.
    pub fn shop_id(&self) -> Option<&str> {
        self.scope.strip_prefix("shop:")
    }
}

/// Sums keyed by (provider reference, currency).
pub type Sums = BTreeMap<(String, String), i64>;

/// Compares the two sides object by object. An object both sides sum to zero
/// for (or that one side lists at zero) is no difference; postings without a
/// provider reference are reported as such.
pub fn by_reference(scope: &str, provider: &Sums, ledger: &Sums) -> Vec<Difference> {
    let keys: BTreeSet<&(String, String)> = provider.keys().chain(ledger.keys()).collect();
    let mut differences = Vec::new();
    for key in keys {
        let (reference, currency) = key;
        let at_provider = provider.get(key).copied().filter(|v| *v != 0);
        let in_ledger = ledger.get(key).copied().filter(|v| *v != 0);
        let (kind, detail) = match (at_provider, in_ledger) {
            (None, None) => continue,
            (Some(a), Some(b)) if a == b => continue,
            (Some(_), Some(_)) => (Kind::AmountDiffers, "amounts differ"),
            (Some(_), None) => (Kind::MissingInLedger, "the ledger has nothing for it"),
            (None, Some(_)) if reference.is_empty() => (
                Kind::MissingAtProvider,
                "postings on a mirrored account name no provider object",
            ),
            (None, Some(_)) => (Kind::MissingAtProvider, "the provider has nothing for it"),
        };
        differences.push(Difference {
            kind,
            scope: scope.to_owned(),
            object: if reference.is_empty() {
                "(no provider reference)".to_owned()
            } else {
                reference.clone()
            },
            currency: currency.clone(),
            provider_minor: provider.get(key).copied(),
            ledger_minor: ledger.get(key).copied(),
            detail: detail.to_owned(),
            shop_name: None,
        });
    }
    differences
}

/// Compares one balance figure (per currency); currencies one side lacks count as zero.
pub fn balances(
    scope: &str,
    name: &str,
    provider: &BTreeMap<String, i64>,
    ledger: &BTreeMap<String, i64>,
) -> Vec<Difference> {
    let currencies: BTreeSet<&String> = provider.keys().chain(ledger.keys()).collect();
    currencies
        .into_iter()
        .filter_map(|currency| {
            let at_provider = provider.get(currency).copied().unwrap_or(0);
            let in_ledger = ledger.get(currency).copied().unwrap_or(0);
            (at_provider != in_ledger).then(|| Difference {
                kind: Kind::AmountDiffers,
                scope: scope.to_owned(),
                object: format!("balance:{name}"),
                currency: currency.clone(),
                provider_minor: Some(at_provider),
                ledger_minor: Some(in_ledger),
                detail: format!("{name} balance differs"),
                shop_name: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(items: &[(&str, &str, i64)]) -> Sums {
        items
            .iter()
            .map(|(r, c, v)| ((r.to_string(), c.to_string()), *v))
            .collect()
    }

    #[test]
    fn each_kind_of_difference_is_found_and_equal_lines_are_not() {
        let provider = sums(&[
            ("ch_1", "USD", 9680),
            ("tr_1", "USD", -5000),
            ("re_1", "USD", -1000),
            ("dp_1", "USD", 0),
        ]);
        let ledger = sums(&[
            ("ch_1", "USD", 9680),
            ("tr_1", "USD", -4999),
            ("trr_9", "USD", 300),
            ("", "USD", 5),
        ]);
        let found = by_reference("platform", &provider, &ledger);
        let kinds: Vec<(&str, Kind)> = found.iter().map(|d| (d.object.as_str(), d.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("(no provider reference)", Kind::MissingAtProvider),
                ("re_1", Kind::MissingInLedger),
                ("tr_1", Kind::AmountDiffers),
                ("trr_9", Kind::MissingAtProvider),
            ]
        );
        assert_eq!(found[2].provider_minor, Some(-5000));
        assert_eq!(found[2].ledger_minor, Some(-4999));
    }

    #[test]
    fn balances_compare_per_currency_with_absent_as_zero() {
        let provider: BTreeMap<String, i64> = [("USD".into(), 100), ("EUR".into(), 0)].into();
        let ledger: BTreeMap<String, i64> = [("USD".into(), 100), ("GBP".into(), 7)].into();
        let found = balances("shop:s", "pending", &provider, &ledger);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].currency, "GBP");
        assert_eq!(found[0].object, "balance:pending");
    }
}
