//! Table definitions shared by both backends. Only types both support through
//! `MultiConnection`: BigInt, Integer, Text, Bool, Timestamp (UTC).

diesel::table! {
    instance (singleton) {
        singleton -> Integer,
        instance_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    web_secrets (name) {
        name -> Text,
        secret -> Text,
        created_at -> Timestamp,
    }
}
