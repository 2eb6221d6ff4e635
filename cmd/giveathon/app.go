package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/graph"
	"github.com/giveathon/giveathon/graph/model"
	"github.com/giveathon/giveathon/jobs"
	"github.com/giveathon/giveathon/notify"
	"github.com/giveathon/giveathon/payments"
	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/giveathon/giveathon/settlement"
	"github.com/giveathon/giveathon/webhooks"
	"github.com/go-chi/chi/v5"
)

// app is the running parts of a Giveathon process, built from the configuration.
type app struct {
	cfg     *Config
	logger  *slog.Logger
	stores  *stores
	gateway *payments.Gateway
	// settlement holds the money path's rules; the workers, the webhook and the resolvers
	// call it.
	settlement *settlement.Service
	jobs       *jobs.Jobs
	mailer     *notify.Mailer
	// sandbox is the in-process Stripe sandbox, when no Stripe key is configured.
	sandbox       *sandbox.Server
	sandboxURL    string
	sandboxServer *http.Server
	webhookSecret string
	// changes carries donation changes to the live subscribers of every API instance.
	changes     *db.Changes
	stopSending context.CancelFunc
	sent        <-chan struct{}
	// webhooks serves the partners' endpoints; dispatcher turns sequenced partner events into
	// deliveries (the sequencer's hook).
	webhooks   *webhooks.Service
	dispatcher *webhooks.Dispatcher
}

// newApp builds the payment gateway (and the in-process sandbox when no Stripe key is set),
// the mailer and the River client. publicAddr is the address the API listens on, for the
// sandbox's webhooks; empty for a worker-only process.
func newApp(ctx context.Context, cfg *Config, logger *slog.Logger, s *stores, publicAddr string) (*app, error) {
	a := &app{cfg: cfg, logger: logger, stores: s, webhookSecret: cfg.WebhookSecret,
		changes: db.NewChanges(s.Migrator.Jobs, logger.With("component", "changes"))}
	stripeCfg := cfg.Stripe
	stripeCfg.Logger = logger.With("component", "payments")
	if stripeCfg.SecretKey == "" {
		if stripeCfg.APIBase == "" {
			if publicAddr == "" {
				return nil, errors.New("a worker-only process needs STRIPE_SECRET_KEY, or STRIPE_API_BASE pointing at a running `giveathon stripe-sandbox`")
			}
			if err := a.startSandbox(publicAddr); err != nil {
				return nil, err
			}
			stripeCfg.APIBase = a.sandboxURL
		}
		stripeCfg.SecretKey = sandbox.SecretKey
	}
	if a.webhookSecret == "" {
		a.webhookSecret = "whsec_" + randomHex(24)
		if a.sandbox != nil {
			a.sandbox.SetWebhook("http://"+publicAddr+"/webhooks/stripe", a.webhookSecret)
		} else {
			logger.Warn("STRIPE_WEBHOOK_SECRET is unset: webhooks from the provider will be refused")
		}
	}
	a.gateway = payments.NewGateway(stripeCfg)
	// Change notices go out in batches until the app is closed, after its workers stopped.
	sendCtx, stopSending := context.WithCancel(context.WithoutCancel(ctx))
	a.sent = a.changes.Send(sendCtx)
	a.stopSending = stopSending

	var err error
	a.mailer, err = notify.New(notify.Config{SMTPURL: cfg.SMTPURL, From: cfg.MailFrom, Logger: logger.With("component", "mail")})
	if err != nil {
		a.close()
		return nil, err
	}
	a.settlement = settlement.New(s.DB, a.gateway, nil, a.changes, logger.With("component", "settlement"), cfg.Settlement)
	alerts := &alerts{db: s.DB, mailer: a.mailer, configured: cfg.AdminEmails, publicURL: cfg.PublicURL}
	a.settlement.Alerts = alerts
	keys, err := cfg.webhookKeyring(logger)
	if err != nil {
		a.close()
		return nil, err
	}
	sender := &webhooks.Sender{DB: s.DB, Keys: keys, Client: webhooks.NewClient(!cfg.Production), Notify: alerts,
		Logger: logger.With("component", "webhooks")}
	// The sequencer hands each numbered batch of partner events to the dispatcher, in the
	// batch's transaction.
	a.dispatcher = &webhooks.Dispatcher{}
	a.jobs, err = jobs.New(s.Migrator.Jobs, jobs.Deps{
		DB: s.DB, Settlement: a.settlement, Mailer: a.mailer, PublicURL: cfg.PublicURL, Logger: logger.With("component", "jobs"),
		Event: cfg.Event, Webhooks: sender, OnSequenced: a.dispatcher.Dispatch,
	}, cfg.Jobs)
	if err != nil {
		a.close()
		return nil, err
	}
	a.webhooks = &webhooks.Service{DB: s.DB, Keys: keys, Queue: a.jobs, Development: !cfg.Production}
	a.settlement.Queue = a.jobs
	// The one place that knows whether the jobs share the domain database: then a new
	// donation's charge is queued in the donation's own transaction.
	if s.Migrator.Jobs == s.Migrator.Domain {
		s.DB.EnqueueTx = a.jobs.EnqueueTx
		a.dispatcher.EnqueueTx = a.jobs.EnqueueWebhooksTx
	}
	return a, nil
}

