// Command loadgen simulates an event's donors against a running Giveathon over GraphQL: it
// registers donors, saves their cards, then submits donations either at a target arrival rate
// (open loop: requests leave on schedule whatever the server does, and latency counts from
// the scheduled time, so a slow server cannot hide its queueing) or as fast as N clients can,
// mixed with history reads. It records latency in an HDR histogram, throughput and errors by
// code, and, after submission stops, how long until every donation is settled. It prints a
// table and writes JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/giveathon/giveathon/internal/gqlclient"
)

type options struct {
	url          string
	donors       int
	clients      int
	rate         float64
	duration     time.Duration
	donations    int
	historyRatio float64
	settle       time.Duration
	jsonOut      string
	card         string
	label        string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := &options{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://localhost:8080", "the server's base URL (loopback only)")
	fs.IntVar(&o.donors, "donors", 100, "donors to register")
	fs.IntVar(&o.clients, "clients", 32, "concurrent clients (closed loop), or the most requests in flight (open loop)")
	fs.Float64Var(&o.rate, "rate", 0, "donations per second to submit (open loop); 0: as fast as -clients can")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to submit")
	fs.IntVar(&o.donations, "donations", 0, "stop after this many donations (0: only -duration)")
	fs.Float64Var(&o.historyRatio, "history", 0.1, "history reads per donation")
	fs.DurationVar(&o.settle, "settle", 0, "after submitting, wait up to this long for every donation to settle (0: do not wait)")
	fs.StringVar(&o.jsonOut, "json", "", "write the results as JSON to this file")
	fs.StringVar(&o.card, "card", "pm_card_visa", "the test card donors save")
	fs.StringVar(&o.label, "label", "", "a name for this run in the output")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !strings.HasPrefix(o.url, "http://127.") && !strings.HasPrefix(o.url, "http://localhost") && !strings.HasPrefix(o.url, "http://[::1]") {
		fmt.Fprintln(stderr, "loadgen: -url must be a loopback address")
		return 2
	}
	res, err := load(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	res.print(stdout)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	}
	return 0
}

// Result is one run's figures.
type Result struct {
	Label           string             `json:"label,omitempty"`
	Mode            string             `json:"mode"`
	TargetRate      float64            `json:"target_rate,omitempty"`
	Clients         int                `json:"clients"`
	Submitted       int                `json:"submitted"`
	Seconds         float64            `json:"seconds"`
	SubmitPerSecond float64            `json:"submit_per_second"`
	LatencyMs       map[string]float64 `json:"submit_latency_ms"`
	HistoryReads    int                `json:"history_reads"`
	// Errors counts failed answers by extensions.code (INTERNAL_SERVER_ERROR, UNAVAILABLE,
	// RATE_LIMITED, ...); "no_answer" counts requests that got no GraphQL answer at all (a
	// network error, a 5xx, an undecodable body) and "NO_CODE" errors without a code.
	Errors map[string]int `json:"errors_by_code"`
	// ErrorSamples holds the first error seen of each code.
	ErrorSamples    map[string]string `json:"error_samples,omitempty"`
	Settled         int               `json:"settled,omitempty"`
	SettleSeconds   float64           `json:"settle_seconds,omitempty"`
	SettlePerSecond float64           `json:"settle_per_second,omitempty"`
	UnsettledAtEnd  int               `json:"unsettled_at_end,omitempty"`
}

func (r *Result) print(w io.Writer) {
	fmt.Fprintf(w, "loadgen %s (%s, %d clients)\n", r.Label, r.Mode, r.Clients)
	fmt.Fprintf(w, "  submitted        %d in %.1f s = %.0f/s\n", r.Submitted, r.Seconds, r.SubmitPerSecond)
	fmt.Fprintf(w, "  submit latency   p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  p99.9 %.1f ms  max %.1f ms\n",
		r.LatencyMs["p50"], r.LatencyMs["p90"], r.LatencyMs["p99"], r.LatencyMs["p99.9"], r.LatencyMs["max"])
	fmt.Fprintf(w, "  history reads    %d\n", r.HistoryReads)
	if len(r.Errors) > 0 {
		codes := make([]string, 0, len(r.Errors))
		for c, n := range r.Errors {
			codes = append(codes, fmt.Sprintf("%s=%d", c, n))
		}
		sort.Strings(codes)
		fmt.Fprintf(w, "  errors           %s\n", strings.Join(codes, " "))
		for _, c := range codes {
			code, _, _ := strings.Cut(c, "=")
			fmt.Fprintf(w, "    first %-12s %.200s\n", code, r.ErrorSamples[code])
		}
	}
	if r.SettleSeconds > 0 {
		fmt.Fprintf(w, "  settled          %d in %.1f s from the first submit = %.0f/s (%d unsettled at the end)\n",
			r.Settled, r.SettleSeconds, r.SettlePerSecond, r.UnsettledAtEnd)
	}
}

type donor struct {
	token string
	card  string
}

const (
	registerOp = `mutation($i: RegisterInput!) { register(input: $i) { token } }`
	addCardOp  = `mutation($i: AddPaymentMethodInput!) { addPaymentMethod(input: $i) { id } }`
	submitOp   = `mutation($i: SubmitDonationInput!) { submitDonation(input: $i) { donation { id } } }`
	historyOp  = `{ me { donations(first: 10) { totalCount edges { node { id status amountCents } } } } }`
	pendingOp  = `{ me { p: donations(first: 1, status: PENDING) { totalCount } q: donations(first: 1, status: PROCESSING) { totalCount } s: donations(first: 1, status: SUCCEEDED) { totalCount } f: donations(first: 1, status: FAILED) { totalCount } } }`
)

func load(ctx context.Context, o *options, log io.Writer) (*Result, error) {
	api := &gqlclient.Client{Base: o.url, HTTP: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.clients * 2, MaxConnsPerHost: o.clients * 2}}}
	var charities struct {
		Charities struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	if err := api.Do(ctx, "", `{ charities(first: 100) { edges { node { id } } } }`, nil, &charities); err != nil {
		return nil, fmt.Errorf("read charities: %w", err)
	}
	if len(charities.Charities.Edges) == 0 {
		return nil, errors.New("the server has no charities")
	}

	run := time.Now().UnixNano()
	donors := make([]*donor, o.donors)
	var wg sync.WaitGroup
	errs := make(chan error, o.donors)
	sem := make(chan struct{}, 8)
	for i := range donors {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var reg struct{ Register struct{ Token string } }
			in := map[string]any{"email": fmt.Sprintf("load-%d-%d@example.org", run, i), "name": fmt.Sprintf("Load Donor %d", i), "password": "correct horse battery"}
			if err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
				return api.Do(ctx, "", registerOp, map[string]any{"i": in}, &reg)
			}); err != nil {
				errs <- err
				return
			}
			var card struct{ AddPaymentMethod struct{ ID string } }
			if err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
				return api.Do(ctx, reg.Register.Token, addCardOp, map[string]any{"i": map[string]any{"providerPaymentMethodId": o.card}}, &card)
			}); err != nil {
				errs <- err
				return
			}
			donors[i] = &donor{token: reg.Register.Token, card: card.AddPaymentMethod.ID}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("register donors: %w", err)
	}
	fmt.Fprintf(log, "loadgen: %d donors ready\n", len(donors))

	hist := hdrhistogram.New(1, 60_000_000, 3) // microseconds
	var mu sync.Mutex
	res := &Result{Label: o.label, Clients: o.clients, Errors: map[string]int{}, ErrorSamples: map[string]string{}}
	var seq int
	record := func(latency time.Duration, err error, history bool) {
		mu.Lock()
		defer mu.Unlock()
		if history {
			res.HistoryReads++
		}
		if err != nil {
			code := errorCode(err)
			res.Errors[code]++
			if _, seen := res.ErrorSamples[code]; !seen {
				res.ErrorSamples[code] = err.Error()
			}
			return
		}
		if !history {
			res.Submitted++
			_ = hist.RecordValue(latency.Microseconds())
		}
	}
	charityIDs := make([]string, len(charities.Charities.Edges))
	for i, e := range charities.Charities.Edges {
		charityIDs[i] = e.Node.ID
	}
	submit := func(ctx context.Context, scheduled time.Time) {
		mu.Lock()
		seq++
		n := seq
		mu.Unlock()
		d := donors[rand.IntN(len(donors))]
		in := map[string]any{"charityId": charityIDs[rand.IntN(len(charityIDs))], "amountCents": 100 + rand.IntN(20000),
			"paymentMethodId": d.card, "idempotencyKey": fmt.Sprintf("load-%d-%d", run, n), "confirmDuplicate": true}
		err := api.Do(ctx, d.token, submitOp, map[string]any{"i": in}, nil)
		record(time.Since(scheduled), err, false)
		if rand.Float64() < o.historyRatio {
			err := api.Do(ctx, d.token, historyOp, nil, nil)
			record(0, err, true)
		}
	}

	start := time.Now()
	stopAt := start.Add(o.duration)
	loadCtx, cancel := context.WithDeadline(ctx, stopAt.Add(30*time.Second))
	defer cancel()
	limitReached := func() bool {
		if o.donations == 0 {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		return seq >= o.donations
	}
	if o.rate > 0 {
		res.Mode, res.TargetRate = "open loop", o.rate
		inflight := make(chan struct{}, o.clients*64)
		interval := time.Duration(float64(time.Second) / o.rate)
		var all sync.WaitGroup
		for next := start; next.Before(stopAt) && !limitReached() && ctx.Err() == nil; next = next.Add(interval) {
			time.Sleep(time.Until(next))
			select {
			case inflight <- struct{}{}:
			default:
				// More in flight than the generator allows: count it as a client-side drop.
				record(0, errors.New("DROPPED: too many requests in flight"), false)
				continue
			}
			all.Add(1)
			go func(scheduled time.Time) {
				defer all.Done()
				defer func() { <-inflight }()
				submit(loadCtx, scheduled)
			}(next)
		}
		all.Wait()
	} else {
		res.Mode = "closed loop"
		var all sync.WaitGroup
		for c := 0; c < o.clients; c++ {
			all.Add(1)
			go func() {
				defer all.Done()
				for time.Now().Before(stopAt) && !limitReached() && ctx.Err() == nil {
					submit(loadCtx, time.Now())
				}
			}()
		}
		all.Wait()
	}
	res.Seconds = time.Since(start).Seconds()
	res.SubmitPerSecond = float64(res.Submitted) / res.Seconds
	ms := func(q float64) float64 { return float64(hist.ValueAtQuantile(q)) / 1000 }
	res.LatencyMs = map[string]float64{"p50": ms(50), "p90": ms(90), "p99": ms(99), "p99.9": ms(99.9), "max": float64(hist.Max()) / 1000}

	if o.settle > 0 {
		settleUntil(ctx, api, donors, o.settle, start, res)
	}
	return res, nil
}

