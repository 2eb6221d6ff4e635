package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/graph"
	"github.com/giveathon/giveathon/jobs"
	"github.com/giveathon/giveathon/payments"
	"github.com/giveathon/giveathon/settlement"
	"github.com/giveathon/giveathon/webhooks"
	"github.com/jackc/pgx/v5"
)

// setting is one environment variable: its default and what it does. The table below is the
// one place defaults live; `giveathon help serve` and the README print it.
type setting struct {
	Name, Default, Doc string
}

var settings = []setting{
	{"ENV", "development", "development or production. Production turns introspection and the playground off, marks cookies Secure, logs JSON, and never migrates on its own."},
	{"HTTP_ADDR", "localhost:8080", "Address the HTTP server listens on (host:port; port 0 picks a free one)."},
	{"ADMIN_ADDR", "", "Address of the admin listener with pprof (/debug/pprof/) and Prometheus metrics (/metrics; in production only there, in development on HTTP_ADDR too). Unset: off. Keep it on loopback."},
	{"ADMIN_EMAILS", DevAdminEmail + " (development)", "Comma-separated e-mails whose registered accounts are admins (refunds, the console, /admin/jobs/, /admin/exports/). Unset: " + DevAdminEmail + " in development, so the first test account can be made an admin by signing up with it; none in production, where 'giveathon admin grant EMAIL' records admins in the database."},
	{"PUBLIC_URL", "http://<HTTP_ADDR>", "The URL donors reach the service at, used in links."},
	{"DATABASE_URL", "", "PostgreSQL (or CockroachDB) URL of the domain data. Unset: a private PostgreSQL in DATA_DIR."},
	{"DATA_DIR", "./.data", "Folder of the embedded PostgreSQL (used when DATABASE_URL is unset)."},
	{"JOBS_DATABASE_URL", "", "PostgreSQL URL of River's job queue. Unset: DATABASE_URL (jobs are then queued in the same transaction as the donation)."},
	{"DATABASE_REPLICA_URL", "", "PostgreSQL URL of a streaming replica of DATABASE_URL (with pg_auto_failover, its nodes with target_session_attrs=standby) for the reads that tolerate lag: charities, the event and its totals, history pages, a donation by id. A donor who just gave reads from the primary until the replica has replayed that write. Unset: every read goes to the primary."},
	{"REPLICA_MAX_LAG", "5s", "How far behind the primary the replica may be and still serve reads; further behind (or down), it is skipped."},
	{"DB_ISOLATION", "serializable", "Isolation of Giveathon's multi-statement transactions: serializable keeps the rules that read before they write exact (a submit's 60 s duplicate window, a donor's first card becoming the default) and is what CockroachDB runs; read_committed (PostgreSQL) lets concurrent submits slip past the duplicate window when SUBMIT_BATCH is off. Single statements and sign-up run at read committed either way."},
	{"SUBMIT_BATCH", "on", "on: submits arriving while others are being written are written together, up to 128 in one transaction (one statement each for the checks, the inserts and the charge jobs); a submit then locks its donor's row and runs at read committed, which keeps the 60 s duplicate window exact at any DB_ISOLATION. off: each submit in its own transaction at DB_ISOLATION. Every server on one database must run the same setting (an off server does not take the donor's lock the batches rely on)."},
	{"SETTLE_BATCH", "on", "on: the workers' charge claims (PENDING to PROCESSING, the attempt's start) and finishes (the move a charge decides, its attempt's end, the totals, the e-mail's outbox row) that arrive while others are being written go together, up to 128 in one statement, on two connections of their own whose sessions plan the batch as index lookups (PostgreSQL's enable_hashjoin, enable_mergejoin and enable_seqscan off); a batch that fails leaves each claim or move to run on its own. off: one statement per claim and per move. On CockroachDB, which has no such settings, set off (unverified)."},
	{"DB_RETRY_TIMEOUT", "10s", "How long a request keeps retrying database conflicts (40001, 40P01) and lost connections before it is answered UNAVAILABLE with retryAfter."},
	{"DB_MAX_CONNS", "0", "Size of each database connection pool of this process (the domain's, the jobs', the replica's). 0: 4 per core (GOMAXPROCS), at least 8: PostgreSQL does no more at once than it has cores for, and each connection is a backend."},
	{"GOGC", "200 (serve, work)", "Go's garbage collector: how far the heap grows past what is live before a collection, in percent. Unset, serve and work use 200 (Go's own default is 100), which spends about half as much CPU collecting for a higher peak memory (a replay of the event: 8% less server CPU, 208 MB instead of 158 MB)."},
	{"GOMEMLIMIT", "1GiB (serve, work)", "Go's soft memory limit: past it the garbage collector runs as often as it must to stay under, whatever GOGC says. Unset, serve and work use 1GiB."},
	{"STRIPE_SECRET_KEY", "", "Stripe secret key. Unset: a Stripe sandbox runs in-process on loopback (development only)."},
	{"STRIPE_PUBLISHABLE_KEY", "", "Stripe publishable key handed to the browser (pk_test_sandbox with the sandbox)."},
	{"STRIPE_WEBHOOK_SECRET", "", "Secret that signs Stripe's webhooks (whsec_...). Required in production; random with the in-process sandbox. The endpoint (/webhooks/stripe) needs only the events Giveathon acts on: " + strings.Join(payments.WebhookEvents, ", ") + "."},
	{"STRIPE_API_BASE", "", "Base URL of the Stripe API (a standalone sandbox, stripe-mock). Unset: Stripe's own, or the in-process sandbox."},
	{"STRIPE_RATE_LIMIT", "0", "Most Stripe calls per second from this process. 0: 80 for live keys, 20 for test keys. Calls made for a donor's request (saving a card, refreshDonation) may use a quarter of it and never queue ahead of charges: past that they answer UNAVAILABLE with retryAfter."},
	{"STRIPE_TIMEOUT", "30s", "How long one Stripe call may take."},
	{"SMTP_URL", "", "SMTP server for receipts: smtp://[user:pass@]host:port[?tls=none|starttls|tls]. Unset: e-mails are logged and recorded only."},
	{"MAIL_FROM", "Giveathon <receipts@giveathon.local>", "Sender of receipts."},
	{"EVENT_NAME", "Giveathon", "The charity event's name, shown on the web app and the live page."},
	{"EVENT_STARTS_AT", "", "When donations open (RFC 3339, 2026-12-01T09:00:00-05:00). Unset: when the process starts (development only; required in production)."},
	{"EVENT_ENDS_AT", "", "When donations close (RFC 3339). Unset: three days after EVENT_STARTS_AT."},
	{"EVENT_GOAL_CENTS", "100000000", "The event's goal in cents ($1,000,000), shown against the total."},
	{"LIVE_RESYNC_INTERVAL", "10s", "How often a live subscription re-reads what it watches even without a change notice (a notice is lost when its sender dies between commit and notify), and how often a signed-in websocket checks that its session still holds."},
	{"DONATION_MIN_CENTS", "100", "Smallest donation, in cents."},
	{"DONATION_MAX_CENTS", "10000000", "Largest donation, in cents."},
	{"CHARGE_MAX_ATTEMPTS", "5", "How often a charge is tried before the donation fails."},
	{"CHARGE_RETRY_BASE", "5s", "First wait between charge attempts; it doubles (with jitter) up to CHARGE_RETRY_MAX."},
	{"CHARGE_RETRY_MAX", "5m", "Longest wait between charge attempts."},
	{"RECONCILE_INTERVAL", "1m", "How often the reconciler looks for stuck donations."},
	{"STALE_PENDING", "1m", "How long a donation may stay PENDING before the reconciler queues it again."},
	{"STALE_PROCESSING", "5m", "How long a donation may stay PROCESSING before the reconciler asks Stripe."},
	{"PAYMENT_WORKERS", "50", "Charge jobs run at once by this process; the Stripe client keeps as many keep-alive connections (and 8 more)."},
	{"WEBHOOK_SECRET_KEY", "", "Base64 of at least 32 random bytes from which every webhook endpoint's signing secret is derived (none is stored; changing it changes them all). Required in production. Unset in development: generated once and kept in DATA_DIR/webhook-secret-key (mode 0600), or, with DATABASE_URL set and DATA_DIR unset, made anew by each process (logged)."},
	{"WEBHOOK_WORKERS", "20", "Webhook deliveries sent at once by this process (a queue of their own, so slow partners never hold up charges)."},
	{"WEBHOOK_RETRY_SCALE", "1", "Multiplies the webhook retry schedule (5 s, 5 min, 30 min ... 24 h), for tests and chaos runs only: must be 1 in production."},
	{"JOBS_COMPLETED_RETENTION", "10m", "How long River keeps a completed job before deleting it (River's own default is a day: at an event's rate, millions of dead rows in river_job). What a job did lives on in the donation, its attempts and the metrics."},
	{"JOB_TIMEOUT", "1m", "Longest a job may run (a charge, an e-mail) before it is stopped and retried."},
	{"RESCUE_STUCK_JOBS_AFTER", "5m", "When a job whose worker died (a killed process) is run again; more than JOB_TIMEOUT."},
	{"JOBS_POLL_INTERVAL", "1s", "How often workers look for jobs whose retry time has come (new jobs are announced at once)."},
	{"SESSION_CACHE_TTL", "5s", "How long a process trusts a checked session token without asking the database again (0: always ask). A sign-out through another instance takes effect here within this time."},
	{"LIMIT_LOGIN_PER_IP", "600/1m", "Sign-ins per client address (N/window; 0 turns a limit off)."},
	{"LIMIT_LOGIN_FAILURES_PER_ACCOUNT", "10/15m", "Failed sign-ins per account before it must wait."},
	{"LIMIT_REGISTER_PER_IP", "300/10m", "Sign-ups per client address."},
	{"LIMIT_DONATIONS_PER_DONOR", "120/1m", "Donation submissions (retries included) one donor may make."},
	{"LIMIT_CARDS_PER_DONOR", "10/1h", "Cards one donor may save."},
	{"LIMIT_DECLINED_CARDS_PER_DONOR", "3/1h", "Distinct declined cards after which a donor may give only with a card that worked before (card testing)."},
	{"LIMIT_PROVIDER_CALLS_PER_DONOR", "20/10m", "Requests of one donor that call Stripe at once (createSetupIntent, refreshDonation)."},
	{"CORS_ORIGINS", "", "Comma-separated origins (https://app.example.org) of other sites whose pages may call the API with the donor's session."},
	{"TRUSTED_PROXIES", "", "Comma-separated addresses or CIDRs of the proxies in front of the server, whose X-Forwarded-For names the client."},
	{"MAX_BODY_BYTES", strconv.Itoa(graph.DefaultMaxBodyBytes), "Largest request body accepted; larger ones get 413."},
	{"GRAPHQL_MAX_COMPLEXITY", strconv.Itoa(graph.DefaultMaxComplexity), "Largest GraphQL query complexity accepted (a list field costs its page size times its children)."},
	{"GRAPHQL_MAX_DEPTH", strconv.Itoa(graph.DefaultMaxDepth), "Deepest nesting of fields a query may have."},
	{"GRAPHQL_MAX_ALIASES", strconv.Itoa(graph.DefaultMaxAliases), "Most aliases a query may use."},
	{"GRAPHQL_MAX_QUERY_BYTES", strconv.Itoa(graph.DefaultMaxQueryBytes), "Longest query text accepted."},
	{"GRAPHQL_MAX_TOKENS", strconv.Itoa(graph.DefaultMaxTokens), "Most tokens (names, punctuation and values) a query may have; the parser stops at the next one."},
	{"GRAPHQL_MAX_SUBSCRIPTIONS_PER_SOCKET", strconv.Itoa(graph.DefaultMaxSubscriptionsPerSocket), "Most subscriptions one websocket connection may have open at once."},
	{"GRAPHQL_MAX_SOCKETS_PER_ADDRESS", strconv.Itoa(graph.DefaultMaxSocketsPerAddress), "Most websocket connections one client address (behind TRUSTED_PROXIES, the forwarded one) may have open on one instance; more are refused at connection_init."},
	{"PARTNER_REQUESTS_PER_MINUTE", strconv.Itoa(graph.DefaultPartnerRequestsPerMinute), "Requests one partner's API key may make a minute; past it, RATE_LIMITED with retryAfter."},
	{"PARTNER_COST_PER_MINUTE", strconv.Itoa(graph.DefaultPartnerCostPerMinute), "GraphQL cost (complexity, as GRAPHQL_MAX_COMPLEXITY counts it) one partner's API key may spend a minute; each answer to a partner gives its cost in extensions.cost."},
	{"PERSISTED_QUERIES_FILE", "", "JSON file of sha256 -> query: when set, only these queries are accepted (persisted-query-only mode)."},
	{"SHUTDOWN_TIMEOUT", "20s", "How long a stopping server waits for requests in flight."},
	{"LOG_LEVEL", "info", "debug, info, warn or error."},
	{"LOG_FORMAT", "auto", "text, json, or auto (json in production, text otherwise)."},
}

