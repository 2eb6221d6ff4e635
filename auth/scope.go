package auth

import (
	"context"

	"github.com/giveathon/giveathon"
)

// RequireScope returns the partner the request acts for when its API key has the scope:
// UNAUTHENTICATED without a valid key, FORBIDDEN when the key lacks the scope or when a
// donor's session calls a partner's field.
func RequireScope(ctx context.Context, scope giveathon.APIScope) (*giveathon.Caller, error) {
	c := giveathon.CallerFromContext(ctx)
	switch {
	case c == nil && giveathon.UserFromContext(ctx) != nil:
		return nil, giveathon.Errorf(giveathon.EFORBIDDEN, "this field is for partners' API keys")
	case c == nil:
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "an API key is required (Authorization: Bearer gvk_...)")
	case !c.Can(scope):
		return nil, giveathon.Errorf(giveathon.EFORBIDDEN, "this API key lacks the %s scope", scope)
	}
	return c, nil
}
