-- How often each e-mail was handed to the SMTP server: more than once only when a process died
-- between the server taking it and its record (delivery is at least once, with one Message-ID).

-- +goose Up
ALTER TABLE notifications ADD COLUMN deliveries INT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE notifications DROP COLUMN deliveries;
