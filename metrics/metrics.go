// Package metrics is Giveathon's Prometheus instrumentation: the metrics every part records,
// on a registry of its own, and the collectors read at scrape time (connection pools, River's
// queues). GET /metrics serves them.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds Giveathon's metrics (and the Go runtime's and the process's).
var Registry = prometheus.NewRegistry()

var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

var (
	// HTTPRequests counts HTTP requests by route and status code.
	HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "giveathon_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	// HTTPDuration is HTTP request latency by route.
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "giveathon_http_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: latencyBuckets,
	}, []string{"route"})
	// GraphQLOperations counts GraphQL operations by operation (type and first root field) and
	// error code ("" for none).
	GraphQLOperations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "giveathon_graphql_operations_total", Help: "GraphQL operations by operation and error code (empty: no error).",
	}, []string{"operation", "code"})
	// GraphQLDuration is GraphQL operation latency by operation.
	GraphQLDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "giveathon_graphql_operation_duration_seconds", Help: "GraphQL operation latency by operation.", Buckets: latencyBuckets,
	}, []string{"operation"})
	// Donations counts donations submitted and the status moves they make.
	Donations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "giveathon_donations_total", Help: "Donations by the status they entered (PENDING when submitted).",
	}, []string{"status"})
	// JobRuns counts finished River job runs by kind and outcome.
	JobRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "giveathon_jobs_total", Help: "River job runs by kind and outcome (completed, failed, cancelled, snoozed).",
	}, []string{"kind", "outcome"})
	// JobRunDuration is how long job runs take, by kind.
	JobRunDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "giveathon_job_run_seconds", Help: "River job run time by kind.", Buckets: latencyBuckets,
	}, []string{"kind"})
	// JobQueueWait is how long jobs wait to start, by kind.
	JobQueueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "giveathon_job_queue_wait_seconds", Help: "Time River jobs waited in the queue before running, by kind.", Buckets: latencyBuckets,
	}, []string{"kind"})
	// OutboxEmails counts e-mails the outbox drainer handled, by kind and outcome (sent,
	// logged, retry, failed).
	OutboxEmails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "giveathon_outbox_emails_total", Help: "E-mails the outbox drainer handled, by kind and outcome (sent, logged, retry, failed).",
	}, []string{"kind", "outcome"})
	// OutboxWait is how long an e-mail waited in the outbox, from its move to its delivery.
	OutboxWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "giveathon_outbox_wait_seconds", Help: "Time from a donation's move to its e-mail's delivery.", Buckets: latencyBuckets,
	})
	// SecondCharges counts PaymentIntents the provider reported succeeded for a donation that
	// records another one: a donor charged twice, to be refunded by hand.
	SecondCharges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "giveathon_second_charges_total", Help: "Succeeded PaymentIntents for a donation that records another one (a donor charged twice: refund it).",
	})
	// StripeCalls counts provider calls by operation and outcome.
	StripeCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "giveathon_stripe_calls_total", Help: "Stripe calls by operation and outcome (ok, declined, authentication_required, retryable, permanent).",
	}, []string{"op", "outcome"})
	// StripeDuration is provider call latency by operation.
	StripeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "giveathon_stripe_call_duration_seconds", Help: "Stripe call latency by operation.", Buckets: latencyBuckets,
	}, []string{"op"})
	// DBReads counts the reads that tolerate lag (charities, the event's totals, history
	// pages, a donation by id) by where they ran (primary, replica) and why (in_sync, down,
	// lag, own_write, fresh), when a read replica is configured.
	DBReads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "giveathon_db_reads_total", Help: "Reads that tolerate lag, by target (primary, replica) and reason (in_sync, down, lag, own_write, fresh).",
	}, []string{"target", "reason"})
	// ReplicaLag is the read replica's last measured lag behind the primary.
	ReplicaLag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "giveathon_db_replica_lag_seconds", Help: "How far the read replica was behind the primary at its last check.",
	})
	// ReplicaUp is 1 while the read replica answers its checks as a standby, else 0.
	ReplicaUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "giveathon_db_replica_up", Help: "1 while the read replica answers its checks as a standby.",
	})
	// StripeRateLimitWait is how long calls waited for the client-side rate limit.
	StripeRateLimitWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "giveathon_stripe_rate_limit_wait_seconds", Help: "Time Stripe calls waited for the client-side token bucket.", Buckets: latencyBuckets,
	})
	// DBRetries counts database work run again, by reason: conflict (40001, 40P01) or
	// connection (lost, refused, a server shutting down or read-only during a failover).
	DBRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "giveathon_db_retries_total", Help: "Database work run again, by reason (conflict, connection).",
	}, []string{"reason"})
	// DBConnectionsDropped counts pooled connections destroyed because their server stopped
	// taking writes (read_only) or did not answer the role check (lost).
	DBConnectionsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "giveathon_db_connections_dropped_total", Help: "Pooled connections destroyed because their server became read-only or stopped answering, by reason (read_only, lost).",
	}, []string{"reason"})
)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		HTTPRequests, HTTPDuration, GraphQLOperations, GraphQLDuration, Donations, JobRuns, JobRunDuration, JobQueueWait, OutboxEmails, OutboxWait,
		SecondCharges, StripeCalls, StripeDuration, StripeRateLimitWait, DBReads, ReplicaLag, ReplicaUp, DBRetries, DBConnectionsDropped, &poolCollector{}, &queueCollector{})
}

