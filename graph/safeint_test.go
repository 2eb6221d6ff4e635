package graph_test

import (
	"strings"
	"testing"
)

// TestASafeIntArgumentOutOfItsRangeIsBadInput: a SafeInt argument that is a fraction, a
// string, a boolean or past 2^53 - 1 is BAD_USER_INPUT naming its argument, never an internal
// error, and 2^53 - 1 itself is read.
func TestASafeIntArgumentOutOfItsRangeIsBadInput(t *testing.T) {
	t.Parallel()
	b := setupPartners(t)
	p := b.partner(t)
	const op = `query($s: SafeInt) { totalsCheckpoint(sequence: $s) { sequence } }`
	for _, bad := range []any{1.5, "abc", "12", true, 9007199254740992, -9007199254740992, 1e300} {
		r := b.as(t, p, op, map[string]any{"s": bad})
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Raw, "sequence") {
			t.Errorf("sequence %v: %s", bad, r.Raw)
		}
	}
	for _, literal := range []string{"1.5", "9007199254740993", `"7"`} {
		r := b.as(t, p, `{ totalsCheckpoint(sequence: `+literal+`) { sequence } }`, nil)
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Raw, "sequence") {
			t.Errorf("sequence: %s: %s", literal, r.Raw)
		}
	}
	// The largest is read (and is past the partner's last event: the resolver's own error).
	if r := b.as(t, p, op, map[string]any{"s": 9007199254740991}); r.Code() != "BAD_USER_INPUT" || r.Field() != "sequence" ||
		!strings.Contains(r.Raw, "no event with this sequence") {
		t.Errorf("sequence 2^53 - 1: %s", r.Raw)
	}
}
