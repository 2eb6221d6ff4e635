-- Disputes: a card holder's challenge of a donation's charge, as the provider reports it. One
-- row per provider dispute, kept current by its events; a dispute lost moves the donation to
-- REFUNDED through the settlement's move, not here.

-- +goose Up
CREATE TABLE disputes (
    provider_dispute_id TEXT PRIMARY KEY,
    user_id             UUID NOT NULL,
    donation_id         UUID NOT NULL,
    status              TEXT NOT NULL,
    reason              TEXT NOT NULL,
    amount_cents        INT8 NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT disputes_donation_fkey FOREIGN KEY (user_id, donation_id) REFERENCES donations (user_id, id)
);
CREATE INDEX disputes_donation_idx ON disputes (user_id, donation_id);

-- +goose Down
DROP TABLE disputes;
