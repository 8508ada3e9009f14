-- Rate limits shared by every process on this database (http::rate_limit):
-- one row per bucket and client, holding the instant (microseconds since the
-- Unix epoch) the bucket is full again. A full bucket's row is the same as
-- none and is deleted now and then.
--
-- UNLOGGED: no WAL for a write most limited requests make, and nothing worth
-- keeping across a crash or a failover (the table then starts empty: every
-- bucket full).
CREATE UNLOGGED TABLE rate_limit_buckets (
    bucket TEXT NOT NULL,
    client TEXT NOT NULL,
    full_at_us BIGINT NOT NULL,
    PRIMARY KEY (bucket, client)
);
