// Command bench measures Giveathon against the floor its database sets, in one run on one
// machine, and prints ratios rather than absolute times:
//
//	(a) pgbench inserting one donation-shaped row per transaction, 32 clients;
//	(b) loadgen submitting donations as fast as 32 clients can (API without workers);
//	(c) settle throughput: workers charging that backlog through the Stripe sandbox at a
//	    realistic latency (300 ms median), with the client-side rate limit lifted;
//	(d) a fixed 100 donations/s with the API and workers together: p99 latency, server RSS.
//
// Results go to bench/results/<date>.json and .md. `make bench` runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/procs"
	"github.com/jackc/pgx/v5/pgxpool"
)

type options struct {
	bin, loadgen, out string
	clients           int
	duration          time.Duration
	latency           time.Duration
	workers           int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := &options{}
	flag.StringVar(&o.bin, "bin", "bin/giveathon", "the giveathon binary")
	flag.StringVar(&o.loadgen, "loadgen", "bin/loadgen", "the loadgen binary")
	flag.StringVar(&o.out, "out", "bench/results", "folder for the results")
	flag.IntVar(&o.clients, "clients", 32, "clients for pgbench and loadgen")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measurement")
	flag.DurationVar(&o.latency, "latency", 300*time.Millisecond, "median latency of the sandbox's Stripe calls in (c) and (d)")
	flag.IntVar(&o.workers, "workers", 600, "charge workers in (c) (each waits on the sandbox's latency)")
	flag.Parse()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Results is one bench run.
type Results struct {
	Date            string          `json:"date"`
	Machine         string          `json:"machine"`
	Versions        string          `json:"versions"`
	PgbenchTPS      float64         `json:"pgbench_tps"`
	Submit          json.RawMessage `json:"submit"`
	SubmitPerSecond float64         `json:"submit_per_second"`
	SettlePerSecond float64         `json:"settle_per_second"`
	Settled         int             `json:"settled"`
	Fixed           json.RawMessage `json:"fixed_100"`
	FixedP99Ms      float64         `json:"fixed_100_p99_ms"`
	ServerRSSMB     float64         `json:"server_rss_mb"`
	SubmitRatio     float64         `json:"submit_over_pgbench"`
	SettleRatio     float64         `json:"settle_over_pgbench"`
}

func run(ctx context.Context, o *options, stdout, log io.Writer) error {
	for _, p := range []*string{&o.bin, &o.loadgen} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%s: %w (make build)", abs, err)
		}
		*p = abs
	}
	dir, err := os.MkdirTemp("", "giveathon-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	res := &Results{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Machine: machine()}

	pg, err := db.StartEmbedded(ctx, db.EmbeddedConfig{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		return err
	}
	defer pg.Stop()
	dbURL := pg.URL(db.EmbeddedDatabase)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	res.Versions = versions(ctx, pool)

	fmt.Fprintln(log, "bench: (a) pgbench")
	if res.PgbenchTPS, err = pgbench(ctx, pool, pg, o, dir); err != nil {
		return fmt.Errorf("pgbench: %w", err)
	}

	sbPort, _ := procs.FreePort()
	apiPort, _ := procs.FreePort()
	secret := "whsec_bench"
	sandbox, err := procs.Start("stripe-sandbox", o.bin, []string{"stripe-sandbox"}, append(procs.CleanEnv(),
		"SANDBOX_ADDR=127.0.0.1:"+sbPort, "STRIPE_WEBHOOK_SECRET="+secret,
		"SANDBOX_WEBHOOK_URL=http://127.0.0.1:"+apiPort+"/webhooks/stripe"), filepath.Join(dir, "sandbox.log"))
	if err != nil {
		return err
	}
	defer sandbox.Stop(5 * time.Second)
	sbURL := "http://127.0.0.1:" + sbPort
	if err := procs.WaitHTTP(ctx, sandbox, sbURL+"/_sandbox/charges", 30*time.Second); err != nil {
		return err
	}
	env := append(procs.CleanEnv(), "DATABASE_URL="+dbURL, "HTTP_ADDR=127.0.0.1:"+apiPort, "STRIPE_API_BASE="+sbURL,
		"STRIPE_WEBHOOK_SECRET="+secret, "STRIPE_RATE_LIMIT=100000", "LOG_LEVEL=warn",
		"LIMIT_DONATIONS_PER_DONOR=0", "LIMIT_REGISTER_PER_IP=0", "LIMIT_LOGIN_PER_IP=0", "DB_MAX_CONNS=64")

	fmt.Fprintln(log, "bench: (b) submit throughput (API without workers)")
	api, err := procs.Start("serve", o.bin, []string{"serve", "--no-workers"}, env, filepath.Join(dir, "api.log"))
	if err != nil {
		return err
	}
	apiURL := "http://127.0.0.1:" + apiPort
	if err := procs.WaitHTTP(ctx, api, apiURL+"/readyz", time.Minute); err != nil {
		return err
	}
	if res.Submit, err = loadgen(ctx, o, dir, "b", "-url", apiURL, "-clients", strconv.Itoa(o.clients), "-duration", o.duration.String()); err != nil {
		return err
	}
	var sub struct {
		SubmitPerSecond float64 `json:"submit_per_second"`
	}
	_ = json.Unmarshal(res.Submit, &sub)
	res.SubmitPerSecond = sub.SubmitPerSecond
	api.Stop(10 * time.Second)

	fmt.Fprintf(log, "bench: (c) settle throughput (%d workers, sandbox latency %s)\n", o.workers, o.latency)
	if err := setLatency(sbURL, o.latency); err != nil {
		return err
	}
	start := time.Now()
	work, err := procs.Start("work", o.bin, []string{"work"}, append(env, "PAYMENT_WORKERS="+strconv.Itoa(o.workers), "JOBS_POLL_INTERVAL=200ms"), filepath.Join(dir, "work.log"))
	if err != nil {
		return err
	}
	if res.Settled, err = waitSettled(ctx, pool, 10*time.Minute); err != nil {
		return err
	}
	res.SettlePerSecond = float64(res.Settled) / time.Since(start).Seconds()
	work.Stop(10 * time.Second)

	fmt.Fprintln(log, "bench: (d) 100 donations/s with the API and workers")
	server, err := procs.Start("serve", o.bin, []string{"serve"}, append(env, "PAYMENT_WORKERS=100"), filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	if err := procs.WaitHTTP(ctx, server, apiURL+"/readyz", time.Minute); err != nil {
		return err
	}
	if res.Fixed, err = loadgen(ctx, o, dir, "d", "-url", apiURL, "-rate", "100", "-clients", "64", "-duration", (3 * o.duration).String()); err != nil {
		return err
	}
	var fixed struct {
		LatencyMs map[string]float64 `json:"submit_latency_ms"`
	}
	_ = json.Unmarshal(res.Fixed, &fixed)
	res.FixedP99Ms = fixed.LatencyMs["p99"]
	res.ServerRSSMB = rssMB(server.Cmd.Process.Pid)
	server.Stop(10 * time.Second)

	res.SubmitRatio = res.SubmitPerSecond / res.PgbenchTPS
	res.SettleRatio = res.SettlePerSecond / res.PgbenchTPS
	table := res.markdown()
	fmt.Fprint(stdout, table)
	return res.write(o.out, table)
}

// pgbench inserts one donation-shaped row per transaction from the same number of clients.
func pgbench(ctx context.Context, pool *pgxpool.Pool, pg *db.Embedded, o *options, dir string) (float64, error) {
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_donations (
		id UUID PRIMARY KEY DEFAULT gen_random_uuid(), user_id UUID NOT NULL, charity_id UUID NOT NULL,
		amount_cents INT8 NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, idempotency_key TEXT NOT NULL,
		request_hash TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
		UNIQUE (user_id, idempotency_key))`); err != nil {
		return 0, err
	}
	script := filepath.Join(dir, "insert.sql")
	if err := os.WriteFile(script, []byte(`\set amount random(100, 20000)
INSERT INTO bench_donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash)
VALUES (gen_random_uuid(), gen_random_uuid(), :amount, 'USD', 'PENDING', md5(random()::text), md5(random()::text));
`), 0o644); err != nil {
		return 0, err
	}
	bin, err := db.FindPostgresBinDir()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pgbench"), "-n", "-c", strconv.Itoa(o.clients), "-j", strconv.Itoa(runtime.NumCPU()),
		"-T", strconv.Itoa(int(o.duration.Seconds())), "-f", script, pg.URL(db.EmbeddedDatabase))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps in pgbench's output: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func loadgen(ctx context.Context, o *options, dir, name string, args ...string) (json.RawMessage, error) {
	out := filepath.Join(dir, "loadgen-"+name+".json")
	cmd := exec.CommandContext(ctx, o.loadgen, append(args, "-json", out, "-label", name, "-donors", "200")...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("loadgen %s: %w: %s", name, err, stderr.String())
	}
	return os.ReadFile(out)
}

func setLatency(sbURL string, median time.Duration) error {
	body := fmt.Sprintf(`{"latency_median": %q, "latency_p99": %q}`, median, 3*median)
	resp, err := httpPost(sbURL+"/_sandbox/faults", body)
	if err != nil {
		return err
	}
	if resp != 200 {
		return fmt.Errorf("set the sandbox's latency: %d", resp)
	}
	return nil
}

// waitSettled waits until no donation is PENDING or PROCESSING and returns how many settled.
func waitSettled(ctx context.Context, pool *pgxpool.Pool, limit time.Duration) (int, error) {
	deadline := time.Now().Add(limit)
	for {
		var open, settled int
		if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status IN ('PENDING', 'PROCESSING')),
			count(*) FILTER (WHERE status IN ('SUCCEEDED', 'FAILED')) FROM donations`).Scan(&open, &settled); err != nil {
			return 0, err
		}
		if open == 0 {
			return settled, nil
		}
		if time.Now().After(deadline) {
			return settled, fmt.Errorf("%d donations still open after %s", open, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*: (.*)`).FindSubmatch(b); m != nil {
			cpu = string(m[1])
		}
	}
	return fmt.Sprintf("%d cores (%s), %s", runtime.NumCPU(), cpu, runtime.GOOS+"/"+runtime.GOARCH)
}

func versions(ctx context.Context, pool *pgxpool.Pool) string {
	var pgv string
	_ = pool.QueryRow(ctx, `SHOW server_version`).Scan(&pgv)
	return fmt.Sprintf("%s, PostgreSQL %s", runtime.Version(), pgv)
}

func (r *Results) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Bench of %s on %s (%s)\n\n", r.Date, r.Machine, r.Versions)
	fmt.Fprintf(&b, "| measure | figure | ratio to pgbench | target |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| (a) pgbench, one donation-shaped insert per transaction | %.0f tx/s | 1 | |\n", r.PgbenchTPS)
	fmt.Fprintf(&b, "| (b) submitDonation, as fast as 32 clients can | %.0f /s | %.2f | >= 0.4 |\n", r.SubmitPerSecond, r.SubmitRatio)
	fmt.Fprintf(&b, "| (c) settle, sandbox latency 300 ms | %.0f /s (%d donations) | %.2f | >= 0.2 |\n", r.SettlePerSecond, r.Settled, r.SettleRatio)
	fmt.Fprintf(&b, "| (d) at 100/s: p99 submit latency | %.1f ms | | < 25 ms |\n", r.FixedP99Ms)
	fmt.Fprintf(&b, "| (d) at 100/s: server peak RSS | %.0f MB | | < 300 MB |\n", r.ServerRSSMB)
	return b.String()
}

func (r *Results) write(dir, table string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("2006-01-02T1504")
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, stamp+".json"), b, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stamp+".md"), []byte(table), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "latest.md"), []byte(table), 0o644)
}

func httpPost(url, body string) (int, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
