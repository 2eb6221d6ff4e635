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
// was an internal one.
func UnmarshalTime(v any) (time.Time, error) {
	t, err := graphql.UnmarshalTime(v)
	if err != nil {
		return time.Time{}, giveathon.Errorf(giveathon.EINVALID, "a Time must be an RFC 3339 time, such as 2026-12-01T09:00:00Z")
	}
	return t, nil
}
