-- Rate limits shared by every process on this database (http::rate_limit):
-- one row per bucket and client, holding the instant (microseconds since the
-- Unix epoch) the bucket is full again. A full bucket's row is the same as
-- none and is deleted now and then.
CREATE TABLE rate_limit_buckets (
    bucket TEXT NOT NULL,
    client TEXT NOT NULL,
    full_at_us BIGINT NOT NULL,
    PRIMARY KEY (bucket, client)
) WITHOUT ROWID;
