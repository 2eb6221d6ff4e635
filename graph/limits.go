package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/auth"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Limits bound what one request may ask of the API. The process's configuration holds one
// and hands it over whole, so no limit can be read and then left behind.
type Limits struct {
	// MaxBodyBytes is the largest request body accepted.
	MaxBodyBytes int64
	// MaxComplexity is the largest query complexity accepted (each field costs 1, a list
	// costs its page size times its children).
	MaxComplexity int
	// MaxDepth, MaxAliases, MaxQueryBytes and MaxTokens bound a query's nesting, aliases,
	// length and number of tokens (names, punctuation, values).
	MaxDepth, MaxAliases, MaxQueryBytes, MaxTokens int
	// MaxSubscriptionsPerSocket is how many subscriptions one websocket connection may have
	// open at once.
	MaxSubscriptionsPerSocket int
	// MaxSocketsPerAddress is how many websocket connections one client address may have open
	// on this process at once.
	MaxSocketsPerAddress int
	// PartnerRequestsPerMinute and PartnerCostPerMinute bound what one partner's API key may
	// ask in a minute: requests, and their summed cost (each request's complexity, as
	// MaxComplexity counts it).
	PartnerRequestsPerMinute, PartnerCostPerMinute int
	// PersistedQueries, when set, is the only queries accepted (sha256 hex -> query):
	// persisted-query-only mode, for production.
	PersistedQueries map[string]string
}

// Defaults of the limits (the settings table in cmd/giveathon shows these).
const (
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxComplexity lets a full page (100) of any list with every field through, and
	// stops the multiplying of pages by pages.
	DefaultMaxComplexity             = 5000
	DefaultMaxDepth                  = 12
	DefaultMaxAliases                = 30
	DefaultMaxQueryBytes             = 16 << 10
	DefaultMaxTokens                 = 2000
	DefaultMaxSubscriptionsPerSocket = 20
	// DefaultMaxSocketsPerAddress leaves room for the donors behind one address (an office,
	// a phone bank), a browser tab holding one connection each.
	DefaultMaxSocketsPerAddress     = 50
	DefaultPartnerRequestsPerMinute = 600
	DefaultPartnerCostPerMinute     = 20000
)

// Bounds on a query's shape that no client needs to change: they keep the work of checking
// a query (gqlparser compares the fields that merge into one answer pairwise) to
// milliseconds.
const (
	// maxSelections is how many fields and fragment spreads a query may select once every
	// fragment is expanded where it is spread.
	maxSelections = 1000
	// maxSelectionsPerSet is how many a selection set may hold, counting those of the
	// fragments spread into it.
	maxSelectionsPerSet = 100
	// maxSameField is how often one field of the answer (a response path such as me.id) may
	// be asked for.
	maxSameField = 20
	// maxValidationErrors is how many validation errors an answer lists.
	maxValidationErrors = 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	for _, f := range []struct {
		v   *int
		def int
	}{{&l.MaxComplexity, DefaultMaxComplexity}, {&l.MaxDepth, DefaultMaxDepth}, {&l.MaxAliases, DefaultMaxAliases},
		{&l.MaxQueryBytes, DefaultMaxQueryBytes}, {&l.MaxTokens, DefaultMaxTokens}, {&l.MaxSubscriptionsPerSocket, DefaultMaxSubscriptionsPerSocket},
		{&l.MaxSocketsPerAddress, DefaultMaxSocketsPerAddress},
		{&l.PartnerRequestsPerMinute, DefaultPartnerRequestsPerMinute}, {&l.PartnerCostPerMinute, DefaultPartnerCostPerMinute}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	return l
}

// queryLimits refuses, before gqlgen parses and validates a query, queries that are too long,
// have too many tokens, are too deep, ask for the same field under many aliases (each alias
// can multiply the work) or are too large to check cheaply, and, in persisted-only mode, any
// query that is not on the allowlist.
type queryLimits struct {
	Limits
	// checked is the server's cache of parsed and validated queries: a query found there has
	// passed these limits already.
	checked graphql.Cache[*ast.QueryDocument]
}

var (
	_ graphql.HandlerExtension          = queryLimits{}
	_ graphql.OperationParameterMutator = queryLimits{}
)

func (queryLimits) ExtensionName() string                   { return "QueryLimits" }
func (queryLimits) Validate(graphql.ExecutableSchema) error { return nil }

func limitError(code, format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": code}}
}

// MutateOperationParameters checks the query's size and, in persisted-only mode, that it is
// a persisted query (a known hash, or a query whose hash is on the allowlist); then it parses
// the query, at most MaxTokens tokens of it, and checks its shape.
func (l queryLimits) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	if len(raw.Query) > l.MaxQueryBytes {
		return limitError("BAD_USER_INPUT", "the query is %d bytes: at most %d are accepted", len(raw.Query), l.MaxQueryBytes)
	}
	if l.PersistedQueries != nil {
		hash := persistedHash(raw)
		if raw.Query != "" {
			sum := sha256.Sum256([]byte(raw.Query))
			hash = hex.EncodeToString(sum[:])
		}
		if _, ok := l.PersistedQueries[hash]; !ok {
			return limitError("PERSISTED_QUERY_NOT_ALLOWED", "only persisted queries are accepted here")
		}
		if raw.Query == "" {
			raw.Query = l.PersistedQueries[hash]
		}
	}
	// A hash alone names a query the persisted-query cache took after it passed here.
	if raw.Query == "" {
		return nil
	}
	if _, ok := l.checked.Get(ctx, raw.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: raw.Query}, l.MaxTokens)
	if err != nil {
		gqlErr, ok := err.(*gqlerror.Error)
		if !ok {
			gqlErr = gqlerror.Wrap(err)
		}
		// gqlparser says so only in its message.
		if strings.HasPrefix(gqlErr.Message, "exceeded token limit") {
			return limitError(errcode.ValidationFailed, "the query has more than %d tokens (names, punctuation and values): at most %d are accepted", l.MaxTokens, l.MaxTokens)
		}
		errcode.Set(gqlErr, errcode.ParseFailed)
		return gqlErr
	}
	return l.checkShape(doc)
}

