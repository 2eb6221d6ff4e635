-- The reconciler's reads stay small however many donations there are (issue 14): each looks
-- through an index of exactly what it looks for, and the totals reconciliation folds the gifts
-- it has checked into a checkpoint and reads only what changed after it.

-- +goose Up
-- Refunds by when they were made (a refunded donation changes no more): what left the totals.
CREATE INDEX donations_refunded_idx ON donations (updated_at) WHERE status = 'REFUNDED';

-- Attempts left open: the ones a worker that died never finished.
CREATE INDEX payment_attempts_open_idx ON payment_attempts (started_at) WHERE status = 'started';

-- Rate-limit windows by their start: what the prune deletes (a day's windows and older).
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);

-- The totals reconciliation's checkpoint: every gift decided before folded_before (and every
-- refund made before it) is folded into totals_folded, which holds, by charity, the sum of
-- those gifts less those refunds.
CREATE TABLE totals_watermark (
    id            BOOL PRIMARY KEY DEFAULT true CHECK (id),
    folded_before TIMESTAMPTZ NOT NULL
);

CREATE TABLE totals_folded (
    charity_id UUID PRIMARY KEY,
    cents      INT8 NOT NULL,
    donations  INT8 NOT NULL
);

-- +goose Down
DROP TABLE totals_folded;
DROP TABLE totals_watermark;
DROP INDEX rate_limits_window_idx;
DROP INDEX payment_attempts_open_idx;
DROP INDEX donations_refunded_idx;
