package model

import (
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/giveathon/giveathon"
)

// MarshalTime writes a Time as gqlgen does: RFC 3339 with nanoseconds, null for the zero time.
func MarshalTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }

// UnmarshalTime reads a Time argument as gqlgen does (RFC 3339, with or without fractions);
// anything else is EINVALID (BAD_USER_INPUT on the argument's path), where gqlgen's own error
// was an internal one. So is a time whose UTC year is past 9999 (9999-12-31T23:00:00-01:00):
// RFC 3339 cannot write it back, and the audit line of a key that expired then could not be
// written (an internal error).
func UnmarshalTime(v any) (time.Time, error) {
	t, err := graphql.UnmarshalTime(v)
	if err != nil || t.UTC().Year() > 9999 || t.UTC().Year() < 1 {
		return time.Time{}, giveathon.Errorf(giveathon.EINVALID, "a Time must be an RFC 3339 time from year 1 to 9999 in UTC, such as 2026-12-01T09:00:00Z")
	}
	return t, nil
}
