package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/giveathon/giveathon/internal/pgaf"
)

// haRun is what a -ha run did to the database, and when the clients' submits succeeded.
type haRun struct {
	mu sync.Mutex
	// oks are the times submits were answered with their donation, in order.
	oks    []time.Time
	events []haEvent
	// readiness counts /readyz's answers during the load.
	readiness map[string]int
	// killed is the node killed and not yet rejoined.
	killed                          *pgaf.Node
	switchovers, failovers, rejoins int
}

// haEvent is one fault, from its start until the monitor reported it done (a switchover: the
// pair stable again; a failover: the standby promoted; a rejoin: the pair stable again).
type haEvent struct {
	kind       string
	start, end time.Time
}

func (h *haRun) submitted(t time.Time) {
	h.mu.Lock()
	h.oks = append(h.oks, t)
	h.mu.Unlock()
}

func (h *haRun) record(kind string, start time.Time) {
	h.mu.Lock()
	h.events = append(h.events, haEvent{kind: kind, start: start, end: time.Now()})
	h.mu.Unlock()
}

// outage is the longest time between two successful submits (the load's first and last
// bound it, so it is time while clients were submitting); within, when non-zero, only the
// gaps that overlap [from, to].
func (h *haRun) outage(from, to time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	oks := append([]time.Time(nil), h.oks...)
	sort.Slice(oks, func(i, j int) bool { return oks[i].Before(oks[j]) })
	var longest time.Duration
	for i := 1; i < len(oks); i++ {
		a, b := oks[i-1], oks[i]
		if !from.IsZero() && (b.Before(from) || a.After(to)) {
			continue
		}
		longest = max(longest, b.Sub(a))
	}
	return longest
}

// startFormation starts the pg_auto_failover monitor and its two nodes; the server's
// DATABASE_URL (domain data and River's jobs alike) is their multi-host DSN.
func (r *runner) startFormation(ctx context.Context) error {
	var err error
	r.ha, err = pgaf.Start(ctx, pgaf.Config{Keep: r.o.keep, Settings: map[string]string{"fsync": "off"}})
	if err != nil {
		return fmt.Errorf("start the pg_auto_failover formation: %w", err)
	}
	r.dbURL = r.ha.URL()
	fmt.Fprintf(r.log, "chaos-ha: monitor and 2 nodes in %s; DATABASE_URL=%s\n", r.ha.Dir(), r.dbURL)
	return nil
}

// failovers runs the database's faults at fixed points of the load, until loadCtx ends: the
// switchovers, then the failovers (the primary's keeper and postmaster killed), each failed
// node rejoined a fifth of the donations later (or after the load). A fault under way when the
// load ends is finished, under ctx.
func (r *runner) failovers(loadCtx, ctx context.Context) error {
	type fault struct {
		at   int64
		kind string
	}
	var plan []fault
	total := r.o.switchovers + r.o.failovers
	for i := 0; i < total; i++ {
		kind := "switchover"
		if i >= r.o.switchovers {
			kind = "failover"
		}
		plan = append(plan, fault{int64(float64(r.o.donations) * (0.25 + 0.5*float64(i)/float64(total))), kind})
	}
	var rejoinAt int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-loadCtx.Done():
			if len(plan) > 0 {
				fmt.Fprintf(r.log, "chaos-ha: the load ended before %d of its faults: more -donations, or a lower -rate\n", len(plan))
			}
			return nil
		case <-tick.C:
		}
		done := r.ackCount.Load()
		if r.haRun.killed != nil && (done >= rejoinAt || len(plan) > 0 && done >= plan[0].at) {
			if err := r.rejoin(ctx); err != nil {
				return err
			}
		}
		if len(plan) == 0 || done < plan[0].at {
			continue
		}
		f := plan[0]
		plan = plan[1:]
		start := time.Now()
		switch f.kind {
		case "switchover":
			primary, err := r.ha.Switchover(ctx)
			if err != nil {
				return r.haFailed(ctx, "switchover", err)
			}
			r.haRun.record("switchover", start)
			r.haRun.switchovers++
			r.progress("switchover: %s is the primary (%s)", primary.Name, time.Since(start).Round(time.Millisecond))
		case "failover":
			killed, err := r.ha.KillPrimary(ctx)
			if err != nil {
				return r.haFailed(ctx, "kill the primary", err)
			}
			start = time.Now()
			r.progress("killed %s, the primary (keeper and postmaster, SIGKILL)", killed.Name)
			primary, err := r.ha.WaitWritable(ctx, killed)
			if err != nil {
				return r.haFailed(ctx, "failover", err)
			}
			r.haRun.record("failover", start)
			r.haRun.failovers++
			r.haRun.killed = killed
			rejoinAt = done + int64(r.o.donations/5)
			r.progress("failover: %s promoted (%s)", primary.Name, time.Since(start).Round(time.Millisecond))
		}
	}
}

// rejoin starts the killed node again and waits until it is the new primary's standby.
func (r *runner) rejoin(ctx context.Context) error {
	start := time.Now()
	if err := r.ha.Rejoin(ctx, r.haRun.killed); err != nil {
		return r.haFailed(ctx, "rejoin", err)
	}
	r.haRun.record("rejoin", start)
	r.haRun.rejoins++
	r.progress("%s rejoined as the standby (%s)", r.haRun.killed.Name, time.Since(start).Round(time.Millisecond))
	r.haRun.killed = nil
	return nil
}

// rejoinAfterLoad rejoins a node the load ended before rejoining.
func (r *runner) rejoinAfterLoad(ctx context.Context) error {
	if r.haRun.killed == nil {
		return nil
	}
	return r.rejoin(ctx)
}

func (r *runner) haFailed(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return nil // the load ended first
	}
	return fmt.Errorf("%s: %w\n%s", what, err, r.ha.Logs(15))
}

// watchReadiness asks /readyz four times a second during the load and counts its answers.
func (r *runner) watchReadiness(ctx context.Context) {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		answer := "no answer"
		if resp, err := client.Get(r.api.Base + "/readyz"); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
			resp.Body.Close()
			answer = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		r.haRun.mu.Lock()
		if r.haRun.readiness == nil {
			r.haRun.readiness = map[string]int{}
		}
		r.haRun.readiness[answer]++
		r.haRun.mu.Unlock()
	}
}

// reportHA prints what an operator would have seen: each fault as the monitor reported it
// and the clients felt it, /readyz's answers, and the server's database metrics.
func (r *runner) reportHA(res *result) {
	r.haRun.mu.Lock()
	events := append([]haEvent(nil), r.haRun.events...)
	var answers []string
	for a, n := range r.haRun.readiness {
		answers = append(answers, fmt.Sprintf("%q x%d", a, n))
	}
	r.haRun.mu.Unlock()
	sort.Strings(answers)
	res.outages = map[string]float64{}
	for _, e := range events {
		out := r.haRun.outage(e.start, e.end).Seconds()
		res.outages[e.kind] = max(res.outages[e.kind], out)
		fmt.Fprintf(r.log, "chaos-ha: %s took %.1f s by the monitor; the longest time without a successful submit around it: %.1f s\n",
			e.kind, e.end.Sub(e.start).Seconds(), out)
	}
	fmt.Fprintf(r.log, "chaos-ha: /readyz during the load: %s\n", strings.Join(answers, ", "))
	if resp, err := http.Get(r.api.Base + "/metrics"); err == nil {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "giveathon_db_retries_total") || strings.HasPrefix(line, "giveathon_db_connections_dropped_total") {
				fmt.Fprintf(r.log, "chaos-ha: last server's %s\n", line)
			}
		}
		resp.Body.Close()
	}
}
