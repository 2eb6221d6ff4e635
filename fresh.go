package giveathon

import "context"

type freshReadsKey struct{}

// NewContextWithFreshReads returns a context whose reads must see every committed write: a
// read that follows a change notice, which a lagging read replica may not have replayed yet.
func NewContextWithFreshReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshReadsKey{}, true)
}

// FreshReadsFromContext reports whether ctx asks for reads that see every committed write.
func FreshReadsFromContext(ctx context.Context) bool {
	fresh, _ := ctx.Value(freshReadsKey{}).(bool)
	return fresh
}
