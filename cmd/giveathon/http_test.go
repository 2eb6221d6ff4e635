package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/giveathon/giveathon/internal/testenv"
)

// TestGraphQLOverHTTPStatuses follows the GraphQL-over-HTTP spec, for POST and GET: a request
// that fails before execution is answered 200 under application/json, and 400 without a data
// entry under application/graphql-response+json; a GET runs no mutation.
func TestGraphQLOverHTTPStatuses(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "warn"})
	for _, c := range []struct{ name, query, variables, code string }{
		{"parse error", `{ event { name `, "", "GRAPHQL_PARSE_FAILED"},
		{"validation error", `{ event { nosuchfield } }`, "", "GRAPHQL_VALIDATION_FAILED"},
		{"variable coercion error", `query($n: Int!) { charities(first: $n) { totalCount } }`, `{"n": "many"}`, "BAD_USER_INPUT"},
	} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			for accept, status := range map[string]int{"application/json": http.StatusOK, "application/graphql-response+json": http.StatusBadRequest} {
				req := graphQLRequest(t, srv, method, c.query, c.variables)
				req.Header.Set("Accept", accept)
				r := srv.client.Send(t, req)
				var doc map[string]json.RawMessage
				_ = json.Unmarshal([]byte(r.Raw), &doc)
				_, hasData := doc["data"]
				if r.Status != status || r.Code() != c.code || (status != http.StatusOK && hasData) ||
					!strings.HasPrefix(r.Header.Get("Content-Type"), accept) {
					t.Errorf("%s %s, Accept %s: %d %s %s", method, c.name, accept, r.Status, r.Header.Get("Content-Type"), r.Raw)
				}
			}
		}
	}
	if r := srv.client.Send(t, graphQLRequest(t, srv, http.MethodGet, `mutation { logout }`, "")); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("a mutation over GET: %d %s", r.Status, r.Raw)
	}
	// A body not declared JSON is 415, a method GraphQL is not served over 405: each a JSON
	// answer naming what to send (they were 400 "transport not supported" as text/plain).
	for _, c := range []struct {
		method, contentType string
		status              int
		says, header, value string
	}{
		{http.MethodPost, "text/plain", http.StatusUnsupportedMediaType, "Content-Type: application/json (this one is text/plain)", "Accept-Post", "application/json"},
		{http.MethodPost, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, "must be JSON", "Accept-Post", "application/json"},
		{http.MethodPost, "", http.StatusUnsupportedMediaType, "must be JSON", "Accept-Post", "application/json"},
		{http.MethodPut, "application/json", http.StatusMethodNotAllowed, "not over this method", "Allow", "GET, POST, OPTIONS"},
		{http.MethodDelete, "application/json", http.StatusMethodNotAllowed, "not over this method", "Allow", "GET, POST, OPTIONS"},
	} {
		req, _ := http.NewRequest(c.method, srv.url+"/graphql", strings.NewReader(`{"query": "{ event { name } }"}`))
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		r := srv.client.Send(t, req)
		if r.Status != c.status || r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Raw, c.says) || r.Header.Get(c.header) != c.value ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s with Content-Type %q: %d %s %s", c.method, c.contentType, r.Status, r.Header, r.Raw)
		}
	}
	// An answer does not echo a request's worth of input back: a long name that does not parse,
	// or a long value that is no DonationStatus, is named in at most 300 characters.
	long := strings.Repeat("A", 2000)
	for _, c := range []struct{ query, variables string }{
		{`{ event { name } } ` + long, ""},
		{`query($s: DonationStatus) { me { donations(status: $s) { totalCount } } }`, `{"s": "` + long + `"}`},
	} {
		r := srv.client.Send(t, graphQLRequest(t, srv, http.MethodPost, c.query, c.variables))
		if len(r.Errors) != 1 || utf8.RuneCountInString(r.Errors[0].Message) > 300 || !strings.HasSuffix(r.Errors[0].Message, "…") {
			t.Errorf("a 2,000-letter input: want one error of at most 300 characters, got %.500s", r.Raw)
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

// graphQLRequest makes a GraphQL request as POST (a JSON body) or GET (query parameters).
func graphQLRequest(t *testing.T, srv *running, method, query, variables string) *http.Request {
	t.Helper()
	if method == http.MethodGet {
		q := url.Values{"query": {query}}
		if variables != "" {
			q.Set("variables", variables)
		}
		req, err := http.NewRequest(method, srv.url+"/graphql?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	body := map[string]any{"query": query}
	if variables != "" {
		body["variables"] = json.RawMessage(variables)
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, srv.url+"/graphql", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}