// DevAdminEmail is the admin of a development deployment whose ADMIN_EMAILS is unset.
const DevAdminEmail = "admin@example.org"

// Config is the parsed, validated configuration of a Giveathon process.
type Config struct {
	Production      bool
	HTTPAddr        string
	AdminAddr       string
	PublicURL       string
	DatabaseURL     string
	JobsDatabaseURL string
	// WebhookKey is WEBHOOK_SECRET_KEY decoded (nil: unset, development only).
	WebhookKey []byte
	// DataDirSet tells whether DATA_DIR was given, or is in use by the embedded database.
	DataDirSet bool
	// ReplicaURL names the read replica (empty: none); ReplicaMaxLag bounds its lag.
	ReplicaURL      string
	ReplicaMaxLag   time.Duration
	Stripe          payments.Config
	StripePublic    string
	WebhookSecret   string
	SMTPURL         string
	MailFrom        string
	Event           giveathon.Event
	Settlement      settlement.Config
	LiveResync      time.Duration
	SessionCacheTTL time.Duration
	Jobs            jobs.Config
	Limits          auth.Limits
	TrustedProxies  []netip.Prefix
	CORSOrigins     []string
	// AdminEmails are the case-folded e-mails of ADMIN_EMAILS.
	AdminEmails    []string
	DataDir        string
	DBMaxConns     int32
	DBIsolation    pgx.TxIsoLevel
	SubmitBatch    bool
	SettleBatch    bool
	DBRetryTimeout time.Duration
	// GraphQL bounds what one request may ask; serve hands it to the server whole.
	GraphQL graph.Limits
	// LiveAPIKeys says partners' API keys are live (gvk_live_): in production with a live
	// Stripe key. In development, or with a test key or the sandbox, they are test keys.
	LiveAPIKeys     bool
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogJSON         bool
	// getenv is kept for settings read by a part itself (the sandbox's faults).
	getenv func(string) string
}

