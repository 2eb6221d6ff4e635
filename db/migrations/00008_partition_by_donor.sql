-- The donor's rows live together: donations and payment_methods are hash-partitioned by
-- user_id (16 partitions), payment_attempts by donation_id, and every primary and unique key
-- leads with the partition key, so a statement that names the donor touches one partition.
-- PostgreSQL's declarative partitioning; the multi-region CockroachDB deployment partitions by
-- the donor's home region instead (docs/cockroachdb.md).
--
-- The existing rows are copied aside, the tables made again partitioned, and the rows put back.
-- Keys that no longer hold across partitions: a PaymentIntent belongs to one donation of its
-- donor (Stripe's ids are unique anyway), and payment_attempts and notifications keep their
-- donation by the writes that make them (attempts have no user_id to reference the new key).

-- +goose Up
CREATE TABLE payment_methods_copy AS TABLE payment_methods;
CREATE TABLE donations_copy AS TABLE donations;
CREATE TABLE payment_attempts_copy AS TABLE payment_attempts;
ALTER TABLE notifications DROP CONSTRAINT notifications_donation_id_fkey;
DROP TABLE payment_attempts;
DROP TABLE donations;
DROP TABLE payment_methods;

CREATE TABLE payment_methods (
    id                         UUID NOT NULL DEFAULT gen_random_uuid(),
    user_id                    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_customer_id       TEXT NOT NULL,
    provider_payment_method_id TEXT NOT NULL,
    brand                      TEXT NOT NULL,
    last4                      TEXT NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month                  INT NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year                   INT NOT NULL,
    is_default                 BOOLEAN NOT NULL DEFAULT false,
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    removed_at                 TIMESTAMPTZ,
    CONSTRAINT payment_methods_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT payment_methods_user_provider_key UNIQUE (user_id, provider_payment_method_id)
) PARTITION BY HASH (user_id);

CREATE TABLE donations (
    id                UUID NOT NULL DEFAULT gen_random_uuid(),
    user_id           UUID NOT NULL REFERENCES users (id),
    charity_id        UUID NOT NULL REFERENCES charities (id),
    amount_cents      INT8 NOT NULL CHECK (amount_cents > 0),
    currency          TEXT NOT NULL CHECK (currency = 'USD'),
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'REQUIRES_ACTION', 'REFUNDED')),
    idempotency_key   TEXT NOT NULL,
    request_hash      TEXT NOT NULL,
    payment_method_id UUID NOT NULL,
    payment_intent_id TEXT,
    failure_code      TEXT,
    failure_message   TEXT,
    message           TEXT NOT NULL DEFAULT '',
    anonymous         BOOLEAN NOT NULL DEFAULT false,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    settled_at        TIMESTAMPTZ,
    CONSTRAINT donations_pkey PRIMARY KEY (user_id, id),
    CONSTRAINT donations_user_idempotency_key UNIQUE (user_id, idempotency_key),
    CONSTRAINT donations_payment_method_fkey FOREIGN KEY (user_id, payment_method_id) REFERENCES payment_methods (user_id, id)
) PARTITION BY HASH (user_id);
-- One PaymentIntent per donation of a donor; the webhook's lookup by PaymentIntent alone (an
-- event without our metadata) probes each partition's index.
CREATE UNIQUE INDEX donations_payment_intent_key ON donations (user_id, payment_intent_id) WHERE payment_intent_id IS NOT NULL;
CREATE INDEX donations_payment_intent_idx ON donations (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
-- A donation found by its id alone (a job queued before this migration): each partition's index.
CREATE INDEX donations_id_idx ON donations (id);
-- History (newest first) and the duplicate window.
CREATE INDEX donations_user_created_idx ON donations (user_id, created_at DESC, id DESC);
-- The reconciler's sweep of unfinished donations.
CREATE INDEX donations_unsettled_idx ON donations (status, updated_at) WHERE settled_at IS NULL;
-- Card testing: a donor's recent declines.
CREATE INDEX donations_user_failed_idx ON donations (user_id, created_at) WHERE status = 'FAILED';
-- The public list of the latest gifts.
CREATE INDEX donations_succeeded_settled_idx ON donations (settled_at DESC) WHERE status = 'SUCCEEDED';

CREATE TABLE payment_attempts (
    id                   UUID NOT NULL DEFAULT gen_random_uuid(),
    donation_id          UUID NOT NULL,
    attempt_no           INT NOT NULL CHECK (attempt_no > 0),
    provider_request_key TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('started', 'succeeded', 'failed', 'requires_action', 'error')),
    error_code           TEXT,
    error_message        TEXT,
    started_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at          TIMESTAMPTZ,
    CONSTRAINT payment_attempts_pkey PRIMARY KEY (donation_id, id),
    CONSTRAINT payment_attempts_donation_attempt_key UNIQUE (donation_id, attempt_no)
) PARTITION BY HASH (donation_id);

