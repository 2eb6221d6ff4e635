package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

const userColumns = `id::text, email, name, home_region, created_at, role`

func scanUser(row pgx.Row, extra ...any) (*giveathon.User, error) {
	var u giveathon.User
	dest := append([]any{&u.ID, &u.Email, &u.Name, &u.HomeRegion, &u.CreatedAt, &u.Role}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUserWithSession inserts a new account and its first session in one transaction. The
// e-mail must already be case-folded; a taken e-mail is ECONFLICT. The unique e-mail is the
// whole guarantee, so it runs at READ COMMITTED. Run again after a COMMIT whose answer was
// lost, it finds its own account (the e-mail with this very password hash, salted afresh for
// each sign-up) and session instead of answering ECONFLICT.
func (db *DB) CreateUserWithSession(ctx context.Context, u *giveathon.User, passwordHash string, tokenHash []byte, expiresAt time.Time) error {
	err := db.InTxAt(ctx, pgx.ReadCommitted, func(tx pgx.Tx) error {
		created, err := scanUser(tx.QueryRow(ctx, `INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3)
			ON CONFLICT (email) WHERE partner_id IS NULL DO NOTHING RETURNING `+userColumns, u.Email, u.Name, passwordHash))
		if errors.Is(err, pgx.ErrNoRows) {
			created, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1 AND password_hash = $2 AND partner_id IS NULL`,
				u.Email, passwordHash))
			if errors.Is(err, pgx.ErrNoRows) {
				return giveathon.Invalid("email", "an account with this email already exists").WithCode(giveathon.ECONFLICT)
			}
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (token_hash) DO NOTHING`, tokenHash, created.ID, expiresAt); err != nil {
			return err
		}
		*u = *created
		return nil
	})
	if err != nil && giveathon.ErrorCode(err) == giveathon.EINTERNAL {
		return fmt.Errorf("create user: %w", err)
	}
	return err
}

// FindUserByEmail returns the account with a case-folded e-mail and its password hash, or
// ENOTFOUND.
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*giveathon.User, string, error) {
	var hash string
	u, err := scanUser(db.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = $1 AND partner_id IS NULL`, email), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", giveathon.Errorf(giveathon.ENOTFOUND, "user not found")
	} else if err != nil {
		return nil, "", fmt.Errorf("find user by email: %w", err)
	}
	return u, hash, nil
}

// FindUserByID returns one account, or ENOTFOUND.
func (db *DB) FindUserByID(ctx context.Context, id string) (*giveathon.User, error) {
	u, err := scanUser(db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, oneRow(err, "user", "find user")
}

// CreateSession stores a new session for a user under the hash of its token.
func (db *DB) CreateSession(ctx context.Context, tokenHash []byte, userID string, expiresAt time.Time) error {
	// The token is random: a row under its hash can only be this call's, from a lost answer.
	if _, err := db.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (token_hash) DO NOTHING`, tokenHash, userID, expiresAt); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// FindSessionUser returns the user of a live (unexpired, unrevoked) session, or ENOTFOUND.
func (db *DB) FindSessionUser(ctx context.Context, tokenHash []byte) (*giveathon.User, error) {
	u, err := scanUser(db.QueryRow(ctx, `SELECT u.id::text, u.email, u.name, u.home_region, u.created_at, u.role
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()`, tokenHash))
	return u, oneRow(err, "session", "find session")
}

// RevokeSession ends a session; revoking an unknown or revoked session is not an error.
func (db *DB) RevokeSession(ctx context.Context, tokenHash []byte) error {
	if _, err := db.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL`, tokenHash); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// SetUserRole records an account's role by its case-folded e-mail (giveathon admin grant and
// revoke) and returns the account, or ENOTFOUND when no account has that e-mail. A change is
// written to the admins' audit log with it (adminGrant or adminRevoke, the role before and
// after, no actor: a command run on the server).
func (db *DB) SetUserRole(ctx context.Context, email string, role giveathon.Role) (*giveathon.User, error) {
	var u *giveathon.User
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		var before string
		if err := tx.QueryRow(ctx, `SELECT role FROM users WHERE email = $1 AND partner_id IS NULL FOR UPDATE`, email).Scan(&before); err != nil {
			return err
		}
		var err error
		if u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET role = $2 WHERE email = $1 AND partner_id IS NULL RETURNING `+userColumns, email, role)); err != nil {
			return err
		}
		if before == string(role) {
			return nil
		}
		action := "adminRevoke"
		if role == giveathon.RoleAdmin {
			action = "adminGrant"
		}
		return RecordAdminAction(ctx, tx, giveathon.NewAdminAction(nil, action, "User", u.ID,
			map[string]string{"role": before}, map[string]string{"role": string(role)}))
	})
	return u, oneRow(err, "user", "set user role")
}

// FindAdminEmails returns the e-mails of the accounts recorded as admins (giveathon admin
// grant); ADMIN_EMAILS' accounts are admins by configuration and not necessarily here.
func (db *DB) FindAdminEmails(ctx context.Context) ([]string, error) {
	rows, err := db.Pool.Query(ctx, `SELECT email FROM users WHERE role = $1 ORDER BY email`, string(giveathon.RoleAdmin))
	if err != nil {
		return nil, fmt.Errorf("find admins: %w", err)
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find admins: %w", err)
	}
	return emails, nil
}
