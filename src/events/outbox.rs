//! Recording an event in the transaction of its fact.

use diesel::prelude::*;
use serde_json::Value;

use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::schema::event_views;
use super::types::EventType;
use crate::db::{self, DbConnection};
use crate::error::AppError;

/// An event to record. `data` is the platform's payload (what staff see);
/// each of `views` names a shop that sees the event, with its own payload
/// when that differs (a seller's view of an order).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventType,
    pub order_id: Option<String>,
    pub shop_id: Option<String>,
    pub data: Value,
    pub views: Vec<ShopView>,
}

/// What one shop sees of an event.
#[derive(Debug, Clone)]
pub struct ShopView {
    pub shop_id: String,
    /// `None`: the event's own payload.
    pub data: Option<Value>,
}

impl NewEvent {
    /// An event about `data` that no shop sees (staff only).
    pub fn new(kind: EventType, data: Value) -> Self {
        Self {
            kind,
            order_id: None,
            shop_id: None,
            data,
            views: Vec::new(),
        }
    }

    /// The order it concerns.
    #[must_use]
    pub fn order(mut self, order_id: &str) -> Self {
        self.order_id = Some(order_id.to_owned());
        self
    }

    /// The one shop it concerns, which sees the same payload.
    #[must_use]
    pub fn shop(mut self, shop_id: &str) -> Self {
        self.shop_id = Some(shop_id.to_owned());
        self.views.push(ShopView {
            shop_id: shop_id.to_owned(),
            data: None,
        });
        self
    }

    /// A shop that sees the event with its own payload.
    #[must_use]
    pub fn seen_by(mut self, shop_id: &str, data: Value) -> Self {
        self.views.push(ShopView {
            shop_id: shop_id.to_owned(),
            data: Some(data),
        });
        self
    }
}

/// Records `event` with the caller's write transaction (the one `_conn` is
/// in): it is committed
/// with the fact or not at all, and is written as the transaction's last
/// statement ([`db::before_commit`]). Returns the event's id.
///
/// The feed is read by sequence number, so sequence numbers must become
/// visible in order. On PostgreSQL a number is taken before its transaction
/// commits and transactions can commit out of order; a reader that saw 8
/// could then miss 7, committed a moment later. So on PostgreSQL every
/// transaction that records events takes one lock before writing them and
/// keeps it through its commit: numbers are taken in commit order. Taken last
/// (after every row lock the transaction needs), it is held only for the
/// commit and cannot deadlock. SQLite's write transactions already run one
/// at a time.
///
/// # Errors
/// Outside a write transaction (a bug: the event would be lost).
pub fn emit(_conn: &mut DbConnection, event: NewEvent) -> Result<String, AppError> {
    if event.kind == EventType::EndpointTest {
        return Err(AppError::Internal(anyhow::anyhow!(
            "a test event is sent to one endpoint, never recorded"
        )));
    }
    let id = format!("ev_{}", uuid::Uuid::new_v4().simple());
    let event_id = id.clone();
    db::before_commit(Box::new(move |conn| write(conn, &event_id, event))).map_err(|_| {
        AppError::Internal(anyhow::anyhow!(
            "an event was emitted outside a write transaction"
        ))
    })?;
    Ok(id)
}

#[derive(QueryableByName)]
struct Sequenced {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

fn write(conn: &mut DbConnection, id: &str, event: NewEvent) -> Result<(), diesel::result::Error> {
    db::serialize_on(conn, "events:sequence")?;
    // RETURNING through raw SQL: both backends have it, diesel's
    // MultiConnection does not offer it.
    let Sequenced { seq } = diesel::sql_query(
        "INSERT INTO events (id, event_type, occurred_at, order_id, shop_id, data)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
    )
    .bind::<Text, _>(id)
    .bind::<Text, _>(event.kind.as_str())
    .bind::<Timestamp, _>(db::now())
    .bind::<Nullable<Text>, _>(event.order_id.as_deref())
    .bind::<Nullable<Text>, _>(event.shop_id.as_deref())
    .bind::<Text, _>(event.data.to_string())
    .get_result(conn)?;
    let mut seen = std::collections::HashSet::new();
    for view in event.views {
        if !seen.insert(view.shop_id.clone()) {
            continue;
        }
        diesel::insert_into(event_views::table)
            .values((
                event_views::shop_id.eq(&view.shop_id),
                event_views::event_seq.eq(seq),
                event_views::data.eq(view.data.map(|d| d.to_string())),
            ))
            .execute(conn)?;
    }
    Ok(())
}
