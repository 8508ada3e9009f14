-- Emails to send, written in the transaction of the change that causes them
-- (an order paid, a refund issued, a payout paid or failed, a shop restricted),
-- each with its job (kind 'email'): a rolled-back change leaves no email, and
-- an email is sent only after its change committed. `cause` names that change
-- once, so a fact applied twice never mails twice.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    cause TEXT NOT NULL UNIQUE,
    template TEXT NOT NULL,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The template's data as JSON, fixed when the change happened.
    data TEXT NOT NULL,
    -- queued -> sent; retries and dead letters are the job's.
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent')),
    message_id TEXT NOT NULL,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX outbox_to_address ON outbox (to_address, created_at);
CREATE INDEX outbox_created ON outbox (created_at, id);
