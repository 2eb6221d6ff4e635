package auth

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestHashPasswordRecordsItsParameters(t *testing.T) {
	t.Parallel()
	p := Argon2Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	h, err := HashPassword("correct horse", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q does not record its parameters", h)
	}
	if ok, err := CheckPassword("correct horse", h); !ok || err != nil {
		t.Fatalf("right password rejected: %v", err)
	}
	if ok, _ := CheckPassword("correct horsE", h); ok {
		t.Fatal("wrong password accepted")
	}
	// A hash made with other parameters still checks: they are read from the hash.
	h2, _ := HashPassword("correct horse", DefaultArgon2Params)
	if ok, err := CheckPassword("correct horse", h2); !ok || err != nil {
		t.Fatalf("default-parameter hash rejected: %v", err)
	}
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "plain"} {
		if ok, err := CheckPassword("x", bad); ok || err == nil {
			t.Errorf("CheckPassword accepted malformed hash %q", bad)
		}
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	token, hash, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	again, ok := HashToken(token)
	if !ok || string(again) != string(hash) || len(hash) != 32 {
		t.Fatalf("HashToken(%q) = %x, %v; want %x", token, again, ok, hash)
	}
	other, _, _ := newToken()
	if other == token {
		t.Fatal("two tokens are equal")
	}
	for _, bad := range []string{"", "short", token + "x", strings.Repeat("!", 43)} {
		if _, ok := HashToken(bad); ok {
			t.Errorf("HashToken accepted %q", bad)
		}
	}
}

func TestClientAddressTrustsOnlyConfiguredProxies(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		peer, xff string
		trusted   []netip.Prefix
		want      string
	}{
		{"203.0.113.9:5000", "1.2.3.4", nil, "203.0.113.9"},                  // no proxies: the header is ignored
		{"203.0.113.9:5000", "1.2.3.4", proxies, "203.0.113.9"},              // an untrusted peer's header is ignored
		{"10.1.2.3:5000", "198.51.100.7", proxies, "198.51.100.7"},           // the proxy names the client
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.7", proxies, "198.51.100.7"},  // a forged hop on the left is skipped
		{"10.1.2.3:5000", "198.51.100.7, 10.9.9.9", proxies, "198.51.100.7"}, // a chain of trusted proxies
		{"10.1.2.3:5000", "", proxies, "10.1.2.3"},                           // no header
	} {
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := ClientAddress(r, tc.trusted); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: got %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}

func TestParseLimit(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Limit{"600/1m": {600, time.Minute}, "3/1h": {3, time.Hour}, "0": {}, "off": {}} {
		if got, err := ParseLimit(in); err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "10", "x/1m", "-1/1m", "10/0s", "10/500ms", "10/soon"} {
		if _, err := ParseLimit(bad); err == nil {
			t.Errorf("ParseLimit(%q) accepted", bad)
		}
	}
}
