// Package web serves the donor web app: the single-page app built by Vite into dist/app and
// embedded in the binary, with caching that suits its files and the SPA's fallback routing.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Options configure the handler.
type Options struct {
	// StripeJS allows Stripe.js and its frames in the pages' Content-Security-Policy (a live
	// Stripe key; the sandbox needs none of it).
	StripeJS bool
}

// Built reports whether the binary holds a web build.
func Built() bool {
	_, err := fs.Stat(dist, "dist/app/index.html")
	return err == nil
}

// Handler serves the app for GET and HEAD: files under /assets/ (named by their content's
// hash) cached for a year, other files for a short while, and index.html, never cached, for
// every other path so the app's own router takes it. Without a web build it serves a page
// that says how to make one.
func Handler(o Options) http.Handler {
	app, _ := fs.Sub(dist, "dist/app")
	return handler(app, o)
}

func handler(app fs.FS, o Options) http.Handler {
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws://%[1]s wss://%[1]s; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
	if o.StripeJS {
		csp = "default-src 'self'; script-src 'self' https://js.stripe.com; style-src 'self' 'unsafe-inline'; " +
			"img-src 'self' data: https://*.stripe.com; connect-src 'self' ws://%[1]s wss://%[1]s https://api.stripe.com; " +
			"frame-src https://js.stripe.com https://hooks.stripe.com; frame-ancestors 'none'; base-uri 'none'; " +
			"form-action 'self'; object-src 'none'"
	}
	index, err := fs.ReadFile(app, "index.html")
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(notBuiltPage))
		})
	}
	started := time.Now()
	files := http.FileServerFS(app)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The app's websocket goes back to the host the page came from, and nowhere else.
		h.Set("Content-Security-Policy", fmt.Sprintf(csp, r.Host))
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if st, err := fs.Stat(app, name); err == nil && !st.IsDir() {
				if strings.HasPrefix(name, "assets/") {
					h.Set("Cache-Control", "public, max-age=31536000, immutable")
				} else {
					h.Set("Cache-Control", "public, max-age=3600")
				}
				files.ServeHTTP(w, r)
				return
			}
			if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
				// A missing file, not a page of the app: an old hashed name after a deploy
				// must not be answered with HTML.
				http.NotFound(w, r)
				return
			}
		}
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", started, bytes.NewReader(index))
	})
}

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Giveathon: the web app is not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}code{background:#f0f0f0;padding:.1rem .3rem}</style>
</head><body><main>
<h1>The web app is not built into this binary</h1>
<p>This Giveathon server was compiled without the donor web app. The API works:
<a href="/graphql">/graphql</a> (and <a href="/playground">/playground</a> in development).</p>
<p>To build the app and a binary that serves it, run <code>make build</code> (or <code>make run</code>) from the
project's folder: it runs <code>npm ci</code> and <code>npm run build</code> in <code>web/</code>, then <code>go build</code>.</p>
</main></body></html>
`