// persistedHash returns the sha256Hash of an automatic persisted query request, if any.
func persistedHash(raw *graphql.RawParams) string {
	pq, _ := raw.Extensions["persistedQuery"].(map[string]any)
	h, _ := pq["sha256Hash"].(string)
	return h
}

// checkShape checks the depth and aliases of each operation of a parsed document, and that
// checking it further stays cheap: few selections in all and in any one set, and no field of
// the answer asked for many times. The walk expands each fragment where it is spread and
// stops as soon as a bound is passed, so a document whose fragments fan out costs no more
// than maxSelections steps.
func (l queryLimits) checkShape(doc *ast.QueryDocument) *gqlerror.Error {
	w := &shapeWalk{fragments: make(map[string]*ast.FragmentDefinition, len(doc.Fragments))}
	for _, f := range doc.Fragments {
		w.fragments[f.Name] = f
	}
	for _, op := range doc.Operations {
		w.depth, w.aliases, w.asked = 0, 0, map[string]int{}
		if err := w.walk(op.SelectionSet, "", 1, new(int), map[string]bool{}); err != nil {
			return err
		}
		if w.depth > l.MaxDepth {
			return limitError(errcode.ValidationFailed, "the query is %d levels deep: at most %d are accepted", w.depth, l.MaxDepth)
		}
		if w.aliases > l.MaxAliases {
			return limitError(errcode.ValidationFailed, "the query has %d aliases: at most %d are accepted", w.aliases, l.MaxAliases)
		}
	}
	// gqlparser checks every fragment on its own too, used or not.
	for _, f := range doc.Fragments {
		w.asked = map[string]int{}
		if err := w.walk(f.SelectionSet, "", 1, new(int), map[string]bool{f.Name: true}); err != nil {
			return err
		}
	}
	return nil
}

// shapeWalk is one walk of checkShape.
type shapeWalk struct {
	fragments map[string]*ast.FragmentDefinition
	// steps counts the selections visited over the whole document.
	steps int
	// depth and aliases are the current operation's.
	depth, aliases int
	// asked counts the fields asked for at each response path.
	asked map[string]int
}