// loadConfig reads the environment once and reports every problem it finds together.
func loadConfig(getenv func(string) string) (*Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, s := range settings {
			if s.Name == name {
				return s.Default
			}
		}
		panic("unknown setting " + name)
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	c := &Config{DatabaseURL: get("DATABASE_URL"), DataDir: get("DATA_DIR"), JobsDatabaseURL: get("JOBS_DATABASE_URL"), ReplicaURL: get("DATABASE_REPLICA_URL"),
		StripePublic: get("STRIPE_PUBLISHABLE_KEY"), WebhookSecret: get("STRIPE_WEBHOOK_SECRET"),
		SMTPURL: get("SMTP_URL"), MailFrom: get("MAIL_FROM"), getenv: getenv}
	c.Stripe.SecretKey, c.Stripe.APIBase = get("STRIPE_SECRET_KEY"), get("STRIPE_API_BASE")

	switch env := get("ENV"); env {
	case "development":
	case "production":
		c.Production = true
	default:
		bad("ENV", "%q is neither development nor production", env)
	}
	c.HTTPAddr = get("HTTP_ADDR")
	if c.AdminAddr = get("ADMIN_ADDR"); c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			bad("ADMIN_ADDR", "%q is not host:port", c.AdminAddr)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	c.PublicURL = getenv("PUBLIC_URL")
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.HTTPAddr
	} else if !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		bad("PUBLIC_URL", "%q must start with http:// or https://", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")

	intSetting := func(name string, min, max int64) int64 {
		v, err := strconv.ParseInt(get(name), 10, 64)
		if err != nil || v < min || v > max {
			bad(name, "%q must be a whole number from %d to %d", get(name), min, max)
		}
		return v
	}
	if c.DBMaxConns = int32(intSetting("DB_MAX_CONNS", 0, 1000)); c.DBMaxConns == 1 {
		bad("DB_MAX_CONNS", "1 is too few: a transaction and a job fetch need a connection each (0: 4 per core)")
	}
	switch v := get("DB_ISOLATION"); v {
	case "serializable":
		c.DBIsolation = pgx.Serializable
	case "read_committed":
		c.DBIsolation = pgx.ReadCommitted
	default:
		bad("DB_ISOLATION", "%q is neither serializable nor read_committed", v)
	}
	onOff := func(name string) bool {
		v := get(name)
		if v != "on" && v != "off" {
			bad(name, "%q is neither on nor off", v)
		}
		return v == "on"
	}
	c.SubmitBatch, c.SettleBatch = onOff("SUBMIT_BATCH"), onOff("SETTLE_BATCH")
	c.GraphQL = graph.Limits{
		MaxBodyBytes:              intSetting("MAX_BODY_BYTES", 1024, 64<<20),
		MaxComplexity:             int(intSetting("GRAPHQL_MAX_COMPLEXITY", 10, 1_000_000)),
		MaxDepth:                  int(intSetting("GRAPHQL_MAX_DEPTH", 2, 100)),
		MaxAliases:                int(intSetting("GRAPHQL_MAX_ALIASES", 0, 10_000)),
		MaxQueryBytes:             int(intSetting("GRAPHQL_MAX_QUERY_BYTES", 256, 1<<20)),
		MaxTokens:                 int(intSetting("GRAPHQL_MAX_TOKENS", 20, 1_000_000)),
		MaxSubscriptionsPerSocket: int(intSetting("GRAPHQL_MAX_SUBSCRIPTIONS_PER_SOCKET", 1, 10_000)),
		MaxSocketsPerAddress:      int(intSetting("GRAPHQL_MAX_SOCKETS_PER_ADDRESS", 1, 100_000)),
		PartnerRequestsPerMinute:  int(intSetting("PARTNER_REQUESTS_PER_MINUTE", 1, 1_000_000)),
		PartnerCostPerMinute:      int(intSetting("PARTNER_COST_PER_MINUTE", 1, 1_000_000_000)),
	}
	if path := get("PERSISTED_QUERIES_FILE"); path != "" {
		var err error
		if c.GraphQL.PersistedQueries, err = graph.LoadPersistedQueries(path); err != nil {
			bad("PERSISTED_QUERIES_FILE", "%v", err)
		}
	}

	limit := func(name string) auth.Limit {
		l, err := auth.ParseLimit(get(name))
		if err != nil {
			bad(name, "%v", err)
		}
		return l
	}
	c.Limits = auth.Limits{
		LoginPerIP: limit("LIMIT_LOGIN_PER_IP"), LoginPerAccount: limit("LIMIT_LOGIN_FAILURES_PER_ACCOUNT"),
		RegisterPerIP: limit("LIMIT_REGISTER_PER_IP"), SubmitPerDonor: limit("LIMIT_DONATIONS_PER_DONOR"),
		AddCardPerDonor: limit("LIMIT_CARDS_PER_DONOR"), FailingCardsPerHour: limit("LIMIT_DECLINED_CARDS_PER_DONOR"),
		ProviderCallsPerDonor: limit("LIMIT_PROVIDER_CALLS_PER_DONOR"),
	}
	// A submit checks card testing with its other facts, in its transaction.
	c.Settlement.CardTesting = c.Limits.FailingCardsPerHour
	for _, o := range strings.Split(get("CORS_ORIGINS"), ",") {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o == "" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			bad("CORS_ORIGINS", "%q is not an origin such as https://app.example.org", o)
			continue
		}
		c.CORSOrigins = append(c.CORSOrigins, o)
	}
	adminEmails := getenv("ADMIN_EMAILS")
	if strings.TrimSpace(adminEmails) == "" && !c.Production {
		adminEmails = DevAdminEmail
	}
	for _, e := range strings.Split(adminEmails, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if email, err := giveathon.NormalizeEmail(e); err != nil {
			bad("ADMIN_EMAILS", "%q is not an e-mail address", e)
		} else {
			c.AdminEmails = append(c.AdminEmails, email)
		}
	}
	for _, p := range strings.Split(get("TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			p += map[bool]string{true: "/128", false: "/32"}[strings.Contains(p, ":")]
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			bad("TRUSTED_PROXIES", "%q is not an address or CIDR", p)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
	}
	limits := &c.Settlement.Limits
	limits.MinAmountCents = intSetting("DONATION_MIN_CENTS", 1, 1<<40)
	limits.MaxAmountCents = intSetting("DONATION_MAX_CENTS", 1, 1<<40)
	if limits.MinAmountCents > limits.MaxAmountCents {
		bad("DONATION_MIN_CENTS", "%d is above DONATION_MAX_CENTS (%d)", limits.MinAmountCents, limits.MaxAmountCents)
	}
	c.Event = giveathon.Event{Name: get("EVENT_NAME"), GoalCents: intSetting("EVENT_GOAL_CENTS", 1, 1<<52)}
	eventTime := func(name string, def time.Time) time.Time {
		v := get(name)
		if v == "" {
			return def
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad(name, "%q is not an RFC 3339 time such as 2026-12-01T09:00:00-05:00", v)
		}
		return t
	}
	c.Event.StartsAt = eventTime("EVENT_STARTS_AT", time.Now().Truncate(time.Second))
	c.Event.EndsAt = eventTime("EVENT_ENDS_AT", c.Event.StartsAt.Add(72*time.Hour))
	if !c.Event.EndsAt.After(c.Event.StartsAt) {
		bad("EVENT_ENDS_AT", "%s is not after EVENT_STARTS_AT (%s)", c.Event.EndsAt.Format(time.RFC3339), c.Event.StartsAt.Format(time.RFC3339))
	}
	if len(c.Event.Name) > 200 {
		bad("EVENT_NAME", "is longer than 200 characters")
	}
	c.Jobs.ChargeMaxAttempts = int(intSetting("CHARGE_MAX_ATTEMPTS", 1, 100))
	c.Jobs.PaymentWorkers = int(intSetting("PAYMENT_WORKERS", 1, 10000))
	// A keep-alive connection to the provider for each charge worker, and a few for donors'
	// calls, the reconciler's and webhooks' refreshes.
	c.Stripe.Conns = c.Jobs.PaymentWorkers + 8
	c.Jobs.WebhookWorkers = int(intSetting("WEBHOOK_WORKERS", 1, 10000))
	if scale, err := strconv.ParseFloat(get("WEBHOOK_RETRY_SCALE"), 64); err != nil || scale <= 0 || scale > 1 {
		bad("WEBHOOK_RETRY_SCALE", "%q is not a number above 0 and at most 1", get("WEBHOOK_RETRY_SCALE"))
	} else {
		c.Jobs.WebhookRetryScale = scale
	}
	if v := get("WEBHOOK_SECRET_KEY"); v != "" {
		key, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			key, err = base64.RawStdEncoding.DecodeString(v)
		}
		if err != nil || len(key) < webhooks.MinKeyBytes {
			bad("WEBHOOK_SECRET_KEY", "must be base64 of at least %d bytes (openssl rand -base64 32)", webhooks.MinKeyBytes)
		}
		c.WebhookKey = key
	}
	c.DataDirSet = strings.TrimSpace(getenv("DATA_DIR")) != "" || c.DatabaseURL == ""
	rateLimit, err := strconv.ParseFloat(get("STRIPE_RATE_LIMIT"), 64)
	if err != nil || rateLimit < 0 {
		bad("STRIPE_RATE_LIMIT", "%q is not a number of calls per second (0: the default for the key)", get("STRIPE_RATE_LIMIT"))
	}
	c.Stripe.RateLimit = rateLimit
	duration := func(name string) time.Duration {
		d, err := time.ParseDuration(get(name))
		if err != nil || d <= 0 {
			bad(name, "%q is not a positive duration such as 20s", get(name))
		}
		return d
	}
	c.ShutdownTimeout = duration("SHUTDOWN_TIMEOUT")
	c.DBRetryTimeout = duration("DB_RETRY_TIMEOUT")
	c.ReplicaMaxLag = duration("REPLICA_MAX_LAG")
	c.Stripe.Timeout = duration("STRIPE_TIMEOUT")
	c.LiveResync = duration("LIVE_RESYNC_INTERVAL")
	if v := get("SESSION_CACHE_TTL"); v == "0" {
		c.SessionCacheTTL = 0
	} else if c.SessionCacheTTL = duration("SESSION_CACHE_TTL"); c.SessionCacheTTL > time.Minute {
		bad("SESSION_CACHE_TTL", "%s is longer than a minute: a signed-out session would work that long on other instances", v)
	}
	c.Jobs.RetryBase = duration("CHARGE_RETRY_BASE")
	c.Jobs.RetryMax = duration("CHARGE_RETRY_MAX")
	c.Jobs.ReconcileInterval = duration("RECONCILE_INTERVAL")
	c.Settlement.StalePending = duration("STALE_PENDING")
	c.Settlement.StaleProcessing = duration("STALE_PROCESSING")
	c.Jobs.FetchPollInterval = duration("JOBS_POLL_INTERVAL")
	c.Jobs.JobTimeout = duration("JOB_TIMEOUT")
	c.Settlement.AttemptTimeout = c.Jobs.JobTimeout
	c.Jobs.CompletedJobRetention = duration("JOBS_COMPLETED_RETENTION")
	c.Jobs.RescueStuckJobsAfter = duration("RESCUE_STUCK_JOBS_AFTER")
	if c.Jobs.RescueStuckJobsAfter <= c.Jobs.JobTimeout {
		bad("RESCUE_STUCK_JOBS_AFTER", "%s must be longer than JOB_TIMEOUT (%s)", c.Jobs.RescueStuckJobsAfter, c.Jobs.JobTimeout)
	}
	if c.Stripe.Timeout >= c.Jobs.JobTimeout {
		bad("STRIPE_TIMEOUT", "%s must be shorter than JOB_TIMEOUT (%s), or a charge is stopped before its call ends", c.Stripe.Timeout, c.Jobs.JobTimeout)
	}
	if c.Production {
		if c.Stripe.SecretKey == "" {
			bad("STRIPE_SECRET_KEY", "is required in production (the sandbox is for development)")
		}
		if c.WebhookSecret == "" {
			bad("STRIPE_WEBHOOK_SECRET", "is required in production")
		}
		if c.WebhookKey == nil {
			bad("WEBHOOK_SECRET_KEY", "is required in production (it derives the webhook signing secrets)")
		}
		if c.Jobs.WebhookRetryScale != 1 {
			bad("WEBHOOK_RETRY_SCALE", "must be 1 in production (the schedule is what partners are promised)")
		}
		if get("EVENT_STARTS_AT") == "" {
			bad("EVENT_STARTS_AT", "is required in production (the event's window must not move when a server restarts)")
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL"))); err != nil {
		bad("LOG_LEVEL", "%q is not debug, info, warn or error", get("LOG_LEVEL"))
	}
	switch f := get("LOG_FORMAT"); f {
	case "auto":
		c.LogJSON = c.Production
	case "json":
		c.LogJSON = true
	case "text":
	default:
		bad("LOG_FORMAT", "%q is not text, json or auto", f)
	}
	c.Settlement.Event = &c.Event
	c.LiveAPIKeys = c.Production && payments.LiveKey(c.Stripe.SecretKey)
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %w", errors.Join(errs...))
	}
	return c, nil
}

