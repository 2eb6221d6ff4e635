package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
)

// API keys look like gvk_live_<43 base62 characters: 256 random bits><6 base62 characters: the
// CRC32 of those 43>, as GitHub's tokens do: a leaked key is recognisable by its prefix (secret
// scanners can look for it), and a mistyped one is refused by its checksum without a database
// read. Only the SHA-256 of the whole key is stored.
const (
	// APIKeyPrefix starts every API key; a session token never does (newToken sees to it).
	APIKeyPrefix = "gvk_"
	// keyRandomBytes is the key's randomness: 256 bits.
	keyRandomBytes = 32
	// keyBodyLen is 256 bits in base62 (62^43 > 2^256), keyChecksumLen a CRC32 (62^6 > 2^32).
	keyBodyLen     = 43
	keyChecksumLen = 6
	// keyShownLen is how much of a key is kept in the clear to tell keys apart: the prefix and
	// mode, and four characters.
	keyShownLen = len("gvk_live_") + 4
)

const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// base62 writes n in base62, left-padded with zeros to width characters.
func base62(n *big.Int, width int) string {
	b := make([]byte, width)
	n = new(big.Int).Set(n)
	base, digit := big.NewInt(62), new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, digit)
		b[i] = base62Digits[digit.Int64()]
	}
	return string(b)
}

// keyChecksum is the CRC32 of a key's body in base62.
func keyChecksum(body string) string {
	return base62(big.NewInt(int64(crc32.ChecksumIEEE([]byte(body)))), keyChecksumLen)
}

// keyModePrefix returns the prefix of a key of the mode: gvk_live_ or gvk_test_.
func keyModePrefix(live bool) string {
	if live {
		return APIKeyPrefix + giveathon.KeyModeLive + "_"
	}
	return APIKeyPrefix + giveathon.KeyModeTest + "_"
}

// NewAPIKey returns a new key of the mode (live or test): its secret, the part of it shown
// to tell keys apart, and the SHA-256 it is stored under.
func NewAPIKey(live bool) (secret, shown string, hash []byte, err error) {
	b := make([]byte, keyRandomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, fmt.Errorf("read random API key: %w", err)
	}
	body := base62(new(big.Int).SetBytes(b), keyBodyLen)
	secret = keyModePrefix(live) + body + keyChecksum(body)
	sum := sha256.Sum256([]byte(secret))
	return secret, secret[:keyShownLen], sum[:], nil
}

// IsAPIKey reports whether a bearer token is meant as an API key (rather than a session).
func IsAPIKey(token string) bool { return strings.HasPrefix(token, APIKeyPrefix) }

// ParseAPIKey checks a key's shape and checksum, and returns its mode and the SHA-256 it is
// stored under; a key that fails is EUNAUTHORIZED, with no database read.
func ParseAPIKey(secret string) (live bool, hash []byte, err error) {
	malformed := giveathon.Errorf(giveathon.EUNAUTHORIZED, "the API key is malformed (its checksum does not match): send it exactly as it was issued")
	var rest string
	var ok bool
	if rest, ok = strings.CutPrefix(secret, keyModePrefix(true)); ok {
		live = true
	} else if rest, ok = strings.CutPrefix(secret, keyModePrefix(false)); !ok {
		return false, nil, malformed
	}
	if len(rest) != keyBodyLen+keyChecksumLen || strings.Trim(rest, base62Digits) != "" {
		return false, nil, malformed
	}
	if body := rest[:keyBodyLen]; keyChecksum(body) != rest[keyBodyLen:] {
		return false, nil, malformed
	}
	sum := sha256.Sum256([]byte(secret))
	return live, sum[:], nil
}

// KeyStore is the storage of API keys (db.DB).
type KeyStore interface {
	CreateAPIKey(ctx context.Context, actor *giveathon.User, key *giveathon.APIKey, keyHash []byte) (*giveathon.APIKey, error)
	FindAPIKeyByHash(ctx context.Context, keyHash []byte) (*giveathon.Caller, error)
	TouchAPIKey(ctx context.Context, id string) error
}

// Keys issues and checks partners' API keys; it implements giveathon.KeyService.
type Keys struct {
	Store KeyStore
	// Live is the deployment's mode: true issues and accepts only live keys, false only test
	// keys (development, or Stripe's test keys and the sandbox).
	Live   bool
	Logger *slog.Logger
	// Now is the clock (tests move it); nil: time.Now.
	Now func() time.Time

	watchers watchers
}

var _ giveathon.KeyService = (*Keys)(nil)

func (k *Keys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// IssueAPIKey implements giveathon.KeyService.
func (k *Keys) IssueAPIKey(ctx context.Context, actor *giveathon.User, in giveathon.APIKeyInput) (*giveathon.APIKey, string, error) {
	in, err := in.Validate(k.now())
	if err != nil {
		return nil, "", err
	}
	secret, shown, hash, err := NewAPIKey(k.Live)
	if err != nil {
		return nil, "", err
	}
	mode := giveathon.KeyModeTest
	if k.Live {
		mode = giveathon.KeyModeLive
	}
	key, err := k.Store.CreateAPIKey(ctx, actor, &giveathon.APIKey{PartnerID: in.PartnerID, Prefix: shown, Mode: mode,
		Scopes: in.Scopes, ExpiresAt: in.ExpiresAt}, hash)
	if err != nil {
		return nil, "", err
	}
	return key, secret, nil
}

// AuthenticateKey implements giveathon.KeyService. A key's use is recorded at most once a
// minute (one conditional UPDATE when its last use is older); a failure to record it is only
// logged.
func (k *Keys) AuthenticateKey(ctx context.Context, secret string) (*giveathon.Caller, error) {
	live, hash, err := ParseAPIKey(secret)
	if err != nil {
		return nil, err
	}
	if live != k.Live {
		if live {
			return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "this is a live API key (gvk_live_) and this deployment is in test mode: use a gvk_test_ key")
		}
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "this is a test API key (gvk_test_) and this deployment is live: use a gvk_live_ key")
	}
	c, err := k.Store.FindAPIKeyByHash(ctx, hash)
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "the API key is not known here: check it was issued by this deployment")
	} else if err != nil {
		return nil, err
	}
	now := k.now()
	switch {
	case c.Key.RevokedAt != nil:
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "the API key was revoked: use another of the partner's keys")
	case c.Key.ExpiresAt != nil && !now.Before(*c.Key.ExpiresAt):
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "the API key expired at %s: use another of the partner's keys", c.Key.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if c.Key.LastUsedAt == nil || now.Sub(*c.Key.LastUsedAt) >= time.Minute {
		if err := k.Store.TouchAPIKey(ctx, c.Key.ID); err != nil && k.Logger != nil {
			k.Logger.WarnContext(ctx, "record an API key's use", "key_id", c.Key.ID, "err", err)
		}
	}
	return c, nil
}
