package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs a statement: a transaction, or the pool for a statement of its own.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// RecordAdminAction writes one line of the admins' audit log through q: pass the transaction
// that makes the change, so the change and its line commit together (or the pool, for an
// action with no transaction of its own). a.Before and a.After are marshalled to JSON (nil:
// SQL NULL). The log is only ever inserted into: nothing updates or deletes it.
func RecordAdminAction(ctx context.Context, q Execer, a giveathon.AdminAction) error {
	before, err := auditJSON(a.Before)
	if err != nil {
		return err
	}
	after, err := auditJSON(a.After)
	if err != nil {
		return err
	}
	var actor *string
	if a.ActorID != "" {
		actor = &a.ActorID
	}
	if _, err := q.Exec(ctx, `INSERT INTO admin_audit_log (actor_id, actor_email, action, object_type, object_id, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, actor, a.ActorEmail, a.Action, a.ObjectType, a.ObjectID, before, after); err != nil {
		return fmt.Errorf("record admin action %s: %w", a.Action, err)
	}
	return nil
}

func auditJSON(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit log: marshal: %w", err)
	}
	return b, nil
}

// RecordAdminAction writes one line of the audit log on its own (see RecordAdminAction).
func (db *DB) RecordAdminAction(ctx context.Context, a giveathon.AdminAction) error {
	return RecordAdminAction(ctx, db.Pool, a)
}

// CreateCharity inserts a charity and its audit line in one transaction; a taken slug is
// ECONFLICT.
func (db *DB) CreateCharity(ctx context.Context, actor *giveathon.User, in giveathon.CharityInput) (*giveathon.Charity, error) {
	c, err := in.Apply(giveathon.Charity{Active: true})
	if err != nil {
		return nil, err
	}
	var created *giveathon.Charity
	err = db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		created, err = scanCharity(tx.QueryRow(ctx, `INSERT INTO charities (slug, name, description, ein, active)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (slug) DO NOTHING RETURNING `+charityColumns, c.Slug, c.Name, c.Description, c.EIN, c.Active))
		if errors.Is(err, pgx.ErrNoRows) {
			return giveathon.Invalid("slug", "a charity with this slug already exists").WithCode(giveathon.ECONFLICT)
		} else if err != nil {
			return err
		}
		return RecordAdminAction(ctx, tx, giveathon.NewAdminAction(actor, "createCharity", "Charity", created.ID, nil, created))
	})
	if err := wrapInternal(err, "create charity"); err != nil {
		return nil, err
	}
	return created, nil
}

// UpdateCharity changes the fields of a charity that in sets, and writes its audit line with
// the charity before and after, in one transaction; an unknown id is ENOTFOUND. An update
// that changes nothing writes nothing.
func (db *DB) UpdateCharity(ctx context.Context, actor *giveathon.User, id string, in giveathon.CharityInput) (*giveathon.Charity, error) {
	if !giveathon.IsUUID(id) {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "charity not found")
	}
	var updated *giveathon.Charity
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		before, err := scanCharity(tx.QueryRow(ctx, `SELECT `+charityColumns+` FROM charities WHERE id = $1 FOR UPDATE`, id))
		if err := oneRow(err, "charity", "find charity"); err != nil {
			return err
		}
		c, err := in.Apply(*before)
		if err != nil {
			return err
		}
		if c == *before {
			// Nothing changes: no write, and no audit line whose before and after are the same.
			updated = before
			return nil
		}
		updated, err = scanCharity(tx.QueryRow(ctx, `UPDATE charities SET slug = $2, name = $3, description = $4, ein = $5, active = $6
			WHERE id = $1 RETURNING `+charityColumns, id, c.Slug, c.Name, c.Description, c.EIN, c.Active))
		if isUniqueViolation(err, "charities_slug_key") {
			return giveathon.Invalid("slug", "a charity with this slug already exists").WithCode(giveathon.ECONFLICT)
		} else if err != nil {
			return err
		}
		return RecordAdminAction(ctx, tx, giveathon.NewAdminAction(actor, "updateCharity", "Charity", id, before, updated))
	})
	if err := wrapInternal(err, "update charity"); err != nil {
		return nil, err
	}
	return updated, nil
}

// sqlAuditPage is a page of the audit log (pageAfter).
const sqlAuditPage = `SELECT id::text, coalesce(actor_id::text, ''), actor_email, action, object_type, object_id,
	before, after, created_at FROM admin_audit_log
	WHERE (created_at, id) < ($1, $2::uuid)
	ORDER BY created_at DESC, id DESC LIMIT $3`

// FindAdminActions returns a page of the audit log, newest first, with cursors and the count.
func (db *DB) FindAdminActions(ctx context.Context, p giveathon.Page) ([]*giveathon.AdminAction, []string, int, error) {
	page, err := p.Validate()
	if err != nil {
		return nil, nil, 0, err
	}
	after, err := pageAfter(page.After)
	if err != nil {
		return nil, nil, 0, err
	}
	var list []*giveathon.AdminAction
	var total int
	err = db.InTxAt(ctx, pgx.RepeatableRead, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM admin_audit_log`).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlAuditPage, after.CreatedAt, after.ID, page.First+1)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.AdminAction, error) {
			var a giveathon.AdminAction
			var before, after []byte
			err := r.Scan(&a.ID, &a.ActorID, &a.ActorEmail, &a.Action, &a.ObjectType, &a.ObjectID, &before, &after, &a.CreatedAt)
			if before != nil {
				a.Before = json.RawMessage(before)
			}
			if after != nil {
				a.After = json.RawMessage(after)
			}
			return &a, err
		})
		return err
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("find admin actions: %w", err)
	}
	cursors := make([]string, len(list))
	for i, a := range list {
		cursors[i] = keysetCursor(a.CreatedAt, a.ID)
	}
	return list, cursors, total, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// adminDonationsWhere returns the SQL condition on donations d joined with users u that the
