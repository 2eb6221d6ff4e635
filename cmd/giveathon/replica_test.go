package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// readCounts scrapes the server's giveathon_db_reads_total, by "target/reason".
func readCounts(t *testing.T, srv *running) map[string]float64 {
	t.Helper()
	resp, err := http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	counts := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "giveathon_db_reads_total{") {
			continue
		}
		labels, value, _ := strings.Cut(strings.TrimPrefix(line, "giveathon_db_reads_total{"), "} ")
		var reason, target string
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch v = strings.Trim(v, `"`); k {
			case "reason":
				reason = v
			case "target":
				target = v
			}
		}
		n, _ := strconv.ParseFloat(value, 64)
		counts[target+"/"+reason] = n
	}
	return counts
}

// readsSince returns the reads counted since before, by "target/reason".
func readsSince(t *testing.T, srv *running, before map[string]float64) map[string]float64 {
	t.Helper()
	delta := map[string]float64{}
	for k, n := range readCounts(t, srv) {
		if d := n - before[k]; d != 0 {
			delta[k] = d
		}
	}
	return delta
}

// waitReplayed waits until the replica has replayed everything the primary has written so far.
func waitReplayed(t *testing.T, m *money, replica *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	var lsn string
	if err := m.db.Pool.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var done bool
		if err := replica.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, lsn).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not replay up to %s", lsn)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const charitiesOp = `{ charities(first: 2) { totalCount edges { node { id name } } } }`

