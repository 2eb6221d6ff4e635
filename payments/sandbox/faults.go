package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Faults are the random faults the sandbox injects. Rates are fractions between 0 and 1; the
// four API fault rates are exclusive outcomes of one draw per API request, so they should add
// up to at most 1.
type Faults struct {
	// Error500Rate is the fraction of API requests answered 500 api_error without executing.
	// As Stripe does once execution has started, the 500 is saved for the idempotency key and
	// replayed to a retry with the same key. (A request whose key already has a saved answer
	// gets that answer whatever fault is drawn; a timeout still loses it.)
	Error500Rate float64
	// Error429Rate is the fraction answered 429 rate_limit: not executed, nothing saved.
	Error429Rate float64
	// TimeoutBeforeRate is the fraction whose connection is closed with no answer before
	// executing: nothing happens, nothing is saved.
	TimeoutBeforeRate float64
	// TimeoutAfterRate is the fraction executed fully (a charge happens, the answer is saved
	// for the idempotency key) whose answer is then lost.
	TimeoutAfterRate float64
	// TimeoutHang is how long a timed-out request is held before its connection is closed
	// (0: at once). A client whose own timeout is shorter sees its timeout instead.
	TimeoutHang time.Duration
	// WebhookDuplicateRate is the fraction of events delivered twice.
	WebhookDuplicateRate float64
	// WebhookDelayRate is the fraction of events delivered late, by WebhookDelay.
	WebhookDelayRate float64
	// WebhookDelay is how late a delayed event is delivered (0: 2s).
	WebhookDelay time.Duration
	// LatencyMedian is the median latency added to each API request, drawn from a log-normal
	// distribution (0: none).
	LatencyMedian time.Duration
	// LatencyP99 is the added latency's 99th percentile (0: 3 times the median).
	LatencyP99 time.Duration
	// Seed seeds the random source that decides faults and latencies, so a run can be
	// replayed (0: a random seed).
	Seed int64
}

// The fault names a ScriptedFault may carry.
const (
	FaultError500      = "500"            // answer 500 api_error (saved for the key)
	FaultError429      = "429"            // answer 429 rate_limit (not executed)
	FaultTimeoutBefore = "timeout_before" // drop the connection before executing
	FaultTimeoutAfter  = "timeout_after"  // execute, save, then drop the connection
	FaultSlow          = "slow"           // execute and answer as usual, but only after Latency
)

// ScriptedFault makes the next Count API requests that match Method and PathPrefix fail with
// Fault, before any random fault is considered.
type ScriptedFault struct {
	// Method is the HTTP method to match; empty: any.
	Method string `json:"method,omitempty"`
	// PathPrefix is matched against the request path, such as "/v1/payment_intents"; empty:
	// any.
	PathPrefix string `json:"path_prefix,omitempty"`
	// Fault is one of FaultError500, FaultError429, FaultTimeoutBefore, FaultTimeoutAfter,
	// FaultSlow.
	Fault string `json:"fault"`
	// Count is how many matching requests get the fault (0: 1).
	Count int `json:"count,omitempty"`
	// Latency is how long a FaultSlow request takes, in place of the random latency: its
	// idempotency key is in flight all that time, and its execution is not cut short by the
	// client leaving, as at Stripe. In JSON, a duration such as "2s".
	Latency time.Duration `json:"-"`
}

// scriptedFaultJSON is ScriptedFault in JSON, its latency a duration such as "2s".
type scriptedFaultJSON struct {
	Method     string `json:"method,omitempty"`
	PathPrefix string `json:"path_prefix,omitempty"`
	Fault      string `json:"fault"`
	Count      int    `json:"count,omitempty"`
	Latency    string `json:"latency,omitempty"`
}

