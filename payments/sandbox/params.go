package sandbox

import (
	"crypto/sha256"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// form reads Stripe's form encoding: bracket notation for hashes (metadata[key]=v) and
// indexed or empty brackets for arrays (expand[0]=x as stripe-go sends, expand[]=x as curl
// users write).
type form url.Values

// topName is the parameter a key belongs to: "metadata" for "metadata[donation_id]".
func topName(key string) string {
	if i := strings.IndexByte(key, '['); i >= 0 {
		return key[:i]
	}
	return key
}

// unknown returns the first parameter (in sorted order, so the error is stable) that is not
// in allowed.
func (f form) unknown(allowed map[string]bool) string {
	var bad []string
	for k := range f {
		if n := topName(k); !allowed[n] {
			bad = append(bad, n)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	sort.Strings(bad)
	return bad[0]
}

func (f form) has(name string) bool {
	_, ok := f[name]
	return ok
}

func (f form) str(name string) string {
	return url.Values(f).Get(name)
}

// enum returns an enum parameter, def when it is absent, or Stripe's invalid_request_error
// naming the allowed values.
func (f form) enum(name, def string, allowed ...string) (string, *stripeError) {
	v := f.str(name)
	if v == "" {
		return def, nil
	}
	if !slices.Contains(allowed, v) {
		return "", invalid(name, "Invalid %s: must be one of %s", name, strings.Join(allowed, ", "))
	}
	return v, nil
}

// boolean reads a true/false parameter; present reports whether it was sent.
func (f form) boolean(name string) (v, present bool, err *stripeError) {
	if !f.has(name) {
		return false, false, nil
	}
	switch s := f.str(name); s {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	default:
		return false, true, invalid(name, "Invalid boolean: %s", s)
	}
}

// integer reads an integer parameter; present reports whether it was sent.
func (f form) integer(name string) (v int64, present bool, err *stripeError) {
	if !f.has(name) {
		return 0, false, nil
	}
	s := f.str(name)
	n, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil {
		e := invalid(name, "Invalid integer: %s", s)
		e.Code = "parameter_invalid_integer"
		return 0, true, e
	}
	return n, true, nil
}

// list reads an array parameter in index order.
func (f form) list(name string) []string {
	type item struct {
		i int
		v string
	}
	var items []item
	for k, vs := range f {
		switch {
		case k == name || k == name+"[]":
			for _, v := range vs {
				items = append(items, item{len(items) + 1<<30, v})
			}
		case strings.HasPrefix(k, name+"[") && strings.HasSuffix(k, "]"):
			i, err := strconv.Atoi(k[len(name)+1 : len(k)-1])
			if err != nil {
				continue
			}
			for _, v := range vs {
				items = append(items, item{i, v})
			}
		}
	}
	sort.SliceStable(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it.v != "" {
			out = append(out, it.v)
		}
	}
	return out
}

// Stripe's metadata limits.
const (
	maxMetadataKeys     = 50
	maxMetadataKeyLen   = 40
	maxMetadataValueLen = 500
)

// metadata reads metadata[key]=value pairs. An empty value means "unset this key", and
// metadata= (empty) means "unset every key", as in Stripe's updates; clear reports the latter.
func (f form) metadata() (set map[string]string, clear bool, err *stripeError) {
	set = map[string]string{}
	for k, vs := range f {
		if k == "metadata" {
			if f.str(k) != "" {
				return nil, false, invalid("metadata", "Invalid object")
			}
			clear = true
			continue
		}
		if !strings.HasPrefix(k, "metadata[") {
			continue
		}
		key := strings.TrimSuffix(strings.TrimPrefix(k, "metadata["), "]")
		if key == "" || strings.ContainsAny(key, "[]") || !strings.HasSuffix(k, "]") {
			return nil, false, invalid("metadata", "Invalid metadata key: %s", k)
		}
		if utf8.RuneCountInString(key) > maxMetadataKeyLen {
			return nil, false, invalid("metadata", "Metadata keys can have up to %d characters: %s", maxMetadataKeyLen, key)
		}
		v := vs[len(vs)-1]
		if n := utf8.RuneCountInString(v); n > maxMetadataValueLen {
			return nil, false, invalid("metadata", "Metadata values can have up to %d characters, but the value of %s has %d", maxMetadataValueLen, key, n)
		}
		set[key] = v
	}
	if len(set) > maxMetadataKeys {
		return nil, false, invalid("metadata", "Metadata can have up to %d keys, but %d were sent", maxMetadataKeys, len(set))
	}
	return set, clear, nil
}

// applyMetadata returns m with what metadata() read applied, as a new map: an object's
// metadata map is never changed in place, so the charges and the ledger made from an intent
// share its map instead of copying it.
func applyMetadata(m map[string]string, set map[string]string, clear bool) map[string]string {
	if clear {
		m = nil
	}
	m = cloneMap(m)
	for k, v := range set {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// paramsDigest identifies a request's parameters, whatever their order, in 32 bytes: an
// idempotency key keeps it instead of the parameters, which at an event's millions of keys
// would be most of the sandbox's memory. Encode sorts by name and escapes, so two requests
// have the same digest only if they sent the same parameters.
func paramsDigest(v url.Values) [sha256.Size]byte {
	return sha256.Sum256([]byte(v.Encode()))
}
