//! The demo marketplace: [`seed`] loads it.

mod seed;

pub use seed::{
    seed, Seeded, DEMO_BUYER_EMAIL, DEMO_FEE_FIXED_MINOR, DEMO_FEE_PERCENTAGE, DEMO_PASSWORD,
};
