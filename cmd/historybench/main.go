// Command historybench measures a donor's history page (the first page and its count, through
// the same db.FindDonations the API calls) with the whole event's donations in the database,
// once on the tables partitioned by donor and once on the unpartitioned tables of the
// migration before, on one private PostgreSQL, and prints both latencies and their ratio.
//
//	go run ./cmd/historybench -donations 3000000 -donors 300000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/benchdb"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "historybench:", err)
		os.Exit(1)
	}
}

// result is one layout's measurement.
type result struct {
	layout   string
	fill     time.Duration
	p50, p99 time.Duration
	pages    int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("historybench", flag.ContinueOnError)
	donations := fs.Int("donations", 3_000_000, "donations in the database")
	donors := fs.Int("donors", 300_000, "donors they come from (evenly)")
	pages := fs.Int("pages", 20_000, "history pages read per layout")
	clients := fs.Int("clients", 8, "concurrent readers")
	dir := fs.String("dir", "", "folder for the database (default: a temporary one, removed after)")
	resultFile := fs.String("out", "", "also write the result as Markdown to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *donors <= 0 || *donations < *donors {
		return fmt.Errorf("-donations (%d) must be at least -donors (%d), and -donors positive", *donations, *donors)
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "giveathon-historybench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	if err := os.Chmod(*dir, 0o755); err != nil {
		return err
	}
	pg, err := benchdb.Start(ctx, *dir)
	if err != nil {
		return err
	}
	defer pg.Stop()

	var results []result
	for _, layout := range []string{"partitioned", "unpartitioned"} {
		r, err := measure(ctx, pg, layout, *donations, *donors, *pages, *clients, out)
		if err != nil {
			return fmt.Errorf("%s: %w", layout, err)
		}
		results = append(results, r)
	}
	report := fmt.Sprintf("History page (first page of 20 and its count) with %d donations from %d donors, %d pages read by %d clients:\n\n"+
		"| layout | p50 | p99 | filled in |\n| --- | --- | --- | --- |\n", *donations, *donors, *pages, *clients)
	for _, r := range results {
		report += fmt.Sprintf("| %s | %.2f ms | %.2f ms | %s |\n", r.layout, ms(r.p50), ms(r.p99), r.fill.Round(time.Second))
	}
	report += fmt.Sprintf("\np99 partitioned / unpartitioned: %.2fx\n", float64(results[0].p99)/float64(results[1].p99))
	fmt.Fprint(out, "\n"+report)
	if *resultFile != "" {
		return os.WriteFile(*resultFile, []byte("# "+time.Now().UTC().Format("2006-01-02 15:04")+" historybench\n\n"+report), 0o644)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measure fills a database of the layout and reads history pages from it.
func measure(ctx context.Context, pg *db.Embedded, layout string, donations, donors, pages, clients int, out io.Writer) (result, error) {
	r := result{layout: layout, pages: pages}
	store, m, err := benchdb.Create(ctx, pg, "history_"+layout, int32(clients+2))
	if err != nil {
		return r, err
	}
	defer store.Close()
	if layout == "unpartitioned" {
		// As before the partitioning (later migrations are rolled back first).
		if err := m.RollBackTo(ctx, "partition_by_donor"); err != nil {
			return r, err
		}
	}
	start := time.Now()
	fmt.Fprintf(out, "%s: filling %d donations from %d donors...\n", layout, donations, donors)
	if err := benchdb.Fill(ctx, store.Pool, benchdb.Spec{Donations: donations, Donors: donors, Charities: 1}); err != nil {
		return r, err
	}
	r.fill = time.Since(start)

	rows, err := store.Pool.Query(ctx, `SELECT id::text FROM users ORDER BY random() LIMIT 5000`)
	if err != nil {
		return r, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return r, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	read := func(id string) (time.Duration, error) {
		t := time.Now()
		_, _, _, err := store.FindDonations(ctx, giveathon.DonationFilter{UserID: id, Page: giveathon.Page{First: 20}})
		return time.Since(t), err
	}
	// Warm the cache as a running event would be.
	for _, id := range ids[:min(len(ids), 500)] {
		if _, err := read(id); err != nil {
			return r, err
		}
	}
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	per := pages / clients
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, per)
			for i := 0; i < per; i++ {
				d, err := read(ids[rand.IntN(len(ids))])
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return r, firstErr
	}
	slices.Sort(lat)
	r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	fmt.Fprintf(out, "%s: filled in %s, p50 %.2f ms, p99 %.2f ms\n", layout, r.fill.Round(time.Second), ms(r.p50), ms(r.p99))
	return r, nil
}