// errorCode names a failed request by the extensions.code of its GraphQL answer.
func errorCode(err error) string {
	var gqlErr *gqlclient.Error
	switch {
	case errors.As(err, &gqlErr) && gqlErr.Code() == "":
		return "NO_CODE"
	case errors.As(err, &gqlErr):
		return gqlErr.Code()
	case errors.Is(err, gqlclient.ErrTransient):
		return "no_answer"
	}
	code, _, _ := strings.Cut(err.Error(), ":") // the generator's own (DROPPED)
	return code
}

// settleUntil polls every donor's history until no donation is PENDING or PROCESSING.
func settleUntil(ctx context.Context, api *gqlclient.Client, donors []*donor, limit time.Duration, start time.Time, res *Result) {
	deadline := time.Now().Add(limit)
	for {
		open, settled := 0, 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, d := range donors {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var out struct {
					Me struct{ P, Q, S, F struct{ TotalCount int } }
				}
				if err := api.Do(ctx, d.token, pendingOp, nil, &out); err != nil {
					mu.Lock()
					open++
					mu.Unlock()
					return
				}
				mu.Lock()
				open += out.Me.P.TotalCount + out.Me.Q.TotalCount
				settled += out.Me.S.TotalCount + out.Me.F.TotalCount
				mu.Unlock()
			}()
		}
		wg.Wait()
		if open == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			res.Settled, res.UnsettledAtEnd = settled, open
			res.SettleSeconds = time.Since(start).Seconds()
			res.SettlePerSecond = float64(settled) / res.SettleSeconds
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
