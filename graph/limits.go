package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Defaults of the query limits.
const (
	DefaultMaxDepth      = 12
	DefaultMaxAliases    = 30
	DefaultMaxQueryBytes = 16 << 10
)

// queryLimits refuses queries that are too long, too deep or that ask for the same field
// under many aliases (each alias can multiply the work), and, in persisted-only mode, any
// query that is not on the allowlist.
type queryLimits struct {
	maxDepth, maxAliases, maxBytes int
	// allowed is the persisted-query allowlist (sha256 hex -> query); nil: any query.
	allowed map[string]string
}

var (
	_ graphql.HandlerExtension          = queryLimits{}
	_ graphql.OperationParameterMutator = queryLimits{}
	_ graphql.OperationContextMutator   = queryLimits{}
)

func (queryLimits) ExtensionName() string                   { return "QueryLimits" }
func (queryLimits) Validate(graphql.ExecutableSchema) error { return nil }

func limitError(code, format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": code}}
}

// MutateOperationParameters checks the query's size and, in persisted-only mode, that it is
// a persisted query: a known hash, or a query whose hash is on the allowlist.
func (l queryLimits) MutateOperationParameters(_ context.Context, raw *graphql.RawParams) *gqlerror.Error {
	if len(raw.Query) > l.maxBytes {
		return limitError("BAD_USER_INPUT", "the query is %d bytes: at most %d are accepted", len(raw.Query), l.maxBytes)
	}
	if l.allowed == nil {
		return nil
	}
	hash := persistedHash(raw)
	if raw.Query != "" {
		sum := sha256.Sum256([]byte(raw.Query))
		hash = hex.EncodeToString(sum[:])
	}
	if _, ok := l.allowed[hash]; !ok {
		return limitError("PERSISTED_QUERY_NOT_ALLOWED", "only persisted queries are accepted here")
	}
	if raw.Query == "" {
		raw.Query = l.allowed[hash]
	}
	return nil
}

// persistedHash returns the sha256Hash of an automatic persisted query request, if any.
func persistedHash(raw *graphql.RawParams) string {
	pq, _ := raw.Extensions["persistedQuery"].(map[string]any)
	h, _ := pq["sha256Hash"].(string)
	return h
}

// MutateOperationContext checks the parsed operation's depth and aliases.
func (l queryLimits) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	aliases := 0
	depth := measure(rc.Operation.SelectionSet, rc.Doc.Fragments, 1, &aliases, map[string]bool{})
	if depth > l.maxDepth {
		return limitError(errcode.ValidationFailed, "the query is %d levels deep: at most %d are accepted", depth, l.maxDepth)
	}
	if aliases > l.maxAliases {
		return limitError(errcode.ValidationFailed, "the query has %d aliases: at most %d are accepted", aliases, l.maxAliases)
	}
	return nil
}

// measure returns the depth of a selection set and counts its aliases, following fragments
// (each fragment once per path, so a fragment cycle cannot loop).
func measure(set ast.SelectionSet, fragments ast.FragmentDefinitionList, level int, aliases *int, onPath map[string]bool) int {
	deepest := 0
	for _, sel := range set {
		d := 0
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name {
				*aliases++
			}
			d = level
			if len(s.SelectionSet) > 0 {
				d = measure(s.SelectionSet, fragments, level+1, aliases, onPath)
			}
		case *ast.InlineFragment:
			d = measure(s.SelectionSet, fragments, level, aliases, onPath)
		case *ast.FragmentSpread:
			if onPath[s.Name] {
				continue
			}
			if def := fragments.ForName(s.Name); def != nil {
				onPath[s.Name] = true
				d = measure(def.SelectionSet, fragments, level, aliases, onPath)
				delete(onPath, s.Name)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// LoadPersistedQueries reads an allowlist file: a JSON object of sha256 hex -> query, as
// persisted-query tooling writes it. Each entry is checked against its hash.
func LoadPersistedQueries(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read persisted queries: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("persisted queries in %s: not a JSON object of hash to query: %w", path, err)
	}
	for hash, q := range m {
		sum := sha256.Sum256([]byte(q))
		if hex.EncodeToString(sum[:]) != hash {
			return nil, fmt.Errorf("persisted queries in %s: %s is not the sha256 of its query", path, hash)
		}
	}
	return m, nil
}
