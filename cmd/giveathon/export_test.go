package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"

	"github.com/giveathon/giveathon/internal/benchdb"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestDonationsExportStreams checks that the donations CSV is written while it is read from
// the database, a page at a time, and that a download its client does not read holds no
// database connection: with more such downloads open than the pool has connections, the API
// still answers and /readyz says ready (an outside attack took the whole pool, and the API,
// with ten slow downloads). Each comes chunked (no Content-Length); read on, one holds every
// donation, each row with every column.
func TestDonationsExportStreams(t *testing.T) {
	t.Parallel()
	// Enough rows (some 6 MB) to outlast what the sockets between the server and the client
	// buffer, and many pages.
	const n = 30_000
	const pool = 4
	m := setupAdmin(t, "DB_MAX_CONNS="+strconv.Itoa(pool), "DB_RETRY_TIMEOUT=3s")
	ctx := context.Background()
	db, err := pgxpool.New(ctx, m.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := benchdb.Fill(ctx, db, benchdb.Spec{Donations: n, Donors: n / 10, Charities: 3}); err != nil {
		t.Fatal(err)
	}
	var total int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM donations`).Scan(&total); err != nil {
		t.Fatal(err)
	}

	// A small receive window, so that what a client leaves unread holds the server back
	// within a few rows rather than the kernel's megabytes.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableCompression: true}}
	var readers []*bufio.Reader
	for range 2 * pool {
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
		readers = append(readers, br)
	}

	// Twice as many downloads as the pool has connections, none read on: the API answers.
	if r := m.srv.client.Do(t, `{ charities(first: 1) { totalCount } }`, nil); len(r.Errors) > 0 {
		t.Errorf("with %d downloads waiting for their clients, the API answered %s", len(readers), r.Raw)
	}
	if got := m.srv.status(t, "/readyz"); got != http.StatusOK {
		t.Errorf("with %d downloads waiting for their clients, /readyz = %d", len(readers), got)
	}

	cr := csv.NewReader(readers[0])
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

	// An export whose database read fails after its first rows is broken off, not ended as if
	// whole (it gave a 200 and a file ending on a whole row, pages short): with the charities
	// locked for longer than DB_RETRY_TIMEOUT, the next page cannot be read. (After the whole
	// read above: the lock holds back every download's next page, and breaks them all off.)
	lock, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `LOCK TABLE charities IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, readers[1]); err == nil {
		t.Error("an export whose next page could not be read ended as if it were whole")
	}
	_ = lock.Rollback(ctx)
}
