package webhooks

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
)

// MaxTries is how often a delivery is tried before it is given up: the first try and the nine
// retries of Schedule.
const MaxTries = 10

// Schedule is the wait before each retry (Standard Webhooks' suggestion): after the first try
// 5 s, then 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h.
var Schedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}

// MaxRetryAfter caps how long an endpoint's Retry-After may hold a delivery.
const MaxRetryAfter = 24 * time.Hour

// RetryDelay returns the wait after the failed try number try (1 for the first) of a delivery:
// Schedule's step times scale, give or take 10 %. The jitter is derived from the delivery and
// the try, so every caller that asks gets the same wait.
func RetryDelay(try int, scale float64, deliveryID string) time.Duration {
	step := Schedule[min(max(try, 1), len(Schedule))-1]
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", deliveryID, try)
	jitter := float64(h.Sum64()%2001)/10000 - 0.1 // -0.1 .. +0.1
	return time.Duration(float64(step) * scale * (1 + jitter))
}

// Notifier tells a partner that one of its endpoints was disabled.
type Notifier interface {
	EndpointDisabled(ctx context.Context, ep *giveathon.WebhookEndpoint, reason string) error
}

// Sender makes the tries of deliveries.
type Sender struct {
	DB     *db.DB
	Keys   *Keyring
	Client *http.Client
	// Notify, when set, e-mails the partner of an endpoint that was disabled.
	Notify Notifier
	Logger *slog.Logger
}

// Verdict is what a try means for its job.
type Verdict int

// Verdicts.
const (
	// Done: nothing more to do (delivered, given up, or nothing to send).
	Done Verdict = iota
	// Retry on the schedule.
	Retry
	// Snooze for Outcome.Wait: the endpoint asked for it (Retry-After), not a failure.
	Snooze
)

// Outcome is the result of a try.
type Outcome struct {
	Verdict Verdict
	Wait    time.Duration
	Err     error
}

// Deliver makes one try of a delivery: it signs and sends the event to the endpoint and
// records the try. A 2xx delivers it; a 410 disables the endpoint; a 429 or 503 with
// Retry-After snoozes it; any other failure retries it, or on the last try gives it up and
// disables the endpoint. A delivery already done, or whose endpoint is not enabled, is Done
// without a try. The try's place in the schedule is the delivery's own count of tries, not
// its job's attempts (which a crash or a database failure also spends): the MaxTries-th is the
// last, and after a failed n-th the next waits RetryDelay(n, scale).
func (s *Sender) Deliver(ctx context.Context, deliveryID string, scale float64) Outcome {
	send, err := s.DB.FindWebhookSend(ctx, deliveryID)
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		s.Logger.WarnContext(ctx, "webhook delivery not found", "delivery", deliveryID)
		return Outcome{Verdict: Done}
	} else if err != nil {
		return Outcome{Verdict: Retry, Err: err}
	}
	if send.Delivery.Status != giveathon.DeliveryPending || send.Endpoint.Status != giveathon.EndpointEnabled {
		return Outcome{Verdict: Done}
	}
	n := send.Delivery.AttemptCount + 1
	// last: no try follows this one, so a failure gives the delivery up; nextAt: when the next
	// try goes if this one fails.
	last, nextAt := n >= MaxTries, time.Now().Add(RetryDelay(n, scale, deliveryID))
	body, err := Body(send.Event)
	if err != nil {
		s.Logger.ErrorContext(ctx, "webhook not sent", "delivery", deliveryID, "err", err)
		msg := err.Error()
		return s.record(ctx, send, giveathon.WebhookAttempt{At: time.Now(), Error: &msg}, giveathon.DeliveryFailed, nil, Outcome{Verdict: Done})
	}
	start := time.Now()
	req, err := NewRequest(send.Endpoint.URL, send.Event.WebhookID(), start, body, s.Keys.SigningKeys(send.Endpoint, start))
	if err != nil {
		return Outcome{Verdict: Retry, Err: err}
	}
	resp, err := s.Client.Do(req.WithContext(ctx))
	attempt := giveathon.WebhookAttempt{At: start}
	var failure string
	if err != nil {
		failure = sendError(err)
	} else {
		// Read a little of the answer so the connection can be used again.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		code := resp.StatusCode
		attempt.StatusCode = &code
		if code < 200 || code > 299 {
			failure = "the endpoint answered " + resp.Status
			if code >= 300 && code < 400 {
				failure += " (redirects are not followed)"
			}
		}
	}
	attempt.DurationMs = int(time.Since(start).Milliseconds())
	if failure == "" {
		return s.record(ctx, send, attempt, giveathon.DeliveryDelivered, nil, Outcome{Verdict: Done})
	}
	attempt.Error = &failure
	fail := fmt.Errorf("webhook delivery %s: %s", deliveryID, failure)
	switch {
	case resp != nil && resp.StatusCode == http.StatusGone:
		out := s.record(ctx, send, attempt, giveathon.DeliveryFailed, nil, Outcome{Verdict: Done})
		s.disable(ctx, send.Endpoint, "the endpoint answered 410 Gone")
		return out
	case resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && !last:
		if wait, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			next := time.Now().Add(wait)
			return s.record(ctx, send, attempt, giveathon.DeliveryPending, &next, Outcome{Verdict: Snooze, Wait: wait})
		}
	}
	if last {
		out := s.record(ctx, send, attempt, giveathon.DeliveryFailed, nil, Outcome{Verdict: Done})
		since, givenUp, err := s.DB.WebhookFailures(ctx, send.Endpoint.ID)
		if err != nil {
			s.Logger.WarnContext(ctx, "count an endpoint's failures", "endpoint", send.Endpoint.ID, "err", err)
		}
		s.disable(ctx, send.Endpoint, fmt.Sprintf("failing since %s, %d deliveries given up", since.UTC().Format(time.RFC3339), givenUp))
		return out
	}
	return s.record(ctx, send, attempt, giveathon.DeliveryPending, &nextAt, Outcome{Verdict: Retry, Err: fail})
}

