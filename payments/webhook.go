package payments

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// EventHandler applies provider events, once per event id: about a PaymentIntent, a charge
// (refunded in Stripe's dashboard, say) and a dispute.
type EventHandler interface {
	HandlePaymentIntentEvent(ctx context.Context, eventID, eventType string, pi *PaymentIntent) error
	HandleChargeEvent(ctx context.Context, eventID, eventType string, ch *Charge) error
	HandleDisputeEvent(ctx context.Context, eventID, eventType string, d *Dispute) error
}

// Charge is the part of a Stripe Charge Giveathon acts on.
type Charge struct {
	ID                  string
	PaymentIntentID     string
	CustomerID          string
	Currency            string
	AmountCents         int64
	AmountRefundedCents int64
	Refunded            bool
	Metadata            map[string]string
}

// Dispute is the part of a Stripe Dispute Giveathon acts on.
type Dispute struct {
	ID              string
	ChargeID        string
	PaymentIntentID string
	Status          string
	Reason          string
	Currency        string
	AmountCents     int64
}

// Dispute statuses that end it (Stripe's).
const (
	DisputeWon  = "won"
	DisputeLost = "lost"
)

// WebhookTolerance is how old a signed event may be.
const WebhookTolerance = 5 * time.Minute

// WebhookClockSkew is how far in the future a signed event's timestamp may be (the two clocks
// differ a little); an event from further ahead is refused, as a stale one is: a timestamp in
// the future would stretch the replay window of a captured event.
const WebhookClockSkew = 30 * time.Second

// maxWebhookBody bounds an event's size.
const maxWebhookBody = 1 << 20

// WebhookEvents are the Stripe events the webhook handler acts on or records: the events to
// enable on Giveathon's webhook endpoint in Stripe's dashboard (any other is acknowledged and
// ignored, and only costs both sides a request). payment_intent.created and .processing
// decide nothing and are left out.
var WebhookEvents = []string{
	"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.requires_action",
	"payment_intent.canceled", "charge.refunded",
	"charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
}

// WebhookHandler serves POST /webhooks/stripe: it verifies Stripe-Signature with the secret
// (400 on a bad or stale signature, and nothing changes), and hands PaymentIntent events to
// the handler, which records the event id once and applies the same conditional moves as the
// charge worker. Other events are acknowledged and ignored.
func WebhookHandler(secret string, h EventHandler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
		if err != nil || len(body) > maxWebhookBody {
			http.Error(w, "unreadable or oversized body", http.StatusBadRequest)
			return
		}
		header := r.Header.Get("Stripe-Signature")
		err = webhook.ValidatePayloadWithTolerance(body, header, secret, WebhookTolerance)
		if err == nil {
			err = checkNotFuture(header, time.Now())
		}
		if err != nil {
			logger.WarnContext(r.Context(), "webhook refused", "err", err)
			http.Error(w, "invalid signature", http.StatusBadRequest)
			return
		}
		var event signedEvent
		if err := event.parse(body); err != nil {
			logger.WarnContext(r.Context(), "webhook refused", "err", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var handled error
		switch typ := event.Type; {
		case strings.HasPrefix(typ, "payment_intent."):
			pi, err := decodePaymentIntent(event.Data.Object)
			if err != nil {
				http.Error(w, "event data is not a PaymentIntent", http.StatusBadRequest)
				return
			}
			handled = h.HandlePaymentIntentEvent(r.Context(), event.ID, typ, pi)
		case typ == "charge.refunded":
			var ch stripe.Charge
			if json.Unmarshal(event.Data.Object, &ch) != nil || ch.ID == "" {
				http.Error(w, "event data is not a charge", http.StatusBadRequest)
				return
			}
			handled = h.HandleChargeEvent(r.Context(), event.ID, typ, chargeFromStripe(&ch))
		case strings.HasPrefix(typ, "charge.dispute."):
			var d stripe.Dispute
			if json.Unmarshal(event.Data.Object, &d) != nil || d.ID == "" {
				http.Error(w, "event data is not a dispute", http.StatusBadRequest)
				return
			}
			handled = h.HandleDisputeEvent(r.Context(), event.ID, typ, disputeFromStripe(&d))
		default:
			w.WriteHeader(http.StatusOK)
			return
		}
		if handled != nil {
			// A 5xx makes the provider deliver the event again later.
			logger.ErrorContext(r.Context(), "handle webhook", "event", event.ID, "type", event.Type, "err", handled)
			http.Error(w, "could not handle the event now", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// signedEvent is what the endpoint reads of a provider's event. Its data object is decoded
// once, into the type the event's type names: stripe-go's Event also decodes it into a map of
// every field, a third of the endpoint's time under load.
type signedEvent struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	APIVersion string `json:"api_version"`
	// Data.Object is empty when the body has no data object, which then decodes into nothing.
	Data struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// parse reads a signed body into e, and refuses an event of another API version than the one
// stripe-go's types describe (as webhook.ConstructEvent does).
func (e *signedEvent) parse(body []byte) error {
	if err := json.Unmarshal(body, e); err != nil {
		return fmt.Errorf("parse webhook body: %w", err)
	}
	if e.APIVersion != stripe.APIVersion {
		return fmt.Errorf("event of API version %q, but stripe-go reads %q", e.APIVersion, stripe.APIVersion)
	}
	return nil
}

// checkNotFuture refuses a signature header whose timestamp (t=) is more than
// WebhookClockSkew ahead of now, and one with no timestamp or more than one: the signature is
// checked against one of them, the age against the other, and a second one would let a
// future timestamp through behind a present one.
func checkNotFuture(header string, now time.Time) error {
	var stamps []string
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
			stamps = append(stamps, v)
		}
	}
	if len(stamps) != 1 {
		return fmt.Errorf("webhook signature has %d timestamps, not one", len(stamps))
	}
	t, err := strconv.ParseInt(stamps[0], 10, 64)
	if err != nil {
		return fmt.Errorf("webhook timestamp %q is not a number", stamps[0])
	}
	if ahead := time.Unix(t, 0).Sub(now); ahead > WebhookClockSkew {
		return fmt.Errorf("webhook timestamp is %s in the future", ahead.Round(time.Second))
	}
	return nil
}

func chargeFromStripe(ch *stripe.Charge) *Charge {
	out := &Charge{ID: ch.ID, Currency: string(ch.Currency), AmountCents: ch.Amount, AmountRefundedCents: ch.AmountRefunded,
		Refunded: ch.Refunded, Metadata: ch.Metadata}
	if ch.PaymentIntent != nil {
		out.PaymentIntentID = ch.PaymentIntent.ID
	}
	if ch.Customer != nil {
		out.CustomerID = ch.Customer.ID
	}
	return out
}

func disputeFromStripe(d *stripe.Dispute) *Dispute {
	out := &Dispute{ID: d.ID, Status: string(d.Status), Reason: string(d.Reason), Currency: string(d.Currency), AmountCents: d.Amount}
	if d.Charge != nil {
		out.ChargeID = d.Charge.ID
	}
	if d.PaymentIntent != nil {
		out.PaymentIntentID = d.PaymentIntent.ID
	}
	return out
}