CREATE TABLE payment_methods_p0 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 0);
CREATE TABLE payment_methods_p1 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 1);
CREATE TABLE payment_methods_p2 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 2);
CREATE TABLE payment_methods_p3 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 3);
CREATE TABLE payment_methods_p4 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 4);
CREATE TABLE payment_methods_p5 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 5);
CREATE TABLE payment_methods_p6 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 6);
CREATE TABLE payment_methods_p7 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 7);
CREATE TABLE payment_methods_p8 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 8);
CREATE TABLE payment_methods_p9 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 9);
CREATE TABLE payment_methods_p10 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 10);
CREATE TABLE payment_methods_p11 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 11);
CREATE TABLE payment_methods_p12 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 12);
CREATE TABLE payment_methods_p13 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 13);
CREATE TABLE payment_methods_p14 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 14);
CREATE TABLE payment_methods_p15 PARTITION OF payment_methods FOR VALUES WITH (MODULUS 16, REMAINDER 15);

CREATE TABLE donations_p0 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 0);
CREATE TABLE donations_p1 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 1);
CREATE TABLE donations_p2 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 2);
CREATE TABLE donations_p3 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 3);
CREATE TABLE donations_p4 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 4);
CREATE TABLE donations_p5 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 5);
CREATE TABLE donations_p6 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 6);
CREATE TABLE donations_p7 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 7);
CREATE TABLE donations_p8 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 8);
CREATE TABLE donations_p9 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 9);
CREATE TABLE donations_p10 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 10);
CREATE TABLE donations_p11 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 11);
CREATE TABLE donations_p12 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 12);
CREATE TABLE donations_p13 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 13);
CREATE TABLE donations_p14 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 14);
CREATE TABLE donations_p15 PARTITION OF donations FOR VALUES WITH (MODULUS 16, REMAINDER 15);

CREATE TABLE payment_attempts_p0 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 0);
CREATE TABLE payment_attempts_p1 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 1);
CREATE TABLE payment_attempts_p2 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 2);
CREATE TABLE payment_attempts_p3 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 3);
CREATE TABLE payment_attempts_p4 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 4);
CREATE TABLE payment_attempts_p5 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 5);
CREATE TABLE payment_attempts_p6 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 6);
CREATE TABLE payment_attempts_p7 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 7);
CREATE TABLE payment_attempts_p8 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 8);
CREATE TABLE payment_attempts_p9 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 9);
CREATE TABLE payment_attempts_p10 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 10);
CREATE TABLE payment_attempts_p11 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 11);
CREATE TABLE payment_attempts_p12 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 12);
CREATE TABLE payment_attempts_p13 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 13);
CREATE TABLE payment_attempts_p14 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 14);
CREATE TABLE payment_attempts_p15 PARTITION OF payment_attempts FOR VALUES WITH (MODULUS 16, REMAINDER 15);

INSERT INTO payment_methods (id, user_id, provider_customer_id, provider_payment_method_id, brand, last4, exp_month, exp_year,
        is_default, created_at, removed_at)
    SELECT id, user_id, provider_customer_id, provider_payment_method_id, brand, last4, exp_month, exp_year,
        is_default, created_at, removed_at FROM payment_methods_copy;
