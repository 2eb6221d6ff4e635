package db_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
)

// partnersSetup is a fresh database and an admin to act as.
type partnersSetup struct {
	db    *db.DB
	admin *giveathon.User
}

func setupPartners(t *testing.T) partnersSetup {
	t.Helper()
	d := testenv.DB(t)
	don := testenv.NewDonor(t, d)
	admin, err := d.FindUserByID(context.Background(), don.UserID)
	if err != nil {
		t.Fatal(err)
	}
	return partnersSetup{db: d, admin: admin}
}

// auditLines returns the audit log's lines of an action on an object.
func auditLines(t *testing.T, d *db.DB, action, objectID string) []string {
	t.Helper()
	rows, err := d.Pool.Query(context.Background(), `SELECT coalesce(before::text, '') || ' -> ' || coalesce(after::text, '')
		FROM admin_audit_log WHERE action = $1 AND object_id = $2`, action, objectID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestPartnersNewestFirstAndAudited(t *testing.T) {
	t.Parallel()
	s := setupPartners(t)
	ctx := context.Background()
	var made []*giveathon.Partner
	for i := 0; i < 5; i++ {
		email := fmt.Sprintf("ops%d@partner.example", i)
		p, err := s.db.CreatePartner(ctx, s.admin, &giveathon.Partner{Name: fmt.Sprintf("Partner %d", i), ContactEmail: &email})
		if err != nil {
			t.Fatal(err)
		}
		if p.ID == "" || p.CreatedAt.IsZero() || p.ContactEmail == nil || *p.ContactEmail != email {
			t.Fatalf("created partner: %+v", p)
		}
		if lines := auditLines(t, s.db, "createPartner", p.ID); len(lines) != 1 {
			t.Fatalf("audit lines of createPartner: %q", lines)
		}
		made = append(made, p)
	}
	got, err := s.db.FindPartnerByID(ctx, made[2].ID)
	if err != nil || got.Name != "Partner 2" {
		t.Fatalf("FindPartnerByID = %+v, %v", got, err)
	}
	if _, err := s.db.FindPartnerByID(ctx, "00000000-0000-4000-8000-000000000000"); giveathon.ErrorCode(err) != giveathon.ENOTFOUND {
		t.Fatalf("unknown partner: %v", err)
	}
	// Two pages of two, then the last one: newest first, each once.
	var seen []string
	after := ""
	for page := 0; page < 3; page++ {
		list, cursors, err := s.db.FindPartners(ctx, giveathon.Page{First: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != len(cursors) || len(list) == 0 {
			t.Fatalf("page %d: %d partners, %d cursors", page, len(list), len(cursors))
		}
		n := min(2, len(list))
		for _, p := range list[:n] {
			seen = append(seen, p.Name)
		}
		after = cursors[n-1]
	}
	want := []string{"Partner 4", "Partner 3", "Partner 2", "Partner 1", "Partner 0"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("pages = %v, want %v", seen, want)
	}
	if _, _, err := s.db.FindPartners(ctx, giveathon.Page{After: "not-a-cursor"}); giveathon.ErrorField(err) != "after" {
		t.Fatalf("a made-up cursor: %v", err)
	}
}

func TestAPIKeysStoredAsHashRevokedOnceTouchedOncePerMinute(t *testing.T) {
	t.Parallel()
	s := setupPartners(t)
	ctx := context.Background()
	p, err := s.db.CreatePartner(ctx, s.admin, &giveathon.Partner{Name: "Stream Co"})
	if err != nil {
		t.Fatal(err)
	}
	secret := "gvk_test_not-really-a-key-but-stored-as-its-hash"
	sum := sha256.Sum256([]byte(secret))
	expires := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	in := &giveathon.APIKey{PartnerID: p.ID, Prefix: secret[:13], Mode: giveathon.KeyModeTest,
		Scopes: []giveathon.APIScope{giveathon.ScopeDonationsRead, giveathon.ScopeTotalsRead}, ExpiresAt: &expires}

	// A partner that does not exist is the caller's mistake, named by its field.
	ghost := *in
	ghost.PartnerID = "00000000-0000-4000-8000-000000000000"
	if _, err := s.db.CreateAPIKey(ctx, s.admin, &ghost, []byte("other hash")); giveathon.ErrorField(err) != "partnerId" || giveathon.ErrorCode(err) != giveathon.EINVALID {
		t.Fatalf("key of an unknown partner: %v", err)
	}

	key, err := s.db.CreateAPIKey(ctx, s.admin, in, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if key.ID == "" || key.PartnerID != p.ID || key.Mode != "test" || len(key.Scopes) != 2 || key.Scopes[1] != giveathon.ScopeTotalsRead ||
		key.ExpiresAt == nil || !key.ExpiresAt.Equal(expires) || key.RevokedAt != nil || key.LastUsedAt != nil {
		t.Fatalf("created key: %+v", key)
	}
	// Only the hash is kept: no column, and no audit line, holds the secret.
	var row string
	if err := s.db.Pool.QueryRow(ctx, `SELECT k::text FROM api_keys k WHERE id = $1`, key.ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	audit := auditLines(t, s.db, "createApiKey", key.ID)
	if bytes.Contains([]byte(row+fmt.Sprint(audit)), []byte(secret)) || len(audit) != 1 {
		t.Fatalf("the secret is stored, or the audit is wrong:\n%s\n%q", row, audit)
	}

	c, err := s.db.FindAPIKeyByHash(ctx, sum[:])
	if err != nil || c.Key.ID != key.ID || c.Partner.ID != p.ID || c.Partner.Name != "Stream Co" {
		t.Fatalf("FindAPIKeyByHash = %+v, %v", c, err)
	}
	wrong := sha256.Sum256([]byte(secret + "x"))
	if _, err := s.db.FindAPIKeyByHash(ctx, wrong[:]); giveathon.ErrorCode(err) != giveathon.ENOTFOUND {
		t.Fatalf("unknown hash: %v", err)
	}

	// Touched once, then not again within the minute.
	lastUsed := func() *time.Time {
		k, err := s.db.FindAPIKeyByID(ctx, key.ID)
		if err != nil {
			t.Fatal(err)
		}
		return k.LastUsedAt
	}
	if err := s.db.TouchAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	first := lastUsed()
	if first == nil {
		t.Fatal("TouchAPIKey recorded nothing")
	}
	if err := s.db.TouchAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if again := lastUsed(); !again.Equal(*first) {
		t.Fatalf("touched twice within a minute: %s then %s", first, again)
	}
	// A minute on, it is recorded again.
	if _, err := s.db.Pool.Exec(ctx, `UPDATE api_keys SET last_used_at = last_used_at - interval '61 seconds' WHERE id = $1`, key.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.db.TouchAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if later := lastUsed(); !later.After(first.Add(-61 * time.Second)) {
		t.Fatalf("not touched after a minute: %s", later)
	}

	// A second key (rotation), listed newest first.
	sum2 := sha256.Sum256([]byte(secret + "-2"))
	key2, err := s.db.CreateAPIKey(ctx, s.admin, &giveathon.APIKey{PartnerID: p.ID, Prefix: "gvk_test_abcd", Mode: "test",
		Scopes: []giveathon.APIScope{giveathon.ScopeDonationsWrite}}, sum2[:])
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.db.FindAPIKeys(ctx, p.ID)
	if err != nil || len(keys) != 2 || keys[0].ID != key2.ID || keys[1].ID != key.ID {
		t.Fatalf("FindAPIKeys = %v, %v", keys, err)
	}

	// Revoked once: the second revoke returns the key unchanged and writes no line.
	revoked, err := s.db.RevokeAPIKey(ctx, s.admin, key.ID)
	if err != nil || revoked.RevokedAt == nil {
		t.Fatalf("revoke: %+v, %v", revoked, err)
	}
	again, err := s.db.RevokeAPIKey(ctx, s.admin, key.ID)
	if err != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Fatalf("revoke again: %+v, %v", again, err)
	}
	lines := auditLines(t, s.db, "revokeApiKey", key.ID)
	if len(lines) != 1 {
		t.Fatalf("audit lines of revokeApiKey: %q", lines)
	}
	var before, after giveathon.APIKey
	bs, as, _ := bytes.Cut([]byte(lines[0]), []byte(" -> "))
	if json.Unmarshal(bs, &before) != nil || json.Unmarshal(as, &after) != nil || before.RevokedAt != nil || after.RevokedAt == nil {
		t.Fatalf("revoke's audit line: %s", lines[0])
	}
	if c, err := s.db.FindAPIKeyByHash(ctx, sum[:]); err != nil || c.Key.RevokedAt == nil {
		t.Fatalf("a revoked key is found with its revocation: %+v, %v", c, err)
	}
	if k, err := s.db.FindAPIKeyByID(ctx, key2.ID); err != nil || k.RevokedAt != nil {
		t.Fatalf("the other key: %+v, %v", k, err)
	}
	if _, err := s.db.RevokeAPIKey(ctx, s.admin, "00000000-0000-4000-8000-000000000000"); giveathon.ErrorCode(err) != giveathon.ENOTFOUND {
		t.Fatalf("revoke an unknown key: %v", err)
	}
}
