-- The event's live totals: counters kept in step with every move into SUCCEEDED (and out of
-- it, into REFUNDED) by the statement that makes the move, so a read never sums the donations
-- table. Each charity's counter is split over 64 shards, picked at random per move, so that
-- concurrent gifts to one charity seldom write the same row (a hot row would make
-- SERIALIZABLE transactions, and CockroachDB's, retry). The reconcile job checks the counters
-- against the table and books any difference on shard 0.

-- +goose Up
CREATE TABLE event_totals (
    charity_id     UUID NOT NULL REFERENCES charities (id),
    shard          INT NOT NULL CHECK (shard BETWEEN 0 AND 63),
    total_cents    INT8 NOT NULL DEFAULT 0,
    donation_count INT8 NOT NULL DEFAULT 0,
    PRIMARY KEY (charity_id, shard)
);
INSERT INTO event_totals (charity_id, shard, total_cents, donation_count)
    SELECT charity_id, 0, sum(amount_cents)::INT8, count(*)::INT8 FROM donations WHERE status = 'SUCCEEDED' GROUP BY charity_id;

-- The public list of the latest gifts.
CREATE INDEX donations_succeeded_settled_idx ON donations (settled_at DESC) WHERE status = 'SUCCEEDED';

-- +goose Down
DROP INDEX donations_succeeded_settled_idx;
DROP TABLE event_totals;
