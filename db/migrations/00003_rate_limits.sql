-- Rate-limit counters, shared by every API instance: one row per bucket (what is limited and
-- for whom) and fixed window.

-- +goose Up
CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    hits         INT NOT NULL DEFAULT 1,
    PRIMARY KEY (bucket, window_start)
);

-- +goose Down
DROP TABLE rate_limits;
