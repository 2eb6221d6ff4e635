// Package graph is Giveathon's GraphQL adapter: thin gqlgen resolvers that authenticate,
// call the domain services and convert, and the HTTP handler that serves them.
package graph

import (
	"log/slog"

	"github.com/giveathon/giveathon"
)

//go:generate go tool gqlgen generate

// Resolver holds the services the resolvers call.
type Resolver struct {
	Auth           giveathon.AuthService
	CharityService giveathon.CharityService
	Logger         *slog.Logger
}
