package graph

import (
	"encoding/base64"
	"strings"

	"github.com/giveathon/giveathon"
)

// Global ID type names.
const (
	typeUser          = "User"
	typeCharity       = "Charity"
	typeDonation      = "Donation"
	typePaymentMethod = "PaymentMethod"
)

// globalID returns the opaque global ID of an object: base64url of "<Type>:<uuid>".
func globalID(typ, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typ + ":" + id))
}

// parseID accepts a global ID of the wanted type, or a raw UUID, and returns the UUID. Anything
// else is ENOTFOUND: to a client a wrong ID is an object that does not exist.
func parseID(typ, id string) (string, error) {
	notFound := giveathon.Errorf(giveathon.ENOTFOUND, "%s not found", typeName(typ))
	if giveathon.IsUUID(id) {
		return strings.ToLower(id), nil
	}
	gotType, raw, err := splitGlobalID(id)
	if err != nil || gotType != typ {
		return "", notFound
	}
	return raw, nil
}

// splitGlobalID decodes a global ID into its type and UUID.
func splitGlobalID(id string) (string, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	notFound := giveathon.Errorf(giveathon.ENOTFOUND, "not found")
	if err != nil {
		return "", "", notFound
	}
	typ, raw, ok := strings.Cut(string(b), ":")
	if !ok || !giveathon.IsUUID(raw) {
		return "", "", notFound
	}
	return typ, strings.ToLower(raw), nil
}

// typeNames are the words for the types whose name is not its own word in lower case: what
// storage says of one it does not find ("webhook endpoint not found"), so that an id that is
// malformed and one that is unknown get the same answer (they said "webhookendpoint").
var typeNames = map[string]string{
	typePaymentMethod:   "payment method",
	typeAPIKey:          "API key",
	typeWebhookEndpoint: "webhook endpoint",
	typeWebhookDelivery: "webhook delivery",
	typePartnerDonation: "donation",
}

// typeName is how an error names a type of object.
func typeName(typ string) string {
	if n, ok := typeNames[typ]; ok {
		return n
	}
	return strings.ToLower(typ)
}
