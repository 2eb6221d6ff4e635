// Command giveathon is the one Giveathon binary: the API server and its workers, migrations
// and seed data.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/metrics"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	p := &program{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	err := p.run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, errUsage) {
		os.Exit(2)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "giveathon:", err)
		os.Exit(1)
	}
}

// program is one run of the binary, with its environment passed in so tests can run it.
type program struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// listening, when set, is told the address the server listens on.
	listening func(addr string)
}

var errUsage = errors.New("usage")

// submitFlushers is how many submit batches a server writes at once (SUBMIT_BATCH=on): two
// keep a batch filling while another commits, on the 2 cores the service is sized for.
const submitFlushers = 2

// settleFlushers is how many batches of charge claims, and of charge finishes, a process writes
// at once (SETTLE_BATCH=on): one of each, on connections of their own. A batch's cost grows
// little with its size, so one flusher makes the largest batches, and it keeps up with 1,000
// workers (bench (c): about 68 claims and 31 finishes a batch).
const settleFlushers = 1

const usage = `Giveathon: a GraphQL donation platform for time-boxed charity events.

Usage: giveathon <command> [arguments]

Commands:
  serve              run the HTTP API and the workers (GraphQL at /graphql, playground at /playground)
  serve --no-workers run the HTTP API only
  work               run the workers only (charging, e-mail, reconciler)
  stripe-sandbox     run the Stripe sandbox alone
  migrate up         apply every pending migration (Giveathon's and River's)
  migrate down       roll back Giveathon's newest migration
  migrate status     list migrations and whether each is applied
  seed               load the sample charities (safe to run again)
  admin grant EMAIL  make a registered account an admin (recorded in the database)
  admin revoke EMAIL make it a donor again (ADMIN_EMAILS still makes its e-mails admins)
  help [command]     show this help, or a command's help and configuration

Configuration comes from the environment: see 'giveathon help serve'.
`

