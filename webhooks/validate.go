package webhooks

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/giveathon/giveathon"
)

// MaxURLLength bounds an endpoint's URL.
const MaxURLLength = 2048

// AllEvents subscribes an endpoint to every event type.
const AllEvents = "*"

// ValidateURL checks an endpoint's URL: absolute http(s) (https outside development), a host,
// no credentials, at most MaxURLLength characters; outside development, no literal internal
// address either (names are checked when each try connects). The error names the field url.
func ValidateURL(raw string, development bool) error {
	if raw == "" || len(raw) > MaxURLLength || giveathon.HasControl(raw) {
		return giveathon.Invalid("url", "the URL must be 1 to %d characters, without control characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") {
		return giveathon.Invalid("url", "the URL must be an absolute http or https URL")
	}
	if u.Scheme != "https" && !development {
		return giveathon.Invalid("url", "the URL must use https")
	}
	if u.User != nil {
		return giveathon.Invalid("url", "the URL must not hold credentials (user:password@)")
	}
	host := u.Hostname()
	if host == "" {
		return giveathon.Invalid("url", "the URL has no host")
	}
	if !development {
		if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && Forbidden(a) {
			return giveathon.Invalid("url", "the URL points at an internal address")
		}
		if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
			return giveathon.Invalid("url", "the URL points at this machine")
		}
	}
	return nil
}

// ValidateEvents checks an endpoint's event types: at least one, each a partner event type or
// "*"; it returns them without repeats. The error names the field events.
func ValidateEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, giveathon.Invalid("events", "give at least one event type, or \"*\" for all")
	}
	var out []string
	for _, e := range events {
		if e != AllEvents && !slices.Contains(giveathon.PartnerEventTypes, e) {
			return nil, giveathon.Invalid("events", "%q is not an event type: use %s, or \"*\"", e, strings.Join(giveathon.PartnerEventTypes, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}