// startSandbox serves an in-process Stripe sandbox on a free loopback port.
func (a *app) startSandbox(publicAddr string) error {
	faults, err := sandbox.FaultsFromEnv(a.cfg.getenv)
	if err != nil {
		return err
	}
	a.sandbox = sandbox.New(sandbox.Config{Faults: faults, WebhookEvents: payments.WebhookEvents, Logger: a.logger.With("component", "stripe-sandbox")})
	if a.webhookSecret != "" {
		a.sandbox.SetWebhook("http://"+publicAddr+"/webhooks/stripe", a.webhookSecret)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the Stripe sandbox: %w", err)
	}
	a.sandboxURL = "http://" + ln.Addr().String()
	a.sandboxServer = &http.Server{Handler: a.sandbox, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.sandboxServer.Serve(ln) }()
	a.logger.Info("Stripe sandbox started (no STRIPE_SECRET_KEY)", "url", a.sandboxURL, "ledger", a.sandboxURL+"/_sandbox/charges")
	return nil
}

// resolver returns the GraphQL resolver over the app's services.
func (a *app) resolver() *graph.Resolver {
	publishable := a.cfg.StripePublic
	if publishable == "" && a.cfg.Stripe.SecretKey == "" {
		publishable = sandbox.PublishableKey
	}
	guard := &auth.Guard{Store: a.stores.DB, Limits: a.cfg.Limits}
	authService := auth.NewService(a.stores.DB, a.logger)
	authService.Guard = guard
	authService.SessionCacheTTL = a.cfg.SessionCacheTTL
	authService.AdminEmails = a.cfg.AdminEmails
	methods := &payments.MethodService{Store: a.stores.DB, Gateway: a.gateway, PublishableKey: publishable, Logger: a.logger}
	r := &graph.Resolver{
		Auth: authService,
		AccountService: &auth.Accounts{Auth: authService, Store: a.stores.DB, Provider: methods,
			SendDeleted: func(ctx context.Context, u giveathon.User) error {
				return a.mailer.SendAccountDeleted(ctx, notify.AccountEmail{UserID: u.ID, Name: u.Name, Email: u.Email})
			}},
		CharityService:       a.stores.DB,
		Admin:                a.stores.DB,
		Partners:             a.stores.DB,
		Keys:                 &auth.Keys{Store: a.stores.DB, Live: a.cfg.LiveAPIKeys, Logger: a.logger.With("component", "api-keys")},
		Guard:                guard,
		DonationService:      a.settlement,
		PaymentMethodService: methods,
		Refresher:            a.settlement,
		Refunds:              a.settlement,
		PartnerGifts:         &settlement.Partners{Service: a.settlement, Gifts: a.stores.DB, Cards: methods},
		PaymentIntents:       a.gateway,
		Live:                 &graph.Live{Event: a.cfg.Event, Totals: a.stores.DB, Changes: a.changes, Poll: a.cfg.LiveResync},
		Payments:             model.PaymentsConfig{PublishableKey: publishable, TestPaymentMethods: []*model.TestPaymentMethod{}},
		Webhooks:             a.webhooks,
		Logger:               a.logger,
	}
	if a.sandbox != nil || (a.cfg.Stripe.SecretKey == "" && a.cfg.Stripe.APIBase != "") {
		base := a.sandboxURL
		if base == "" {
			base = a.cfg.Stripe.APIBase
		}
		r.Payments.Sandbox = true
		for _, pm := range sandbox.TestPaymentMethods() {
			r.Payments.TestPaymentMethods = append(r.Payments.TestPaymentMethods, &model.TestPaymentMethod{ID: pm.ID, Label: pm.Label})
		}
		r.AuthenticateURL = func(pi, secret, returnPath string) string {
			return base + "/_sandbox/authenticate/" + url.PathEscape(pi) + "?client_secret=" + url.QueryEscape(secret) +
				"&return_url=" + url.QueryEscape(a.cfg.PublicURL+returnPath)
		}
	}
	return r
}

// routes adds the webhook endpoint, for every method: it answers all but POST with 405 (the
// web app's fallback would answer them 200 with its page).
func (a *app) routes(r chi.Router) {
	r.Handle("/webhooks/stripe", payments.WebhookHandler(a.webhookSecret, a.settlement, a.logger.With("component", "webhooks")))
}

// stop stops the workers (letting running jobs finish within the timeout) and the sandbox.
func (a *app) stop(ctx context.Context, workers bool) {
	if workers {
		if err := a.jobs.Stop(ctx); err != nil {
			a.logger.Warn("stop workers", "err", err)
		}
	}
	a.close()
}

func (a *app) close() {
	if a.stopSending != nil {
		// The last moves' notices go out before the pools close.
		a.stopSending()
		<-a.sent
	}
	if a.sandboxServer != nil {
		_ = a.sandboxServer.Close()
	}
	if a.sandbox != nil {
		a.sandbox.Close()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
