// Command exportbench measures the admins' CSV export of donations through the real binary:
// for each size it fills a private PostgreSQL (the real migrations) with that many donations,
// starts `giveathon serve` on it, registers an admin, downloads /admin/exports/donations.csv
// while sampling the server's resident memory (VmRSS, every 50 ms), checks the CSV (a header
// and one well-formed row per donation), and prints rows, bytes, seconds and the server's
// memory before and at its peak. Memory that does not grow with the rows is what it shows.
//
//	go run ./cmd/exportbench -donations 100000 -scale 10
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/benchdb"
	"github.com/giveathon/giveathon/internal/gqlclient"
	"github.com/giveathon/giveathon/internal/procs"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "exportbench:", err)
		os.Exit(1)
	}
}

// columns is the export's header, as the README documents it.
var columns = []string{"donation_id", "created_at", "settled_at", "status", "amount", "currency", "charity_id",
	"charity_name", "donor_email", "donor_name", "anonymous", "failure_code", "payment_intent_id"}

const adminEmail = "exports@example.org"

// result is one size's download.
type result struct {
	donations int
	rows      int
	bytes     int64
	took      time.Duration
	rssBefore float64 // MB
	rssPeak   float64 // MB
	samples   int
	chunked   bool
}

func (r result) growth() float64 { return r.rssPeak - r.rssBefore }

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("exportbench", flag.ContinueOnError)
	donations := fs.Int("donations", 100_000, "donations in the first database")
	scale := fs.Int("scale", 10, "the second database holds this many times -donations (0 or 1: measure one size only)")
	perDonor := fs.Int("per-donor", 10, "donations per donor")
	charities := fs.Int("charities", 20, "charities the donations go to")
	bin := fs.String("bin", "", "the giveathon binary (default: go build ./cmd/giveathon into the temporary folder)")
	readRate := fs.Int("read-rate", 0, "read the export at most this many bytes a second, as a slow client would (0: as fast as it comes)")
	resultFile := fs.String("out", "", "also write the result as Markdown to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *donations < *perDonor || *perDonor <= 0 {
		return fmt.Errorf("-donations (%d) must be at least -per-donor (%d), and -per-donor positive", *donations, *perDonor)
	}
	dir, err := os.MkdirTemp("", "giveathon-exportbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if *bin == "" {
		*bin = filepath.Join(dir, "giveathon")
		fmt.Fprintln(out, "building giveathon...")
		if b, err := exec.CommandContext(ctx, "go", "build", "-o", *bin, "./cmd/giveathon").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %w\n%s", err, b)
		}
	}
	pg, err := benchdb.Start(ctx, dir)
	if err != nil {
		return err
	}
	defer pg.Stop()

	sizes := []int{*donations}
	if *scale > 1 {
		sizes = append(sizes, *donations**scale)
	}
	var results []result
	for _, n := range sizes {
		r, err := measure(ctx, pg, *bin, dir, n, *perDonor, *charities, *readRate, out)
		if err != nil {
			return fmt.Errorf("%d donations: %w", n, err)
		}
		results = append(results, r)
	}
	report := "Admins' CSV export (GET /admin/exports/donations.csv) through `giveathon serve`, the server's RSS sampled every 50 ms:\n\n" +
		"| donations | rows | MB | seconds | rows/s | chunked | server RSS before | peak during | growth |\n" +
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
	for _, r := range results {
		report += fmt.Sprintf("| %d | %d | %.1f | %.1f | %.0f | %t | %.1f MB | %.1f MB | %.1f MB |\n", r.donations, r.rows,
			float64(r.bytes)/1e6, r.took.Seconds(), float64(r.rows)/r.took.Seconds(), r.chunked, r.rssBefore, r.rssPeak, r.growth())
	}
	if len(results) == 2 {
		a, b := results[0], results[1]
		report += fmt.Sprintf("\n%dx the rows: %.1fx the bytes, RSS growth %.1f MB against %.1f MB (%.2fx), peak RSS %.2fx.\n",
			b.donations/a.donations, float64(b.bytes)/float64(a.bytes), b.growth(), a.growth(), b.growth()/max(a.growth(), 0.1),
			b.rssPeak/a.rssPeak)
	}
	fmt.Fprint(out, "\n"+report)
	if *resultFile != "" {
		return os.WriteFile(*resultFile, []byte("# "+time.Now().UTC().Format("2006-01-02 15:04")+" exportbench\n\n"+report), 0o644)
	}
	return nil
}

