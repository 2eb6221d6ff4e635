package webhooks

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
)

// Standard Webhooks headers, and ours.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	UserAgent       = "Giveathon-Webhooks/1"
)

// MaxBodyBytes bounds a message: the spec asks senders to stay under 20 KB.
const MaxBodyBytes = 20 * 1024

// message is the body of a webhook.
type message struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Body returns the webhook body of an event: {"type", "timestamp", "data"}. A body of
// MaxBodyBytes or more is refused (EINVALID): sending it again will not help.
func Body(e *giveathon.PartnerEvent) ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b, err := json.Marshal(message{Type: e.Type, Timestamp: e.CreatedAt.UTC().Format(time.RFC3339Nano), Data: data})
	if err != nil {
		return nil, giveathon.Invalid("data", "event %s has data that is not JSON: %v", e.ID, err)
	}
	if len(b) >= MaxBodyBytes {
		return nil, giveathon.Invalid("data", "event %s makes a body of %d bytes, over the %d the spec allows", e.ID, len(b), MaxBodyBytes)
	}
	return b, nil
}

// Signature returns the webhook-signature header: "v1,<base64 HMAC-SHA256(key,
// id.timestamp.body)>" for each key, separated by spaces.
func Signature(id string, ts time.Time, body []byte, keys [][]byte) string {
	signed := id + "." + strconv.FormatInt(ts.Unix(), 10) + "."
	sigs := make([]string, len(keys))
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(signed))
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, " ")
}

// NewRequest builds the signed POST of a body to url for a try at ts.
func NewRequest(url, id string, ts time.Time, body []byte, keys [][]byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, Signature(id, ts, body, keys))
	return req, nil
}
