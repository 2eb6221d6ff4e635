package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// setting is one environment variable: its default and what it does. The table below is the
// one place defaults live; `giveathon help serve` and the README print it.
type setting struct {
	Name, Default, Doc string
}

var settings = []setting{
	{"ENV", "development", "development or production. Production turns introspection and the playground off, marks cookies Secure, logs JSON, and never migrates on its own."},
	{"HTTP_ADDR", "localhost:8080", "Address the HTTP server listens on (host:port; port 0 picks a free one)."},
	{"PUBLIC_URL", "http://<HTTP_ADDR>", "The URL donors reach the service at, used in links."},
	{"DATABASE_URL", "", "PostgreSQL (or CockroachDB) URL of the domain data. Unset: a private PostgreSQL in DATA_DIR."},
	{"DATA_DIR", "./.data", "Folder of the embedded PostgreSQL (used when DATABASE_URL is unset)."},
	{"DB_MAX_CONNS", "20", "Size of the database connection pool."},
	{"MAX_BODY_BYTES", "1048576", "Largest request body accepted; larger ones get 413."},
	{"GRAPHQL_MAX_COMPLEXITY", "1000", "Largest GraphQL query complexity accepted (a list field costs its page size times its children)."},
	{"SHUTDOWN_TIMEOUT", "20s", "How long a stopping server waits for requests in flight."},
	{"LOG_LEVEL", "info", "debug, info, warn or error."},
	{"LOG_FORMAT", "auto", "text, json, or auto (json in production, text otherwise)."},
}

// Config is the parsed, validated configuration of a Giveathon process.
type Config struct {
	Production      bool
	HTTPAddr        string
	PublicURL       string
	DatabaseURL     string
	DataDir         string
	DBMaxConns      int32
	MaxBodyBytes    int64
	MaxComplexity   int
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogJSON         bool
}

// loadConfig reads the environment once and reports every problem it finds together.
func loadConfig(getenv func(string) string) (*Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, s := range settings {
			if s.Name == name {
				return s.Default
			}
		}
		panic("unknown setting " + name)
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	c := &Config{DatabaseURL: get("DATABASE_URL"), DataDir: get("DATA_DIR")}

	switch env := get("ENV"); env {
	case "development":
	case "production":
		c.Production = true
	default:
		bad("ENV", "%q is neither development nor production", env)
	}
	c.HTTPAddr = get("HTTP_ADDR")
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	c.PublicURL = getenv("PUBLIC_URL")
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.HTTPAddr
	} else if !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		bad("PUBLIC_URL", "%q must start with http:// or https://", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")

	intSetting := func(name string, min, max int64) int64 {
		v, err := strconv.ParseInt(get(name), 10, 64)
		if err != nil || v < min || v > max {
			bad(name, "%q must be a whole number from %d to %d", get(name), min, max)
		}
		return v
	}
	c.DBMaxConns = int32(intSetting("DB_MAX_CONNS", 2, 1000))
	c.MaxBodyBytes = intSetting("MAX_BODY_BYTES", 1024, 64<<20)
	c.MaxComplexity = int(intSetting("GRAPHQL_MAX_COMPLEXITY", 10, 1_000_000))

	var err error
	if c.ShutdownTimeout, err = time.ParseDuration(get("SHUTDOWN_TIMEOUT")); err != nil || c.ShutdownTimeout <= 0 {
		bad("SHUTDOWN_TIMEOUT", "%q is not a positive duration such as 20s", get("SHUTDOWN_TIMEOUT"))
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL"))); err != nil {
		bad("LOG_LEVEL", "%q is not debug, info, warn or error", get("LOG_LEVEL"))
	}
	switch f := get("LOG_FORMAT"); f {
	case "auto":
		c.LogJSON = c.Production
	case "json":
		c.LogJSON = true
	case "text":
	default:
		bad("LOG_FORMAT", "%q is not text, json or auto", f)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %w", errors.Join(errs...))
	}
	return c, nil
}

// logger returns the process's structured logger.
func (c *Config) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printSettings writes the configuration table.
func printSettings(w io.Writer) {
	for _, s := range settings {
		def := s.Default
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(w, "  %-24s default %s\n  %-24s %s\n\n", s.Name, def, "", s.Doc)
	}
}

// slogErrorLog routes net/http's own error log (TLS handshakes, bad requests) to slog.
func slogErrorLog(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
}
