package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// regressionSeeds are seeds of runs that found a violation, kept as the small profile's
// cases. Timing is not reproducible, so a seed replays the same donors, cards, amounts and
// fault draws rather than the same interleaving.
var regressionSeeds = []string{
	// Duplicate receipts when a server kill or a database restart came between the SMTP send
	// and its record, and lost ones when the record came first. Now: a database restart no
	// longer resends (the record is retried, not the e-mail), and a kill resends with the same
	// Message-ID, which the mailbox keeps once (see docs/design-notes.md).
	"1795768794337145763",
}

// TestChaosSmallProfile is the small profile `make test` runs: the real processes, the same
// faults as the full profile, one server kill and one database restart, 300 donations.
func TestChaosSmallProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run takes about a minute")
	}
	bin := filepath.Join(t.TempDir(), "giveathon")
	build := exec.Command("go", "build", "-o", bin, "github.com/giveathon/giveathon/cmd/giveathon")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build giveathon: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, seed := range regressionSeeds {
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{"-bin", bin, "-seed", seed, "-donations", "300", "-donors", "30", "-concurrency", "16",
			"-server-kills", "1", "-db-restarts", "1", "-drain", "2m"}, &stdout, &stderr)
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		last := lines[len(lines)-1]
		t.Log(last)
		if code != 0 || !strings.Contains(last, "lost=0 double_charged=0 unsettled=0 amount_mismatch_cents=0 email_mismatch=0") {
			t.Fatalf("chaos with seed %s: exit %d\n%s\n%s", seed, code, stdout.String(), tail(stderr.String(), 40))
		}
	}
}

func TestFlagsAreChecked(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-donations", "0"}, {"-err500", "0.5", "-timeout-after", "0.5"}, {"-decline", "0.7", "-auth", "0.7"}, {"-nosuch"}} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, &bytes.Buffer{}, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
