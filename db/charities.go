package db

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/giveathon/giveathon"
	"github.com/jackc/pgx/v5"
)

// charityColumnsOf lists a charity's columns, each qualified with the table alias t ("c.").
func charityColumnsOf(t string) string {
	return t + `id::text, ` + t + `slug, ` + t + `name, ` + t + `description, ` + t + `ein, ` + t + `active, ` + t + `created_at`
}

var charityColumns = charityColumnsOf("")

// scanCharity scans charityColumns, then any extra columns into extra.
func scanCharity(row pgx.Row, extra ...any) (*giveathon.Charity, error) {
	var c giveathon.Charity
	if err := row.Scan(append([]any{&c.ID, &c.Slug, &c.Name, &c.Description, &c.EIN, &c.Active, &c.CreatedAt}, extra...)...); err != nil {
		return nil, err
	}
	return &c, nil
}

// FindCharityByID returns one charity, or ENOTFOUND.
func (db *DB) FindCharityByID(ctx context.Context, id string) (*giveathon.Charity, error) {
	if !giveathon.IsUUID(id) {
		return nil, giveathon.Errorf(giveathon.ENOTFOUND, "charity not found")
	}
	c, err := scanCharity(db.read("").QueryRow(ctx, `SELECT `+charityColumns+` FROM charities WHERE id = $1`, id))
	return c, oneRow(err, "charity", "find charity")
}

// FindCharitiesByIDs returns the charities with the given ids, by id.
func (db *DB) FindCharitiesByIDs(ctx context.Context, ids []string) (map[string]*giveathon.Charity, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if giveathon.IsUUID(id) {
			valid = append(valid, id)
		}
	}
	rows, err := db.read("").Query(ctx, `SELECT `+charityColumns+` FROM charities WHERE id = ANY($1::uuid[])`, valid)
	if err != nil {
		return nil, fmt.Errorf("find charities by id: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*giveathon.Charity, error) { return scanCharity(r) })
	if err != nil {
		return nil, fmt.Errorf("find charities by id: %w", err)
	}
	out := make(map[string]*giveathon.Charity, len(list))
	for _, c := range list {
		out[c.ID] = c
	}
	return out, nil
}

// likeEscaper escapes LIKE's wildcards (and its escape character) in a search word.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// charityCursor is the keyset position of a charity in name order.
type charityCursor struct {
	Name string `json:"n"`
	ID   string `json:"i"`
}

func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor decodes a cursor into v. Every string in it must be plain text: a cursor made
// up with a NUL would otherwise reach SQL, which refuses it. It holds v's fields only: another
// list's cursor (whose fields differ) is refused, not read as this list's start.
func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil {
			if _, end := dec.Token(); end != io.EOF {
				err = errors.New("more after the cursor's object")
			}
		}
	}
	if err != nil || !plainStrings(b) {
		return giveathon.Invalid("after", "after is not a cursor this list gave out")
	}
	return nil
}

// plainStrings reports whether no string of a JSON document (keys included) holds a control
// character.
func plainStrings(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		} else if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && giveathon.HasControl(s) {
			return false
		}
	}
}

// FindCharities returns a page of charities ordered by name (then id, so the order is total
// and cursors stay valid while charities are added), each one's cursor, and the total count.
func (db *DB) FindCharities(ctx context.Context, f giveathon.CharityFilter) ([]*giveathon.Charity, []string, int, error) {
	page, err := f.Page.Validate()
	if err != nil {
		return nil, nil, 0, err
	}
	words, err := f.SearchWords()
	if err != nil {
		return nil, nil, 0, err
	}
	// Each word must appear in the name or the description: ILIKE patterns with the
	// pattern's own wildcards escaped.
	where, args := "true", []any{}
	for _, w := range words {
		args = append(args, "%"+likeEscaper.Replace(w)+"%")
		where += fmt.Sprintf(" AND (name ILIKE $%d OR description ILIKE $%[1]d)", len(args))
	}
	var after charityCursor
	if page.After != "" {
		if err := decodeCursor(page.After, &after); err != nil {
			return nil, nil, 0, err
		}
		if !giveathon.IsUUID(after.ID) {
			return nil, nil, 0, giveathon.Invalid("after", "after is not a cursor this list gave out")
		}
	}
	var total int
	var list []*giveathon.Charity
	var cursors []string
	// Read only: a snapshot at REPEATABLE READ is consistent and never fails to serialize.
	err = db.readTx(ctx, "", func(tx pgx.Tx) error {
		list, cursors = nil, nil
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM charities WHERE `+where, args...).Scan(&total); err != nil {
			return err
		}
		var rows pgx.Rows
		n := len(args)
		if page.After == "" {
			rows, err = tx.Query(ctx, fmt.Sprintf(`SELECT `+charityColumns+` FROM charities WHERE `+where+`
				ORDER BY name, id LIMIT $%d`, n+1), append(args, page.First+1)...)
		} else {
			rows, err = tx.Query(ctx, fmt.Sprintf(`SELECT `+charityColumns+` FROM charities WHERE `+where+`
				AND (name, id) > ($%d, $%d::uuid) ORDER BY name, id LIMIT $%d`, n+1, n+2, n+3),
				append(args, after.Name, after.ID, page.First+1)...)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCharity(rows)
			if err != nil {
				return err
			}
			list = append(list, c)
			cursors = append(cursors, encodeCursor(charityCursor{Name: c.Name, ID: c.ID}))
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("find charities: %w", err)
	}
	return list, cursors, total, nil
}

// UpsertCharities inserts charities by slug and updates the ones that exist; it returns how
// many were new. Running it twice changes nothing the second time.
func (db *DB) UpsertCharities(ctx context.Context, list []giveathon.Charity) (int, error) {
	var added int
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		added = 0
		for _, c := range list {
			tag, err := tx.Exec(ctx, `INSERT INTO charities (slug, name, description, ein, active)
				VALUES ($1, $2, $3, $4, true) ON CONFLICT (slug) DO NOTHING`, c.Slug, c.Name, c.Description, c.EIN)
			if err != nil {
				return fmt.Errorf("insert charity %s: %w", c.Slug, err)
			}
			if tag.RowsAffected() == 1 {
				added++
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE charities SET name = $2, description = $3, ein = $4 WHERE slug = $1`,
				c.Slug, c.Name, c.Description, c.EIN); err != nil {
				return fmt.Errorf("update charity %s: %w", c.Slug, err)
			}
		}
		return nil
	})
	return added, err
}

// CountCharities returns how many charities exist.
func (db *DB) CountCharities(ctx context.Context) (int, error) {
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM charities`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count charities: %w", err)
	}
	return n, nil
}
