package graph

import (
	"encoding/base64"
	"testing"

	"github.com/giveathon/giveathon"
)

// TestAnIDNotFoundIsNamedAsStorageNamesIt: a malformed id, one of another type and a
// well-formed one that storage does not find all say "<type> not found" in the same words
// (a malformed one said "webhookendpoint not found", "apikey not found").
func TestAnIDNotFoundIsNamedAsStorageNamesIt(t *testing.T) {
	other := base64.RawURLEncoding.EncodeToString([]byte("Partner:00000000-0000-4000-8000-000000000000"))
	for typ, want := range map[string]string{
		typeWebhookEndpoint: "webhook endpoint not found",
		typeWebhookDelivery: "webhook delivery not found",
		typeAPIKey:          "API key not found",
		typePaymentMethod:   "payment method not found",
		typeCharity:         "charity not found",
	} {
		for _, id := range []string{"xyz", other} {
			_, err := parseID(typ, id)
			if giveathon.ErrorCode(err) != giveathon.ENOTFOUND || giveathon.ErrorMessage(err) != want {
				t.Errorf("parseID(%s, %q) = %v, want %q", typ, id, err, want)
			}
		}
	}
}
