package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/gqlclient"
	"github.com/giveathon/giveathon/internal/pgaf"
	"github.com/giveathon/giveathon/internal/procs"
	"github.com/giveathon/giveathon/payments"
	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/jackc/pgx/v5/pgxpool"
)

// runner is one chaos run: the processes, the donors and what the clients were told.
type runner struct {
	o   *options
	dir string
	log io.Writer

	rngMu sync.Mutex
	rng   *rand.Rand

	pg      *db.Embedded
	ha      *pgaf.Cluster // with -ha, instead of pg
	dbURL   string
	pool    *pgxpool.Pool
	mailpit *procs.Proc
	mailAPI string
	smtpURL string
	sandbox *procs.Proc
	sbURL   string
	secret  string
	// webhookKey is the servers' WEBHOOK_SECRET_KEY.
	webhookKey string

	serverMu sync.Mutex
	server   *procs.Proc
	apiPort  string
	api      *gqlclient.Client

	charities []string
	donors    []*donor

	acked sync.Map // idempotency key -> donation global id
	// adminToken signs the organiser in; refundQueue holds the gifts it refunds.
	adminToken  string
	refundQueue refunds
	// partner is the partner's key, endpoint and what the endpoint got (-partner > 0).
	partner     *partnerRun
	partnerAcks atomic.Int64
	ackCount    atomic.Int64
	conflicts   atomic.Int64 // one key answered with two donations
	gaveUp      atomic.Int64 // submissions never acknowledged
	kills       int
	restarts    int
	// internalErrors and unavailable count the answers with those codes the clients got.
	internalErrors atomic.Int64
	unavailable    atomic.Int64
	// haRun is what the -ha run did to the database and what the clients saw of it.
	haRun haRun
	// loadSeconds is how long the submissions took.
	loadSeconds float64
	started     time.Time
}

type donor struct {
	token  string
	visa   string
	second string // a declining or 3-D Secure card, or ""
	kind   string // "decline", "auth" or ""
}

func (r *runner) float() float64 {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.Float64()
}

func (r *runner) intn(n int) int {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.IntN(n)
}

func (r *runner) progress(format string, args ...any) {
	if r.o.verbose {
		fmt.Fprintf(r.log, "chaos: "+format+"\n", args...)
	}
}

