//! After the sale: each part's parcels (shipments with tracking), delivery
//! (by the seller, the buyer, or automatically), cancellations before
//! shipping and returns after delivery. The money these move goes through
//! `orders` (refunds, settlement); when a seller's share is released follows
//! the part's release policy (see `orders::settlement`).

mod emails;
pub mod schema;
