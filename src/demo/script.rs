//! What the demo day plays, as data: who joins in the morning, who buys what,
//! how each cart is paid, what is refunded and disputed. Fixed, so every run
//! tells the same story and a failure can be replayed.
//!
//! Carts stay in one currency (a cart of several currencies is refused), so the
//! multi-seller carts pair the USD shops and the two EUR shops of the catalog.
//!
//! Every shop charges shipping to the buyers' countries ([`SHIPPING`]), and
//! one shop sells under terms that hold its share until delivery
//! ([`HELD_UNTIL_DELIVERY`]): it ships, one buyer says "I received it", the
//! other parcels count as delivered once the clock has moved, and one line
//! is sent back.

/// A seller who signs up during the morning and onboards through the
/// sandbox's hosted onboarding page.
pub struct NewSeller {
    pub slug: &'static str,
    pub name: &'static str,
    pub products: &'static [NewProduct],
    /// `Some(reason)`: after onboarding, the provider disables the account
    /// (Stripe's `requirements.disabled_reason`), so the shop is `restricted`.
    pub restricted_by_provider: Option<&'static str>,
}

/// A product a new seller lists (USD).
pub struct NewProduct {
    pub sku: &'static str,
    pub title: &'static str,
    pub price_minor: i64,
    pub stock: i64,
    pub category: &'static str,
}

/// The sellers who join in the morning, all in the US and selling in USD.
pub const NEW_SELLERS: &[NewSeller] = &[
    NewSeller {
        slug: "harbor-ceramics",
        name: "Harbor Ceramics",
        products: &[
            NewProduct {
                sku: "HC-BOWL-01",
                title: "Stoneware Serving Bowl",
                price_minor: 3200,
                stock: 40,
                category: "home-kitchen",
            },
            NewProduct {
                sku: "HC-VASE-02",
                title: "Glazed Bud Vase",
                price_minor: 5400,
                stock: 15,
                category: "home-kitchen",
            },
        ],
        restricted_by_provider: None,
    },
    NewSeller {
        slug: "copper-kettle",
        name: "Copper Kettle Co.",
        products: &[NewProduct {
            sku: "CK-KETTLE-01",
            title: "Hammered Copper Kettle",
            price_minor: 7900,
            stock: 10,
            category: "home-kitchen",
        }],
        restricted_by_provider: Some("requirements.past_due"),
    },
];

/// The shop whose bank account is one the provider cannot pay into, and the
/// sandbox's test account number that fails with `no_account`.
pub const FAILING_BANK: (&str, &str) = ("thames-and-co", "000111111116");

/// The buyers who sign up in the morning (the seeded demo buyer is buyer 0).
pub const NEW_BUYERS: &[&str] = &[
    "maya@buyers.demo.bazaar.example",
    "li@buyers.demo.bazaar.example",
];

/// How a cart is paid, and what happens to the payment afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payment {
    /// `pm_card_visa`: paid at checkout.
    Card,
    /// `pm_card_chargeDeclined` at checkout, then the buyer's second card
    /// through the payment form.
    DeclinedThenCard,
    /// `pm_card_createDispute`: paid, then disputed; the platform's evidence wins.
    DisputeWon,
    /// As above; the evidence loses.
    DisputeLost,
}

impl Payment {
    /// The sandbox test payment method given at checkout.
    pub fn checkout_method(self) -> &'static str {
        match self {
            Self::Card => "pm_card_visa",
            Self::DeclinedThenCard => "pm_card_chargeDeclined",
            Self::DisputeWon | Self::DisputeLost => "pm_card_createDispute",
        }
    }
}

/// One line of a cart: the shop's slug, the product's SKU, the quantity.
pub type Line = (&'static str, &'static str, i64);

