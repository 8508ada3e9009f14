//! Bar charts drawn on the server as inline SVG (no script, no chart
//! library), every coordinate an integer computed from integer amounts, so
//! the picture can never say something the table beside it does not: the
//! seller's sales chart (a bar per day), and the console's books reports
//! (a bar per day, or a ranked bar per shop, category or P&L line).

use crate::money::{Currency, Money};
use crate::payouts::sales::SalesSeries;
use crate::web::format;

/// Width of one day's slot, in SVG units.
const DAY_WIDTH: i64 = 20;
/// Width of a bar within its slot.
const BAR_WIDTH: i64 = 14;
/// Room left of the bars for the value labels.
const LEFT: i64 = 84;
const RIGHT: i64 = 12;
const TOP: i64 = 12;
/// Height of the area the bars live in.
const PLOT_HEIGHT: i64 = 120;
/// Room under the bars for the day labels.
const BOTTOM: i64 = 28;

/// One bar, in SVG units.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    /// Below zero: drawn in the warning colour.
    pub negative: bool,
}

/// A label at a point.
#[derive(Debug, Clone)]
pub(crate) struct Label {
    pub x: i64,
    pub y: i64,
    /// `start`, `middle` or `end`.
    pub anchor: &'static str,
    pub text: String,
}

/// One bar chart: its accessible name and description and what to draw.
#[derive(Debug, Clone)]
pub(crate) struct BarChart {
    /// The prefix of the ids its title and description carry.
    pub id: String,
    pub title: String,
    pub desc: String,
    pub width: i64,
    pub height: i64,
    pub bars: Vec<Bar>,
    /// Where zero is, and the ends of its line.
    pub zero_y: i64,
    pub left: i64,
    pub right: i64,
    pub labels: Vec<Label>,
}

/// One row of the table under the chart.
#[derive(Debug, Clone)]
pub(crate) struct DayRow {
    pub day: String,
    pub orders: i64,
    pub net: String,
}

/// A currency's sales: two charts over the same days and the table of both.
#[derive(Debug, Clone)]
pub(crate) struct SalesChart {
    pub currency: String,
    pub earnings: BarChart,
    pub orders: BarChart,
    pub rows: Vec<DayRow>,
    pub total_orders: i64,
    pub total_net: String,
}

/// A day as the pages write one.
fn date(day: chrono::NaiveDate) -> String {
    format::date(day.and_time(chrono::NaiveTime::MIN))
}

/// The charts and table of one currency's series.
pub(crate) fn sales_chart(series: &SalesSeries) -> SalesChart {
    let currency = Currency::parse(&series.currency).ok();
    let price = |minor: i64| match currency {
        Some(currency) => format::price(Money::new(minor, currency)),
        // A currency the ledger holds is one we parsed to write it.
        None => format!("{minor} {}", series.currency),
    };
    let days: Vec<String> = series
        .days
        .iter()
        .map(|d| d.day.format("%-d %b").to_string())
        .collect();
    let (first, last) = match (series.days.first(), series.days.last()) {
        (Some(first), Some(last)) => (date(first.day), date(last.day)),
        _ => (String::new(), String::new()),
    };
    let total_orders: i64 = series.days.iter().map(|d| d.orders).sum();
    let total_net: i64 = series.days.iter().map(|d| d.net_minor).sum();
    let best = series
        .days
        .iter()
        .filter(|d| d.net_minor > 0)
        .max_by_key(|d| (d.net_minor, std::cmp::Reverse(d.day)));
    let span = format!("{} days from {first} to {last}", series.days.len());
    let code = series.currency.to_lowercase();
    let earnings_desc = match best {
        Some(best) => format!(
            "{span}: net earnings {} in all; the best day was {} with {}.",
            price(total_net),
            date(best.day),
            price(best.net_minor)
        ),
        None => format!("{span}: net earnings {} in all.", price(total_net)),
    };
    let net: Vec<i64> = series.days.iter().map(|d| d.net_minor).collect();
    let orders: Vec<i64> = series.days.iter().map(|d| d.orders).collect();
    SalesChart {
        currency: series.currency.clone(),
        earnings: bar_chart(
            format!("sales-{code}-net"),
            format!("Net earnings per day, {}", series.currency),
            earnings_desc,
            &net,
            &days,
            &price,
        ),
        orders: bar_chart(
            format!("sales-{code}-orders"),
            format!("Orders per day, {}", series.currency),
            format!("{span}: {total_orders} orders in all."),
            &orders,
            &days,
            &|n: i64| n.to_string(),
        ),
        rows: series
            .days
            .iter()
            .map(|d| DayRow {
                day: date(d.day),
                orders: d.orders,
                net: price(d.net_minor),
            })
            .collect(),
        total_orders,
        total_net: price(total_net),
    }
}

