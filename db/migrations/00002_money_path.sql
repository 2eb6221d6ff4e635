-- The money path: saved cards, donations and their attempts, notifications and webhook
-- events. The unique constraints carry the guarantees: one donation per donor and
-- idempotency key, one PaymentIntent per donation, one e-mail per donation and outcome, one
-- handling per provider event.

-- +goose Up
ALTER TABLE users ADD COLUMN provider_customer_id TEXT;

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
-- One PaymentIntent belongs to one donation.
CREATE UNIQUE INDEX donations_payment_intent_key ON donations (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
-- History (newest first) and the duplicate window.
CREATE INDEX donations_user_created_idx ON donations (user_id, created_at DESC, id DESC);
-- The reconciler's sweep of unfinished donations.
CREATE INDEX donations_unsettled_idx ON donations (status, updated_at) WHERE settled_at IS NULL;

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

CREATE TABLE notifications (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     UUID NOT NULL REFERENCES users (id),
    donation_id UUID NOT NULL REFERENCES donations (id),
    kind        TEXT NOT NULL,
    channel     TEXT NOT NULL DEFAULT 'email',
    status      TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'logged')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at     TIMESTAMPTZ,
    CONSTRAINT notifications_donation_kind_key UNIQUE (donation_id, kind)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at);

CREATE TABLE webhook_events (
    provider_event_id TEXT PRIMARY KEY,
    type              TEXT NOT NULL,
    received_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at      TIMESTAMPTZ
);

-- +goose Down
DROP TABLE webhook_events;
DROP TABLE notifications;
DROP TABLE payment_attempts;
DROP TABLE donations;
DROP TABLE payment_methods;
ALTER TABLE users DROP COLUMN provider_customer_id;
