// Package webhooks sends a partner's events to its endpoints by the Standard Webhooks spec
// (https://www.standardwebhooks.com): the signing, the endpoints' secrets, the guard against
// requests to internal addresses, the checks of an endpoint's URL and events, the Dispatcher
// that turns sequenced events into deliveries, and the one try of a delivery that the River
// worker (jobs/webhook_delivery.go) runs.
package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"time"

	"github.com/giveathon/giveathon"
)

// MinKeyBytes is the shortest master key (WEBHOOK_SECRET_KEY, decoded) accepted.
const MinKeyBytes = 32

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// Keyring derives the endpoints' signing secrets from the server's master key: no secret is
// stored, so a copy of the database signs nothing.
type Keyring struct {
	master []byte
}

// NewKeyring returns the keyring of a master key of at least MinKeyBytes.
func NewKeyring(master []byte) (*Keyring, error) {
	if len(master) < MinKeyBytes {
		return nil, errors.New("the webhook master key must be at least 32 bytes")
	}
	return &Keyring{master: append([]byte(nil), master...)}, nil
}

// key returns the 32 bytes that sign for an endpoint at a secret version:
// HMAC-SHA256(master, "webhook-endpoint:<id>:<version>").
func (k *Keyring) key(endpointID string, version int) []byte {
	m := hmac.New(sha256.New, k.master)
	m.Write([]byte("webhook-endpoint:" + endpointID + ":" + strconv.Itoa(version)))
	return m.Sum(nil)
}

// Secret returns the endpoint's signing secret at a version as the partner is given it:
// whsec_ and the base64 of the 32 bytes.
func (k *Keyring) Secret(endpointID string, version int) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(k.key(endpointID, version))
}

// SigningKeys returns the keys that sign the endpoint's messages at now: the current one, and
// the previous one while a rotation's overlap lasts.
func (k *Keyring) SigningKeys(ep *giveathon.WebhookEndpoint, now time.Time) [][]byte {
	keys := [][]byte{k.key(ep.ID, ep.SecretVersion)}
	if ep.PreviousVersion != nil && ep.PreviousUntil != nil && now.Before(*ep.PreviousUntil) {
		keys = append(keys, k.key(ep.ID, *ep.PreviousVersion))
	}
	return keys
}
