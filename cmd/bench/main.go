// Command bench measures Giveathon against the floor its database sets, in one run on one
// machine, and prints ratios rather than absolute times:
//
//	(a) pgbench inserting one donation-shaped row per transaction, 32 clients;
//	(b) loadgen submitting donations as fast as 32 clients can, twice: first to the API alone
//	    (workers off; the backlog (c) settles), then, after (c), to `serve` with its workers
//	    on in the same process, charging as they come at the sandbox's 300 ms, as it runs on
//	    the day (the figure the target is for);
//	(c) settle throughput: workers charging the first backlog through the Stripe sandbox at a
//	    realistic latency (300 ms median), with the client-side rate limit lifted;
//	(d) a fixed 100 donations/s with the API and workers together: p99 latency, server RSS;
//	(e) the floor under (b): a plain HTTP handler making only the writes a submit must make
//	    (the donation and its charge job, write-combined), none of its checks, no GraphQL,
//	    for as many clients: the most any submit could do on this machine and database.
//
// Every loadgen run reports its errors by code; the bench fails (after writing its results)
// when any answer was an INTERNAL_SERVER_ERROR. Results go to bench/results/<date>.json and
// .md. `make bench` runs it.
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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	profile           string
	isolation         string
	phases            map[string]bool
}

// allPhases are the bench's phases, in the order they run: a full run's results are the ones
// written.
var allPhases = []string{"a", "b", "c", "b-on", "d", "e"}

// has reports whether phase (one of allPhases) is to run.
func (o *options) has(phase string) bool { return o.phases[phase] }

// parsePhases reads -phases: names of allPhases, comma-separated.
func parsePhases(list string) (map[string]bool, error) {
	phases := map[string]bool{}
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allPhases, p) {
			return nil, fmt.Errorf("-phases: %q is not a phase (%s)", p, strings.Join(allPhases, ", "))
		}
		phases[p] = true
	}
	if phases["c"] && !phases["b"] {
		return nil, fmt.Errorf("-phases: c settles the backlog that b submits: run b too")
	}
	return phases, nil
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
	// 1,000: at the sandbox's 300 ms, n workers settle at most n/0.3 s a second (Little's law),
	// and (c)'s target, 0.12 x pgbench (about 2,500/s on 2 cores), needs more than 750.
	flag.IntVar(&o.workers, "workers", 1000, "charge workers in (c) (each waits on the sandbox's latency)")
	flag.StringVar(&o.isolation, "isolation", "serializable", "DB_ISOLATION of the servers: serializable (the default, as CockroachDB) or read_committed")
	flag.StringVar(&o.profile, "profile", "", "write CPU profiles of the API during (b) and of the workers during (c) to this folder")
	phases := flag.String("phases", strings.Join(allPhases, ","), "the phases to run, for a look at one (ratios need a and the measured phase); only a run of all writes its results")
	flag.Parse()
	var err error
	if o.phases, err = parsePhases(*phases); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
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
	Clients         int             `json:"clients"`
	PgbenchTPS      float64         `json:"pgbench_tps"`
	Submit          json.RawMessage `json:"submit"`
	SubmitPerSecond float64         `json:"submit_per_second"`
	// SubmitWorkersOn is (b) against `serve` with its workers on, as on the day.
	SubmitWorkersOn          json.RawMessage `json:"submit_workers_on"`
	SubmitWorkersOnPerSecond float64         `json:"submit_workers_on_per_second"`
	SubmitWorkersOnCPU       string          `json:"submit_workers_on_cpu"`
	// Errors counts each loadgen run's failed answers by code: "b" (workers off), "b-on",
	// "d".
	Errors          map[string]map[string]int `json:"errors_by_code"`
	SettlePerSecond float64                   `json:"settle_per_second"`
	Settled         int                       `json:"settled"`
	Workers         int                       `json:"workers"`
	SettleCPU       string                    `json:"settle_cpu"`
	SubmitCPU       string                    `json:"submit_cpu"`
	FixedCPU        string                    `json:"fixed_100_cpu"`
	Fixed           json.RawMessage           `json:"fixed_100"`
	FixedP99Ms      float64                   `json:"fixed_100_p99_ms"`
	ServerRSSMB     float64                   `json:"server_rss_mb"`
	SubmitRatio     float64                   `json:"submit_over_pgbench"`
	SubmitOnRatio   float64                   `json:"submit_workers_on_over_pgbench"`
	SettleRatio     float64                   `json:"settle_over_pgbench"`
	// FloorPerSecond is (e): submits a handler making only a submit's writes answers.
	FloorPerSecond float64 `json:"floor_per_second"`
	FloorCPU       string  `json:"floor_cpu"`
	FloorRatio     float64 `json:"floor_over_pgbench"`
	// StripeCallsPerSettled is every provider call the workers and the API made during (c)
	// (charges, reads, the webhook handler's checks), per gift settled.
	StripeCallsPerSettled float64 `json:"stripe_calls_per_settled_gift"`
}