// Handler serves the registry in Prometheus' text format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{})
}

// Since returns the seconds elapsed since t.
func Since(t time.Time) float64 { return time.Since(t).Seconds() }

// HTTPMiddleware records each request's latency and status under its route pattern (never
// the raw path, whose ids would make a metric per donation).
func HTTPMiddleware(route func(r *http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &StatusWriter{ResponseWriter: w, Code: http.StatusOK}
			next.ServeHTTP(sw, r)
			name := route(r)
			if name == "" {
				name = "unmatched"
			}
			HTTPRequests.WithLabelValues(name, strconv.Itoa(sw.Code)).Inc()
			HTTPDuration.WithLabelValues(name).Observe(Since(start))
		})
	}
}

// StatusWriter remembers the status a handler answered with (Code: 200 unless it wrote
// another).
type StatusWriter struct {
	http.ResponseWriter
	Code int
}

func (w *StatusWriter) WriteHeader(code int) {
	w.Code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (WebSocket upgrades,
// flushes).
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pools are the connection pools whose statistics are exported, by name.
var pools sync.Map // string -> *pgxpool.Pool

// RegisterPool exports a pgx pool's statistics under the given name ("domain", "jobs"); a
// later pool of the same name replaces the earlier one.
func RegisterPool(name string, pool *pgxpool.Pool) { pools.Store(name, pool) }

type poolCollector struct{}

var (
	poolConns    = prometheus.NewDesc("giveathon_db_pool_connections", "Connections of a database pool by state.", []string{"pool", "state"}, nil)
	poolAcquires = prometheus.NewDesc("giveathon_db_pool_acquires_total", "Connections acquired from a pool.", []string{"pool"}, nil)
	poolWaits    = prometheus.NewDesc("giveathon_db_pool_empty_acquires_total", "Acquires that had to wait for a connection.", []string{"pool"}, nil)
	poolWaitTime = prometheus.NewDesc("giveathon_db_pool_acquire_wait_seconds_total", "Time spent waiting to acquire connections.", []string{"pool"}, nil)
	poolMax      = prometheus.NewDesc("giveathon_db_pool_max_connections", "A pool's size.", []string{"pool"}, nil)
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolAcquires
	ch <- poolWaits
	ch <- poolWaitTime
	ch <- poolMax
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	pools.Range(func(k, v any) bool {
		name, s := k.(string), v.(*pgxpool.Pool).Stat()
		ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.AcquiredConns()), name, "acquired")
		ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.IdleConns()), name, "idle")
		ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(s.ConstructingConns()), name, "constructing")
		ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.AcquireCount()), name)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.EmptyAcquireCount()), name)
		ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, s.AcquireDuration().Seconds(), name)
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()), name)
		return true
	})
}

// jobsPool is the jobs database, for the queue depth.
var jobsPool atomic.Pointer[pgxpool.Pool]

// RegisterQueueDepth exports River's queue depth (jobs per queue and state that are not
// finished), read from the jobs database at scrape time.
func RegisterQueueDepth(pool *pgxpool.Pool) { jobsPool.Store(pool) }

type queueCollector struct{}

var queueDepth = prometheus.NewDesc("giveathon_job_queue_depth", "River jobs not yet finished, by queue and state.", []string{"queue", "state"}, nil)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDepth }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	pool := jobsPool.Load()
	if pool == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Every queue River knows and every unfinished state, zeros included: an empty queue is a
	// 0 on a dashboard, not a gap. The counts use River's index on state.
	states := []string{"available", "pending", "retryable", "running", "scheduled"}
	depth := map[[2]string]int64{}
	rows, err := pool.Query(ctx, `SELECT name FROM river_queue`)
	if err != nil {
		return
	}
	queues, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, q := range queues {
		for _, st := range states {
			depth[[2]string{q, st}] = 0
		}
	}
	rows, err = pool.Query(ctx, `SELECT queue, state::text, count(*) FROM river_job
		WHERE state = ANY($1::river_job_state[]) GROUP BY queue, state`, states)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var queue, state string
		var n int64
		if rows.Scan(&queue, &state, &n) == nil {
			depth[[2]string{queue, state}] = n
		}
	}
	for k, n := range depth {
		ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
