package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/giveathon/giveathon"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

const partnerColumns = `p.id::text, p.name, p.contact_email, p.created_at`

func scanPartner(row pgx.Row) (*giveathon.Partner, error) {
	var p giveathon.Partner
	if err := row.Scan(&p.ID, &p.Name, &p.ContactEmail, &p.CreatedAt); err != nil {
		return nil, err
	}
	return &p, nil
}

const apiKeyColumns = `k.id::text, k.partner_id::text, k.prefix, k.mode, k.scopes, k.created_at, k.expires_at, k.revoked_at, k.last_used_at`

// scanAPIKey scans apiKeyColumns, then any extra columns into extra.
func scanAPIKey(row pgx.Row, extra ...any) (*giveathon.APIKey, error) {
	var k giveathon.APIKey
	var scopes []string
	if err := row.Scan(append([]any{&k.ID, &k.PartnerID, &k.Prefix, &k.Mode, &scopes, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt}, extra...)...); err != nil {
		return nil, err
	}
	for _, s := range scopes {
		k.Scopes = append(k.Scopes, giveathon.APIScope(s))
	}
	return &k, nil
}

// CreatePartner inserts a validated partner and its audit line in one transaction. The id is
// chosen before the transaction, so a run again after a lost COMMIT finds the partner made.
func (db *DB) CreatePartner(ctx context.Context, actor *giveathon.User, p *giveathon.Partner) (*giveathon.Partner, error) {
	id := uuid.NewString()
	var created *giveathon.Partner
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		created, err = scanPartner(tx.QueryRow(ctx, `INSERT INTO partners AS p (id, name, contact_email) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING RETURNING `+partnerColumns, id, p.Name, p.ContactEmail))
		if errors.Is(err, pgx.ErrNoRows) {
			created, err = scanPartner(tx.QueryRow(ctx, `SELECT `+partnerColumns+` FROM partners p WHERE id = $1`, id))
			return err
		} else if err != nil {
			return err
		}
		return RecordAdminAction(ctx, tx, giveathon.NewAdminAction(actor, "createPartner", "Partner", created.ID, nil, created))
	})
	if err != nil {
		return nil, fmt.Errorf("create partner: %w", err)
	}
	return created, nil
}

// sqlPartnersPage is a page of the partners (pageAfter).
var sqlPartnersPage = `SELECT ` + partnerColumns + ` FROM partners p
	WHERE (p.created_at, p.id) < ($1, $2::uuid)
	ORDER BY p.created_at DESC, p.id DESC LIMIT $3`

// FindPartners returns a page of partners, newest first, with each one's cursor.
func (db *DB) FindPartners(ctx context.Context, p giveathon.Page) ([]*giveathon.Partner, []string, error) {
	page, err := p.Validate()
	if err != nil {
		return nil, nil, err
	}
	after, err := pageAfter(page.After)
	if err != nil {
		return nil, nil, err
	}
	var list []*giveathon.Partner
	err = db.Retry(ctx, func(ctx context.Context) error {
		rows, err := db.Pool.Query(ctx, sqlPartnersPage, after.CreatedAt, after.ID, page.First+1)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.Partner, error) { return scanPartner(r) })
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("find partners: %w", err)
	}
	cursors := make([]string, len(list))
	for i, p := range list {
		cursors[i] = keysetCursor(p.CreatedAt, p.ID)
	}
	return list, cursors, nil
}

// FindPartnerByID returns one partner, or ENOTFOUND.
func (db *DB) FindPartnerByID(ctx context.Context, id string) (*giveathon.Partner, error) {
	if !giveathon.IsUUID(id) {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "partner not found")
	}
	p, err := scanPartner(db.QueryRow(ctx, `SELECT `+partnerColumns+` FROM partners p WHERE id = $1`, id))
	return p, oneRow(err, "partner", "find partner")
}

