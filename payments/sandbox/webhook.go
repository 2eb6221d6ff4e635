package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Webhook delivery: a few quick tries, as a receiver restarting in a test comes back within
// a second or two. (Stripe itself retries for days; nothing here needs that.)
const (
	webhookTries   = 5
	webhookBackoff = 100 * time.Millisecond
)

// event is one Stripe event, its object encoded when it happened so that later changes do not
// leak into it.
type event struct {
	id      string
	typ     string
	created int64
	object  json.RawMessage
	reqID   string
	idemKey string
}

type eventRequest struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

type eventData struct {
	Object json.RawMessage `json:"object"`
}

type eventJSON struct {
	ID              string       `json:"id"`
	Object          string       `json:"object"`
	APIVersion      string       `json:"api_version"`
	Created         int64        `json:"created"`
	Data            eventData    `json:"data"`
	Livemode        bool         `json:"livemode"`
	PendingWebhooks int64        `json:"pending_webhooks"`
	Request         eventRequest `json:"request"`
	Type            string       `json:"type"`
}

func (e event) payload() ([]byte, error) {
	return json.Marshal(eventJSON{
		ID:              e.id,
		Object:          "event",
		APIVersion:      APIVersion,
		Created:         e.created,
		Data:            eventData{Object: e.object},
		PendingWebhooks: 1,
		Request:         eventRequest{ID: optional(e.reqID), IdempotencyKey: optional(e.idemKey)},
		Type:            e.typ,
	})
}

// emit records an event about obj, to be sent once the request's state lock is released.
func (c *call) emit(typ string, obj any) {
	b, err := json.Marshal(obj)
	if err != nil {
		c.s.log.Error("stripe sandbox: cannot encode event object", slog.String("type", typ), slog.Any("error", err))
		return
	}
	c.events = append(c.events, event{id: newID("evt_3", 23), typ: typ, created: c.now, object: b,
		reqID: c.reqID, idemKey: c.idemKey})
}

// Signature returns the Stripe-Signature header value for payload signed with secret at t,
// as Stripe computes it and stripe-go's webhook.ConstructEvent checks it.
func Signature(t time.Time, payload []byte, secret string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(payload)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// dispatch starts the delivery of events in the background; it never blocks an API answer.
func (s *Server) dispatch(events []event) {
	if s.hookEvents != nil {
		enabled := events[:0:0]
		for _, ev := range events {
			if s.hookEvents[ev.typ] {
				enabled = append(enabled, ev)
			}
		}
		events = enabled
	}
	if len(events) == 0 {
		return
	}
	s.fmu.Lock()
	url, secret := s.hookURL, s.hookKey
	if s.closed || url == "" {
		s.fmu.Unlock()
		return
	}
	// Added under fmu, where Close sets closed, so that Close's Wait sees every delivery.
	s.wg.Add(len(events))
	s.fmu.Unlock()
	for _, ev := range events {
		go s.deliver(url, secret, ev)
	}
}

// deliver sends one event, late or twice when the faults say so.
func (s *Server) deliver(url, secret string, ev event) {
	defer s.wg.Done()
	payload, err := ev.payload()
	if err != nil {
		s.log.Error("stripe sandbox: cannot encode event", slog.String("event", ev.id), slog.Any("error", err))
		return
	}
	duplicate, delay := s.webhookFaults()
	if !s.sleep(delay, nil) {
		return
	}
	s.send(url, secret, ev, payload)
	if duplicate {
		s.send(url, secret, ev, payload)
	}
}

// send posts one delivery, retrying errors and non-2xx answers with doubling waits.
func (s *Server) send(url, secret string, ev event, payload []byte) {
	wait := webhookBackoff
	for try := 1; ; try++ {
		err := s.post(url, secret, payload)
		if err == nil {
			return
		}
		level := slog.LevelWarn
		if s.ctx.Err() != nil {
			level = slog.LevelDebug // closing: the failure is ours
		}
		s.log.LogAttrs(s.ctx, level, "stripe sandbox webhook delivery failed",
			slog.String("event", ev.id), slog.String("type", ev.typ), slog.Int("try", try), slog.Any("error", err))
		if try == webhookTries || !s.sleep(wait, nil) {
			return
		}
		wait *= 2
	}
}

func (s *Server) post(url, secret string, payload []byte) error {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (Giveathon Stripe sandbox)")
	// Signed at each try, as Stripe does, so that a late delivery is within the tolerance.
	req.Header.Set("Stripe-Signature", Signature(time.Now(), payload, secret))
	resp, err := s.hookHTTP.Do(req)
	if err != nil {
		return err
	}
	// Drained so that the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook endpoint answered %s", resp.Status)
	}
	return nil
}
