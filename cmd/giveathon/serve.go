package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/graph"
	"github.com/giveathon/giveathon/metrics"
	"github.com/giveathon/giveathon/payments"
	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/giveathon/giveathon/web"
)

func (p *program) serve(ctx context.Context, args []string) error {
	workers := true
	for _, a := range args {
		if a == "--no-workers" {
			workers = false
			continue
		}
		fmt.Fprintln(p.stderr, commandHelp["serve"])
		return errUsage
	}
	started := time.Now()
	tuneGC(p.getenv)
	cfg, logger, s, err := p.openPrepared(ctx)
	if err != nil {
		return err
	}
	defer s.close()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	addr := ln.Addr().String()
	a, err := newApp(ctx, cfg, logger, s, addr)
	if err != nil {
		ln.Close()
		return err
	}
	listenCtx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	go a.changes.Listen(listenCtx)
	if workers {
		if err := a.jobs.Start(ctx); err != nil {
			a.close()
			ln.Close()
			return fmt.Errorf("start workers: %w", err)
		}
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		a.stop(stopCtx, workers)
	}()

	adminRoutes, err := a.adminRoutes(ctx)
	if err != nil {
		return err
	}
	handler := graph.NewHandler(a.resolver(), graph.Config{
		AdminRoutes:    adminRoutes,
		Production:     cfg.Production,
		Limits:         cfg.GraphQL,
		TrustedProxies: cfg.TrustedProxies,
		CORSOrigins:    cfg.CORSOrigins,
		Logger:         logger,
		Unavailable:    db.AsUnavailable,
		Routes:         a.routes,
		App:            web.Handler(web.Options{StripeJS: cfg.Stripe.SecretKey != ""}),
		Ready: func(ctx context.Context) error {
			// Says what it waits for: the database, or (during a failover) a primary that takes writes.
			if err := s.DB.Ready(ctx); err != nil {
				return err
			}
			if s.Migrator.Jobs != s.Migrator.Domain {
				if err := db.PoolReady(ctx, s.Migrator.Jobs, "jobs database"); err != nil {
					return err
				}
			}
			if pending, err := s.Migrator.Pending(ctx); err != nil {
				return fmt.Errorf("database unreachable: %w", err)
			} else if pending {
				return db.ErrUnmigrated
			}
			return nil
		},
	})
	// Live subscriptions hold hijacked connections, which Shutdown does not wait for: their
	// context ends once the ordinary requests have finished, before the pools close.
	baseCtx, endSubscriptions := context.WithCancel(context.WithoutCancel(ctx))
	defer endSubscriptions()
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slogErrorLog(logger),
	}
	logger.Info("giveathon is serving", "addr", addr, "graphql", "http://"+addr+"/graphql",
		"playground", playgroundURL(cfg, addr), "env", envName(cfg), "workers", workers,
		"startup", time.Since(started).Round(time.Millisecond))
	if p.listening != nil {
		p.listening(addr)
	}

	stopAdmin, err := startAdmin(cfg.AdminAddr, logger)
	if err != nil {
		return err
	}
	defer stopAdmin()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down http server: %w", err)
	}
	return nil
}

