-- The card-testing check counts a donor's recent declined donations on every submission:
-- an index of the failed ones only keeps that cheap however many gifts a donor makes.

-- +goose Up
CREATE INDEX donations_user_failed_idx ON donations (user_id, created_at) WHERE status = 'FAILED';

-- +goose Down
DROP INDEX donations_user_failed_idx;
