//! What the demo day plays, as data: who joins in the morning, who buys what,
//! how each cart is paid, what is refunded and disputed. Fixed, so every run
//! tells the same story and a failure can be replayed.
//!
//! Carts stay in one currency (a cart of several currencies is refused), so the
//! multi-seller carts pair the USD shops and the two EUR shops of the catalog.

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
/// transit for a day, so four days see every payout land or fail.
pub const CLOCK_ADVANCE_S: i64 = 4 * 86_400;