// stripeCalls sums the Stripe calls a process has made so far, from its metrics on its admin
// listener (giveathon_stripe_calls_total, every operation and outcome).
func stripeCalls(adminPort string) (float64, error) {
	resp, err := http.Get("http://127.0.0.1:" + adminPort + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	var total float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "giveathon_stripe_calls_total{") {
			continue
		}
		f := strings.Fields(line)
		n, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		total += n
	}
	return total, nil
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
	res := &Results{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Machine: machine(), Clients: o.clients, Errors: map[string]map[string]int{}}

	pgCfg := db.EmbeddedConfig{DataDir: filepath.Join(dir, "data")}
	if o.profile != "" {
		// Which statements cost the database most, per phase.
		pgCfg.Settings = map[string]string{"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "all"}
	}
	pg, err := db.StartEmbedded(ctx, pgCfg)
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

	if o.has("a") {
		fmt.Fprintln(log, "bench: (a) pgbench")
		if res.PgbenchTPS, err = pgbench(ctx, pool, pg, o, dir); err != nil {
			return fmt.Errorf("pgbench: %w", err)
		}
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
		"LIMIT_DONATIONS_PER_DONOR=0", "LIMIT_REGISTER_PER_IP=0", "LIMIT_LOGIN_PER_IP=0",
		"DB_ISOLATION="+o.isolation)

	adminPort, _ := procs.FreePort()
	api, err := procs.Start("serve", o.bin, []string{"serve", "--no-workers"}, append(env, "ADMIN_ADDR=127.0.0.1:"+adminPort), filepath.Join(dir, "api.log"))
	if err != nil {
		return err
	}
	apiURL := "http://127.0.0.1:" + apiPort
	if err := procs.WaitHTTP(ctx, api, apiURL+"/readyz", time.Minute); err != nil {
		return err
	}
	if o.has("b") {
		fmt.Fprintln(log, "bench: (b) submit throughput, workers off (API without workers)")
		var sub loadgenRun
		if res.Submit, sub, res.SubmitCPU, err = o.loadPhase(ctx, pool, res, log, dir, "b", apiURL, adminPort, "api-submit",
			"statements-submit.txt", []string{"API"}, []int{api.Cmd.Process.Pid}, o.asFastAsClients()...); err != nil {
			return err
		}
		res.SubmitPerSecond = sub.SubmitPerSecond
	}
	// From here on, the sandbox answers at a provider's latency.
	if err := setLatency(sbURL, o.latency); err != nil {
		return err
	}
	if err := o.settlePhase(ctx, pool, res, log, dir, env, adminPort, api.Cmd.Process.Pid, sandbox.Cmd.Process.Pid); err != nil {
		return err
	}
	// The API stayed up through (c) to take the provider's webhooks, as it would on the day.
	api.Stop(10 * time.Second)
	if o.has("b-on") {
		if err := o.submitWorkersOnPhase(ctx, pool, res, log, dir, env, apiURL, sandbox.Cmd.Process.Pid); err != nil {
			return err
		}
	}
	if o.has("d") {
		if err := o.fixedPhase(ctx, pool, res, log, dir, env, apiURL, sandbox.Cmd.Process.Pid); err != nil {
			return err
		}
	}
	if o.has("e") {
		if err := o.floorPhase(ctx, pool, res, log, dbURL); err != nil {
			return err
		}
	}
	if res.PgbenchTPS > 0 {
		res.FloorRatio = res.FloorPerSecond / res.PgbenchTPS
		res.SubmitRatio = res.SubmitPerSecond / res.PgbenchTPS
		res.SubmitOnRatio = res.SubmitWorkersOnPerSecond / res.PgbenchTPS
		res.SettleRatio = res.SettlePerSecond / res.PgbenchTPS
	}
	table := res.markdown()
	fmt.Fprint(stdout, table)
	if len(o.phases) == len(allPhases) {
		if err := res.write(o.out, table); err != nil {
			return err
		}
	}
	return res.internalErrors()
}

