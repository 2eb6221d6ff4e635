package webhooks

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Timeout bounds one try: connecting, sending, and the endpoint's answer.
const Timeout = 15 * time.Second

// ErrForbiddenAddress is the error of a connection refused by the guard.
var ErrForbiddenAddress = errors.New("the address is not allowed for webhooks (loopback, private, link-local or otherwise internal)")

// blocked are the ranges no webhook may reach outside development, beside what netip's own
// tests cover (loopback, private, link-local, multicast, unspecified).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 to any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2002::/16"),      // 6to4, which embeds any IPv4 address
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("::/128"),         // unspecified
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated), which embeds any IPv4 address
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, cloud metadata
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("10.0.0.0/8"),     // private
	netip.MustParsePrefix("172.16.0.0/12"),  // private
	netip.MustParsePrefix("192.168.0.0/16"), // private
	netip.MustParsePrefix("255.255.255.255/32"),
}

// Forbidden reports whether a webhook may not go to addr outside development: loopback,
// private (RFC 1918, fc00::/7), link-local (169.254.169.254's metadata among them),
// unspecified, multicast, carrier-grade NAT, and the IPv4-mapped forms of them.
func Forbidden(addr netip.Addr) bool {
	if !addr.IsValid() {
		return true
	}
	a := addr.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range blocked {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// guard is a net.Dialer Control function: it runs on the resolved address just before each
// connection, so a name that resolves (or re-resolves, DNS rebinding) to an internal address
// is refused too.
func guard(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
	}
	if Forbidden(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr().Unmap())
	}
	return nil
}

// NewClient returns the HTTP client that sends webhooks: a pooled keep-alive transport, no
// proxy (a proxy would connect for us, past the guard), Timeout per try, and no redirect
// followed (a 3xx is the answer, and a failure). Outside development (allowInternal false) it
// refuses to connect to internal addresses.
func NewClient(allowInternal bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowInternal {
		dialer.Control = guard
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          200,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: Timeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
