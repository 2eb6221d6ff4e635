package webhooks_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/webhooks"
)

// TestClientRefusesInternalAddresses: outside development the client does not connect to
// loopback, private, link-local (the metadata address) or IPv6 loopback, nor to a name that
// resolves to loopback; in development it reaches a local receiver.
func TestClientRefusesInternalAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	guarded := webhooks.NewClient(false)
	for _, u := range []string{srv.URL, "http://localhost:" + port, "http://[::1]:" + port, "http://10.1.2.3:80",
		"http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:" + port, "http://100.64.0.1/", "http://0.0.0.0:" + port} {
		resp, err := guarded.Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: connected (status %d)", u, resp.StatusCode)
			continue
		}
		if !errors.Is(err, webhooks.ErrForbiddenAddress) {
			t.Errorf("%s: %v, want the guard's refusal", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the receiver was reached %d times", hits.Load())
	}
	resp, err := webhooks.NewClient(true).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("development: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatal("development: the local receiver was not reached")
	}
}

func TestForbiddenAddresses(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "10.0.0.1": true, "172.16.5.4": true, "192.168.1.1": true, "169.254.169.254": true,
		"100.64.1.1": true, "0.0.0.0": true, "::1": true, "::": true, "fc00::1": true, "fd12::1": true, "fe80::1": true,
		"::ffff:10.0.0.1": true, "::ffff:169.254.169.254": true, "224.0.0.1": true, "ff02::1": true,
		"::127.0.0.1": true, "::169.254.169.254": true,
		"93.184.216.34": false, "2606:4700::1111": false, "8.8.8.8": false,
	} {
		if got := webhooks.Forbidden(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Forbidden(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestClientFollowsNoRedirect: a 3xx is the answer; its Location is not fetched.
func TestClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	resp, err := webhooks.NewClient(true).Post(srv.URL+"/hook", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed.Load() != 0 {
		t.Fatalf("status %d, redirect followed %d times", resp.StatusCode, followed.Load())
	}
}

func TestValidateURLAndEvents(t *testing.T) {
	t.Parallel()
	for raw, dev := range map[string]bool{"https://partner.example/hook": false, "http://127.0.0.1:9000/hook": true, "https://partner.example:8443/x?y=1": false} {
		if err := webhooks.ValidateURL(raw, dev); err != nil {
			t.Errorf("%s (development %v): %v", raw, dev, err)
		}
	}
	for raw, dev := range map[string]bool{"": true, "/hook": true, "ftp://partner.example/": true, "http://partner.example/": false,
		"https://user:pw@partner.example/": false, "https:///hook": false, "https://127.0.0.1/hook": false, "https://[::1]/": false,
		"https://localhost/": false, "https://partner.example/" + strings.Repeat("a", 2048): false, "https://a.example/\x00": true} {
		err := webhooks.ValidateURL(raw, dev)
		var e *giveathon.Error
		if !errors.As(err, &e) || e.Code != giveathon.EINVALID || e.Field != "url" {
			t.Errorf("%.60q (development %v): %v, want EINVALID on url", raw, dev, err)
		}
	}
	if got, err := webhooks.ValidateEvents([]string{"donation.succeeded", "*", "donation.succeeded"}); err != nil || len(got) != 2 {
		t.Errorf("events: %v, %v", got, err)
	}
	for _, events := range [][]string{nil, {}, {"donation.created"}, {"donation.succeeded", ""}} {
		_, err := webhooks.ValidateEvents(events)
		var e *giveathon.Error
		if !errors.As(err, &e) || e.Field != "events" {
			t.Errorf("events %q: %v, want EINVALID on events", events, err)
		}
	}
}