// Not parallel: it reads the process's metrics, which parallel tests would add to.
func TestReadsGoToTheReplicaAndDonorsReadTheirOwnWrites(t *testing.T) {
	dbURL := testenv.URL(t)
	rep := testenv.Replica(t)
	replicaURL := testenv.WithDatabase(rep.URL("postgres"), testenv.DatabaseName(t, dbURL))
	email := adminEmail()
	m := setupMoneyOn(t, dbURL, "DATABASE_REPLICA_URL="+replicaURL, "REPLICA_MAX_LAG=1h", "ADMIN_EMAILS="+email)
	ctx := context.Background()
	replica, err := pgx.Connect(ctx, replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close(ctx)
	// The server seeded the charities on the primary as it started, and set-up's look at them
	// may have come from the replica before it replayed them.
	waitReplayed(t, m, replica)
	m.charity = m.srv.client.Do(t, charitiesOp, nil).NoErrors(t).String("charities", "edges", 0, "node", "id")

	a, b := m.donor(t), m.donor(t)
	cardA, cardB := m.addCard(t, a, "pm_card_visa"), m.addCard(t, b, "pm_card_visa")
	firstA, firstB := m.give(t, a, cardA, 500), m.give(t, b, cardB, 600)
	m.wait(t, a, firstA, "SUCCEEDED")
	m.wait(t, b, firstB, "SUCCEEDED")

	// In sync: every read that tolerates lag goes to the replica, the donors' own included.
	waitReplayed(t, m, replica)
	before := readCounts(t, m.srv)
	m.srv.client.Do(t, charitiesOp, nil).NoErrors(t)
	a.Do(t, getOp, map[string]any{"id": firstA}).NoErrors(t)
	if r := b.Do(t, historyOp, nil).NoErrors(t); r.Get("me", "donations", "totalCount") != float64(1) {
		t.Fatalf("b's history: %s", r.Raw)
	}
	if got := readsSince(t, m.srv, before); got["replica/in_sync"] < 4 || len(got) != 1 {
		t.Fatalf("reads in sync: %v, want only replica/in_sync, at least 4 (charities, a donation and its charity, a history page)", got)
	}

	// Replay paused: a donor who gives reads the gift from the primary; another donor's
	// reads, and public ones, stay on the replica.
	if _, err := replica.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	for state := ""; state != "paused"; {
		if err := replica.QueryRow(ctx, `SELECT pg_get_wal_replay_pause_state()`).Scan(&state); err != nil {
			t.Fatal(err)
		}
	}
	secondA := m.give(t, a, cardA, 700)
	var onReplica int
	if err := replica.QueryRow(ctx, `SELECT count(*) FROM donations WHERE id = $1`, rawID(t, secondA)).Scan(&onReplica); err != nil || onReplica != 0 {
		t.Fatalf("the paused replica has the new donation (%d, %v): the test proves nothing", onReplica, err)
	}
	before = readCounts(t, m.srv)
	if r := a.Do(t, getOp, map[string]any{"id": secondA}).NoErrors(t); r.String("donation", "id") != secondA {
		t.Fatalf("the donor does not see the donation just made: %s", r.Raw)
	}
	r := a.Do(t, historyOp, nil).NoErrors(t)
	if r.Get("me", "donations", "totalCount") != float64(2) || r.String("me", "donations", "edges", 0, "node", "id") != secondA {
		t.Fatalf("the donor's history misses the donation just made: %s", r.Raw)
	}
	if r := b.Do(t, historyOp, nil).NoErrors(t); r.Get("me", "donations", "totalCount") != float64(1) {
		t.Fatalf("b's history: %s", r.Raw)
	}
	m.srv.client.Do(t, charitiesOp, nil).NoErrors(t)
	got := readsSince(t, m.srv, before)
	if got["primary/own_write"] != 2 || got["replica/in_sync"] < 3 || len(got) != 2 {
		t.Fatalf("reads with replay paused: %v, want primary/own_write 2 (a's donation and history), replica/in_sync for the rest", got)
	}

	// A charity made while the replica lags behind takes a partner's gift at once: the
	// replica does not have it yet, and a refusal is the primary's to make.
	adm := &admins{money: m, admin: m.admin(t, email)}
	charity := adm.admin.Do(t, `mutation { createCharity(input: {name: "Lagging Light Fund", ein: "98-7654320"}) { id } }`, nil).NoErrors(t).String("createCharity", "id")
	if err := replica.QueryRow(ctx, `SELECT count(*) FROM charities WHERE id = $1`, rawID(t, charity)).Scan(&onReplica); err != nil || onReplica != 0 {
		t.Fatalf("the paused replica has the new charity (%d, %v): the test proves nothing", onReplica, err)
	}
	partner := adm.admin.Do(t, createPartnerOp, map[string]any{"i": map[string]any{"name": "Lag Co"}}).NoErrors(t).String("createPartner", "id")
	key, _ := adm.issueKey(t, partner, []string{"DONATIONS_WRITE"}, nil)
	r = key.Do(t, partnerSubmitOp, map[string]any{"i": map[string]any{"donor": map[string]any{"email": "lag-" + newKey() + "@example.org", "name": "A Fan"},
		"charityId": charity, "amountCents": 1500, "providerPaymentMethodId": "pm_card_visa", "idempotencyKey": newKey()}})
	if r.NoErrors(t).String("partnerSubmitDonation", "donation", "status") != "PENDING" {
		t.Fatalf("a partner's gift to a charity the replica has not replayed: %s", r.Raw)
	}

	// A server that allows less lag than the paused replica has skips it for every read.
	strict := startWith(t, map[string]string{"DATABASE_URL": dbURL, "DATABASE_REPLICA_URL": replicaURL,
		"REPLICA_MAX_LAG": "1ms", "LOG_LEVEL": "warn"}, "serve", "--no-workers")
	before = readCounts(t, strict)
	strict.client.Do(t, charitiesOp, nil).NoErrors(t)
	strict.client.As(b.Token).Do(t, historyOp, nil).NoErrors(t)
	if got := readsSince(t, strict, before); got["primary/lag"] != 2 || len(got) != 1 {
		t.Fatalf("reads past REPLICA_MAX_LAG: %v, want primary/lag 2", got)
	}

	// A stopped replica is skipped, and no client sees an error.
	if err := rep.Stop(); err != nil {
		t.Fatal(err)
	}
	before = readCounts(t, m.srv)
	m.srv.client.Do(t, charitiesOp, nil).NoErrors(t)
	b.Do(t, historyOp, nil).NoErrors(t)
	a.Do(t, getOp, map[string]any{"id": firstA}).NoErrors(t)
	if got := readsSince(t, m.srv, before); got["primary/down"] != 4 || len(got) != 1 {
		t.Fatalf("reads with the replica stopped: %v, want primary/down 4", got)
	}
}
