package db

import (
	"time"

	"github.com/giveathon/giveathon"
	"github.com/google/uuid"
)

// keyset is a row's place in a list ordered newest first, (created_at DESC, id DESC): what the
// cursors of the donors' history, the console's donations and audit log, the partners and their
// gifts and webhook deliveries carry.
type keyset struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"i"`
}

// keysetCursor is the cursor of the row made at createdAt with id.
func keysetCursor(createdAt time.Time, id string) string {
	return encodeCursor(keyset{CreatedAt: createdAt, ID: id})
}

// pageAfter decodes the cursor a page starts after. The first page ("") starts after a place
// before every row (the year 9999, the greatest uuid), so that every page is the same statement,
// "(created_at, id) < ($n, $m)", which bounds the index scan. A first page written as
// "$n IS NULL OR ..." would cost every later page a read from the list's start: the servers run
// generic plans (see Open), which cannot drop that condition by its argument.
func pageAfter(cursor string) (keyset, error) {
	if cursor == "" {
		return keyset{CreatedAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), ID: uuid.Max.String()}, nil
	}
	var k keyset
	if err := decodeCursor(cursor, &k); err != nil {
		return keyset{}, err
	}
	if !giveathon.IsUUID(k.ID) || k.CreatedAt.IsZero() {
		return keyset{}, giveathon.Invalid("after", "after is not a cursor this list gave out")
	}
	return k, nil
}