// settlePhase runs (c): workers charge the backlog (b) left, through the sandbox at its
// latency, while the API takes the provider's webhooks.
func (o *options) settlePhase(ctx context.Context, pool *pgxpool.Pool, res *Results, log io.Writer, dir string, env []string, apiAdminPort string, apiPid, sandboxPid int) error {
	if !o.has("c") {
		return nil
	}
	fmt.Fprintf(log, "bench: (c) settle throughput (%d workers, sandbox latency %s)\n", o.workers, o.latency)
	// The API's provider calls so far (the donors' cards) are not the settling's.
	apiCallsBefore, err := stripeCalls(apiAdminPort)
	if err != nil {
		return err
	}
	start := time.Now()
	workAdminPort, _ := procs.FreePort()
	work, err := procs.Start("work", o.bin, []string{"work"}, append(env, "PAYMENT_WORKERS="+strconv.Itoa(o.workers), "JOBS_POLL_INTERVAL=200ms",
		"ADMIN_ADDR=127.0.0.1:"+workAdminPort), filepath.Join(dir, "work.log"))
	if err != nil {
		return err
	}
	waitProfile := o.cpuProfile(log, workAdminPort, "work-settle", 2*time.Second, 10*time.Second)
	o.resetStatements(ctx, pool)
	shares := startCPUShares([]string{"workers", "API (webhooks)", "Stripe sandbox"},
		[]int{work.Cmd.Process.Pid, apiPid, sandboxPid})
	res.Workers = o.workers
	if res.Settled, err = waitSettled(ctx, pool, 10*time.Minute); err != nil {
		return err
	}
	res.SettlePerSecond = float64(res.Settled) / time.Since(start).Seconds()
	res.SettleCPU = shares.String()
	workCalls, err := stripeCalls(workAdminPort)
	if err != nil {
		return err
	}
	apiCalls, err := stripeCalls(apiAdminPort)
	if err != nil {
		return err
	}
	res.StripeCallsPerSettled = (workCalls + apiCalls - apiCallsBefore) / float64(max(res.Settled, 1))
	o.writeStatements(ctx, pool, log, "statements-settle.txt", res.Settled)
	fmt.Fprintln(log, "bench: CPU during (c):", res.SettleCPU)
	waitProfile()
	work.Stop(10 * time.Second)
	return nil
}