// MarshalJSON writes the latency as a duration such as "2s".
func (r ScriptedFault) MarshalJSON() ([]byte, error) {
	j := scriptedFaultJSON{Method: r.Method, PathPrefix: r.PathPrefix, Fault: r.Fault, Count: r.Count}
	if r.Latency != 0 {
		j.Latency = r.Latency.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *ScriptedFault) UnmarshalJSON(b []byte) error {
	var j scriptedFaultJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	out := ScriptedFault{Method: j.Method, PathPrefix: j.PathPrefix, Fault: j.Fault, Count: j.Count}
	if j.Latency != "" {
		v, err := time.ParseDuration(j.Latency)
		if err != nil {
			return fmt.Errorf("latency: %q is not a duration such as 300ms or 2s", j.Latency)
		}
		out.Latency = v
	}
	*r = out
	return nil
}

// Validate reports whether the rule names a known fault and a sensible count.
func (r ScriptedFault) Validate() error {
	switch r.Fault {
	case FaultError500, FaultError429, FaultTimeoutBefore, FaultTimeoutAfter:
		if r.Latency != 0 {
			return fmt.Errorf("scripted fault %q: a latency is for %q only", r.Fault, FaultSlow)
		}
	case FaultSlow:
		if r.Latency <= 0 {
			return fmt.Errorf("scripted fault %q: latency must be positive, not %v", r.Fault, r.Latency)
		}
	default:
		return fmt.Errorf("scripted fault %q: fault must be one of %q, %q, %q, %q, %q", r.Fault,
			FaultError500, FaultError429, FaultTimeoutBefore, FaultTimeoutAfter, FaultSlow)
	}
	if r.Count < 0 {
		return fmt.Errorf("scripted fault %q: count %d is negative", r.Fault, r.Count)
	}
	return nil
}

// Validate reports the first rate outside [0, 1] or negative duration, by its JSON name.
func (f Faults) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"error_500_rate", f.Error500Rate},
		{"error_429_rate", f.Error429Rate},
		{"timeout_before_rate", f.TimeoutBeforeRate},
		{"timeout_after_rate", f.TimeoutAfterRate},
		{"webhook_duplicate_rate", f.WebhookDuplicateRate},
		{"webhook_delay_rate", f.WebhookDelayRate},
	} {
		if math.IsNaN(r.v) || r.v < 0 || r.v > 1 {
			errs = append(errs, fmt.Errorf("%s: %v is not between 0 and 1", r.name, r.v))
		}
	}
	if sum := f.Error500Rate + f.Error429Rate + f.TimeoutBeforeRate + f.TimeoutAfterRate; sum > 1+1e-9 {
		errs = append(errs, fmt.Errorf("the API fault rates add up to %v, more than 1", sum))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"timeout_hang", f.TimeoutHang},
		{"webhook_delay", f.WebhookDelay},
		{"latency_median", f.LatencyMedian},
		{"latency_p99", f.LatencyP99},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %v is negative", d.name, d.v))
		}
	}
	if f.LatencyP99 > 0 && f.LatencyP99 < f.LatencyMedian {
		errs = append(errs, fmt.Errorf("latency_p99: %v is below latency_median %v", f.LatencyP99, f.LatencyMedian))
	}
	return errors.Join(errs...)
}

// FaultsFromEnv reads faults from SANDBOX_ERROR_500_RATE, SANDBOX_ERROR_429_RATE,
// SANDBOX_TIMEOUT_BEFORE_RATE, SANDBOX_TIMEOUT_AFTER_RATE, SANDBOX_TIMEOUT_HANG,
// SANDBOX_WEBHOOK_DUPLICATE_RATE, SANDBOX_WEBHOOK_DELAY_RATE, SANDBOX_WEBHOOK_DELAY,
// SANDBOX_LATENCY_MEDIAN, SANDBOX_LATENCY_P99 and SANDBOX_SEED. Rates are decimals between 0
// and 1, durations are Go durations ("300ms", "2s"); an unset variable leaves its zero value.
// Every malformed variable is named in the error.
func FaultsFromEnv(getenv func(string) string) (Faults, error) {
	var f Faults
	var errs []error
	rate := func(name string, dst *float64) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || x < 0 || x > 1 {
			errs = append(errs, fmt.Errorf("%s: %q is not a number between 0 and 1", name, v))
			return
		}
		*dst = x
	}
	dur := func(name string, dst *time.Duration) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a non-negative duration such as 300ms or 2s", name, v))
			return
		}
		*dst = d
	}
	rate("SANDBOX_ERROR_500_RATE", &f.Error500Rate)
	rate("SANDBOX_ERROR_429_RATE", &f.Error429Rate)
	rate("SANDBOX_TIMEOUT_BEFORE_RATE", &f.TimeoutBeforeRate)
	rate("SANDBOX_TIMEOUT_AFTER_RATE", &f.TimeoutAfterRate)
	dur("SANDBOX_TIMEOUT_HANG", &f.TimeoutHang)
	rate("SANDBOX_WEBHOOK_DUPLICATE_RATE", &f.WebhookDuplicateRate)
	rate("SANDBOX_WEBHOOK_DELAY_RATE", &f.WebhookDelayRate)
	dur("SANDBOX_WEBHOOK_DELAY", &f.WebhookDelay)
	dur("SANDBOX_LATENCY_MEDIAN", &f.LatencyMedian)
	dur("SANDBOX_LATENCY_P99", &f.LatencyP99)
	if v := strings.TrimSpace(getenv("SANDBOX_SEED")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("SANDBOX_SEED: %q is not an integer", v))
		}
		f.Seed = n
	}
	if len(errs) == 0 {
		// The variables are each valid; what is left is how they combine.
		if err := f.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("SANDBOX_* faults: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Faults{}, err
	}
	return f, nil
}