// record writes the try; when that fails the job is retried (the try is made again, with the
// same webhook-id, which receivers drop as a repeat).
func (s *Sender) record(ctx context.Context, send *db.WebhookSend, a giveathon.WebhookAttempt, status string, next *time.Time, out Outcome) Outcome {
	if err := s.DB.RecordWebhookAttempt(context.WithoutCancel(ctx), send.Delivery.ID, a, status, next); err != nil {
		return Outcome{Verdict: Retry, Err: err}
	}
	return out
}

// disable turns the endpoint off and, when this call did it, tells its partner once.
func (s *Sender) disable(ctx context.Context, ep *giveathon.WebhookEndpoint, reason string) {
	ctx = context.WithoutCancel(ctx)
	did, err := s.DB.DisableWebhookEndpoint(ctx, ep.ID, reason)
	if err != nil {
		s.Logger.ErrorContext(ctx, "disable webhook endpoint", "endpoint", ep.ID, "err", err)
		return
	}
	if !did {
		return
	}
	s.Logger.WarnContext(ctx, "webhook endpoint disabled", "endpoint", ep.ID, "partner", ep.PartnerID, "reason", reason)
	if s.Notify != nil {
		if err := s.Notify.EndpointDisabled(ctx, ep, reason); err != nil {
			s.Logger.ErrorContext(ctx, "tell the partner its endpoint was disabled", "endpoint", ep.ID, "err", err)
		}
	}
}

// sendError describes a failed request without its URL (whose query may hold the partner's
// own tokens).
func sendError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, http.ErrHandlerTimeout) {
		return "no answer within " + Timeout.String()
	}
	// Nothing of this server's own network (its resolver's address, its source port) goes to
	// the partner: the kind of failure is enough to act on.
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return "the host name does not resolve"
		}
		return "the host name could not be resolved"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		var sys *os.SyscallError
		if errors.As(opErr.Err, &sys) {
			return opErr.Op + ": " + sys.Err.Error()
		}
		return opErr.Op + ": " + opErr.Err.Error()
	}
	return err.Error()
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date; capped at MaxRetryAfter,
// at least a second.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, time.Second), MaxRetryAfter), true
}
