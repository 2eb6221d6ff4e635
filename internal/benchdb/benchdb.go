// Package benchdb gives the measurement programs (historybench, exportbench) and tests a
// database full of an event's donations: a private PostgreSQL tuned for filling, a database
// per measurement migrated by the real migrations, and donations inserted in bulk by SQL.
package benchdb

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/giveathon/giveathon/db"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Start starts a private PostgreSQL in dir/data. Filling is not under test and its settings
// (no fsync, large buffers) do not change reading.
func Start(ctx context.Context, dir string) (*db.Embedded, error) {
	return db.StartEmbedded(ctx, db.EmbeddedConfig{DataDir: filepath.Join(dir, "data"),
		Settings: map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
			"shared_buffers": "512MB", "max_wal_size": "8GB", "maintenance_work_mem": "512MB"}})
}

// Create creates the database name on pg, opens it with conns connections and migrates it up.
func Create(ctx context.Context, pg *db.Embedded, name string, conns int32) (*db.DB, *db.Migrator, error) {
	admin, err := pgxpool.New(ctx, pg.URL("postgres"))
	if err != nil {
		return nil, nil, err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	admin.Close()
	if err != nil {
		return nil, nil, err
	}
	store, err := db.Open(ctx, pg.URL(name), conns)
	if err != nil {
		return nil, nil, err
	}
	m := &db.Migrator{Domain: store.Pool, Jobs: store.Pool}
	if _, err := m.Up(ctx); err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, m, nil
}

// Spec says what Fill inserts.
type Spec struct {
	// Donors each give Donations/Donors times, at random moments of the last three days.
	Donations, Donors int
	// Charities (at least one) share the donations at random.
	Charities int
}

// Fill inserts s's donors (donorN@example.test, each with a card), charities (bench-N) and
// SUCCEEDED donations into the migrated database of pool, then analyzes it.
func Fill(ctx context.Context, pool *pgxpool.Pool, s Spec) error {
	if s.Donors <= 0 || s.Donations < s.Donors || s.Charities <= 0 {
		return fmt.Errorf("fill: donations (%d) must be at least donors (%d), and donors and charities (%d) positive",
			s.Donations, s.Donors, s.Charities)
	}
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (email, name, password_hash) SELECT 'donor' || g || '@example.test', 'Donor ' || g, 'x' FROM generate_series(1, $1) g`,
			[]any{s.Donors}},
		{`INSERT INTO charities (slug, name, ein) SELECT 'bench-' || g, 'Bench Charity ' || g, '12-3456789' FROM generate_series(1, $1) g`,
			[]any{s.Charities}},
		{`INSERT INTO payment_methods (user_id, provider_customer_id, provider_payment_method_id, brand, last4, exp_month, exp_year, is_default)
			SELECT id, 'cus_bench', 'pm_' || id, 'visa', '4242', 12, 2040, true FROM users WHERE email LIKE 'donor%@example.test'`, nil},
		{`INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash, payment_method_id,
				created_at, updated_at, settled_at)
			SELECT pm.user_id, c.ids[1 + floor(random() * array_length(c.ids, 1))::int], 100 + (random() * 10000)::int, 'USD', 'SUCCEEDED',
				gen_random_uuid()::text, 'h', pm.id, at.t, at.t, at.t
			FROM payment_methods pm, generate_series(1, $1) g,
				(SELECT array_agg(id) AS ids FROM charities WHERE slug LIKE 'bench-%') c,
				LATERAL (SELECT now() - random() * interval '3 days' + g * interval '0 s') AS at(t)
			WHERE pm.provider_customer_id = 'cus_bench'`,
			[]any{s.Donations / s.Donors}},
		{`ANALYZE`, nil},
	} {
		if _, err := pool.Exec(ctx, step.sql, step.args...); err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	return nil
}