// measure fills a database with n donations, serves it and downloads its export.
func measure(ctx context.Context, pg *db.Embedded, bin, dir string, n, perDonor, charities, readRate int, out io.Writer) (result, error) {
	r := result{donations: n}
	name := "export_" + strconv.Itoa(n)
	closeStore, err := createAndFill(ctx, pg, name, n, perDonor, charities, out)
	if err != nil {
		return r, err
	}
	closeStore()

	port, err := procs.FreePort()
	if err != nil {
		return r, err
	}
	base := "http://127.0.0.1:" + port
	server, err := procs.Start("serve", bin, []string{"serve"}, append(procs.CleanEnv(), "ENV=development",
		"DATABASE_URL="+pg.URL(name), "HTTP_ADDR=127.0.0.1:"+port, "ADMIN_EMAILS="+adminEmail, "LOG_LEVEL=warn",
		"LIMIT_REGISTER_PER_IP=0"), filepath.Join(dir, name+".log"))
	if err != nil {
		return r, err
	}
	defer server.Stop(10 * time.Second)
	if err := procs.WaitHTTP(ctx, server, base+"/readyz", time.Minute); err != nil {
		return r, err
	}
	token, err := registerAdmin(ctx, base)
	if err != nil {
		return r, err
	}
	pid := server.Cmd.Process.Pid
	// Let the start settle (the first requests, the workers' first polls) before "before".
	time.Sleep(2 * time.Second)
	if r.rssBefore, err = rssMB(pid); err != nil {
		return r, err
	}
	sampler := sample(pid, 50*time.Millisecond)
	fmt.Fprintf(out, "%s: downloading the export...\n", name)
	start := time.Now()
	r.rows, r.bytes, r.chunked, err = download(ctx, base, token, readRate)
	r.took = time.Since(start)
	r.rssPeak, r.samples = sampler()
	if err != nil {
		return r, err
	}
	if r.rows != n {
		return r, fmt.Errorf("the export has %d rows, the database %d donations", r.rows, n)
	}
	fmt.Fprintf(out, "%s: %d rows, %.1f MB in %.1f s; server RSS %.1f MB before, %.1f MB at peak (%d samples)\n",
		name, r.rows, float64(r.bytes)/1e6, r.took.Seconds(), r.rssBefore, r.rssPeak, r.samples)
	return r, nil
}

// createAndFill creates the database name, fills it with n donations and returns its closer.
func createAndFill(ctx context.Context, pg *db.Embedded, name string, n, perDonor, charities int, out io.Writer) (func(), error) {
	start := time.Now()
	fmt.Fprintf(out, "%s: filling %d donations...\n", name, n)
	store, _, err := benchdb.Create(ctx, pg, name, 4)
	if err != nil {
		return nil, err
	}
	if err := benchdb.Fill(ctx, store.Pool, benchdb.Spec{Donations: n, Donors: n / perDonor, Charities: charities}); err != nil {
		store.Close()
		return nil, err
	}
	fmt.Fprintf(out, "%s: filled in %s\n", name, time.Since(start).Round(time.Second))
	return store.Close, nil
}

// registerAdmin signs up the ADMIN_EMAILS account and checks that it is an admin.
func registerAdmin(ctx context.Context, base string) (string, error) {
	c := &gqlclient.Client{Base: base, HTTP: &http.Client{Timeout: time.Minute}}
	var reg struct {
		Register struct{ Token string }
	}
	if err := c.Do(ctx, "", `mutation($i: RegisterInput!) { register(input: $i) { token } }`,
		map[string]any{"i": map[string]any{"email": adminEmail, "name": "Export Bench", "password": "export-bench-password"}}, &reg); err != nil {
		return "", fmt.Errorf("register the admin: %w", err)
	}
	var me struct {
		Me struct{ Role string }
	}
	if err := c.Do(ctx, reg.Register.Token, `{ me { role } }`, nil, &me); err != nil {
		return "", err
	}
	if me.Me.Role != "ADMIN" {
		return "", fmt.Errorf("%s is %s, not ADMIN", adminEmail, me.Me.Role)
	}
	return reg.Register.Token, nil
}

// download reads the export, checking that it is the header and rows of len(columns) fields,
// and returns its rows (without the header), bytes and whether it came chunked.
func download(ctx context.Context, base, token string, readRate int) (int, int64, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/admin/exports/donations.csv", nil)
	if err != nil {
		return 0, 0, false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return 0, 0, false, fmt.Errorf("%s: %s", resp.Status, b)
	}
	chunked := resp.ContentLength == -1 && len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	body := &counter{r: resp.Body, rate: readRate, start: time.Now()}
	cr := csv.NewReader(body)
	cr.FieldsPerRecord = len(columns) // every record, the header included
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return 0, body.n, chunked, fmt.Errorf("header: %w", err)
	}
	if got := strings.Join(head, ","); got != strings.Join(columns, ",") {
		return 0, body.n, chunked, fmt.Errorf("header %q", got)
	}
	rows := 0
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, body.n, chunked, nil
		}
		if err != nil {
			return rows, body.n, chunked, fmt.Errorf("row %d: %w", rows+1, err)
		}
		rows++
	}
}

// counter counts what is read through it and, with a rate, reads no faster.
type counter struct {
	r     io.Reader
	n     int64
	rate  int
	start time.Time
}

func (c *counter) Read(p []byte) (int, error) {
	if c.rate > 0 {
		p = p[:min(len(p), max(c.rate/20, 1))]
		time.Sleep(time.Until(c.start.Add(time.Duration(float64(c.n) / float64(c.rate) * float64(time.Second)))))
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sample reads pid's VmRSS every interval until the returned function is called, which
// returns the peak in MB and the number of samples.
func sample(pid int, interval time.Duration) func() (float64, int) {
	var mu sync.Mutex
	peak, samples := 0.0, 0
	stop, done := make(chan struct{}), make(chan struct{})
	read := func() {
		if mb, err := rssMB(pid); err == nil {
			mu.Lock()
			peak, samples = max(peak, mb), samples+1
			mu.Unlock()
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			read()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (float64, int) {
		close(stop)
		<-done
		read()
		mu.Lock()
		defer mu.Unlock()
		return peak, samples
	}
}

// rssMB is the process's resident memory now (VmRSS), in MB.
func rssMB(pid int) (float64, error) { return procs.MemoryMB(pid, "VmRSS") }
