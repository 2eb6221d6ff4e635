package webhooks

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A failed try is described to the partner without this server's own network: not its
// resolver's address, not its source port.
func TestSendErrorHidesOurNetwork(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct{ url, want string }{
		{"http://no-such-host.invalid/hook", "the host name does not resolve"},
		{refused, "dial: connection refused"},
	} {
		_, err := client.Get(c.url)
		if err == nil {
			t.Fatalf("%s: no error", c.url)
		}
		got := sendError(err)
		if got != c.want {
			t.Errorf("%s: %q, want %q (from %v)", c.url, got, c.want, err)
		}
		if strings.Contains(got, "127.0.0.1") || strings.Contains(got, ":53") {
			t.Errorf("%s: %q names an address", c.url, got)
		}
	}
}