// webhookKeyring returns the keyring of WEBHOOK_SECRET_KEY; in development without it, of a
// key generated once and kept in DATA_DIR, or of one made for this process alone.
func (c *Config) webhookKeyring(logger *slog.Logger) (*webhooks.Keyring, error) {
	if c.WebhookKey != nil {
		return webhooks.NewKeyring(c.WebhookKey)
	}
	if c.Production {
		return nil, errors.New("WEBHOOK_SECRET_KEY is required in production")
	}
	if !c.DataDirSet {
		logger.Warn("WEBHOOK_SECRET_KEY is unset: webhook secrets are derived from a key of this process alone, and change when it restarts")
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		return webhooks.NewKeyring(key)
	}
	path := filepath.Join(c.DataDir, "webhook-secret-key")
	if b, err := os.ReadFile(path); err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("read %s: not base64: %w", path, err)
		}
		return webhooks.NewKeyring(key)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read the webhook key: %w", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("keep the webhook key: %w", err)
	}
	// O_EXCL: of two processes starting together, one writes the key and the other reads it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		time.Sleep(100 * time.Millisecond)
		return c.webhookKeyring(logger)
	} else if err != nil {
		return nil, fmt.Errorf("keep the webhook key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("keep the webhook key: %w", err)
	}
	logger.Info("WEBHOOK_SECRET_KEY is unset: generated one for development", "file", path)
	return webhooks.NewKeyring(key)
}

// logger returns the process's structured logger.
func (c *Config) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printSettings writes the configuration table.
func printSettings(w io.Writer) {
	for _, s := range settings {
		def := s.Default
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(w, "  %-24s default %s\n  %-24s %s\n\n", s.Name, def, "", s.Doc)
	}
}

// slogErrorLog routes net/http's own error log (TLS handshakes, bad requests) to slog.
func slogErrorLog(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
}