// CreateAPIKey stores a key under the SHA-256 of its secret (never the secret) with its
// audit line, in one transaction; a partner that does not exist is EINVALID on partnerId.
func (db *DB) CreateAPIKey(ctx context.Context, actor *giveathon.User, key *giveathon.APIKey, keyHash []byte) (*giveathon.APIKey, error) {
	if !giveathon.IsUUID(key.PartnerID) {
		return nil, errNoPartner
	}
	var createdBy *string
	if actor != nil {
		createdBy = &actor.ID
	}
	scopes := make([]string, len(key.Scopes))
	for i, s := range key.Scopes {
		scopes[i] = string(s)
	}
	var created *giveathon.APIKey
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		created, err = scanAPIKey(tx.QueryRow(ctx, `INSERT INTO api_keys AS k (partner_id, key_hash, prefix, mode, scopes, created_by, expires_at)
			SELECT id, $2, $3, $4, $5, $6, $7 FROM partners WHERE id = $1
			ON CONFLICT (key_hash) DO NOTHING RETURNING `+apiKeyColumns,
			key.PartnerID, keyHash, key.Prefix, key.Mode, scopes, createdBy, key.ExpiresAt))
		if errors.Is(err, pgx.ErrNoRows) {
			// No partner, or (a run again after a lost COMMIT) the key is made already.
			created, err = scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE key_hash = $1`, keyHash))
			if errors.Is(err, pgx.ErrNoRows) {
				return errNoPartner
			}
			return err
		} else if err != nil {
			return err
		}
		return RecordAdminAction(ctx, tx, giveathon.NewAdminAction(actor, "createApiKey", "ApiKey", created.ID, nil, created))
	})
	if err := wrapInternal(err, "create API key"); err != nil {
		return nil, err
	}
	return created, nil
}

var errNoPartner = giveathon.Invalid("partnerId", "partnerId is not a partner's id")

// FindAPIKeys returns a partner's keys, newest first, revoked ones included.
func (db *DB) FindAPIKeys(ctx context.Context, partnerID string) ([]*giveathon.APIKey, error) {
	if !giveathon.IsUUID(partnerID) {
		return []*giveathon.APIKey{}, nil
	}
	var list []*giveathon.APIKey
	err := db.Retry(ctx, func(ctx context.Context) error {
		rows, err := db.Pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE partner_id = $1
			ORDER BY created_at DESC, id DESC`, partnerID)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.APIKey, error) { return scanAPIKey(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find API keys of partner %s: %w", partnerID, err)
	}
	if list == nil {
		list = []*giveathon.APIKey{}
	}
	return list, nil
}

// FindAPIKeyByID returns one key, or ENOTFOUND.
func (db *DB) FindAPIKeyByID(ctx context.Context, id string) (*giveathon.APIKey, error) {
	if !giveathon.IsUUID(id) {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "API key not found")
	}
	k, err := scanAPIKey(db.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE id = $1`, id))
	return k, oneRow(err, "API key", "find API key")
}

// RevokeAPIKey revokes a key at once, with its audit line (the key before and after), in one
// transaction. Revoking a revoked key changes nothing and writes no line: it returns the key
// as it is. An unknown id is ENOTFOUND.
func (db *DB) RevokeAPIKey(ctx context.Context, actor *giveathon.User, id string) (*giveathon.APIKey, error) {
	if !giveathon.IsUUID(id) {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "API key not found")
	}
	var revoked *giveathon.APIKey
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		before, err := scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE id = $1 FOR UPDATE`, id))
		if err := oneRow(err, "API key", "find API key"); err != nil {
			return err
		}
		if before.RevokedAt != nil {
			revoked = before
			return nil
		}
		revoked, err = scanAPIKey(tx.QueryRow(ctx, `UPDATE api_keys k SET revoked_at = now() WHERE id = $1 RETURNING `+apiKeyColumns, id))
		if err != nil {
			return err
		}
		return RecordAdminAction(ctx, tx, giveathon.NewAdminAction(actor, "revokeApiKey", "ApiKey", id, before, revoked))
	})
	if err := wrapInternal(err, "revoke API key"); err != nil {
		return nil, err
	}
	return revoked, nil
}

// FindAPIKeyByHash returns the key stored under the SHA-256 of a secret, with its partner, or
// ENOTFOUND. Revoked and expired keys are returned too: the caller says why they are refused.
func (db *DB) FindAPIKeyByHash(ctx context.Context, keyHash []byte) (*giveathon.Caller, error) {
	var p giveathon.Partner
	k, err := scanAPIKey(db.QueryRow(ctx, `SELECT `+apiKeyColumns+`, `+partnerColumns+`
		FROM api_keys k JOIN partners p ON p.id = k.partner_id WHERE k.key_hash = $1`, keyHash),
		&p.ID, &p.Name, &p.ContactEmail, &p.CreatedAt)
	if err := oneRow(err, "API key", "find API key"); err != nil {
		return nil, err
	}
	return &giveathon.Caller{Partner: &p, Key: k}, nil
}

// TouchAPIKey records that a key was used now, at most once a minute: a conditional UPDATE
// that changes nothing within the minute.
func (db *DB) TouchAPIKey(ctx context.Context, id string) error {
	if _, err := db.Exec(ctx, `UPDATE api_keys SET last_used_at = now()
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') AND `+notMoney, id); err != nil {
		return fmt.Errorf("touch API key %s: %w", id, err)
	}
	return nil
}

var _ giveathon.PartnerService = (*DB)(nil)
