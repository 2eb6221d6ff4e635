-- The notifications table becomes the e-mail outbox: the move that settles a donation writes
-- its e-mail's row (pending) in the same statement, and a drainer claims due rows in batches
-- under a lease, sends them over one SMTP connection and marks them in one statement.

-- +goose Up
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'logged', 'failed'));
ALTER TABLE notifications
    ADD COLUMN attempts        INT NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN lease_until     TIMESTAMPTZ,
    ADD COLUMN last_error      TEXT;
-- The drainer's look for due rows.
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
-- Outcomes settled before the outbox whose e-mail job had not yet made its row.
INSERT INTO notifications (user_id, donation_id, kind, channel, status)
SELECT d.user_id, d.id, CASE d.status WHEN 'SUCCEEDED' THEN 'receipt' ELSE 'failure' END, 'email', 'pending'
FROM donations d
WHERE d.status IN ('SUCCEEDED', 'FAILED')
ON CONFLICT (donation_id, kind) DO NOTHING;

-- +goose Down
DROP INDEX notifications_due_idx;
ALTER TABLE notifications DROP COLUMN last_error, DROP COLUMN lease_until, DROP COLUMN next_attempt_at, DROP COLUMN attempts;
UPDATE notifications SET status = 'sending' WHERE status IN ('pending', 'failed');
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check CHECK (status IN ('sending', 'sent', 'logged'));
