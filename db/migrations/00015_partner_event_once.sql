-- Each partner event about a donation is written once (issue 13): a donation reaches each
-- state once, and its dispute is announced once, however often the provider reports it.

-- +goose Up
CREATE UNIQUE INDEX partner_events_donation_type_key ON partner_events (donation_id, type) WHERE donation_id IS NOT NULL;

-- +goose Down
DROP INDEX partner_events_donation_type_key;