/// A buyer's cart and its fate.
pub struct Cart {
    /// What this cart shows, for the progress line.
    pub story: &'static str,
    /// Index into the day's buyers (0 = the seeded demo buyer).
    pub buyer: usize,
    pub lines: &'static [Line],
    pub payment: Payment,
    /// Refunded by the operator after payment: (SKU, quantity).
    pub refund: Option<(&'static str, i64)>,
}

/// The carts every run plays (also `--quick`): each money fact once.
pub const SCRIPTED: &[Cart] = &[
    Cart {
        story: "two USD sellers in one cart",
        buyer: 0,
        lines: &[
            ("northwind-outfitters", "NO-HOM-002", 2),
            ("harbor-ceramics", "HC-BOWL-01", 1),
        ],
        payment: Payment::Card,
        refund: None,
    },
    Cart {
        story: "two EUR sellers in one cart, one toy refunded",
        buyer: 1,
        lines: &[
            ("atelier-lumiere", "AL-APP-001", 1),
            ("schwarzwald-werkstatt", "SW-TOY-006", 2),
        ],
        payment: Payment::Card,
        refund: Some(("SW-TOY-006", 1)),
    },
    Cart {
        story: "a GBP order",
        buyer: 2,
        lines: &[
            ("thames-and-co", "TAC-APP-001", 2),
            ("thames-and-co", "TAC-BOO-003", 1),
        ],
        payment: Payment::Card,
        refund: None,
    },
    Cart {
        story: "a declined card, then a second card",
        buyer: 0,
        lines: &[
            ("atelier-lumiere", "AL-BOO-003", 1),
            ("atelier-lumiere", "AL-HOM-010", 1),
            ("schwarzwald-werkstatt", "SW-APP-001", 1),
        ],
        payment: Payment::DeclinedThenCard,
        refund: None,
    },
    Cart {
        story: "a dispute the platform wins",
        buyer: 1,
        lines: &[
            ("northwind-outfitters", "NO-BOO-003", 1),
            ("harbor-ceramics", "HC-VASE-02", 1),
        ],
        payment: Payment::DisputeWon,
        refund: None,
    },
    Cart {
        story: "a dispute the platform loses",
        buyer: 2,
        lines: &[("schwarzwald-werkstatt", "SW-ELE-004", 1)],
        payment: Payment::DisputeLost,
        refund: None,
    },
];

/// More ordinary carts for the full day (left out by `--quick`).
pub const MORE: &[Cart] = &[
    Cart {
        story: "an ordinary GBP order",
        buyer: 0,
        lines: &[("thames-and-co", "TAC-HOM-002", 1)],
        payment: Payment::Card,
        refund: None,
    },
    Cart {
        story: "an ordinary USD cart",
        buyer: 1,
        lines: &[
            ("northwind-outfitters", "NO-ELE-004", 1),
            ("harbor-ceramics", "HC-BOWL-01", 2),
        ],
        payment: Payment::Card,
        refund: None,
    },
    Cart {
        story: "an ordinary EUR cart",
        buyer: 2,
        lines: &[
            ("atelier-lumiere", "AL-OUT-005", 1),
            ("schwarzwald-werkstatt", "SW-TOY-006", 1),
        ],
        payment: Payment::Card,
        refund: None,
    },
    Cart {
        story: "an ordinary EUR order",
        buyer: 0,
        lines: &[("schwarzwald-werkstatt", "SW-APP-001", 2)],
        payment: Payment::Card,
        refund: None,
    },
    Cart {
        story: "an ordinary USD order",
        buyer: 1,
        lines: &[("northwind-outfitters", "NO-HOM-002", 1)],
        payment: Payment::Card,
        refund: None,
    },
    Cart {
        story: "an ordinary GBP cart",
        buyer: 2,
        lines: &[
            ("thames-and-co", "TAC-APP-001", 1),
            ("thames-and-co", "TAC-BOO-003", 1),
        ],
        payment: Payment::Card,
        refund: None,
    },
];

/// How far the sandbox's clock moves after the day's sales: funds become
/// available after two days, accounts are paid out daily, and a payout is in
/// transit for a day, so four days see every payout land or fail — and a
/// parcel shipped that day counts as delivered
/// ([`HeldUntilDelivery::release_after_days`] is less).
pub const CLOCK_ADVANCE_S: i64 = 4 * 86_400;

/// One shipping rate: (destination, first item, each additional item, free
/// from (items' total), handling days), amounts in the shop's currency's
/// minor units.
pub type Rate = (&'static str, i64, i64, Option<i64>, i32);

/// What a shop charges to ship to the buyers' countries, and its returns policy.
pub struct ShopShipping {
    pub slug: &'static str,
    pub currency: &'static str,
    pub rates: &'static [Rate],
    pub return_window_days: i32,
    pub refunds_shipping: bool,
}

/// Every shop's shipping: to the United States, France and the United
/// Kingdom (where the buyers live), domestic cheapest. Five handling days
/// for the shops that do not ship during the day, so none is late when the
/// clock moves four days.
pub const SHIPPING: &[ShopShipping] = &[
    ShopShipping {
        slug: "northwind-outfitters",
        currency: "USD",
        rates: &[
            ("US", 495, 150, Some(7500), 5),
            ("FR", 1400, 300, None, 5),
            ("GB", 1400, 300, None, 5),
        ],
        return_window_days: 30,
        refunds_shipping: false,
    },
    ShopShipping {
        slug: "atelier-lumiere",
        currency: "EUR",
        rates: &[
            ("FR", 490, 100, Some(6000), 2),
            ("GB", 990, 200, None, 2),
            ("US", 1600, 400, None, 2),
        ],
        return_window_days: 14,
        refunds_shipping: false,
    },
    ShopShipping {
        slug: "schwarzwald-werkstatt",
        currency: "EUR",
        rates: &[
            ("DE", 390, 100, Some(5000), 5),
            ("FR", 690, 150, None, 5),
            ("GB", 1190, 250, None, 5),
            ("US", 1990, 450, None, 5),
        ],
        return_window_days: 30,
        refunds_shipping: false,
    },
    ShopShipping {
        slug: "thames-and-co",
        currency: "GBP",
        rates: &[
            ("GB", 350, 100, Some(5000), 5),
            ("FR", 850, 200, None, 5),
            ("US", 1400, 350, None, 5),
        ],
        return_window_days: 30,
        refunds_shipping: false,
    },
    ShopShipping {
        slug: "harbor-ceramics",
        currency: "USD",
        rates: &[
            ("US", 650, 200, Some(10000), 5),
            ("FR", 2200, 600, None, 5),
            ("GB", 2200, 600, None, 5),
        ],
        return_window_days: 30,
        refunds_shipping: false,
    },
    ShopShipping {
        slug: "copper-kettle",
        currency: "USD",
        rates: &[
            ("US", 750, 300, None, 5),
            ("FR", 2400, 800, None, 5),
            ("GB", 2400, 800, None, 5),
        ],
        return_window_days: 30,
        refunds_shipping: false,
    },
];

/// The shop whose seller's share the platform holds until delivery, and
/// what happens to its parcels.
pub struct HeldUntilDelivery {
    pub slug: &'static str,
    /// Its fee rule's `release_after_days`: a parcel nobody confirmed counts
    /// as delivered this long after shipment.
    pub release_after_days: i32,
    pub carrier: &'static str,
    /// Tracking numbers are this prefix and a counter.
    pub tracking_prefix: &'static str,
    /// The tracking link is this and the tracking number.
    pub tracking_url: &'static str,
    /// The line its buyer confirms delivered ("I received it"), then sends
    /// back `returned.1` units of; every other part of the shop is left
    /// unconfirmed.
    pub returned: (&'static str, i64),
    pub return_reason: &'static str,
    pub return_address: &'static str,
    /// The buyer's parcel back: carrier and tracking number.
    pub return_parcel: (&'static str, &'static str),
}

/// Atelier Lumière: it is in no dispute and its bank account works.
pub const HELD_UNTIL_DELIVERY: HeldUntilDelivery = HeldUntilDelivery {
    slug: "atelier-lumiere",
    release_after_days: 3,
    carrier: "Colissimo",
    tracking_prefix: "6A184",
    tracking_url: "https://tracking.demo.bazaar.example/colissimo/",
    returned: ("AL-HOM-010", 1),
    return_reason: "The napkins are not the colour of the photo",
    return_address:
        "Atelier Lumière — retours\n8 rue du Faubourg Saint-Antoine\n75011 Paris\nFrance",
    return_parcel: ("USPS", "9400111899223344556677"),
};