// walk visits a selection set at level, whose fields' response paths start with path; inSet
// counts the selections of the set the fields belong to (a fragment's fields join the set it
// is spread into), and onPath the fragments being expanded, so a cycle (which validation
// refuses) cannot loop.
func (w *shapeWalk) walk(set ast.SelectionSet, path string, level int, inSet *int, onPath map[string]bool) *gqlerror.Error {
	for _, sel := range set {
		w.steps++
		if w.steps > maxSelections {
			return limitError(errcode.ValidationFailed, "the query selects more than %d fields and fragments once its fragments are expanded where they are spread", maxSelections)
		}
		switch s := sel.(type) {
		case *ast.Field:
			*inSet++
			if s.Alias != "" && s.Alias != s.Name {
				w.aliases++
			}
			key := s.Alias
			if key == "" {
				key = s.Name
			}
			at := path + "." + key
			if w.asked[at]++; w.asked[at] > maxSameField {
				return limitError(errcode.ValidationFailed, "the query asks for %s more than %d times", strings.TrimPrefix(at, "."), maxSameField)
			}
			w.depth = max(w.depth, level)
			if len(s.SelectionSet) > 0 {
				if err := w.walk(s.SelectionSet, at, level+1, new(int), onPath); err != nil {
					return err
				}
			}
		case *ast.InlineFragment:
			if err := w.walk(s.SelectionSet, path, level, inSet, onPath); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			*inSet++
			def := w.fragments[s.Name]
			if def == nil || onPath[s.Name] {
				continue
			}
			onPath[s.Name] = true
			err := w.walk(def.SelectionSet, path, level, inSet, onPath)
			delete(onPath, s.Name)
			if err != nil {
				return err
			}
		}
		if *inSet > maxSelectionsPerSet {
			return limitError(errcode.ValidationFailed, "a selection set of the query holds more than %d fields and fragment spreads, counting those of the fragments spread into it", maxSelectionsPerSet)
		}
	}
	return nil
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

// partnerLimits holds each partner's API key to its request rate and its cost budget per
// minute (auth.Guard.PartnerRequest, the one rule), before anything of the request runs, and
// tells the partner each request's cost in extensions.cost and what is left of the budget in
// extensions.costRemaining. The cost is the complexity the ComplexityLimit extension computed,
// so it goes after that extension.
//
// It also holds each key to as many open subscriptions on this process as one websocket may
// have (MaxSubscriptionsPerSocket): the rate counts a subscription once, when it starts, and a
// partnerEvents subscription reads the database twice a second for as long as it is open, so
// a key opening a few every minute over many connections would pile up without end.
type partnerLimits struct {
	guard            *auth.Guard
	requests, budget auth.Limit
	maxOpen          int
	open             *openCounts
}

// openCounts counts what is open on this process per key: a partner's subscriptions, a
// client address's websocket connections.
type openCounts struct {
	mu    sync.Mutex
	byKey map[string]int
}

func newOpenCounts() *openCounts { return &openCounts{byKey: map[string]int{}} }

// take counts one more open for key unless max are open already, and reports whether it did;
// what it counted is let go when ctx ends (the subscription's, the connection's).
func (o *openCounts) take(ctx context.Context, key string, max int) bool {
	o.mu.Lock()
	full := o.byKey[key] >= max
	if !full {
		o.byKey[key]++
	}
	o.mu.Unlock()
	if !full {
		context.AfterFunc(ctx, func() {
			o.mu.Lock()
			if o.byKey[key]--; o.byKey[key] <= 0 {
				delete(o.byKey, key)
			}
			o.mu.Unlock()
		})
	}
	return !full
}

var (
	_ graphql.HandlerExtension        = partnerLimits{}
	_ graphql.OperationContextMutator = partnerLimits{}
	_ graphql.OperationInterceptor    = partnerLimits{}
	_ graphql.ResponseInterceptor     = partnerLimits{}
)

// partnerCost is a partner request's cost and the budget left after it (-1: no budget).
type partnerCost struct{ cost, remaining int }

const partnerCostStats = "PartnerCost"

func newPartnerLimits(guard *auth.Guard, l Limits) partnerLimits {
	return partnerLimits{guard: guard, requests: auth.Limit{Max: l.PartnerRequestsPerMinute, Window: time.Minute},
		budget:  auth.Limit{Max: l.PartnerCostPerMinute, Window: time.Minute},
		maxOpen: l.MaxSubscriptionsPerSocket, open: newOpenCounts()}
}

func (partnerLimits) ExtensionName() string                   { return "PartnerLimits" }
func (partnerLimits) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext counts a partner's request and its cost, and refuses it with
// RATE_LIMITED (and retryAfter) past either limit.
func (l partnerLimits) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	c := giveathon.CallerFromContext(ctx)
	if c == nil {
		return nil
	}
	cost := 0
	if stats := extension.GetComplexityStats(ctx); stats != nil {
		cost = stats.Complexity
	}
	remaining, err := l.guard.PartnerRequest(ctx, c.Key.ID, cost, l.requests, l.budget)
	opCtx.Stats.SetExtension(partnerCostStats, &partnerCost{cost: cost, remaining: remaining})
	if err != nil {
		return gqlerror.WrapIfUnwrapped(err)
	}
	return nil
}

// InterceptOperation refuses a partner's subscription when its key has the most open on this
// process already, and counts it until it ends (completed by either side, or its connection
// closed: the operation's context ends with it).
func (l partnerLimits) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	c := giveathon.CallerFromContext(ctx)
	if c == nil || graphql.GetOperationContext(ctx).Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	if !l.open.take(ctx, c.Key.ID, l.maxOpen) {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{limitError("SUBSCRIPTION_LIMIT_EXCEEDED",
			"this API key has %d subscriptions open already: complete one first", l.maxOpen)}})
	}
	return next(ctx)
}

// InterceptResponse adds the cost to every answer to a partner (0 for a request refused
// before its cost was known).
func (partnerLimits) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || giveathon.CallerFromContext(ctx) == nil {
		return resp
	}
	pc := &partnerCost{remaining: -1}
	if graphql.HasOperationContext(ctx) {
		if got, ok := graphql.GetOperationContext(ctx).Stats.GetExtension(partnerCostStats).(*partnerCost); ok {
			pc = got
		}
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["cost"] = pc.cost
	if pc.remaining >= 0 {
		resp.Extensions["costRemaining"] = pc.remaining
	}
	return resp
}