// faultsJSON is Faults as the /_sandbox/faults endpoint shows it: snake_case keys and
// durations as strings.
type faultsJSON struct {
	Error500Rate         float64 `json:"error_500_rate"`
	Error429Rate         float64 `json:"error_429_rate"`
	TimeoutBeforeRate    float64 `json:"timeout_before_rate"`
	TimeoutAfterRate     float64 `json:"timeout_after_rate"`
	TimeoutHang          string  `json:"timeout_hang"`
	WebhookDuplicateRate float64 `json:"webhook_duplicate_rate"`
	WebhookDelayRate     float64 `json:"webhook_delay_rate"`
	WebhookDelay         string  `json:"webhook_delay"`
	LatencyMedian        string  `json:"latency_median"`
	LatencyP99           string  `json:"latency_p99"`
	Seed                 int64   `json:"seed"`
}

// MarshalJSON writes snake_case keys and durations as strings such as "300ms".
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Error500Rate:         f.Error500Rate,
		Error429Rate:         f.Error429Rate,
		TimeoutBeforeRate:    f.TimeoutBeforeRate,
		TimeoutAfterRate:     f.TimeoutAfterRate,
		TimeoutHang:          f.TimeoutHang.String(),
		WebhookDuplicateRate: f.WebhookDuplicateRate,
		WebhookDelayRate:     f.WebhookDelayRate,
		WebhookDelay:         f.WebhookDelay.String(),
		LatencyMedian:        f.LatencyMedian.String(),
		LatencyP99:           f.LatencyP99.String(),
		Seed:                 f.Seed,
	})
}

// UnmarshalJSON reads what MarshalJSON writes. Keys that are absent keep the receiver's
// values, so a partial document changes only what it names.
func (f *Faults) UnmarshalJSON(b []byte) error {
	cur := *f
	j := faultsJSON{
		Error500Rate:         cur.Error500Rate,
		Error429Rate:         cur.Error429Rate,
		TimeoutBeforeRate:    cur.TimeoutBeforeRate,
		TimeoutAfterRate:     cur.TimeoutAfterRate,
		TimeoutHang:          cur.TimeoutHang.String(),
		WebhookDuplicateRate: cur.WebhookDuplicateRate,
		WebhookDelayRate:     cur.WebhookDelayRate,
		WebhookDelay:         cur.WebhookDelay.String(),
		LatencyMedian:        cur.LatencyMedian.String(),
		LatencyP99:           cur.LatencyP99.String(),
		Seed:                 cur.Seed,
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	// A misspelt key would otherwise be a fault silently not injected.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	out := Faults{
		Error500Rate:         j.Error500Rate,
		Error429Rate:         j.Error429Rate,
		TimeoutBeforeRate:    j.TimeoutBeforeRate,
		TimeoutAfterRate:     j.TimeoutAfterRate,
		WebhookDuplicateRate: j.WebhookDuplicateRate,
		WebhookDelayRate:     j.WebhookDelayRate,
		Seed:                 j.Seed,
	}
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{
		{"timeout_hang", j.TimeoutHang, &out.TimeoutHang},
		{"webhook_delay", j.WebhookDelay, &out.WebhookDelay},
		{"latency_median", j.LatencyMedian, &out.LatencyMedian},
		{"latency_p99", j.LatencyP99, &out.LatencyP99},
	} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration such as 300ms or 2s", d.name, d.s)
		}
		*d.dst = v
	}
	*f = out
	return nil
}

