package model

import (
	"encoding/json"
	"fmt"
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
	n, ok := wholeNumber(v)
	if !ok || n > MaxSafeInt || n < -MaxSafeInt {
		return 0, giveathon.Errorf(giveathon.EINVALID, "a SafeInt must be a whole number from -%d to %d", int64(MaxSafeInt), int64(MaxSafeInt))
	}
	return n, nil
}

// MarshalInt writes an Int, as gqlgen does.
func MarshalInt(n int) graphql.Marshaler { return graphql.MarshalInt(n) }

// UnmarshalInt reads an Int argument held in a Go int: see UnmarshalInt64.
func UnmarshalInt(v any) (int, error) {
	n, err := UnmarshalInt64(v)
	return int(n), err
}

// MarshalInt64 writes an Int held in a Go int64, as gqlgen does.
func MarshalInt64(n int64) graphql.Marshaler { return graphql.MarshalInt64(n) }

// UnmarshalInt64 reads an Int argument: a whole number, as a literal or a JSON number. A
// string ("100"), a fraction or a boolean is EINVALID (BAD_USER_INPUT on the argument's
// path), as GraphQL's input coercion of Int says, where gqlgen's own took "100" as 100 and
// answered 12.5 with a message about strings. An absent value is 0, as gqlgen's.
func UnmarshalInt64(v any) (int64, error) {
	if v == nil {
		return 0, nil
	}
	n, ok := wholeNumber(v)
	if !ok {
		return 0, giveathon.Errorf(giveathon.EINVALID, "%s, not %s", Expected("Int"), describeInput(v))
	}
	return n, nil
}

// wholeNumber reads a whole number from a literal or a JSON number (a float64 only when it is
// whole and a JavaScript number holds it exactly).
func wholeNumber(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) <= MaxSafeInt {
			return int64(v), true
		}
	}
	return 0, false
}

// describeInput names what an argument was given, for its error.
func describeInput(v any) string {
	switch v := v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("a %T", v)
}

// MarshalString writes a String, as gqlgen does.
func MarshalString(s string) graphql.Marshaler { return graphql.MarshalString(s) }

// UnmarshalString reads a String argument: text, as a literal or a JSON string. A number or a
// boolean is EINVALID (BAD_USER_INPUT on the argument's path), as GraphQL's input coercion of
// String says, where gqlgen's own took 1e30 as the text "1e+30". An absent value is "", as
// gqlgen's.
func UnmarshalString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	}
	return "", giveathon.Errorf(giveathon.EINVALID, "%s, not %s", Expected("String"), describeInput(v))
}

// Expected says what a value of one of GraphQL's scalar types (or another named type) must
// be, for the errors of arguments and variables that are not one.
func Expected(typ string) string {
	switch typ {
	case "Int":
		return "an Int must be a whole number such as 1500"
	case "String":
		return "a String must be text in quotes"
	case "Boolean":
		return "a Boolean must be true or false"
	case "Float":
		return "a Float must be a number"
	case "ID":
		return "an ID must be text in quotes"
	}
	return "the value must be a " + typ
}
