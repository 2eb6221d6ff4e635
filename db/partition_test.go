package db_test

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// partitions is how many partitions each donor-partitioned table has (migration 00017).
const partitions = 4

// partitionOf matches a partition's name: its table and number.
var partitionOf = regexp.MustCompile(`^(donations|payment_methods|payment_attempts)_p([0-9]+)$`)

// explainPlan returns the plan of sql with args, made after settings. generic: the plan the
// servers run (plan_cache_mode=force_generic_plan, see db.Open), with the partitions that the
// arguments rule out pruned as the executor starts; the statement is PREPAREd and EXPLAIN
// EXECUTEd, as an EXPLAIN of the statement itself binds the arguments into a plan for those
// values. Otherwise: that plan for the values.
func explainPlan(t *testing.T, d *db.DB, generic bool, settings, sql string, args ...any) any {
	t.Helper()
	ctx := context.Background()
	pooled, err := d.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The settings stay with the connection: it is not given back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(ctx) //nolint:errcheck // a test's connection
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan; `+settings); err != nil {
		t.Fatal(err)
	}
	explain := `EXPLAIN (FORMAT JSON) ` + sql
	if generic {
		if _, err := conn.Exec(ctx, `PREPARE explained AS `+sql); err != nil {
			t.Fatalf("prepare: %v\n%s", err, sql)
		}
		params := make([]string, len(args))
		for i := range args {
			params[i] = "$" + strconv.Itoa(i+1)
		}
		explain = `EXPLAIN (FORMAT JSON) EXECUTE explained(` + strings.Join(params, ", ") + `)`
		// EXECUTE takes no bound parameters: the simple protocol writes the arguments in.
		args = append([]any{pgx.QueryExecModeSimpleProtocol}, args...)
	}
	var plan []byte
	if err := conn.QueryRow(ctx, explain, args...).Scan(&plan); err != nil {
		t.Fatalf("explain: %v\n%s", err, sql)
	}
	var tree any
	if err := json.Unmarshal(plan, &tree); err != nil {
		t.Fatal(err)
	}
	return tree
}

// eachNode calls f with every node of a plan.
func eachNode(n any, f func(node map[string]any)) {
	switch v := n.(type) {
	case map[string]any:
		f(v)
		for _, c := range v {
			eachNode(c, f)
		}
	case []any:
		for _, c := range v {
			eachNode(c, f)
		}
	}
}

// partitionsTouched returns, by partitioned table, the partitions a statement's plan reads or
// writes, with the arguments it is called with: the plan for those values, which prunes by the
// donor as the generic plan does when it starts, except that PostgreSQL 15 still opens every
// partition an UPDATE's generic plan may write (design-notes: "Four partitions, not sixteen").
func partitionsTouched(t *testing.T, d *db.DB, sql string, args ...any) map[string][]string {
	t.Helper()
	seen := map[string]map[string]bool{}
	eachNode(explainPlan(t, d, false, "", sql, args...), func(v map[string]any) {
		if rel, ok := v["Relation Name"].(string); ok {
			if m := partitionOf.FindStringSubmatch(rel); m != nil {
				if seen[m[1]] == nil {
					seen[m[1]] = map[string]bool{}
				}
				seen[m[1]][rel] = true
			}
		}
	})
	out := map[string][]string{}
	for table, parts := range seen {
		for p := range parts {
			out[table] = append(out[table], p)
		}
		sort.Strings(out[table])
	}
	return out
}

// TestHotStatementsTouchOnePartition proves with EXPLAIN that every statement of the money
// path and the donor's pages (submit, history, a donation, the charge, the move that webhooks,
// the reconciler and refresh make) names the donor or the donation and so touches one
// partition of each partitioned table; the reconciler's sweep, which looks across donors,
// touches them all (the check can see it).
func TestHotStatementsTouchOnePartition(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	k := db.Keys{UserID: uuid.NewString(), DonationID: uuid.NewString(), PaymentMethodID: uuid.NewString(), CharityID: uuid.NewString()}
	for _, s := range db.HotStatements {
		touched := partitionsTouched(t, d, s.SQL, s.Args(k)...)
		if len(touched) == 0 {
			t.Errorf("%s: touches no partitioned table: %v", s.Name, touched)
		}
		for table, parts := range touched {
			if len(parts) != 1 {
				t.Errorf("%s: touches %d partitions of %s: %v", s.Name, len(parts), table, parts)
			}
		}
	}
	if sweep := partitionsTouched(t, d, `SELECT id FROM donations WHERE status = $1`, "PENDING"); len(sweep["donations"]) != partitions {
		t.Fatalf("a sweep across donors touches %v: the check cannot see partitions", sweep)
	}
}

// TestPartitioningKeepsExistingData rolls a database back to the unpartitioned tables, fills
// them as a running event would (donors, cards, donations in every state, attempts, e-mails),
// and migrates it forward again (16 partitions, then 4): every row comes through, in its donor's
// partition, and the keys and joins still hold. Then it rolls back to before the four partitions
// (4 become 16 again) and forward, and every row comes through those too.
func TestPartitioningKeepsExistingData(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	m := &db.Migrator{Domain: d.Pool, Jobs: d.Pool}
	if err := m.RollBackTo(ctx, "partition_by_donor"); err != nil {
		t.Fatal(err)
	}
	var partitioned bool
	if err := d.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid WHERE c.relname = 'donations')`).Scan(&partitioned); err != nil || partitioned {
		t.Fatalf("donations partitioned after the roll back: %v %v", partitioned, err)
	}
	const donors, perDonor = 40, 5
	var rows []partitionedRow
	for i := 0; i < donors; i++ {
		don := testenv.NewDonor(t, d)
		for j := 0; j < perDonor; j++ {
			status := []giveathon.DonationStatus{giveathon.StatusPending, giveathon.StatusProcessing, giveathon.StatusSucceeded,
				giveathon.StatusFailed, giveathon.StatusRequiresAction}[j]
			var id string
			if err := d.Pool.QueryRow(ctx, `INSERT INTO donations
				(user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash, payment_method_id)
				VALUES ($1, $2, 100, 'USD', $3, $4, 'h', $5) RETURNING id::text`,
				don.UserID, don.CharityID, string(status), uuid.NewString(), don.PaymentMethodID).Scan(&id); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Pool.Exec(ctx, `INSERT INTO payment_attempts (donation_id, attempt_no, provider_request_key, status)
				VALUES ($1, 1, 'k', 'started')`, id); err != nil {
				t.Fatal(err)
			}
			if status == giveathon.StatusSucceeded {
				if _, err := d.Pool.Exec(ctx, `INSERT INTO notifications (user_id, donation_id, kind, status) VALUES ($1, $2, 'receipt', 'sent')`,
					don.UserID, id); err != nil {
					t.Fatal(err)
				}
			}
			rows = append(rows, partitionedRow{don.UserID, id, string(status)})
		}
	}

	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("migrate forward: %v", err)
	}
	checkPartitionedRows(t, d, rows, donors, perDonor)
	if err := m.RollBackTo(ctx, "four_partitions"); err != nil {
		t.Fatal(err)
	}
	checkPartitionCount(t, d, 16)
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("migrate forward again: %v", err)
	}
	checkPartitionedRows(t, d, rows, donors, perDonor)
}