// submitWorkersOnPhase runs (b) again, as on the day: loadgen against `serve` with its
// workers on.
func (o *options) submitWorkersOnPhase(ctx context.Context, pool *pgxpool.Pool, res *Results, log io.Writer, dir string, env []string, apiURL string, sandboxPid int) error {
	// (b) again, as on the day: one `serve` process with the API and its workers (their
	// number as configured by default), charging what comes in at the sandbox's latency.
	fmt.Fprintln(log, "bench: (b) submit throughput, workers on (serve, as on the day)")
	onAdminPort, _ := procs.FreePort()
	// (c)'s receipts go first, so that (b) measures submits beside charges, not a backlog.
	served, err := startServe(ctx, o, pool, append(env, "ADMIN_ADDR=127.0.0.1:"+onAdminPort), apiURL, filepath.Join(dir, "serve-b.log"))
	if err != nil {
		return err
	}
	var on loadgenRun
	if res.SubmitWorkersOn, on, res.SubmitWorkersOnCPU, err = o.loadPhase(ctx, pool, res, log, dir, "b-on", apiURL, onAdminPort, "serve-submit",
		"statements-submit-workers-on.txt", []string{"server", "Stripe sandbox"}, []int{served.Cmd.Process.Pid, sandboxPid}, o.asFastAsClients()...); err != nil {
		return err
	}
	res.SubmitWorkersOnPerSecond = on.SubmitPerSecond
	// Its workers settle what it took before it stops, so that (d) starts clean.
	if _, err := waitSettled(ctx, pool, 10*time.Minute); err != nil {
		return err
	}
	if err := waitJobsDone(ctx, pool, 10*time.Minute); err != nil {
		return err
	}
	served.Stop(10 * time.Second)
	return nil
}

