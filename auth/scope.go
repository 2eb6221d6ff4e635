package auth

import (
	"context"

	"github.com/giveathon/giveathon"
)

// RequireScope returns the partner the request acts for when its API key has the scope:
// EUNAUTHORIZED (UNAUTHENTICATED) without a valid key, EFORBIDDEN when the key lacks the scope.
func RequireScope(ctx context.Context, scope giveathon.APIScope) (*giveathon.Caller, error) {
	c := giveathon.CallerFromContext(ctx)
	if c == nil || c.Partner == nil {
		if giveathon.UserFromContext(ctx) != nil {
			return nil, giveathon.Errorf(giveathon.EFORBIDDEN, "only a partner's API key may do this")
		}
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "send a partner API key (Authorization: Bearer gvk_...)")
	}
	if !c.Can(scope) {
		return nil, giveathon.Errorf(giveathon.EFORBIDDEN, "the API key lacks the %s scope", scope)
	}
	return c, nil
}
