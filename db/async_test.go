package db_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestWritesThatAreNotMoneyCommitAsync records, with a trigger, the synchronous_commit each
// write ran under on a session where it is on: rate-limit hits and releases and an API key's
// last use turn it off for themselves; a plain statement on the same pool keeps it on.
func TestWritesThatAreNotMoneyCommitAsync(t *testing.T) {
	t.Parallel()
	s := setupPartners(t)
	ctx := context.Background()
	// The test server runs with synchronous_commit off; these sessions have it on, as a
	// production server does.
	cfg := s.db.Pool.Config()
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := db.New(pool)
	t.Cleanup(d.Close)
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE commit_modes (tbl text, op text, mode text);
		CREATE FUNCTION note_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			INSERT INTO commit_modes VALUES (TG_TABLE_NAME, TG_OP, current_setting('synchronous_commit')); RETURN NULL; END $$;
		CREATE TRIGGER note AFTER INSERT OR UPDATE ON rate_limits FOR EACH ROW EXECUTE FUNCTION note_commit_mode();
		CREATE TRIGGER note AFTER UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION note_commit_mode();`); err != nil {
		t.Fatal(err)
	}
	modes := func() string {
		t.Helper()
		var out string
		if err := d.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(tbl || ' ' || op || ' ' || mode, ', '), '') FROM commit_modes`).Scan(&out); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Pool.Exec(ctx, `DELETE FROM commit_modes`); err != nil {
			t.Fatal(err)
		}
		return out
	}

	if _, _, err := d.Hit(ctx, "test-bucket", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, end, err := d.Hit(ctx, "test-bucket", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Release(ctx, "test-bucket", end.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := modes(); got != "rate_limits INSERT off, rate_limits UPDATE off, rate_limits UPDATE off" {
		t.Errorf("rate-limit writes ran under: %s", got)
	}

	p, err := d.CreatePartner(ctx, s.admin, &giveathon.Partner{Name: "Stream Co"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("gvk_test_commit-mode"))
	key, err := d.CreateAPIKey(ctx, s.admin, &giveathon.APIKey{PartnerID: p.ID, Prefix: "gvk_test_comm", Mode: giveathon.KeyModeTest,
		Scopes: []giveathon.APIScope{giveathon.ScopeTotalsRead}}, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := d.TouchAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if got := modes(); got != "api_keys UPDATE off" {
		t.Errorf("an API key's last use ran under: %s", got)
	}

	// The control: the same table written by a statement without the condition.
	if _, err := d.Pool.Exec(ctx, `UPDATE rate_limits SET hits = hits + 1 WHERE bucket = 'test-bucket'`); err != nil {
		t.Fatal(err)
	}
	if got := modes(); got != "rate_limits UPDATE on" {
		t.Errorf("a plain write ran under: %s", got)
	}
}
