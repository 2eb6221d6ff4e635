// Command chaos proves, by a run anyone can repeat, that Giveathon loses no donation and
// charges no one twice while the payment provider fails, the server is killed and PostgreSQL
// restarts. It starts the real pieces as separate processes (PostgreSQL through the embedded
// launcher, the Stripe sandbox, Mailpit, `giveathon serve`), drives donors through GraphQL,
// injects faults, drains, checks the invariants and prints one machine-readable line:
//
//	chaos: donations=10000 acknowledged=10000 lost=0 double_charged=0 unsettled=0 ...
//
// It exits 0 only when every invariant holds. `make chaos` runs the full profile.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are the run's knobs; defaults are the full profile.
type options struct {
	out         string
	bin         string
	donations   int
	donors      int
	concurrency int
	seed        uint64
	rate        float64

	err500        float64
	err429Burst   float64
	timeoutBefore float64
	timeoutAfter  float64
	webhookDup    float64
	webhookDelay  float64
	latency       time.Duration

	declineRate float64
	authRate    float64
	doubleSend  float64
	refunds     float64
	// partnerShare is the share of gifts given through a partner's API key; webhookFail the
	// share of first webhook deliveries the partner's endpoint fails.
	partnerShare float64
	webhookFail  float64

	serverKills int
	dbRestarts  int

	// ha runs the database as a pg_auto_failover pair (internal/pgaf) and fails it over.
	ha          bool
	switchovers int
	failovers   int
	maxOutage   time.Duration

	clientTimeout time.Duration
	drain         time.Duration
	keep          bool
	verbose       bool
	mail          bool
	day           bool
	workers       int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin/giveathon", "the giveathon binary to run")
	fs.IntVar(&o.donations, "donations", 10000, "donations to submit")
	fs.IntVar(&o.donors, "donors", 200, "donors to register")
	fs.IntVar(&o.concurrency, "concurrency", 32, "clients submitting at once")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock); the run prints it")
	fs.Float64Var(&o.rate, "rate", 0, "donations started per second at most (0: as fast as the clients go); a small -ha run paces its load to outlast its faults")
	fs.Float64Var(&o.err500, "err500", 0.10, "fraction of Stripe calls answered 500")
	fs.Float64Var(&o.err429Burst, "err429-burst", 0.5, "fraction of Stripe calls answered 429 during a burst (one second in ten)")
	fs.Float64Var(&o.timeoutBefore, "timeout-before", 0.02, "fraction of Stripe calls dropped before executing")
	fs.Float64Var(&o.timeoutAfter, "timeout-after", 0.05, "fraction of Stripe calls executed whose answer is lost")
	fs.Float64Var(&o.webhookDup, "webhook-dup", 0.10, "fraction of webhooks delivered twice")
	fs.Float64Var(&o.webhookDelay, "webhook-delay", 0.10, "fraction of webhooks delivered 2 s late")
	fs.DurationVar(&o.latency, "latency", 20*time.Millisecond, "median latency of a Stripe call")
	fs.Float64Var(&o.declineRate, "decline", 0.03, "fraction of donations made with a card that declines")
	fs.Float64Var(&o.authRate, "auth", 0.02, "fraction of donations made with a card that needs 3-D Secure")
	fs.Float64Var(&o.doubleSend, "double-send", 0.10, "fraction of submissions (and refunds) sent twice at once")
	fs.Float64Var(&o.refunds, "refunds", 0.05, "fraction of gifts an organiser refunds once they succeed, while the faults fly")
	fs.Float64Var(&o.partnerShare, "partner", 0.10, "fraction of gifts given through a partner's API key, whose webhook endpoint is flaky")
	fs.Float64Var(&o.webhookFail, "webhook-fail", 0.20, "fraction of first webhook deliveries the partner's endpoint fails (500, 503 with Retry-After, or a dropped connection)")
	fs.IntVar(&o.serverKills, "server-kills", 2, "times the server is killed (SIGKILL) and restarted during the load")
	fs.IntVar(&o.dbRestarts, "db-restarts", 1, "immediate restarts of PostgreSQL during the load")
	fs.DurationVar(&o.clientTimeout, "client-timeout", 5*time.Second, "how long a client waits for an answer before it retries")
	fs.DurationVar(&o.drain, "drain", 5*time.Minute, "how long to wait for every donation to settle after the load")
	fs.BoolVar(&o.mail, "mail", true, "send e-mails to Mailpit and count them there; false: the server only records them (for runs of millions)")
	fs.BoolVar(&o.day, "day", false, "run the server with an operator's settings (the defaults) for charge retries, job polling and timeouts and the reconciler, not the short ones that make faults heal within a run: for a replay without faults (make bench-event)")
	fs.IntVar(&o.workers, "payment-workers", 0, "the server's PAYMENT_WORKERS (0: its default); a replay faster than the day sets as many as its provider's rate limit keeps busy")
	fs.BoolVar(&o.keep, "keep", false, "keep the run's folder (database, logs) afterwards")
	fs.BoolVar(&o.verbose, "v", false, "print progress")
	fs.StringVar(&o.out, "out", "", "also write the result, with the run's settings, to this file (make bench-event: bench/results/)")
	fs.BoolVar(&o.ha, "ha", false, "run the database as a pg_auto_failover monitor and two nodes (make chaos-ha): 5,000 donations, no server kills, and the database's faults are planned switchovers and primaries killed and rejoined")
	fs.IntVar(&o.switchovers, "switchovers", 1, "with -ha: planned switchovers during the load")
	fs.IntVar(&o.failovers, "failovers", 1, "with -ha: primaries killed (keeper and postmaster, SIGKILL) during the load, each rejoined later")
	fs.DurationVar(&o.maxOutage, "max-outage", 20*time.Second, "with -ha: the longest time without a successful submit the run accepts (0: not checked)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.ha {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["donations"] {
			o.donations = 5000
		}
		if !set["partner"] {
			o.partnerShare = 0
		}
		if !set["server-kills"] {
			o.serverKills = 0
		}
		if !set["db-restarts"] {
			o.dbRestarts = 0
		} else if o.dbRestarts > 0 {
			return nil, fmt.Errorf("-db-restarts does not go with -ha: its database faults are -switchovers and -failovers")
		}
	}
	switch {
	case o.workers < 0:
		return nil, fmt.Errorf("-payment-workers must be 0 (the server's default) or more")
	case o.donations < 1 || o.donors < 1 || o.concurrency < 1:
		return nil, fmt.Errorf("-donations, -donors and -concurrency must be at least 1")
	case o.err500+o.timeoutBefore+o.timeoutAfter > 0.9:
		return nil, fmt.Errorf("-err500, -timeout-before and -timeout-after add up to more than 0.9: nothing would get through")
	case o.partnerShare < 0 || o.partnerShare > 1 || o.webhookFail < 0 || o.webhookFail > 1:
		return nil, fmt.Errorf("-partner and -webhook-fail are fractions between 0 and 1")
	case o.declineRate+o.authRate > 1:
		return nil, fmt.Errorf("-decline and -auth add up to more than 1")
	case o.switchovers < 0 || o.failovers < 0:
		return nil, fmt.Errorf("-switchovers and -failovers cannot be negative")
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 2
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(stderr, "chaos: no giveathon binary at %s (make build): %v\n", bin, err)
		return 2
	}
	o.bin = bin
	dir, err := os.MkdirTemp("", "giveathon-chaos-")
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 1
	}
	if o.keep {
		fmt.Fprintln(stderr, "chaos: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	fmt.Fprintf(stderr, "chaos: seed=%d donations=%d donors=%d concurrency=%d folder=%s\n", o.seed, o.donations, o.donors, o.concurrency, dir)

	r := &runner{o: o, dir: dir, log: stderr, rng: rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))}
	started := time.Now()
	res, err := r.run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "chaos: run failed:", err)
		fmt.Fprintf(stderr, "chaos: logs in %s (rerun with -keep to keep them)\n", dir)
		r.tailServerLog(stderr)
		return 1
	}
	res.seconds = int(time.Since(started).Seconds())
	res.print(stdout)
	if o.out != "" {
		if err := writeResult(o.out, args, res); err != nil {
			fmt.Fprintln(stderr, "chaos:", err)
			return 1
		}
	}
	if res.ha && res.maxOutageLimit > 0 && res.maxOutage > res.maxOutageLimit {
		fmt.Fprintf(stderr, "chaos-ha: writes stopped for %.1f s, more than -max-outage %s\n", res.maxOutage, o.maxOutage)
	}
	if !res.ok() {
		r.tailServerLog(stderr)
		fmt.Fprintf(stderr, "chaos: invariants broken with seed %d: rerun with -seed %d -keep to investigate\n", o.seed, o.seed)
		return 1
	}
	return 0
}

// writeResult records a run: when, on what, with which flags, and what it found.
func writeResult(path string, args []string, res *result) error {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Event replay of %s on %d cores (%s), %s/%s, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		runtime.NumCPU(), host, runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "    chaos %s\n\n", strings.Join(args, " "))
	res.print(&b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// tailServerLog writes the end of the last server's log, and whether it is still running, so a
// failed run in CI (whose folder is gone) says what the server was doing.
func (r *runner) tailServerLog(w io.Writer) {
	r.serverMu.Lock()
	exited := r.server != nil && r.server.Exited()
	r.serverMu.Unlock()
	b, err := os.ReadFile(filepath.Join(r.dir, "server.log"))
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	lines = lines[max(0, len(lines)-30):]
	fmt.Fprintf(w, "chaos: the server has exited: %v; the end of its log:\n", exited)
	for _, l := range lines {
		fmt.Fprintln(w, "  ", l[:min(len(l), 400)])
	}
}
