//! The job queue's table.

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        subject -> Text,
        status -> Text,
        attempts -> Integer,
        run_after -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}
