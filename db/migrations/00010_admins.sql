-- Admins: an account's role. 'DONOR' by default; 'ADMIN' is granted by `giveathon admin grant
-- EMAIL` (ADMIN_EMAILS makes an account an admin at sign-in without writing here).

-- +goose Up
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'DONOR' CHECK (role IN ('DONOR', 'ADMIN'));

-- +goose Down
ALTER TABLE users DROP COLUMN role;