// openPrepared opens the configuration, the logger and the stores, and prepares the database
// (prepareDatabase); the caller closes the stores.
func (p *program) openPrepared(ctx context.Context) (*Config, *slog.Logger, *stores, error) {
	cfg, logger, s, err := p.open(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := prepareDatabase(ctx, cfg, s, logger); err != nil {
		s.close()
		return nil, nil, nil, err
	}
	return cfg, logger, s, nil
}

// prepareDatabase migrates and seeds in development; in production it only checks that the
// database is migrated.
func prepareDatabase(ctx context.Context, cfg *Config, s *stores, logger *slog.Logger) error {
	if cfg.Production {
		if pending, err := s.Migrator.Pending(ctx); err != nil {
			return err
		} else if pending {
			return db.ErrUnmigrated
		}
		return nil
	}
	applied, err := s.Migrator.Up(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		logger.Info("migrated the database", "applied", len(applied))
	}
	if n, err := s.DB.CountCharities(ctx); err != nil {
		return err
	} else if n == 0 {
		added, err := s.DB.UpsertCharities(ctx, db.SeedCharities)
		if err != nil {
			return err
		}
		logger.Info("seeded an empty development database", "charities", added)
	}
	return nil
}

// work runs the workers alone.
func (p *program) work(ctx context.Context, args []string) error {
	if len(args) > 0 {
		fmt.Fprintln(p.stderr, commandHelp["work"])
		return errUsage
	}
	tuneGC(p.getenv)
	cfg, logger, s, err := p.openPrepared(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	stopAdmin, err := startAdmin(cfg.AdminAddr, logger)
	if err != nil {
		return err
	}
	defer stopAdmin()
	a, err := newApp(ctx, cfg, logger, s, "")
	if err != nil {
		return err
	}
	if err := a.jobs.Start(ctx); err != nil {
		a.close()
		return fmt.Errorf("start workers: %w", err)
	}
	logger.Info("giveathon workers are running")
	<-ctx.Done()
	logger.Info("stopping workers", "timeout", cfg.ShutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	a.stop(stopCtx, true)
	return nil
}

// stripeSandbox runs the Stripe sandbox alone, so its ledger outlives a server that is
// killed in a test.
func (p *program) stripeSandbox(ctx context.Context, args []string) error {
	if len(args) > 0 {
		fmt.Fprintln(p.stderr, commandHelp["stripe-sandbox"])
		return errUsage
	}
	env := func(name, def string) string {
		if v := p.getenv(name); v != "" {
			return v
		}
		return def
	}
	faults, err := sandbox.FaultsFromEnv(p.getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(p.stderr, nil))
	sb := sandbox.New(sandbox.Config{
		WebhookURL:    env("SANDBOX_WEBHOOK_URL", "http://localhost:8080/webhooks/stripe"),
		WebhookSecret: p.getenv("STRIPE_WEBHOOK_SECRET"),
		WebhookEvents: sandboxWebhookEvents(p.getenv("SANDBOX_WEBHOOK_EVENTS")),
		Faults:        faults,
		Logger:        logger,
	})
	defer sb.Close()
	ln, err := net.Listen("tcp", env("SANDBOX_ADDR", "127.0.0.1:12111"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 5 * time.Second}
	logger.Info("Stripe sandbox is serving", "url", "http://"+ln.Addr().String(), "ledger", "http://"+ln.Addr().String()+"/_sandbox/charges")
	if p.listening != nil {
		p.listening(ln.Addr().String())
	}
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// sandboxWebhookEvents reads SANDBOX_WEBHOOK_EVENTS: the events the standalone sandbox
// delivers, comma-separated, as a Stripe endpoint's enabled events; unset: the ones Giveathon
// acts on (payments.WebhookEvents), as its endpoint at Stripe is set up; "*": every event.
func sandboxWebhookEvents(v string) []string {
	switch v = strings.TrimSpace(v); v {
	case "":
		return payments.WebhookEvents
	case "*":
		return nil
	}
	var list []string
	for _, typ := range strings.Split(v, ",") {
		if typ = strings.TrimSpace(typ); typ != "" {
			list = append(list, typ)
		}
	}
	return list
}

func playgroundURL(cfg *Config, addr string) string {
	if cfg.Production {
		return "off in production"
	}
	return "http://" + addr + "/playground"
}

func envName(cfg *Config) string {
	if cfg.Production {
		return "production"
	}
	return "development"
}

// startAdmin serves pprof and the Prometheus metrics on their own listener, apart from the
// public API, when addr is set; it returns the function that stops it.
func startAdmin(addr string, logger *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", metrics.Handler())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the admin listener on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("admin listener (pprof, metrics) is serving", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