/// A bar per value, scaled so the tallest bar (up or down) fills the plot;
/// labelled at the top, at zero and at the bottom, and under the first,
/// middle and last days.
pub(crate) fn bar_chart(
    id: String,
    title: String,
    desc: String,
    values: &[i64],
    days: &[String],
    label: &dyn Fn(i64) -> String,
) -> BarChart {
    let count = i64::try_from(values.len()).unwrap_or(i64::MAX);
    let top = values.iter().copied().max().unwrap_or(0).max(0);
    let bottom = values.iter().copied().min().unwrap_or(0).min(0);
    // i128: amounts times the plot's height must not overflow.
    let span = (i128::from(top) - i128::from(bottom)).max(1);
    let scaled = |value: i64| -> i64 {
        i64::try_from(i128::from(value) * i128::from(PLOT_HEIGHT) / span).unwrap_or(PLOT_HEIGHT)
    };
    let zero_y = TOP + scaled(top);
    let bars = values
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0)
        .map(|(i, &value)| {
            let x = LEFT + i64::try_from(i).unwrap_or(0) * DAY_WIDTH + (DAY_WIDTH - BAR_WIDTH) / 2;
            // At least one unit tall, so a small day is still seen.
            let height = scaled(value.abs()).max(1);
            Bar {
                x,
                y: if value > 0 { zero_y - height } else { zero_y },
                width: BAR_WIDTH,
                height,
                negative: value < 0,
            }
        })
        .collect();
    let right = LEFT + count * DAY_WIDTH;
    let mut labels = vec![Label {
        x: LEFT - 6,
        y: zero_y + 4,
        anchor: "end",
        text: label(0),
    }];
    if top > 0 {
        labels.push(Label {
            x: LEFT - 6,
            y: TOP + 4,
            anchor: "end",
            text: label(top),
        });
    }
    if bottom < 0 {
        labels.push(Label {
            x: LEFT - 6,
            y: TOP + PLOT_HEIGHT + 4,
            anchor: "end",
            text: label(bottom),
        });
    }
    let last = days.len().saturating_sub(1);
    let mut marks = vec![(0, "start"), (last / 2, "middle"), (last, "end")];
    marks.dedup_by_key(|(i, _)| *i);
    for (i, anchor) in marks {
        let Some(day) = days.get(i) else { continue };
        let slot = LEFT + i64::try_from(i).unwrap_or(0) * DAY_WIDTH;
        let x = match anchor {
            "start" => slot,
            "end" => slot + DAY_WIDTH,
            _ => slot + DAY_WIDTH / 2,
        };
        labels.push(Label {
            x,
            y: TOP + PLOT_HEIGHT + 20,
            anchor,
            text: day.clone(),
        });
    }
    BarChart {
        id,
        title,
        desc,
        width: right + RIGHT,
        height: TOP + PLOT_HEIGHT + BOTTOM,
        bars,
        zero_y,
        left: LEFT,
        right,
        labels,
    }
}

/// Height of one row of a ranked chart, in SVG units.
const ROW_HEIGHT: i64 = 28;
/// Thickness of a ranked bar within its row.
const ROW_BAR: i64 = 18;
/// Room left of a ranked chart's bars for the names.
const NAME_WIDTH: i64 = 200;
/// Length of the longest ranked bar.
const PLOT_WIDTH: i64 = 320;
/// Room right of the bars for the value labels.
const VALUE_WIDTH: i64 = 120;
/// Longest name drawn (the table beside it has the whole name).
const NAME_CHARS_MAX: usize = 26;

/// A horizontal bar chart: one named row per value, in the order given.
#[derive(Debug, Clone)]
pub(crate) struct RankedChart {
    /// The prefix of the ids its title and description carry.
    pub id: String,
    pub title: String,
    pub desc: String,
    pub width: i64,
    pub height: i64,
    pub bars: Vec<Bar>,
    /// Where zero is (x), and the ends of its line (y).
    pub zero_x: i64,
    pub top: i64,
    pub bottom: i64,
    pub labels: Vec<Label>,
}

