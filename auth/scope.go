package auth

import (
	"context"

	"github.com/giveathon/giveathon"
)

// RequireScope returns the partner the request acts for when its API key has the scope.
// Without a valid key it is EUNAUTHORIZED (UNAUTHENTICATED), with the reason a key sent was
// refused (malformed, unknown, revoked, expired, of the other mode); to a signed-in donor it
// is EFORBIDDEN (a session never acts as a partner); to a key without the scope, EFORBIDDEN
// naming the scope. Every partner field calls it.
func RequireScope(ctx context.Context, scope giveathon.APIScope) (*giveathon.Caller, error) {
	c := giveathon.CallerFromContext(ctx)
	if c == nil {
		if giveathon.UserFromContext(ctx) != nil {
			return nil, giveathon.Errorf(giveathon.EFORBIDDEN, "partner fields need an API key: a donor's session cannot act as a partner")
		}
		if err := AuthError(ctx); err != nil {
			return nil, err
		}
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "send a partner's API key: Authorization: Bearer gvk_...")
	}
	if !c.Can(scope) {
		return nil, giveathon.Errorf(giveathon.EFORBIDDEN, "this API key lacks the %s scope", scope)
	}
	return c, nil
}
