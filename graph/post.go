package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Media types of a GraphQL answer over HTTP.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// postTransport is gqlgen's POST transport with the status codes of the GraphQL-over-HTTP
// spec. A request that fails before execution (it does not parse or validate, its variables
// do not coerce, a limit refuses it) is answered 200 with its errors to a client that accepts
// application/json, and 400 with its errors and no data entry to one that asks for
// application/graphql-response+json. A body that is not JSON is answered 400 to both.
type postTransport struct {
	// POST decides which requests are this transport's.
	transport.POST
}

var _ graphql.Transport = postTransport{}

// requestErrors is the answer to a request that failed before execution: no data entry.
type requestErrors struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func (postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	params := &graphql.RawParams{}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		err = dec.Decode(params)
	}
	if err != nil {
		msg := "the request body is not valid JSON"
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			// Valid JSON of the wrong shape ({"query": 5}) is not "not valid JSON".
			msg = "the request body must be a JSON object with query (a string), and variables and extensions (objects) if any"
			if typeErr.Field != "" {
				msg += ": " + typeErr.Field + " is not one"
			}
		}
		badRequest(w, r, exec, msg)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	answer(w, r, exec, params, false)
}

// getTransport is gqlgen's GET transport with the same status codes as postTransport; a GET
// runs queries only (405 with Allow: POST for a mutation, as the spec asks).
type getTransport struct {
	// GET decides which requests are this transport's.
	transport.GET
}

var _ graphql.Transport = getTransport{}

func (getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		badRequest(w, r, exec, "the query string cannot be read")
		return
	}
	params := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	for name, into := range map[string]*map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
		if v := q.Get(name); v != "" {
			dec := json.NewDecoder(strings.NewReader(v))
			dec.UseNumber()
			if err := dec.Decode(into); err != nil {
				badRequest(w, r, exec, name+" is not a JSON object")
				return
			}
		}
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	answer(w, r, exec, params, true)
}

// badRequest answers a request that could not even be read: 400, whatever it accepts.
func badRequest(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, message string) {
	w.Header().Set("Content-Type", answerMediaType(r.Header.Get("Accept")))
	w.WriteHeader(http.StatusBadRequest)
	writeAnswer(w, requestErrors{Errors: exec.DispatchError(r.Context(), gqlerror.List{gqlerror.Errorf("%s", message)}).Errors})
}

// answer runs a read request: a failure before execution is 200 with its errors under
// application/json and 400 without a data entry under application/graphql-response+json.
func answer(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams, queriesOnly bool) {
	ctx := r.Context()
	media := answerMediaType(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media)
	params.Headers = r.Header
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		if media == mediaGraphQLResponse {
			w.WriteHeader(http.StatusBadRequest)
		}
		writeAnswer(w, requestErrors{Errors: resp.Errors, Extensions: resp.Extensions})
		return
	}
	if queriesOnly && opCtx.Operation != nil && opCtx.Operation.Operation != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		writeAnswer(w, requestErrors{Errors: gqlerror.List{{Message: "GET runs queries only: send mutations as POST",
			Extensions: map[string]any{"code": "BAD_USER_INPUT"}}}})
		return
	}
	if opCtx.Operation != nil && opCtx.Operation.Operation == ast.Subscription {
		// Over HTTP a subscription would hold the request open until its next event, with no
		// end: it is for the WebSocket.
		w.WriteHeader(http.StatusBadRequest)
		writeAnswer(w, requestErrors{Errors: gqlerror.List{{Message: "subscriptions run over a WebSocket (graphql-transport-ws) at this path, not over HTTP",
			Extensions: map[string]any{"code": "BAD_USER_INPUT"}}}})
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	writeAnswer(w, responses(ctx))
}

// answerMediaType chooses the media type of the answer from the request's Accept header, in
// the client's order: application/graphql-response+json when asked for by name, otherwise
// application/json (also for no Accept header, or a wildcard, as the spec asks of servers
// that must serve clients older than it).
func answerMediaType(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		media, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch media {
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		case mediaJSON, "application/*", "*/*":
			return mediaJSON
		}
	}
	return mediaJSON
}

func writeAnswer(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Nothing the client sent can make an answer unmarshalable: a bug.
		panic(err)
	}
	_, _ = w.Write(b)
}

// unsupportedTransport answers, last, the requests no other transport takes: a POST whose
// body is not declared JSON (415), or a method GraphQL is not served over (405). gqlgen's own
// answer was 400 "transport not supported" under text/plain.
type unsupportedTransport struct{}

var _ graphql.Transport = unsupportedTransport{}

func (unsupportedTransport) Supports(*http.Request) bool { return true }

func (unsupportedTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	w.Header().Set("Content-Type", answerMediaType(r.Header.Get("Accept")))
	var message string
	if r.Method == http.MethodPost {
		w.Header().Set("Accept-Post", mediaJSON)
		w.WriteHeader(http.StatusUnsupportedMediaType)
		message = "a GraphQL request sent as POST must be JSON: set Content-Type: application/json"
		if media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && len(media) <= 100 {
			message += " (this one is " + media + ")"
		}
	} else {
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		w.WriteHeader(http.StatusMethodNotAllowed)
		message = "GraphQL is served over GET (queries) and POST (queries and mutations), and over a WebSocket (subscriptions), not over this method"
	}
	writeAnswer(w, requestErrors{Errors: gqlerror.List{{Message: message, Extensions: map[string]any{"code": "BAD_USER_INPUT"}}}})
}
