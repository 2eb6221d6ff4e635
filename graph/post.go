package graph

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
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
	ctx := r.Context()
	media := answerMediaType(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media)
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	params := &graphql.RawParams{}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		err = dec.Decode(params)
	}
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeAnswer(w, requestErrors{Errors: exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("the request body is not valid JSON")}).Errors})
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		if media == mediaGraphQLResponse {
			w.WriteHeader(http.StatusBadRequest)
		}
		writeAnswer(w, requestErrors{Errors: resp.Errors, Extensions: resp.Extensions})
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
