package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/benchdb"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestDonationsExportStreams checks that the donations CSV is written while it is read from
// the database: it comes chunked (no Content-Length), and after its header arrives, with the
// client not reading on, the export's query is still running, held back by the client
// (waiting to write to the server, ClientWrite): the rows were not gathered first. Read on,
// it holds every donation, each row with every column.
func TestDonationsExportStreams(t *testing.T) {
	t.Parallel()
	// Enough rows (some 6 MB) to outlast what the sockets between the database, the server and
	// the client buffer.
	const n = 30_000
	m := setupAdmin(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, m.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := benchdb.Fill(ctx, pool, benchdb.Spec{Donations: n, Donors: n / 10, Charities: 3}); err != nil {
		t.Fatal(err)
	}
	var total int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM donations`).Scan(&total); err != nil {
		t.Fatal(err)
	}

	// A small receive window, so that what the client leaves unread holds the server back
	// within a few rows rather than the kernel's megabytes.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableCompression: true}}
	req, _ := http.NewRequest(http.MethodGet, m.srv.url+"/admin/exports/donations.csv", nil)
	req.Header.Set("Authorization", "Bearer "+m.admin.Token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("not a chunked answer: %s, Content-Length %d, Transfer-Encoding %v", resp.Status, resp.ContentLength, resp.TransferEncoding)
	}
	br := bufio.NewReaderSize(resp.Body, 4096)
	header, err := br.ReadString('\n')
	if err != nil || header != "donation_id,created_at,settled_at,status,amount,currency,charity_id,charity_name,donor_email,donor_name,anonymous,failure_code,payment_intent_id\n" {
		t.Fatalf("header %q: %v", header, err)
	}

	// The export's query, still running and waiting for the client to read on.
	waiting := func() (bool, error) {
		var ok bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
			AND pid <> pg_backend_pid() AND state = 'active' AND wait_event = 'ClientWrite'
			AND query LIKE '%JOIN charities c ON c.id = d.charity_id%')`).Scan(&ok)
		return ok, err
	}
	held := false
	for deadline := time.Now().Add(30 * time.Second); !held && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if held, err = waiting(); err != nil {
			t.Fatal(err)
		}
	}
	if !held {
		t.Error("with the client not reading after the header, the export's query is not waiting to send rows: it was read whole first")
	}

	cr := csv.NewReader(br)
	cr.FieldsPerRecord = 13
	rows := 0
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("row %d: %v", rows+1, err)
		}
		rows++
	}
	if rows != total || total < n {
		t.Errorf("%d rows, %d donations (%d filled)", rows, total, n)
	}
	if held, err := waiting(); err != nil || held {
		t.Errorf("the export's query still runs after the last row: %v", err)
	}
}
