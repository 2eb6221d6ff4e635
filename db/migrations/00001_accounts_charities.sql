-- Accounts, sessions and charities. Portable to CockroachDB: UUID keys, no sequences,
-- triggers or stored procedures; rows of a donor lead their keys with user_id.

-- +goose Up
CREATE TABLE users (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    home_region   TEXT NOT NULL DEFAULT 'us',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_folded CHECK (email = lower(email))
);

CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE charities (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    ein         TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT true,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT charities_slug_key UNIQUE (slug),
    CONSTRAINT charities_ein_format CHECK (ein ~ '^[0-9]{2}-[0-9]{7}$')
);
CREATE INDEX charities_name_id_idx ON charities (name, id);

-- +goose Down
DROP TABLE charities;
DROP TABLE sessions;
DROP TABLE users;
