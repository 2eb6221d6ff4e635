package auth

import (
	"strings"
	"testing"
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
