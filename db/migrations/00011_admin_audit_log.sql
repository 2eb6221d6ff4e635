-- The admins' audit log: who did what to which object, before and after. Written only by
-- inserts; a trigger refuses any UPDATE or DELETE, so no code path can edit it.

-- +goose Up
CREATE TABLE admin_audit_log (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    actor_id    UUID,
    actor_email TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    before      JSONB,
    after       JSONB,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_log_created_at_id_idx ON admin_audit_log (created_at DESC, id DESC);

-- +goose StatementBegin
CREATE FUNCTION admin_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_audit_log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER admin_audit_log_append_only BEFORE UPDATE OR DELETE ON admin_audit_log
    FOR EACH ROW EXECUTE FUNCTION admin_audit_log_append_only();

-- Searching donations by charity across donors (the console, the CSV export).
CREATE INDEX donations_charity_created_idx ON donations (charity_id, created_at DESC, id DESC);
CREATE INDEX donations_created_idx ON donations (created_at DESC, id DESC);

-- +goose Down
DROP INDEX donations_created_idx;
DROP INDEX donations_charity_created_idx;
DROP TABLE admin_audit_log;
DROP FUNCTION admin_audit_log_append_only();
