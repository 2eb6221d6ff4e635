-- Partners (issue 13): systems that give for their own donors with API keys, and the events
-- they learn by signed webhooks and by a stream they can replay.
--
-- A partner's donor is a users row of that partner (partner_id set, no password: it never signs
-- in), one per partner and e-mail, so a donor's gifts through a partner stay in the donor's
-- partition and an account with the same e-mail never sees them. A sign-up's e-mail stays
-- unique among accounts (users_email_key, now partial).

-- +goose Up
CREATE TABLE partners (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name          TEXT NOT NULL,
    contact_email TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The sequencer's counters: the last sequence number given to the partner's events and the
    -- partner's totals just after it.
    last_seq      INT8 NOT NULL DEFAULT 0,
    total_cents   INT8 NOT NULL DEFAULT 0,
    total_count   INT8 NOT NULL DEFAULT 0
);
CREATE INDEX partners_created_idx ON partners (created_at DESC, id DESC);

-- An API key is kept as the SHA-256 of its secret only.
CREATE TABLE api_keys (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    partner_id   UUID NOT NULL REFERENCES partners (id),
    key_hash     BYTEA NOT NULL,
    prefix       TEXT NOT NULL,
    mode         TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    scopes       TEXT[] NOT NULL,
    created_by   UUID REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_partner_idx ON api_keys (partner_id, created_at DESC);

ALTER TABLE users ADD COLUMN partner_id UUID REFERENCES partners (id);
ALTER TABLE users DROP CONSTRAINT users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email) WHERE partner_id IS NULL;
CREATE UNIQUE INDEX users_partner_email_key ON users (partner_id, email) WHERE partner_id IS NOT NULL;

-- A gift through a partner: the partner and its reference on the donation itself (every move
-- writes the partner's event from the moved row), and the partner's idempotency key.
ALTER TABLE donations ADD COLUMN partner_id UUID;
ALTER TABLE donations ADD COLUMN partner_reference TEXT;
CREATE INDEX donations_partner_created_idx ON donations (partner_id, created_at DESC, id DESC) WHERE partner_id IS NOT NULL;

CREATE TABLE partner_gifts (
    partner_id      UUID NOT NULL REFERENCES partners (id),
    idempotency_key TEXT NOT NULL,
    user_id         UUID NOT NULL,
    donation_id     UUID NOT NULL,
    request_hash    TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT partner_gifts_pkey PRIMARY KEY (partner_id, idempotency_key),
    CONSTRAINT partner_gifts_donation_fkey FOREIGN KEY (user_id, donation_id) REFERENCES donations (user_id, id)
);

-- A partner's events: written unsequenced (seq NULL) by the move that makes them, then given
-- the partner's next sequence numbers, in order, by one sequencer at a time (which holds the
-- partner's row), so a reader paging by seq never skips one committed later.
CREATE TABLE partner_events (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    partner_id  UUID NOT NULL REFERENCES partners (id),
    donation_id UUID,
    type        TEXT NOT NULL,
    data        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    seq         INT8,
    -- The partner's totals just after this event (set with seq).
    total_cents INT8,
    total_count INT8,
    CONSTRAINT partner_events_seq_key UNIQUE (partner_id, seq)
);
CREATE INDEX partner_events_unsequenced_idx ON partner_events (partner_id, created_at, id) WHERE seq IS NULL;

-- Milestones of the event's goal (each 10 %), announced once.
CREATE TABLE event_milestones (
    percent    INT PRIMARY KEY CHECK (percent BETWEEN 10 AND 1000),
    reached_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Webhook endpoints. The signing secret is not stored: it is derived from the server's
-- WEBHOOK_SECRET_KEY and the endpoint's secret version (docs/partners.md).
CREATE TABLE webhook_endpoints (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    partner_id       UUID NOT NULL REFERENCES partners (id),
    url              TEXT NOT NULL,
    events           TEXT[] NOT NULL,
    status           TEXT NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled', 'deleted')),
    disabled_reason  TEXT,
    secret_version   INT NOT NULL DEFAULT 1,
    previous_version INT,
    previous_until   TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_partner_idx ON webhook_endpoints (partner_id, created_at);

-- One event to one endpoint; webhook_attempts holds every try of it.
CREATE TABLE webhook_deliveries (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    endpoint_id     UUID NOT NULL REFERENCES webhook_endpoints (id),
    partner_id      UUID NOT NULL REFERENCES partners (id),
    event_id        UUID NOT NULL REFERENCES partner_events (id),
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    CONSTRAINT webhook_deliveries_endpoint_event_key UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint_created_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id UUID NOT NULL REFERENCES webhook_deliveries (id),
    attempt_no  INT NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    status_code INT,
    duration_ms INT NOT NULL,
    error       TEXT,
    CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, attempt_no)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE event_milestones;
DROP TABLE partner_events;
DROP TABLE partner_gifts;
DROP INDEX donations_partner_created_idx;
ALTER TABLE donations DROP COLUMN partner_reference;
ALTER TABLE donations DROP COLUMN partner_id;
DELETE FROM users WHERE partner_id IS NOT NULL;
DROP INDEX users_partner_email_key;
DROP INDEX users_email_key;
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE users DROP COLUMN partner_id;
DROP TABLE api_keys;
DROP TABLE partners;
