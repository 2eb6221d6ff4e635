package model

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
)

// MaxSafeInt is the largest SafeInt: 2^53 - 1, the largest whole number a JavaScript number
// holds exactly.
const MaxSafeInt = 1<<53 - 1

// MarshalSafeInt writes a SafeInt (the schema's scalar of sums of cents and sequence numbers).
func MarshalSafeInt(n int64) graphql.Marshaler { return graphql.MarshalInt64(n) }

// UnmarshalSafeInt reads a SafeInt argument: a whole number from -(2^53 - 1) to 2^53 - 1, as
// a literal or a JSON number. Anything else (a fraction, a string, a boolean, a larger number)
// is refused with an error that says "cannot represent", which the error presenter answers as
// BAD_USER_INPUT on the argument's path.
func UnmarshalSafeInt(v any) (int64, error) {
	var n int64
	var err error
	switch v := v.(type) {
	case int64:
		n = v
	case int:
		n = int64(v)
	case json.Number:
		n, err = strconv.ParseInt(string(v), 10, 64)
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > MaxSafeInt {
			err = fmt.Errorf("not a whole number in range")
		} else {
			n = int64(v)
		}
	default:
		err = fmt.Errorf("not a number")
	}
	if err == nil && (n > MaxSafeInt || n < -MaxSafeInt) {
		err = fmt.Errorf("out of range")
	}
	if err != nil {
		return 0, fmt.Errorf("SafeInt cannot represent %v: it must be a whole number from -%d to %d", v, int64(MaxSafeInt), int64(MaxSafeInt))
	}
	return n, nil
}