// SetFaults replaces the random faults. Invalid rates are clamped into [0, 1] (use
// Faults.Validate first to refuse them instead). A new non-zero Seed restarts the random
// source.
func (s *Server) SetFaults(f Faults) {
	clamp := func(x *float64) {
		if math.IsNaN(*x) || *x < 0 {
			*x = 0
		}
		if *x > 1 {
			*x = 1
		}
	}
	for _, x := range []*float64{&f.Error500Rate, &f.Error429Rate, &f.TimeoutBeforeRate,
		&f.TimeoutAfterRate, &f.WebhookDuplicateRate, &f.WebhookDelayRate} {
		clamp(x)
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.rng == nil || (f.Seed != 0 && f.Seed != s.faults.Seed) {
		seed := uint64(f.Seed)
		if seed == 0 {
			seed = rand.Uint64()
		}
		s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	s.faults = f
}

// Faults returns the random faults in force.
func (s *Server) Faults() Faults {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults
}

// Script queues rules: the next API requests matching a rule get its fault, rules being used
// in the order given, before any random fault. It panics on a rule that fails Validate, as
// such a rule is a mistake in the calling test.
func (s *Server) Script(rules ...ScriptedFault) {
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			panic("sandbox: " + err.Error())
		}
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	for _, r := range rules {
		if r.Count == 0 {
			r.Count = 1
		}
		s.script = append(s.script, r)
	}
}

// ClearScript drops every scripted fault not yet used.
func (s *Server) ClearScript() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.script = nil
}

// scripted returns the scripted faults not yet used.
func (s *Server) scripted() []ScriptedFault {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return append([]ScriptedFault(nil), s.script...)
}

// decide picks the fault for one API request (scripted first, then random) and its added
// latency.
func (s *Server) decide(method, path string) (fault string, latency time.Duration, hang time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	f := s.faults
	scripted, slow := false, time.Duration(0)
	for i := range s.script {
		r := &s.script[i]
		if (r.Method == "" || strings.EqualFold(r.Method, method)) && strings.HasPrefix(path, r.PathPrefix) {
			scripted, fault = true, r.Fault
			if fault == FaultSlow {
				fault, slow = "", r.Latency
			}
			r.Count--
			if r.Count <= 0 {
				s.script = append(s.script[:i], s.script[i+1:]...)
			}
			break
		}
	}
	if slow > 0 {
		return "", slow, f.TimeoutHang
	}
	if !scripted {
		u := s.rng.Float64()
		for _, c := range []struct {
			rate  float64
			fault string
		}{
			{f.Error500Rate, FaultError500},
			{f.Error429Rate, FaultError429},
			{f.TimeoutBeforeRate, FaultTimeoutBefore},
			{f.TimeoutAfterRate, FaultTimeoutAfter},
		} {
			if u < c.rate {
				fault = c.fault
				break
			}
			u -= c.rate
		}
	}
	if f.LatencyMedian > 0 {
		p99 := f.LatencyP99
		if p99 <= 0 {
			p99 = 3 * f.LatencyMedian
		}
		// Log-normal: median m and 99th percentile p give sigma = ln(p/m) / z(0.99).
		sigma := math.Log(float64(p99)/float64(f.LatencyMedian)) / 2.3263478740408408
		latency = time.Duration(float64(f.LatencyMedian) * math.Exp(sigma*s.rng.NormFloat64()))
	}
	return fault, latency, f.TimeoutHang
}

// webhookFaults decides whether one event is delivered twice and how late.
func (s *Server) webhookFaults() (duplicate bool, delay time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	f := s.faults
	duplicate = f.WebhookDuplicateRate > 0 && s.rng.Float64() < f.WebhookDuplicateRate
	if f.WebhookDelayRate > 0 && s.rng.Float64() < f.WebhookDelayRate {
		delay = f.WebhookDelay
		if delay <= 0 {
			delay = 2 * time.Second
		}
	}
	return duplicate, delay
}

// dropConnection ends a request without a usable answer, after holding it for hang.
//
// A bare close is not enough: Go's http.Transport silently resends a request that carries an
// Idempotency-Key (as every stripe-go POST does) when a reused connection closes before the
// first byte of the answer, which would hide the fault from the client. So the sandbox sends
// the start of a status line and then closes: every client sees a broken answer ("unexpected
// EOF") and nothing it can read.
func (s *Server) dropConnection(w http.ResponseWriter, r *http.Request, hang time.Duration) {
	s.sleep(hang, r.Context().Done())
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 or a writer that cannot be hijacked: let net/http reset the stream.
		panic(http.ErrAbortHandler)
	}
	_, _ = buf.WriteString("HTTP/1.1 502 Bad Gateway\r\n")
	_ = buf.Flush()
	_ = conn.Close()
}