func (r *runner) run(ctx context.Context) (*result, error) {
	r.started = time.Now()
	defer r.stopAll()
	if err := r.startPieces(ctx); err != nil {
		return nil, err
	}
	if err := r.setup(ctx); err != nil {
		return nil, fmt.Errorf("set up donors: %w", err)
	}
	if err := r.setFaults(r.faults(false)); err != nil {
		return nil, err
	}
	// The organiser refunds a share of the gifts while the faults fly, until all settle.
	refundCtx, stopRefunds := context.WithCancel(ctx)
	refunderDone := make(chan struct{})
	go func() {
		defer close(refunderDone)
		r.refunder(refundCtx)
	}()
	if err := r.load(ctx); err != nil {
		stopRefunds()
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := r.rejoinAfterLoad(ctx); err != nil {
		stopRefunds()
		return nil, err
	}
	if err := r.drain(ctx); err != nil {
		fmt.Fprintln(r.log, "chaos: drain:", err)
	}
	stopRefunds()
	<-refunderDone
	return r.check(ctx)
}

// startPieces starts PostgreSQL, Mailpit, the sandbox and the server.
func (r *runner) startPieces(ctx context.Context) error {
	var err error
	if r.o.ha {
		if err := r.startFormation(ctx); err != nil {
			return err
		}
	} else {
		r.pg, err = db.StartEmbedded(ctx, db.EmbeddedConfig{DataDir: filepath.Join(r.dir, "data")})
		if err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
		r.dbURL = r.pg.URL(db.EmbeddedDatabase)
	}
	r.pool, err = pgxpool.New(ctx, r.dbURL)
	if err != nil {
		return err
	}

	if r.o.mail {
		if err := r.startMailpit(ctx); err != nil {
			return err
		}
	}

	if r.apiPort, err = procs.FreePort(); err != nil {
		return err
	}
	sbPort, err := procs.FreePort()
	if err != nil {
		return err
	}
	r.secret = fmt.Sprintf("whsec_chaos%d", r.o.seed)
	// As an operator sets it: every server of the run signs partners' webhooks with the same key.
	webhookKey := make([]byte, 32)
	if _, err := crand.Read(webhookKey); err != nil {
		return err
	}
	r.webhookKey = base64.StdEncoding.EncodeToString(webhookKey)
	r.sandbox, err = procs.Start("stripe-sandbox", r.o.bin, []string{"stripe-sandbox"}, append(procs.CleanEnv(),
		"SANDBOX_ADDR=127.0.0.1:"+sbPort, "STRIPE_WEBHOOK_SECRET="+r.secret,
		"SANDBOX_WEBHOOK_URL=http://127.0.0.1:"+r.apiPort+"/webhooks/stripe",
		fmt.Sprintf("SANDBOX_SEED=%d", r.o.seed%(1<<62)),
		// The sandbox keeps every object of the run, about 3 KB of live heap a charge: 9 GB at
		// the event's 3,000,000. Go's default lets the heap grow to twice what is live before
		// it collects (18 GB at the end); a soft limit of 14 GiB keeps it under what the
		// machine (24 GB) can spare beside PostgreSQL. GOGC=50 did that too (13.5 GB), but
		// made the collector run twice as often all along, as the live heap grew: each
		// collection marks all of it.
		"GOMEMLIMIT=14GiB"), filepath.Join(r.dir, "sandbox.log"))
	if err != nil {
		return err
	}
	r.sbURL = "http://127.0.0.1:" + sbPort
	if err := procs.WaitHTTP(ctx, r.sandbox, r.sbURL+"/_sandbox/charges", 30*time.Second); err != nil {
		return err
	}

	// The clients keep their connections, as browsers and partners' systems do: with Go's
	// default of 2 idle connections a host, most requests of 64 clients dialled anew, a sixth
	// of this program's time and a load on the server that no event sees.
	r.api = &gqlclient.Client{Base: "http://127.0.0.1:" + r.apiPort,
		HTTP: &http.Client{Timeout: r.o.clientTimeout, Transport: payments.NewTransport(2 * r.o.concurrency)}}
	return r.startServer(ctx)
}

// startMailpit starts Mailpit on free ports.
func (r *runner) startMailpit(ctx context.Context) error {
	mailBin, err := procs.GoTool("mailpit")
	if err != nil {
		return err
	}
	smtpPort, err := procs.FreePort()
	if err != nil {
		return err
	}
	uiPort, err := procs.FreePort()
	if err != nil {
		return err
	}
	r.mailpit, err = procs.Start("mailpit", mailBin, []string{"--quiet", "--disable-version-check", "--max", "0",
		"--database", filepath.Join(r.dir, "mailpit.db"), "--smtp", "127.0.0.1:" + smtpPort, "--listen", "127.0.0.1:" + uiPort,
		// Delivery is at least once with one Message-ID; like mail services, the mailbox keeps one.
		"--smtp-disable-rdns", "--ignore-duplicate-ids"}, procs.CleanEnv(), filepath.Join(r.dir, "mailpit.log"))
	if err != nil {
		return err
	}
	r.mailAPI = "http://127.0.0.1:" + uiPort
	r.smtpURL = "smtp://127.0.0.1:" + smtpPort + "?tls=none"
	if err := procs.WaitHTTP(ctx, r.mailpit, r.mailAPI+"/api/v1/messages", 30*time.Second); err != nil {
		return err
	}
	return nil
}

// startServer starts `giveathon serve` and waits until it is ready.
func (r *runner) startServer(ctx context.Context) error {
	env := append(procs.CleanEnv(),
		"DATABASE_URL="+r.dbURL,
		"HTTP_ADDR=127.0.0.1:"+r.apiPort,
		"STRIPE_API_BASE="+r.sbURL,
		"STRIPE_WEBHOOK_SECRET="+r.secret,
		"STRIPE_RATE_LIMIT=2000",
		"STRIPE_TIMEOUT=5s",
		"SMTP_URL="+r.smtpURL,
		"SHUTDOWN_TIMEOUT=5s",
		"LOG_FORMAT=json",
		// The clients' retry storms, a whole event's sign-ups from one address and its
		// partner's share of the gifts (a tenth of an event's peak is far more than a
		// partner's default 600 requests a minute) are the point here, not abuse limits.
		"LIMIT_DONATIONS_PER_DONOR=0", "LIMIT_REGISTER_PER_IP=0", "LIMIT_LOGIN_PER_IP=0",
		"PARTNER_REQUESTS_PER_MINUTE=1000000", "PARTNER_COST_PER_MINUTE=1000000",
		"ADMIN_EMAILS="+chaosAdmin,
		"WEBHOOK_SECRET_KEY="+r.webhookKey,
	)
	if r.o.workers > 0 {
		env = append(env, fmt.Sprintf("PAYMENT_WORKERS=%d", r.o.workers))
	}
	if !r.o.day {
		// Faults heal within the run: retries, stuck jobs and the reconciler's sweeps come
		// seconds apart, not the minutes an operator sets.
		env = append(env, "CHARGE_RETRY_BASE=200ms", "CHARGE_RETRY_MAX=2s", "JOBS_POLL_INTERVAL=100ms", "JOB_TIMEOUT=15s",
			"RESCUE_STUCK_JOBS_AFTER=20s", "RECONCILE_INTERVAL=2s", "STALE_PENDING=5s", "STALE_PROCESSING=10s")
	}
	p, err := procs.Start("giveathon serve", r.o.bin, []string{"serve"}, env, filepath.Join(r.dir, "server.log"))
	if err != nil {
		return err
	}
	r.serverMu.Lock()
	r.server = p
	r.serverMu.Unlock()
	return procs.WaitHTTP(ctx, p, r.api.Base+"/readyz", 60*time.Second)
}

// killServer kills the server (SIGKILL: no shutdown at all) and starts a new one.
func (r *runner) killServer(ctx context.Context) error {
	r.serverMu.Lock()
	p := r.server
	r.serverMu.Unlock()
	p.Kill()
	r.kills++
	r.progress("killed the server (%d)", r.kills)
	return r.startServer(ctx)
}

// restartDB stops PostgreSQL immediately (as a crash would) and starts it again.
func (r *runner) restartDB(ctx context.Context) error {
	r.pg.Kill()
	r.restarts++
	r.progress("PostgreSQL stopped (immediate), restarting")
	time.Sleep(500 * time.Millisecond)
	return r.pg.Restart(ctx)
}

func (r *runner) stopAll() {
	if r.partner != nil {
		r.partner.srv.Close()
	}
	r.serverMu.Lock()
	if r.server != nil {
		r.server.Stop(10 * time.Second)
	}
	r.serverMu.Unlock()
	for _, p := range []*procs.Proc{r.sandbox, r.mailpit} {
		if p == nil {
			continue
		}
		p.Stop(5 * time.Second)
	}
	if r.pool != nil {
		r.pool.Close()
	}
	if r.pg != nil {
		_ = r.pg.Stop()
	}
	if r.ha != nil {
		if err := r.ha.Stop(); err != nil {
			fmt.Fprintln(r.log, "chaos: stop the formation:", err)
		}
	}
}

// faults returns the sandbox's faults; burst adds the 429s of a burst.
func (r *runner) faults(burst bool) sandbox.Faults {
	f := sandbox.Faults{
		Error500Rate: r.o.err500, TimeoutBeforeRate: r.o.timeoutBefore, TimeoutAfterRate: r.o.timeoutAfter,
		WebhookDuplicateRate: r.o.webhookDup, WebhookDelayRate: r.o.webhookDelay, WebhookDelay: 2 * time.Second,
		LatencyMedian: r.o.latency, Seed: int64(r.o.seed % (1 << 62)),
	}
	if burst {
		f.Error429Rate = r.o.err429Burst
		if total := f.Error500Rate + f.TimeoutBeforeRate + f.TimeoutAfterRate + f.Error429Rate; total > 1 {
			f.Error429Rate -= total - 1
		}
	}
	return f
}

func (r *runner) setFaults(f sandbox.Faults) error {
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	resp, err := http.Post(r.sbURL+"/_sandbox/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("set faults: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("set faults: %d %s", resp.StatusCode, msg)
	}
	return nil
}
