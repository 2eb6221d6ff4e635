package testenv

import (
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// StartStripeMock starts stripe-mock (Stripe's own mock, which validates every request
// against Stripe's OpenAPI spec) on a free loopback port for the test, and returns its base
// URL. The binary is the tool pinned in go.mod, or the one STRIPE_MOCK_BIN names.
func StartStripeMock(t testing.TB) string {
	t.Helper()
	bin, err := toolBinary("stripe-mock", "STRIPE_MOCK_BIN")
	if err != nil {
		t.Fatalf("testenv: stripe-mock: %v", err)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		ports, err := freeLoopbackPorts(1)
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(ports[0])
		cmd := exec.Command(bin, "-http-addr", addr)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("testenv: start stripe-mock: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		base := "http://" + addr
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			if resp, err := http.Get(base + "/v1/customers"); err == nil {
				resp.Body.Close()
				t.Cleanup(stop)
				return base
			}
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		if attempt == 3 {
			t.Fatalf("testenv: stripe-mock did not start: %s", out.String())
		}
	}
	panic(fmt.Sprintf("unreachable: %s", bin))
}
