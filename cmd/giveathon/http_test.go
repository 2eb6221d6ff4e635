package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/giveathon/giveathon/internal/testenv"
)

// TestGraphQLOverHTTPStatuses follows the GraphQL-over-HTTP spec: a request that fails
// before execution is answered 200 under application/json, and 400 without a data entry
// under application/graphql-response+json.
func TestGraphQLOverHTTPStatuses(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})
	for _, c := range []struct{ name, body, code string }{
		{"parse error", `{"query": "{ event { name "}`, "GRAPHQL_PARSE_FAILED"},
		{"validation error", `{"query": "{ event { nosuchfield } }"}`, "GRAPHQL_VALIDATION_FAILED"},
		{"variable coercion error", `{"query": "query($n: Int!) { charities(first: $n) { totalCount } }", "variables": {"n": "many"}}`, "GRAPHQL_VALIDATION_FAILED"},
	} {
		for accept, status := range map[string]int{"application/json": http.StatusOK, "application/graphql-response+json": http.StatusBadRequest} {
			req, _ := http.NewRequest(http.MethodPost, srv.url+"/graphql", strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", accept)
			r := srv.client.Send(t, req)
			var doc map[string]json.RawMessage
			_ = json.Unmarshal([]byte(r.Raw), &doc)
			_, hasData := doc["data"]
			if r.Status != status || r.Code() != c.code || (status != http.StatusOK && hasData) ||
				!strings.HasPrefix(r.Header.Get("Content-Type"), accept) {
				t.Errorf("%s, Accept %s: %d %s %s", c.name, accept, r.Status, r.Header.Get("Content-Type"), r.Raw)
			}
		}
	}
	// A request that executes is 200 with data under both.
	for _, accept := range []string{"application/json", "application/graphql-response+json"} {
		req, _ := http.NewRequest(http.MethodPost, srv.url+"/graphql", strings.NewReader(`{"query": "{ event { name } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		if r := srv.client.Send(t, req); r.Status != http.StatusOK || r.String("event", "name") == "" {
			t.Errorf("a good query, Accept %s: %d %s", accept, r.Status, r.Raw)
		}
	}
}
