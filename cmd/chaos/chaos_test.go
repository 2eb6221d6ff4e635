package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/pgaf"
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
// faults as the full profile (refunds by an organiser among them), one server kill and one
// database restart, 300 donations.
func TestChaosSmallProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run takes about a minute")
	}
	bin := buildGiveathon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, seed := range regressionSeeds {
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{"-bin", bin, "-seed", seed, "-donations", "300", "-donors", "30", "-concurrency", "16",
			"-server-kills", "1", "-db-restarts", "1", "-drain", "2m"}, &stdout, &stderr)
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		last := lines[len(lines)-1]
		t.Log(last)
		if code != 0 || !strings.Contains(last, "lost=0 double_charged=0 double_refunded=0 unsettled=0 amount_mismatch_cents=0 email_mismatch=0 webhooks_lost=0 webhooks_duplicated_ids=0") {
			t.Fatalf("chaos with seed %s: exit %d\n%s\n%s", seed, code, stdout.String(), tail(stderr.String(), 40))
		}
	}
}

// TestChaosHASmallProfile is -ha's small profile: the domain data and River's jobs on a
// pg_auto_failover pair, the usual provider faults, one planned switchover, and one primary
// killed (keeper and postmaster) and rejoined, under 300 donations paced to outlast them.
// Nothing may be lost or charged twice, and no answer may be INTERNAL_SERVER_ERROR; the
// outage is reported, not judged (make chaos-ha judges it).
func TestChaosHASmallProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run takes about a minute")
	}
	pgaf.Require(t)
	bin := buildGiveathon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-ha", "-bin", bin, "-donations", "300", "-donors", "30", "-concurrency", "16", "-rate", "15",
		"-drain", "2m", "-max-outage", "0"}, &stdout, &stderr)
	out := strings.TrimSpace(stdout.String())
	t.Log(out)
	lines := strings.Split(out, "\n")
	last := lines[len(lines)-1]
	if code != 0 || !strings.Contains(last, "lost=0 double_charged=0 unsettled=0 amount_mismatch_cents=0 email_mismatch=0 totals_mismatch=0 switchovers=1 failovers=1") ||
		!strings.Contains(last, "internal_errors=0") {
		t.Fatalf("chaos -ha: exit %d\n%s\n%s", code, stdout.String(), tail(stderr.String(), 60))
	}
}

// buildGiveathon builds the giveathon binary into the test's folder.
func buildGiveathon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "giveathon")
	build := exec.Command("go", "build", "-o", bin, "github.com/giveathon/giveathon/cmd/giveathon")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build giveathon: %v\n%s", err, out)
	}
	return bin
}

func TestFlagsAreChecked(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-donations", "0"}, {"-err500", "0.5", "-timeout-after", "0.5"}, {"-decline", "0.7", "-auth", "0.7"}, {"-nosuch"}, {"-ha", "-db-restarts", "1"}} {
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
