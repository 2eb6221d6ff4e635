-- Read-your-writes with a read replica: after a donor's write commits, the primary's WAL
-- insert position (past that commit) is kept here, and that donor's reads go to the primary
-- until the replica has replayed that far. A plain int8 (bytes since 0/0), not pg_lsn.

-- +goose Up
CREATE TABLE replica_fences (
    user_id    UUID PRIMARY KEY,
    lsn        INT8 NOT NULL,
    written_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE replica_fences;
