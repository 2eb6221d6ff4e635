package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/giveathon/giveathon/auth"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/graph"
)

func (p *program) serve(ctx context.Context, args []string) error {
	if len(args) > 0 {
		fmt.Fprintln(p.stderr, commandHelp["serve"])
		return errUsage
	}
	started := time.Now()
	cfg, err := loadConfig(p.getenv)
	if err != nil {
		return err
	}
	logger := cfg.logger(p.stderr)

	s, err := openStores(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer s.close()

	if cfg.Production {
		if pending, err := s.Migrator.Pending(ctx); err != nil {
			return err
		} else if pending {
			return db.ErrUnmigrated
		}
	} else {
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
	}

	res := &graph.Resolver{
		Auth:           auth.NewService(s.DB, logger),
		CharityService: s.DB,
		Logger:         logger,
	}
	handler := graph.NewHandler(res, graph.Config{
		Production:    cfg.Production,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		MaxComplexity: cfg.MaxComplexity,
		Logger:        logger,
		Ready: func(ctx context.Context) error {
			if err := s.DB.Pool.Ping(ctx); err != nil {
				return fmt.Errorf("database unreachable: %w", err)
			}
			if pending, err := s.Migrator.Pending(ctx); err != nil {
				return fmt.Errorf("database unreachable: %w", err)
			} else if pending {
				return db.ErrUnmigrated
			}
			return nil
		},
	})

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slogErrorLog(logger),
	}
	addr := ln.Addr().String()
	logger.Info("giveathon is serving", "addr", addr, "graphql", "http://"+addr+"/graphql",
		"playground", playgroundURL(cfg, addr), "env", envName(cfg), "startup", time.Since(started).Round(time.Millisecond))
	if p.listening != nil {
		p.listening(addr)
	}

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