// partitionedRow is a donation the partitioning test made, with its donor and state.
type partitionedRow struct{ user, id, status string }

// checkPartitionedRows checks that the partitioning test's rows are all there, in every one of
// the partitions, and that their donor's keys and joins find them.
func checkPartitionedRows(t *testing.T, d *db.DB, rows []partitionedRow, donors, perDonor int) {
	t.Helper()
	ctx := context.Background()
	var donations, cards, attempts, mails int
	if err := d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM donations), (SELECT count(*) FROM payment_methods),
		(SELECT count(*) FROM payment_attempts), (SELECT count(*) FROM notifications)`).Scan(&donations, &cards, &attempts, &mails); err != nil {
		t.Fatal(err)
	}
	if donations != donors*perDonor || cards != donors || attempts != donors*perDonor || mails != donors {
		t.Fatalf("after the migration: %d donations, %d cards, %d attempts, %d e-mails", donations, cards, attempts, mails)
	}
	parts := map[string]bool{}
	for _, r := range rows {
		got, err := d.FindDonation(ctx, r.user, r.id)
		if err != nil || string(got.Status) != r.status {
			t.Fatalf("donation %s: %+v, %v", r.id, got, err)
		}
		cc, err := d.FindChargeContext(ctx, r.user, r.id)
		if err != nil || cc.ProviderCustomerID == "" {
			t.Fatalf("charge context of %s: %v", r.id, err)
		}
		var part string
		if err := d.Pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM donations WHERE user_id = $1 AND id = $2`, r.user, r.id).Scan(&part); err != nil {
			t.Fatal(err)
		}
		parts[part] = true
	}
	if len(parts) != partitions {
		t.Fatalf("%d donors' donations landed in %d partitions: %v", donors, len(parts), parts)
	}
	checkPartitionCount(t, d, partitions)
}

