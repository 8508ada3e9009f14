//! The outbox table (see the migration `..._outbox`).

diesel::table! {
    outbox (id) {
        id -> Text,
        cause -> Text,
        template -> Text,
        to_address -> Text,
        subject -> Text,
        data -> Text,
        status -> Text,
        message_id -> Text,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

use crate::jobs::schema::jobs;

// Dead letters are outbox rows whose `email` job is dead: a subselect on jobs.
diesel::allow_tables_to_appear_in_same_query!(outbox, jobs);
