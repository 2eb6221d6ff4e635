package model

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/giveathon/giveathon"
)

// MaxSafeInt is the largest SafeInt: 2^53 - 1, the largest whole number a JavaScript number
// holds exactly.
const MaxSafeInt = 1<<53 - 1

// MarshalSafeInt writes a SafeInt (the schema's scalar of sums of cents and sequence numbers).
func MarshalSafeInt(n int64) graphql.Marshaler { return graphql.MarshalInt64(n) }

// UnmarshalSafeInt reads a SafeInt argument: a whole number from -(2^53 - 1) to 2^53 - 1, as
// a literal or a JSON number. Anything else (a fraction, a string, a boolean, a larger number)
// is EINVALID (BAD_USER_INPUT on the argument's path), where gqlgen's Int64 gave an internal
// error or took it.
func UnmarshalSafeInt(v any) (int64, error) {
	var n int64
	ok := false
	switch v := v.(type) {
	case int64:
		n, ok = v, true
	case int:
		n, ok = int64(v), true
	case json.Number:
		var err error
		n, err = strconv.ParseInt(string(v), 10, 64)
		ok = err == nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) <= MaxSafeInt {
			n, ok = int64(v), true
		}
	}
	if !ok || n > MaxSafeInt || n < -MaxSafeInt {
		return 0, giveathon.Errorf(giveathon.EINVALID, "a SafeInt must be a whole number from -%d to %d", int64(MaxSafeInt), int64(MaxSafeInt))
	}
	return n, nil
}