/// A row per `(name, value)`, bars scaled so the longest (left or right of
/// zero) fills the plot; each row labelled with its name and its value
/// written by `label`.
pub(crate) fn ranked_chart(
    id: String,
    title: String,
    desc: String,
    rows: &[(String, i64)],
    label: &dyn Fn(i64) -> String,
) -> RankedChart {
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let high = rows.iter().map(|r| r.1).max().unwrap_or(0).max(0);
    let low = rows.iter().map(|r| r.1).min().unwrap_or(0).min(0);
    // i128: amounts times the plot's width must not overflow.
    let span = (i128::from(high) - i128::from(low)).max(1);
    let scaled = |value: i64| -> i64 {
        i64::try_from(i128::from(value) * i128::from(PLOT_WIDTH) / span).unwrap_or(PLOT_WIDTH)
    };
    let zero_x = NAME_WIDTH + scaled(-low);
    let mut bars = Vec::new();
    let mut labels = Vec::new();
    for (i, (name, value)) in rows.iter().enumerate() {
        let row_y = TOP + i64::try_from(i).unwrap_or(0) * ROW_HEIGHT;
        let middle = row_y + ROW_HEIGHT / 2 + 4;
        let short: String = if name.chars().count() > NAME_CHARS_MAX {
            name.chars()
                .take(NAME_CHARS_MAX - 1)
                .chain(std::iter::once('\u{2026}'))
                .collect()
        } else {
            name.clone()
        };
        labels.push(Label {
            x: NAME_WIDTH - 8,
            y: middle,
            anchor: "end",
            text: short,
        });
        let length = if *value == 0 {
            0
        } else {
            // At least one unit long, so a small value is still seen.
            scaled(value.abs()).max(1)
        };
        if length > 0 {
            bars.push(Bar {
                x: if *value > 0 { zero_x } else { zero_x - length },
                y: row_y + (ROW_HEIGHT - ROW_BAR) / 2,
                width: length,
                height: ROW_BAR,
                negative: *value < 0,
            });
        }
        labels.push(Label {
            x: if *value >= 0 {
                zero_x + length + 6
            } else {
                zero_x + 6
            },
            y: middle,
            anchor: "start",
            text: label(*value),
        });
    }
    let bottom = TOP + count * ROW_HEIGHT;
    RankedChart {
        id,
        title,
        desc,
        width: NAME_WIDTH + PLOT_WIDTH + VALUE_WIDTH,
        height: bottom + TOP,
        bars,
        zero_x,
        top: TOP,
        bottom,
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_tallest_and_hang_below_zero() {
        let days: Vec<String> = (1..=3).map(|d| format!("{d} Dec")).collect();
        let chart = bar_chart(
            "t".into(),
            "T".into(),
            "D".into(),
            &[300, 0, -100],
            &days,
            &|n: i64| n.to_string(),
        );
        assert_eq!(chart.bars.len(), 2, "no bar for a zero day");
        // 300 up and 100 down share the plot's 120 units: 90 above, 30 below.
        assert_eq!(chart.zero_y, TOP + 90);
        assert_eq!((chart.bars[0].y, chart.bars[0].height), (TOP, 90));
        assert_eq!((chart.bars[1].y, chart.bars[1].height), (TOP + 90, 30));
        assert!(chart.bars[1].negative);
        assert_eq!(chart.width, LEFT + 3 * DAY_WIDTH + RIGHT);
    }

    #[test]
    fn ranked_bars_share_the_plot_on_both_sides_of_zero() {
        let rows = vec![
            ("Fees earned".to_owned(), 300),
            ("Refunds borne".to_owned(), -100),
            ("Nothing".to_owned(), 0),
        ];
        let chart = ranked_chart("t".into(), "T".into(), "D".into(), &rows, &|n: i64| {
            n.to_string()
        });
        assert_eq!(chart.bars.len(), 2, "no bar for a zero row");
        // 300 right and 100 left share the plot's 320 units: 240 and 80.
        assert_eq!(chart.zero_x, NAME_WIDTH + 80);
        assert_eq!(
            (chart.bars[0].x, chart.bars[0].width),
            (NAME_WIDTH + 80, 240)
        );
        assert_eq!((chart.bars[1].x, chart.bars[1].width), (NAME_WIDTH, 80));
        assert!(chart.bars[1].negative);
        assert_eq!(chart.bottom, TOP + 3 * ROW_HEIGHT);
        assert_eq!(chart.labels.len(), 6, "a name and a value per row");
    }
}