// fixedPhase runs (d): a fixed 100 donations/s against `serve`, for latency and memory.
func (o *options) fixedPhase(ctx context.Context, pool *pgxpool.Pool, res *Results, log io.Writer, dir string, env []string, apiURL string, sandboxPid int) error {
	fmt.Fprintln(log, "bench: (d) 100 donations/s with the API and workers")
	server, err := startServe(ctx, o, pool, append(env, "PAYMENT_WORKERS=100"), apiURL, filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	// And write out what the earlier phases left in memory now, rather than in a checkpoint
	// in the middle of (d).
	if _, err := pool.Exec(ctx, `CHECKPOINT`); err != nil {
		return fmt.Errorf("checkpoint before (d): %w", err)
	}
	var fixed loadgenRun
	if res.Fixed, fixed, res.FixedCPU, err = o.loadPhase(ctx, pool, res, log, dir, "d", apiURL, "", "", "statements-100.txt",
		[]string{"server", "Stripe sandbox"}, []int{server.Cmd.Process.Pid, sandboxPid},
		"-rate", "100", "-clients", "64", "-duration", (3 * o.duration).String()); err != nil {
		return err
	}
	res.FixedP99Ms = fixed.LatencyMs["p99"]
	res.ServerRSSMB = rssMB(server.Cmd.Process.Pid)
	server.Stop(10 * time.Second)
	return nil
}

// loadgenRun is what the bench reads of one loadgen run's JSON; its errors go into the
// results under the run's name.
type loadgenRun struct {
	SubmitPerSecond float64            `json:"submit_per_second"`
	Submitted       int                `json:"submitted"`
	LatencyMs       map[string]float64 `json:"submit_latency_ms"`
	Errors          map[string]int     `json:"errors_by_code"`
}

func (r *Results) loadgenRun(name string, raw json.RawMessage) loadgenRun {
	var run loadgenRun
	_ = json.Unmarshal(raw, &run)
	r.Errors[name] = run.Errors
	return run
}

// internalErrorCode is the code an error the server did not expect reaches clients with.
const internalErrorCode = "INTERNAL_SERVER_ERROR"

// internalErrors fails the bench when any run got an internal error.
func (r *Results) internalErrors() error {
	var runs []string
	for _, name := range []string{"b", "b-on", "d"} {
		if n := r.Errors[name][internalErrorCode]; n > 0 {
			runs = append(runs, fmt.Sprintf("%d in (%s)", n, name))
		}
	}
	if len(runs) > 0 {
		return fmt.Errorf("%s: %s (the servers' logs tell which)", internalErrorCode, strings.Join(runs, ", "))
	}
	return nil
}

// errorsString prints a run's errors by code, "none" without any.
func errorsString(byCode map[string]int) string {
	if len(byCode) == 0 {
		return "none"
	}
	codes := make([]string, 0, len(byCode))
	for c, n := range byCode {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(codes)
	return strings.Join(codes, ", ")
}

// startServe starts `serve` (API and workers in one process) and waits until it is ready and
// has run every job the earlier phases left queued, so that what follows measures itself,
// not a backlog.
func startServe(ctx context.Context, o *options, pool *pgxpool.Pool, env []string, apiURL, logPath string) (*procs.Proc, error) {
	server, err := procs.Start("serve", o.bin, []string{"serve"}, env, logPath)
	if err != nil {
		return nil, err
	}
	if err := procs.WaitHTTP(ctx, server, apiURL+"/readyz", time.Minute); err != nil {
		server.Stop(10 * time.Second)
		return nil, err
	}
	if err := waitJobsDone(ctx, pool, 10*time.Minute); err != nil {
		server.Stop(10 * time.Second)
		return nil, err
	}
	return server, nil
}

// loadPhase runs loadgen as name against the server at apiURL (whose admin listener is on
// adminPort) with the load's arguments, and measures it: the CPU of the named processes, a
// profile of the server (named profile; "": none) and the statements when asked. It returns
// loadgen's JSON, what the bench reads of it and the CPU.
func (o *options) loadPhase(ctx context.Context, pool *pgxpool.Pool, res *Results, log io.Writer, dir, name, apiURL, adminPort,
	profile, statements string, names []string, pids []int, load ...string) (json.RawMessage, loadgenRun, string, error) {
	// Registering the donors comes first (argon2id, and their cards at the provider's
	// latency): the CPU, the statements and the profile (of the submissions' second half) are
	// measured from when loadgen has its donors ready.
	var shares *cpuShares
	waitProfile := func() {}
	raw, err := loadgen(ctx, o, dir, name, func() {
		shares = startCPUShares(names, pids)
		o.resetStatements(ctx, pool)
		if profile != "" {
			waitProfile = o.cpuProfile(log, adminPort, profile, o.duration/2, o.duration/2)
		}
	}, append([]string{"-url", apiURL}, load...)...)
	waitProfile()
	if err != nil {
		return nil, loadgenRun{}, "", err
	}
	if shares == nil {
		return nil, loadgenRun{}, "", fmt.Errorf("loadgen %s never had its donors ready", name)
	}
	cpu := shares.String()
	fmt.Fprintf(log, "bench: CPU during (%s): %s\n", name, cpu)
	run := res.loadgenRun(name, raw)
	o.writeStatements(ctx, pool, log, statements, run.Submitted)
	return raw, run, cpu, nil
}

// asFastAsClients is (b)'s load: as fast as the clients can, for the measuring time.
func (o *options) asFastAsClients() []string {
	return []string{"-clients", strconv.Itoa(o.clients), "-duration", o.duration.String()}
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

// loadgen runs loadgen as name and returns its JSON; ready is called when its donors are
// registered and it starts submitting.
func loadgen(ctx context.Context, o *options, dir, name string, ready func(), args ...string) (json.RawMessage, error) {
	out := filepath.Join(dir, "loadgen-"+name+".json")
	cmd := exec.CommandContext(ctx, o.loadgen, append(args, "-json", out, "-label", name, "-donors", "200")...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, &watchLine{w: &stderr, line: "donors ready", fn: ready}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("loadgen %s: %w: %s", name, err, stderr.String())
	}
	return os.ReadFile(out)
}

// watchLine writes to w and calls fn once, when what was written has shown line.
type watchLine struct {
	w    *bytes.Buffer
	line string
	fn   func()
	done bool
}

func (l *watchLine) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if !l.done && bytes.Contains(l.w.Bytes(), []byte(l.line)) {
		l.done = true
		l.fn()
	}
	return n, err
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
// It looks only at the unsettled donations (their partial index), so that its polling does not
// take from the phase it measures the CPU that counting every donation would; the settled ones
// are counted once, at the end.
func waitSettled(ctx context.Context, pool *pgxpool.Pool, limit time.Duration) (int, error) {
	deadline := time.Now().Add(limit)
	for {
		var open int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM donations
			WHERE settled_at IS NULL AND status IN ('PENDING', 'PROCESSING')`).Scan(&open); err != nil {
			return 0, err
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d donations still open after %s", open, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var settled int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM donations WHERE status IN ('SUCCEEDED', 'FAILED')`).Scan(&settled)
	return settled, err
}

// waitJobsDone waits until River has no job left to run but the periodic ones.
func waitJobsDone(ctx context.Context, pool *pgxpool.Pool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var left int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job
			WHERE state IN ('available', 'running', 'retryable') AND kind <> 'reconcile'`).Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d jobs still queued after %s", left, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rssMB is the process's peak resident memory (VmHWM) in MB, 0 when unknown.
func rssMB(pid int) float64 {
	mb, _ := procs.MemoryMB(pid, "VmHWM")
	return mb
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
	fmt.Fprintf(&b, "| (b) submitDonation, as fast as %d clients can, workers on (serve, as on the day) | %.0f /s | %.2f | >= 0.3 |\n", r.Clients, r.SubmitWorkersOnPerSecond, r.SubmitOnRatio)
	fmt.Fprintf(&b, "| (b) the same, workers off (API alone) | %.0f /s | %.2f | |\n", r.SubmitPerSecond, r.SubmitRatio)
	fmt.Fprintf(&b, "| (c) settle, sandbox latency 300 ms, %d workers | %.0f /s (%d donations) | %.2f | >= 0.12 |\n", r.Workers, r.SettlePerSecond, r.Settled, r.SettleRatio)
	fmt.Fprintf(&b, "| (c) Stripe calls per settled gift | %.2f | | <= 1.05 |\n", r.StripeCallsPerSettled)
	fmt.Fprintf(&b, "| (d) at 100/s: p99 submit latency | %.1f ms | | < 25 ms |\n", r.FixedP99Ms)
	fmt.Fprintf(&b, "| (d) at 100/s: server peak RSS | %.0f MB | | < 300 MB |\n", r.ServerRSSMB)
	fmt.Fprintf(&b, "| (e) the floor under (b): a plain HTTP handler making only a submit's writes (donation and charge job, write-combined), no GraphQL, no checks, no workers, %d clients | %.0f /s | %.2f | |\n", r.Clients, r.FloorPerSecond, r.FloorRatio)
	fmt.Fprintf(&b, "\nErrors by code: (b) workers on: %s; (b) workers off: %s; (d): %s.\n",
		errorsString(r.Errors["b-on"]), errorsString(r.Errors["b"]), errorsString(r.Errors["d"]))
	fmt.Fprintf(&b, "\nCPU during (b) workers off: %s.\nCPU during (b) workers on: %s.\nCPU during (c): %s.\nCPU during (d): %s.\nCPU during (e): %s.\n",
		r.SubmitCPU, r.SubmitWorkersOnCPU, r.SettleCPU, r.FixedCPU, r.FloorCPU)
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

// cpuProfile, with -profile, fetches a CPU profile of the process whose admin listener is on
// adminPort, after a delay and for a length, into the profile folder; the returned function
// waits for it.
func (o *options) cpuProfile(log io.Writer, adminPort, name string, after, length time.Duration) func() {
	if o.profile == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(after)
		url := fmt.Sprintf("http://127.0.0.1:%s/debug/pprof/profile?seconds=%d", adminPort, int(length.Seconds()))
		resp, err := http.Get(url)
		if err != nil {
			fmt.Fprintln(log, "bench: profile", name+":", err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		path := filepath.Join(o.profile, name+".pprof")
		err = os.MkdirAll(o.profile, 0o755)
		if err == nil {
			err = os.WriteFile(path, body, 0o644)
		}
		if err != nil {
			fmt.Fprintln(log, "bench: profile", name+":", err)
			return
		}
		fmt.Fprintln(log, "bench: CPU profile of", name, "in", path)
	}()
	return sync.OnceFunc(func() { <-done })
}

// cpuSeconds returns the CPU time (user and system) a process has used so far.
func cpuSeconds(pid int) float64 {
	// utime and stime, in clock ticks (100 a second on Linux).
	f := procs.StatFields(pid)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

// postgresCPUSeconds returns the CPU time used so far by every PostgreSQL process.
func postgresCPUSeconds() float64 {
	entries, _ := os.ReadDir("/proc")
	var total float64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			total += cpuSeconds(pid)
		}
	}
	return total
}

// cpuShares measures, over one phase, the CPU each part used.
type cpuShares struct {
	names []string
	pids  []int
	start []float64
	pg    float64
	busy  float64
	began time.Time
}

// machineBusySeconds returns the CPU time the whole machine has spent not idle.
func machineBusySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy float64
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return busy / 100
}

func startCPUShares(names []string, pids []int) *cpuShares {
	c := &cpuShares{names: names, pids: pids, pg: postgresCPUSeconds(), busy: machineBusySeconds(), began: time.Now()}
	for _, pid := range pids {
		c.start = append(c.start, cpuSeconds(pid))
	}
	return c
}

// String reports each part's CPU in cores (CPU seconds per second of the phase).
func (c *cpuShares) String() string {
	wall := time.Since(c.began).Seconds()
	parts := []string{fmt.Sprintf("postgres %.2f", (postgresCPUSeconds()-c.pg)/wall)}
	for i, pid := range c.pids {
		parts = append(parts, fmt.Sprintf("%s %.2f", c.names[i], (cpuSeconds(pid)-c.start[i])/wall))
	}
	return fmt.Sprintf("%s cores; the machine %.2f of %d", strings.Join(parts, ", "), (machineBusySeconds()-c.busy)/wall, runtime.NumCPU())
}

// resetStatements, with -profile, starts pg_stat_statements' counts afresh.
func (o *options) resetStatements(ctx context.Context, pool *pgxpool.Pool) {
	if o.profile == "" {
		return
	}
	_, _ = pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
	_, _ = pool.Exec(ctx, `SELECT pg_stat_statements_reset()`)
}

// writeStatements, with -profile, writes the statements that took the database's time since
// the reset, most first, with their calls per donation.
func (o *options) writeStatements(ctx context.Context, pool *pgxpool.Pool, log io.Writer, name string, donations int) {
	if o.profile == "" {
		return
	}
	rows, err := pool.Query(ctx, `SELECT calls, total_exec_time, max_exec_time, left(regexp_replace(query, '\s+', ' ', 'g'), 160)
		FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 40`)
	if err != nil {
		fmt.Fprintln(log, "bench: statements:", err)
		return
	}
	defer rows.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%10s %10s %12s %9s  %s\n", "calls", "per gift", "total ms", "max ms", "statement")
	for rows.Next() {
		var calls int64
		var ms, maxMs float64
		var q string
		if err := rows.Scan(&calls, &ms, &maxMs, &q); err != nil {
			return
		}
		fmt.Fprintf(&b, "%10d %10.2f %12.0f %9.1f  %s\n", calls, float64(calls)/float64(max(donations, 1)), ms, maxMs, q)
	}
	path := filepath.Join(o.profile, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err == nil {
		fmt.Fprintln(log, "bench: statements in", path)
	}
}
