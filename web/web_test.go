package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func TestServesTheAppWithCachingAndFallback(t *testing.T) {
	app := fstest.MapFS{
		"index.html":            {Data: []byte("<!doctype html><title>app</title>")},
		"assets/index-abc1.js":  {Data: []byte("console.log(1)")},
		"assets/index-abc1.css": {Data: []byte("body{}")},
		"favicon.svg":           {Data: []byte("<svg/>")},
	}
	h := handler(app, Options{})
	tests := []struct {
		path, wantBody, wantCache string
		wantStatus                int
	}{
		{"/", "<title>app</title>", "no-cache", 200},
		{"/index.html", "<title>app</title>", "no-cache", 200},
		{"/history", "<title>app</title>", "no-cache", 200},
		{"/donations/RG9uYXRpb246MQ", "<title>app</title>", "no-cache", 200},
		{"/assets/index-abc1.js", "console.log(1)", "public, max-age=31536000, immutable", 200},
		{"/favicon.svg", "<svg/>", "public, max-age=3600", 200},
		// An old hashed file after a deploy: not the app's HTML.
		{"/assets/index-old.js", "404 page not found", "", 404},
		{"/missing.png", "404 page not found", "", 404},
	}
	for _, tt := range tests {
		w := get(t, h, tt.path)
		if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), tt.wantBody) || w.Header().Get("Cache-Control") != tt.wantCache {
			t.Errorf("GET %s: %d %q cache %q; want %d %q cache %q", tt.path, w.Code, w.Body.String(), w.Header().Get("Cache-Control"),
				tt.wantStatus, tt.wantBody, tt.wantCache)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "stripe") ||
			!strings.Contains(csp, "connect-src 'self' ws://example.com wss://example.com;") {
			t.Errorf("GET %s: CSP %q", tt.path, csp)
		}
	}
	if csp := get(t, handler(app, Options{StripeJS: true}), "/").Header().Get("Content-Security-Policy"); !strings.Contains(csp, "https://js.stripe.com") {
		t.Errorf("live-key CSP does not allow Stripe.js: %q", csp)
	}
}

func TestWithoutABuildSaysHowToMakeOne(t *testing.T) {
	w := get(t, handler(fstest.MapFS{}, Options{}), "/give")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "make build") {
		t.Fatalf("no build: %d %s", w.Code, w.Body.String())
	}
}