// checkPartitionCount checks that each donor-partitioned table has want partitions.
func checkPartitionCount(t *testing.T, d *db.DB, want int) {
	t.Helper()
	for _, table := range []string{"donations", "payment_methods", "payment_attempts"} {
		var n int
		if err := d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_inherits WHERE inhparent = $1::regclass`, table).Scan(&n); err != nil || n != want {
			t.Fatalf("%s has %d partitions (%v), want %d", table, n, err, want)
		}
	}
}

// wholeScans returns, for each scan of a partition of donations or payment_attempts in the plan
// of sql with args (seq scans disabled, so that any index that serves it is chosen), why it
// reads more than what it looks for: a scan that is no index scan, or an index scan with no
// condition on a full index.
func wholeScans(t *testing.T, d *db.DB, sql string, args ...any) []string {
	t.Helper()
	return wholeScansUnder(t, d, "SET enable_seqscan = off", sql, args...)
}

// wholeScansUnder is wholeScans with the planner's settings made by settings.
func wholeScansUnder(t *testing.T, d *db.DB, settings, sql string, args ...any) []string {
	t.Helper()
	// wholeIndex reports whether index is a full index of a partition.
	wholeIndex := func(index string) bool {
		var table string
		var partial bool
		if err := d.Pool.QueryRow(context.Background(), `SELECT indrelid::regclass::text, indpred IS NOT NULL FROM pg_index
			WHERE indexrelid = $1::regclass`, index).Scan(&table, &partial); err != nil {
			t.Fatalf("index %s: %v", index, err)
		}
		return partitionOf.MatchString(table) && !partial
	}
	var whole []string
	eachNode(explainPlan(t, d, true, settings, sql, args...), func(v map[string]any) {
		rel, _ := v["Relation Name"].(string)
		index, _ := v["Index Name"].(string)
		_, cond := v["Index Cond"]
		switch node, _ := v["Node Type"].(string); {
		case strings.HasSuffix(node, "Scan") && partitionOf.MatchString(rel) && node != "Index Scan" && node != "Index Only Scan" && node != "Bitmap Heap Scan":
			whole = append(whole, node+" on "+rel)
		case index != "" && !cond && wholeIndex(index):
			whole = append(whole, node+" of all "+index)
		}
	})
	return whole
}

// fillEveryPartition runs insert (a statement of a donor's $1, charity $2 and card $3) for new
// donors until every partition of donations holds some of their gifts, then analyzes the
// tables.
func fillEveryPartition(t *testing.T, d *db.DB, insert string) {
	t.Helper()
	ctx := context.Background()
	for filled := 0; filled < partitions; {
		don := testenv.NewDonor(t, d)
		if _, err := d.Pool.Exec(ctx, insert, don.UserID, don.CharityID, don.PaymentMethodID); err != nil {
			t.Fatal(err)
		}
		if err := d.Pool.QueryRow(ctx, `SELECT count(DISTINCT tableoid) FROM donations`).Scan(&filled); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Pool.Exec(ctx, `ANALYZE donations, payment_attempts`); err != nil {
		t.Fatal(err)
	}
}

// TestReconcilerStatementsReadIndexes proves with EXPLAIN that each of the reconciler's
// statements reads the donations and attempts through an index of what it looks for (the
// undecided, the open attempts, what changed since the totals' checkpoint), so a run costs
// what it finds, not what the table holds; a sweep of the whole table is seen. The tables hold
// what they hold during an event, analyzed: many decided gifts with their finished attempts,
// in every partition (donors are added until each has some), and a few undecided ones (the
// planner's guesses for empty tables, analyzed empty partitions too, are no event's).
func TestReconcilerStatementsReadIndexes(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	fillEveryPartition(t, d, `WITH g AS (
				INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash,
					payment_method_id, settled_at)
				SELECT $1, $2, 500, 'USD', CASE WHEN n % 100 = 0 THEN 'PROCESSING' ELSE 'SUCCEEDED' END, 'k' || n, 'h', $3,
					CASE WHEN n % 100 = 0 THEN NULL ELSE now() END
				FROM generate_series(1, 500) n RETURNING id, status)
			INSERT INTO payment_attempts (donation_id, attempt_no, provider_request_key, status, finished_at)
			SELECT id, 1, 'k', CASE WHEN status = 'SUCCEEDED' THEN 'succeeded' ELSE 'started' END,
				CASE WHEN status = 'SUCCEEDED' THEN now() END FROM g`)
	k := db.Keys{UserID: uuid.NewString(), DonationID: uuid.NewString(), PaymentMethodID: uuid.NewString(), CharityID: uuid.NewString()}
	for _, s := range db.ReconcilerStatements {
		if whole := wholeScans(t, d, s.SQL, s.Args(k)...); len(whole) > 0 {
			t.Errorf("%s reads whole partitions: %v", s.Name, whole)
		}
	}
	if whole := wholeScans(t, d, `SELECT id FROM donations WHERE amount_cents > $1`, 100); len(whole) != partitions {
		t.Fatalf("a sweep of every donation reads %v: the check cannot see it", whole)
	}
}

// TestReconcilerStatementsReadIndexesInABacklog is TestReconcilerStatementsReadIndexes under
// the planner's own settings, with the plans made during a backlog: a tenth of the gifts
// PENDING (the provider down), analyzed. A connection keeps the generic plan it made then. The
// search for disagreeing gifts, written as an EXISTS, became a join that read every succeeded
// attempt of the event and looked up its gift: 853 ms a run after 200,000 gifts in a replay,
// and growing with the event, not with what is undecided.
func TestReconcilerStatementsReadIndexesInABacklog(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	fillEveryPartition(t, d, `WITH g AS (
				INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash,
					payment_method_id, settled_at)
				SELECT $1, $2, 500, 'USD', CASE WHEN n % 10 = 0 THEN 'PENDING' ELSE 'SUCCEEDED' END, 'k' || n, 'h', $3,
					CASE WHEN n % 10 = 0 THEN NULL ELSE now() END
				FROM generate_series(1, 600) n RETURNING id, status)
			INSERT INTO payment_attempts (donation_id, attempt_no, provider_request_key, status, finished_at)
			SELECT id, 1, 'k', 'succeeded', now() FROM g WHERE status = 'SUCCEEDED'`)
	for _, s := range db.ReconcilerStatements {
		if whole := wholeScansUnder(t, d, "", s.SQL, s.Args(db.Keys{})...); len(whole) > 0 {
			t.Errorf("%s reads whole partitions in a backlog: %v", s.Name, whole)
		}
	}
}

// TestPagesStartAtTheirCursor proves with EXPLAIN, under the servers' generic plans, that each
// list paged newest first starts its index scan at the page's cursor: the (created_at, id)
// bound is an index condition, not a filter on a scan from the list's start, which would make a
// page deep in an event's millions of rows read all the rows before it.
func TestPagesStartAtTheirCursor(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	k := db.Keys{UserID: uuid.NewString(), DonationID: uuid.NewString(), PaymentMethodID: uuid.NewString(), CharityID: uuid.NewString()}
	for _, s := range db.PageStatements {
		var bounded, scans []string
		eachNode(explainPlan(t, d, true, "SET enable_seqscan = off", s.SQL, s.Args(k)...), func(v map[string]any) {
			index, _ := v["Index Name"].(string)
			if index == "" {
				return
			}
			cond, _ := v["Index Cond"].(string)
			scans = append(scans, index+": "+cond)
			if strings.Contains(cond, "ROW(created_at, id) <") && strings.Contains(cond, s.Column) {
				bounded = append(bounded, index)
			}
		})
		if len(bounded) == 0 {
			t.Errorf("%s: no index scan starts at the cursor: %v", s.Name, scans)
		}
	}
}
