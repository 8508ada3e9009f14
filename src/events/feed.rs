//! Reading events in sequence order: the feed integrators page through, and
//! the source webhook deliveries fan out from.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use serde::Serialize;
use serde_json::Value;

use super::schema::{event_views, events};
use super::types::TypeFilter;
use crate::db::{self, DbConnection};
use crate::error::AppError;

/// Most events one page holds.
pub const PAGE_MAX: i64 = 500;
/// Events one page holds when the reader does not say.
pub const PAGE_DEFAULT: i64 = 100;

/// Whose events: the platform's (every event, its own payload) or those of
/// some shops (each event a shop sees, in that shop's view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    Platform,
    Shops(Vec<String>),
}

/// What to read: events after `after` (a sequence number; 0 for the
/// oldest retained), of the filtered types, at most `limit`.
#[derive(Debug, Clone)]
pub struct FeedQuery {
    pub after: i64,
    pub types: TypeFilter,
    pub limit: i64,
}

/// One event as the feed and webhooks show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeedEvent {
    /// Its place in the feed; read on with `after` = the last one seen.
    pub seq: i64,
    /// Unique per event; the `webhook-id` of its deliveries.
    pub id: String,
    /// E.g. `order.paid`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the fact was committed (RFC 3339).
    #[serde(serialize_with = "crate::db::serialize_rfc3339")]
    pub occurred_at: NaiveDateTime,
    /// The order it concerns, if any.
    pub order_id: Option<String>,
    /// For a shop's audience: the shop whose view this is. For the platform:
    /// the one shop it concerns, if any.
    pub shop_id: Option<String>,
    /// The payload: the same shape as the API's answer about the object.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A page of the feed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    pub data: Vec<FeedEvent>,
    /// Whether more events follow now; read on with `after` = `next_after`.
    pub has_more: bool,
    /// The `after` to read on from: the last event's `seq`, or the request's
    /// `after` when the page is empty.
    pub next_after: i64,
    /// The oldest sequence number still kept (older events passed the
    /// retention); a reader whose `after` is below `oldest_seq - 1` missed
    /// events. `null` while no event is kept.
    pub oldest_seq: Option<i64>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Timestamp)]
    occurred_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    order_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    shop_id: Option<String>,
    #[diesel(sql_type = Text)]
    data: String,
}

impl Row {
    fn into_event(self) -> Result<FeedEvent, AppError> {
        let data = serde_json::from_str(&self.data).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("stored event {} is not JSON: {e}", self.id))
        })?;
        Ok(FeedEvent {
            seq: self.seq,
            id: self.id,
            kind: self.event_type,
            occurred_at: self.occurred_at,
            order_id: self.order_id,
            shop_id: self.shop_id,
            data,
        })
    }
}

/// Reads one page of `audience`'s events.
///
/// Sequence numbers become visible in order ([`super::outbox::emit`]), so a
/// reader paging by `after` never skips an event. A seller
/// with several shops that see one event gets one item per shop; a page never
/// splits an event's items.
///
/// # Errors
/// A database failure.
pub fn read(
    conn: &mut DbConnection,
    audience: &Audience,
    query: &FeedQuery,
) -> Result<FeedPage, AppError> {
    let limit = query.limit.clamp(1, PAGE_MAX);
    let types: Vec<String> = query
        .types
        .types()
        .into_iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    let oldest_seq = oldest_seq(conn)?;
    if matches!(audience, Audience::Shops(shops) if shops.is_empty()) || types.is_empty() {
        return Ok(FeedPage {
            data: Vec::new(),
            has_more: false,
            next_after: query.after,
            oldest_seq,
        });
    }
    let mut rows = select(conn, audience, &types, query.after, None, limit + 1)?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    if has_more {
        let boundary = rows[rows.len() - 1].seq;
        rows.retain(|r| r.seq < boundary);
        if rows.is_empty() {
            // One event seen by more shops than the page holds: all of it.
            rows = select(
                conn,
                audience,
                &types,
                boundary - 1,
                Some(boundary),
                i64::MAX,
            )?;
        }
    }
    let data = rows
        .into_iter()
        .map(Row::into_event)
        .collect::<Result<Vec<_>, _>>()?;
    let next_after = data.last().map_or(query.after, |e| e.seq);
    Ok(FeedPage {
        data,
        has_more,
        next_after,
        oldest_seq,
    })
}

fn oldest_seq(conn: &mut DbConnection) -> Result<Option<i64>, AppError> {
    Ok(events::table
        .select(diesel::dsl::min(events::seq))
        .first::<Option<i64>>(conn)?)
}

/// Rows after `after` (up to `through` when given), at most `limit`.
fn select(
    conn: &mut DbConnection,
    audience: &Audience,
    types: &[String],
    after: i64,
    through: Option<i64>,
    limit: i64,
) -> Result<Vec<Row>, AppError> {
    // Placeholders are numbered in the order they appear in the text: SQLite
    // takes `$1` as a name and numbers names by first appearance, while the
    // binds below go by position.
    let mut n = 0;
    let mut placeholders = |count: usize| {
        let list: Vec<String> = (0..count)
            .map(|_| {
                n += 1;
                format!("${n}")
            })
            .collect();
        list.join(", ")
    };
    let (columns, from) = match audience {
        Audience::Platform => (
            "e.shop_id AS shop_id, e.data AS data".to_owned(),
            "events e".to_owned(),
        ),
        Audience::Shops(shops) => (
            "v.shop_id AS shop_id, COALESCE(v.data, e.data) AS data".to_owned(),
            format!(
                "events e JOIN event_views v ON v.event_seq = e.seq AND v.shop_id IN ({})",
                placeholders(shops.len())
            ),
        ),
    };
    let (after_at, through_at) = (placeholders(1), placeholders(1));
    let type_list = placeholders(types.len());
    let limit_at = placeholders(1);
    let sql = format!(
        "SELECT e.seq AS seq, e.id AS id, e.event_type AS event_type,
                e.occurred_at AS occurred_at, e.order_id AS order_id, {columns}
         FROM {from}
         WHERE e.seq > {after_at} AND e.seq <= {through_at}
           AND e.event_type IN ({type_list})
         ORDER BY e.seq, shop_id
         LIMIT {limit_at}"
    );
    let mut q = diesel::sql_query(sql).into_boxed();
    if let Audience::Shops(shops) = audience {
        for shop in shops {
            q = q.bind::<Text, _>(shop.clone());
        }
    }
    q = q
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(through.unwrap_or(i64::MAX));
    for t in types {
        q = q.bind::<Text, _>(t.clone());
    }
    q = q.bind::<BigInt, _>(limit);
    Ok(q.load(conn)?)
}

/// Deletes events that occurred before `before`, at most `batch` of them
/// (with their views); returns how many. Run until it returns 0.
///
/// # Errors
/// A database failure.
pub fn purge(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    batch: i64,
) -> Result<usize, AppError> {
    db::write_transaction(conn, |conn| {
        let doomed: Vec<i64> = events::table
            .filter(events::occurred_at.lt(before))
            .order(events::seq)
            .limit(batch)
            .select(events::seq)
            .load(conn)?;
        if doomed.is_empty() {
            return Ok(0);
        }
        diesel::delete(event_views::table.filter(event_views::event_seq.eq_any(&doomed)))
            .execute(conn)?;
        Ok(diesel::delete(events::table.filter(events::seq.eq_any(&doomed))).execute(conn)?)
    })
}