// filter asks for, with its arguments ($1...): the status, the donor's e-mail, the charity,
// created at or after, created before. Only the filters set are written, so that each
// combination is a statement of its own whose plan uses the index that serves it: the
// servers run generic plans (see Open), which cannot drop a condition like "$2 IS NULL OR
// u.email = $2" by its argument.
func adminDonationsWhere(f giveathon.AdminDonationFilter) (string, []any, error) {
	conds := []string{"true"}
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Status != nil {
		add("d.status = ?", string(*f.Status))
	}
	if f.Email != "" {
		e, err := giveathon.NormalizeEmail(f.Email)
		if err != nil {
			return "", nil, err
		}
		add("u.email = ?", e)
	}
	if f.CharityID != "" {
		if !giveathon.IsUUID(f.CharityID) {
			return "", nil, giveathon.Invalid("charityId", "charityId is not a charity's id")
		}
		add("d.charity_id = ?::uuid", f.CharityID)
	}
	if f.CreatedAfter != nil {
		add("d.created_at >= ?", *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		add("d.created_at < ?", *f.CreatedBefore)
	}
	return strings.Join(conds, " AND "), args, nil
}

// FindAdminDonations returns a page of donations across donors, newest first by
// (created_at, id) like a donor's history, each with its donor's e-mail and name.
func (db *DB) FindAdminDonations(ctx context.Context, f giveathon.AdminDonationFilter) ([]*giveathon.AdminDonation, []string, int, error) {
	page, err := f.Page.Validate()
	if err != nil {
		return nil, nil, 0, err
	}
	where, args, err := adminDonationsWhere(f)
	if err != nil {
		return nil, nil, 0, err
	}
	after, err := pageAfter(page.After)
	if err != nil {
		return nil, nil, 0, err
	}
	var list []*giveathon.AdminDonation
	var total int
	err = db.InTxAt(ctx, pgx.RepeatableRead, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM donations d JOIN users u ON u.id = d.user_id WHERE `+where,
			args...).Scan(&total); err != nil {
			return err
		}
		n := len(args)
		rows, err := tx.Query(ctx, adminDonationsPage(where, n), append(args[:n:n], after.CreatedAt, after.ID, page.First+1)...)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.AdminDonation, error) {
			var a giveathon.AdminDonation
			var err error
			a.Donation, err = scanDonation(r, &a.DonorEmail, &a.DonorName)
			return &a, err
		})
		return err
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("find admin donations: %w", err)
	}
	cursors := make([]string, len(list))
	for i, d := range list {
		cursors[i] = keysetCursor(d.CreatedAt, d.ID)
	}
	return list, cursors, total, nil
}

// adminDonationsPage is a page of the console's donations (pageAfter) that meet where, whose
// n arguments come first.
func adminDonationsPage(where string, n int) string {
	return `SELECT ` + donationColumnsOf("d.") + `, u.email, u.name FROM donations d JOIN users u ON u.id = d.user_id
		WHERE ` + where + fmt.Sprintf(` AND (d.created_at, d.id) < ($%d, $%d::uuid) ORDER BY d.created_at DESC, d.id DESC LIMIT $%d`, n+1, n+2, n+3)
}

var _ giveathon.AdminService = (*DB)(nil)