func (p *program) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(p.stderr, usage)
		return errUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return p.serve(ctx, rest)
	case "work":
		return p.work(ctx, rest)
	case "stripe-sandbox":
		return p.stripeSandbox(ctx, rest)
	case "migrate":
		return p.migrate(ctx, rest)
	case "seed":
		return p.seed(ctx)
	case "admin":
		return p.admin(ctx, rest)
	case "help", "-h", "--help":
		return p.help(rest)
	default:
		fmt.Fprintf(p.stderr, "giveathon: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

func (p *program) help(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(p.stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve", "migrate", "seed", "work", "stripe-sandbox", "admin":
		fmt.Fprintf(p.stdout, "%s\n", commandHelp[args[0]])
		fmt.Fprint(p.stdout, "Configuration (environment variables):\n\n")
		printSettings(p.stdout)
		return nil
	}
	fmt.Fprintf(p.stderr, "giveathon: no help for %q\n\n%s", args[0], usage)
	return errUsage
}

var commandHelp = map[string]string{
	"serve": `Usage: giveathon serve [--no-workers]

Runs the HTTP API: GraphQL at /graphql (POST; GET for queries; WebSocket with graphql-ws),
the GraphiQL playground at /playground (development only), Stripe's webhooks at
/webhooks/stripe, /healthz and /readyz; and, unless --no-workers, the River workers that
charge donations, send e-mails and reconcile. With no STRIPE_SECRET_KEY it starts a Stripe
sandbox in-process on loopback.
With no DATABASE_URL it starts a private PostgreSQL in DATA_DIR/postgres from the machine's
own server binaries. In development it migrates and seeds an empty database on start; in
production it refuses an unmigrated database (run 'giveathon migrate up').`,
	"migrate": `Usage: giveathon migrate up|down|status

Applies (up), rolls back one of Giveathon's own (down), or lists (status) the migrations of
Giveathon and of River, its job queue.`,
	"work": `Usage: giveathon work

Runs the River workers alone (charging, e-mail, the reconciler), for scaling them apart from
the API. Needs STRIPE_SECRET_KEY, or STRIPE_API_BASE pointing at a giveathon stripe-sandbox.`,
	"stripe-sandbox": `Usage: giveathon stripe-sandbox

Runs the Stripe sandbox alone: Stripe's API subset with test cards, idempotency keys, signed
webhooks, fault injection and a ledger at /_sandbox/charges. Settings: SANDBOX_ADDR (default
127.0.0.1:12111), SANDBOX_WEBHOOK_URL (default http://localhost:8080/webhooks/stripe),
SANDBOX_WEBHOOK_EVENTS (the events delivered, comma-separated; default: the ones Giveathon
acts on; "*": all), STRIPE_WEBHOOK_SECRET, and the faults SANDBOX_ERROR_500_RATE, SANDBOX_ERROR_429_RATE,
SANDBOX_TIMEOUT_BEFORE_RATE, SANDBOX_TIMEOUT_AFTER_RATE, SANDBOX_TIMEOUT_HANG,
SANDBOX_WEBHOOK_DUPLICATE_RATE, SANDBOX_WEBHOOK_DELAY_RATE, SANDBOX_WEBHOOK_DELAY,
SANDBOX_LATENCY_MEDIAN, SANDBOX_LATENCY_P99, SANDBOX_SEED. Faults change at run time with
POST /_sandbox/faults.`,
	"admin": `Usage: giveathon admin grant|revoke EMAIL

Records in the database that the registered account with this e-mail is an admin (grant) or a
donor again (revoke). An account whose e-mail is in ADMIN_EMAILS stays an admin either way.
Signed-in sessions see the change within SESSION_CACHE_TTL.`,
	"seed": `Usage: giveathon seed

Loads the sample charities; charities that exist (by slug) are updated, none is duplicated.`,
}

// stores is what a command needs of the databases.
type stores struct {
	DB       *db.DB
	Migrator *db.Migrator
	close    func()
}

// open reads the configuration and opens the databases: what every command that needs data
// starts with. The caller closes the stores.
func (p *program) open(ctx context.Context) (*Config, *slog.Logger, *stores, error) {
	cfg, err := loadConfig(p.getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	logger := cfg.logger(p.stderr)
	s, err := openStores(ctx, cfg, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, logger, s, nil
}

// openStores connects to DATABASE_URL, or starts the embedded PostgreSQL in DATA_DIR.
func openStores(ctx context.Context, cfg *Config, logger *slog.Logger) (*stores, error) {
	url := cfg.DatabaseURL
	var embedded *db.Embedded
	if url == "" {
		var err error
		embedded, err = db.StartEmbedded(ctx, db.EmbeddedConfig{DataDir: cfg.DataDir, Logger: logger})
		if err != nil {
			return nil, err
		}
		url = embedded.URL(db.EmbeddedDatabase)
	}
	d, err := db.Open(ctx, url, cfg.DBMaxConns)
	if err != nil {
		if embedded != nil {
			_ = embedded.Stop()
		}
		return nil, err
	}
	jobsDB := d
	// closeAll closes what is open so far, and what opens later: the stores' close.
	closeAll := func() {
		if jobsDB != d {
			jobsDB.Close()
		}
		d.Close()
		if embedded != nil {
			if err := embedded.Stop(); err != nil {
				logger.Warn("stop embedded PostgreSQL", "err", err)
			} else {
				logger.Info("embedded PostgreSQL stopped")
			}
		}
	}
	if cfg.JobsDatabaseURL != "" {
		if jobsDB, err = db.Open(ctx, cfg.JobsDatabaseURL, cfg.DBMaxConns); err != nil {
			jobsDB = d
			closeAll()
			return nil, fmt.Errorf("jobs database: %w", err)
		}
	}
	d.Isolation, d.RetryTimeout = cfg.DBIsolation, cfg.DBRetryTimeout
	if cfg.SubmitBatch {
		d.EnableSubmitBatch(submitFlushers)
	}
	if cfg.SettleBatch {
		if err := d.EnableSettleBatch(ctx, settleFlushers); err != nil {
			closeAll()
			return nil, err
		}
	}
	if cfg.ReplicaURL != "" {
		if err := d.OpenReplica(ctx, cfg.ReplicaURL, replicaConfig(cfg, logger)); err != nil {
			closeAll()
			return nil, fmt.Errorf("read replica: %w", err)
		}
		metrics.RegisterPool("replica", d.ReplicaPool())
	}
	metrics.RegisterPool("domain", d.Pool)
	metrics.RegisterPool("jobs", jobsDB.Pool)
	metrics.RegisterQueueDepth(jobsDB.Pool)
	return &stores{
		DB:       d,
		Migrator: &db.Migrator{Domain: d.Pool, Jobs: jobsDB.Pool},
		close:    closeAll,
	}, nil
}

// replicaConfig is how the read replica is used and measured.
func replicaConfig(cfg *Config, logger *slog.Logger) db.ReplicaConfig {
	return db.ReplicaConfig{
		MaxLag:    cfg.ReplicaMaxLag,
		MaxConns:  cfg.DBMaxConns,
		CountRead: func(target, reason string) { metrics.DBReads.WithLabelValues(target, reason).Inc() },
		ObserveLag: func(lag time.Duration, up bool) {
			metrics.ReplicaLag.Set(lag.Seconds())
			metrics.ReplicaUp.Set(map[bool]float64{true: 1}[up])
		},
		Logger: logger.With("component", "replica"),
	}
}

func (p *program) migrate(ctx context.Context, args []string) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "status") {
		fmt.Fprintln(p.stderr, commandHelp["migrate"])
		return errUsage
	}
	_, _, s, err := p.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	switch args[0] {
	case "up":
		applied, err := s.Migrator.Up(ctx)
		for _, line := range applied {
			fmt.Fprintln(p.stdout, "applied", line)
		}
		if err == nil && len(applied) == 0 {
			fmt.Fprintln(p.stdout, "nothing to apply: the database is up to date")
		}
		return err
	case "down":
		line, err := s.Migrator.Down(ctx)
		if err == nil {
			fmt.Fprintln(p.stdout, "rolled back", line)
		}
		return err
	default:
		lines, err := s.Migrator.Status(ctx)
		for _, line := range lines {
			fmt.Fprintln(p.stdout, line)
		}
		return err
	}
}

// admin grants or revokes the admin role of a registered account.
func (p *program) admin(ctx context.Context, args []string) error {
	if len(args) != 2 || (args[0] != "grant" && args[0] != "revoke") {
		fmt.Fprintln(p.stderr, commandHelp["admin"])
		return errUsage
	}
	email, err := giveathon.NormalizeEmail(args[1])
	if err != nil {
		return fmt.Errorf("%s: %s", args[1], giveathon.ErrorMessage(err))
	}
	cfg, s, err := p.openMigrated(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	role := map[string]giveathon.Role{"grant": giveathon.RoleAdmin, "revoke": giveathon.RoleDonor}[args[0]]
	u, err := s.DB.SetUserRole(ctx, email, role)
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return fmt.Errorf("no account has the e-mail %s: it must register first", email)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(p.stdout, "%s is now %s\n", u.Email, strings.ToLower(string(u.Role)))
	// The role the account acts with is the auth service's to say: ADMIN_EMAILS makes it an
	// admin whatever the database records (a revoke said "is now donor" of an admin).
	(&auth.Service{AdminEmails: cfg.AdminEmails}).ApplyRole(u)
	if u.Role != role {
		return fmt.Errorf("%s stays an admin while ADMIN_EMAILS lists it: remove it from ADMIN_EMAILS too", u.Email)
	}
	return nil
}

// openMigrated opens the stores of a command that needs an up-to-date database: an unmigrated
// one is db.ErrUnmigrated. The caller closes the stores.
func (p *program) openMigrated(ctx context.Context) (*Config, *stores, error) {
	cfg, _, s, err := p.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	if pending, err := s.Migrator.Pending(ctx); err != nil || pending {
		s.close()
		if err == nil {
			err = db.ErrUnmigrated
		}
		return nil, nil, err
	}
	return cfg, s, nil
}

func (p *program) seed(ctx context.Context) error {
	_, s, err := p.openMigrated(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	added, err := s.DB.UpsertCharities(ctx, db.SeedCharities)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.stdout, "seeded charities: %d added, %d already there\n", added, len(db.SeedCharities)-added)
	return nil
}