INSERT INTO donations (id, user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash,
        payment_method_id, payment_intent_id, failure_code, failure_message, message, anonymous, created_at, updated_at, settled_at)
    SELECT id, user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash,
        payment_method_id, payment_intent_id, failure_code, failure_message, message, anonymous, created_at, updated_at, settled_at
    FROM donations_copy;
INSERT INTO payment_attempts (id, donation_id, attempt_no, provider_request_key, status, error_code, error_message, started_at, finished_at)
    SELECT id, donation_id, attempt_no, provider_request_key, status, error_code, error_message, started_at, finished_at
    FROM payment_attempts_copy;
DROP TABLE payment_attempts_copy;
DROP TABLE donations_copy;
DROP TABLE payment_methods_copy;
ALTER TABLE notifications ADD CONSTRAINT notifications_donation_fkey FOREIGN KEY (user_id, donation_id) REFERENCES donations (user_id, id);

-- +goose Down
ALTER TABLE notifications DROP CONSTRAINT notifications_donation_fkey;
CREATE TABLE payment_methods_copy AS TABLE payment_methods;
CREATE TABLE donations_copy AS TABLE donations;
CREATE TABLE payment_attempts_copy AS TABLE payment_attempts;
DROP TABLE payment_attempts;
DROP TABLE donations;
DROP TABLE payment_methods;
CREATE TABLE payment_methods (
    id                         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_customer_id       TEXT NOT NULL,
    provider_payment_method_id TEXT NOT NULL,
    brand                      TEXT NOT NULL,
    last4                      TEXT NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month                  INT NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year                   INT NOT NULL,
    is_default                 BOOLEAN NOT NULL DEFAULT false,
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    removed_at                 TIMESTAMPTZ,
    CONSTRAINT payment_methods_user_provider_key UNIQUE (user_id, provider_payment_method_id)
);
CREATE TABLE donations (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           UUID NOT NULL REFERENCES users (id),
    charity_id        UUID NOT NULL REFERENCES charities (id),
    amount_cents      INT8 NOT NULL CHECK (amount_cents > 0),
    currency          TEXT NOT NULL CHECK (currency = 'USD'),
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'REQUIRES_ACTION', 'REFUNDED')),
    idempotency_key   TEXT NOT NULL,
    request_hash      TEXT NOT NULL,
    payment_method_id UUID NOT NULL REFERENCES payment_methods (id),
    payment_intent_id TEXT,
    failure_code      TEXT,
    failure_message   TEXT,
    message           TEXT NOT NULL DEFAULT '',
    anonymous         BOOLEAN NOT NULL DEFAULT false,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    settled_at        TIMESTAMPTZ,
    CONSTRAINT donations_user_idempotency_key UNIQUE (user_id, idempotency_key)
);
CREATE UNIQUE INDEX donations_payment_intent_key ON donations (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
CREATE INDEX donations_user_created_idx ON donations (user_id, created_at DESC, id DESC);
CREATE INDEX donations_unsettled_idx ON donations (status, updated_at) WHERE settled_at IS NULL;
CREATE INDEX donations_user_failed_idx ON donations (user_id, created_at) WHERE status = 'FAILED';
CREATE INDEX donations_succeeded_settled_idx ON donations (settled_at DESC) WHERE status = 'SUCCEEDED';
CREATE TABLE payment_attempts (
    id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    donation_id          UUID NOT NULL REFERENCES donations (id),
    attempt_no           INT NOT NULL CHECK (attempt_no > 0),
    provider_request_key TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('started', 'succeeded', 'failed', 'requires_action', 'error')),
    error_code           TEXT,
    error_message        TEXT,
    started_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at          TIMESTAMPTZ,
    CONSTRAINT payment_attempts_donation_attempt_key UNIQUE (donation_id, attempt_no)
);
INSERT INTO payment_methods SELECT * FROM payment_methods_copy;
INSERT INTO donations SELECT * FROM donations_copy;
INSERT INTO payment_attempts SELECT * FROM payment_attempts_copy;
DROP TABLE payment_attempts_copy;
DROP TABLE donations_copy;
DROP TABLE payment_methods_copy;
ALTER TABLE notifications ADD CONSTRAINT notifications_donation_id_fkey FOREIGN KEY (donation_id) REFERENCES donations (id);
