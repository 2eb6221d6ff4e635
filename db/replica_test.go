package db_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// readLog collects where routed reads ran.
type readLog struct {
	mu    sync.Mutex
	reads map[string]int
}

func (l *readLog) count(target, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads[target+"/"+reason]++
}

func (l *readLog) get() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// withReplica connects d's reads that tolerate lag to the replica at url, and counts them.
func withReplica(t *testing.T, d *db.DB, url string) *readLog {
	t.Helper()
	log := &readLog{reads: map[string]int{}}
	if err := d.OpenReplica(context.Background(), url, db.ReplicaConfig{MaxLag: time.Hour, CountRead: log.count}); err != nil {
		t.Fatal(err)
	}
	return log
}

func TestAServerNotInRecoveryIsNotUsedAsTheReplica(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	// The primary named as the replica: a secondary promoted by a failover looks like this.
	log := withReplica(t, d, d.Pool.Config().ConnString())
	don := testenv.NewDonor(t, d)
	if _, err := d.FindCharityByID(context.Background(), don.CharityID); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := d.FindDonations(context.Background(), giveathon.DonationFilter{UserID: don.UserID}); err != nil {
		t.Fatal(err)
	}
	if got := log.get(); !reflect.DeepEqual(got, map[string]int{"primary/down": 2}) {
		t.Fatalf("reads = %v, want both on the primary, the replica down", got)
	}
}

func TestReplicaRowsScanAsThePrimarysDo(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	testenv.NewDonor(t, d)
	testenv.NewDonor(t, d)
	// Made after the charities were written: the backup has them.
	rep := testenv.Replica(t)
	log := withReplica(t, d, testenv.WithDatabase(rep.URL("postgres"), testenv.DatabaseName(t, d.Pool.Config().ConnString())))
	ctx := context.Background()
	var ids []string
	rows, err := d.Pool.Query(ctx, `SELECT id::text FROM charities`)
	if err == nil {
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || len(ids) == 0 {
		t.Fatalf("charities: %v, %v", ids, err)
	}
	onReplica, err := d.FindCharitiesByIDs(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if got := log.get(); got["replica/in_sync"] != 1 {
		t.Fatalf("reads = %v, want the replica", got)
	}
	rows, err = d.Pool.Query(ctx, `SELECT id::text, slug, name, description, ein, active, created_at FROM charities`)
	if err != nil {
		t.Fatal(err)
	}
	onPrimary, err := pgx.CollectRows(rows, pgx.RowToStructByPos[giveathon.Charity])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range onPrimary {
		if r := onReplica[c.ID]; r == nil || !reflect.DeepEqual(*r, c) {
			t.Fatalf("charity %s: replica %+v, primary %+v", c.ID, r, c)
		}
	}
}
