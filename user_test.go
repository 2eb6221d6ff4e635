package giveathon_test

import (
	"testing"

	"github.com/giveathon/giveathon"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Ada@Example.org":      "ada@example.org",
		"  bob@example.co.uk":  "bob@example.co.uk",
		"x+tag@sub.example.io": "x+tag@sub.example.io",
	} {
		if got, err := giveathon.NormalizeEmail(in); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "plain", "a@b", "a@b.", "@example.org", "Ada <ada@example.org>", "a b@example.org", "a@@example.org"} {
		if _, err := giveathon.NormalizeEmail(in); giveathon.ErrorCode(err) != giveathon.EINVALID || giveathon.ErrorField(err) != "email" {
			t.Errorf("NormalizeEmail(%q) accepted or wrong error: %v", in, err)
		}
	}
}

func TestPageValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		first, want int
		ok          bool
	}{{0, giveathon.DefaultPageSize, true}, {1, 1, true}, {100, 100, true}, {101, 0, false}, {-1, 0, false}} {
		p, err := giveathon.Page{First: tc.first}.Validate()
		if (err == nil) != tc.ok || (tc.ok && p.First != tc.want) {
			t.Errorf("Page{First: %d}.Validate() = %+v, %v", tc.first, p, err)
		}
	}
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	err := giveathon.Invalid("amount", "too small")
	if giveathon.ErrorCode(err) != giveathon.EINVALID || giveathon.ErrorMessage(err) != "too small" || giveathon.ErrorField(err) != "amount" {
		t.Fatalf("Invalid: %v", err)
	}
	plain := errTest("boom")
	if giveathon.ErrorCode(plain) != giveathon.EINTERNAL || giveathon.ErrorMessage(plain) != "internal error" {
		t.Fatal("a plain error must show as internal")
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
