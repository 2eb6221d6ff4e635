package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// Client talks GraphQL over HTTP to a running server, as the web app and partners do.
type Client struct {
	// URL is the server's base URL (no /graphql).
	URL string
	// Token, when set, is sent as a bearer token.
	Token string
	HTTP  *http.Client
}

// GQLError is one error of a GraphQL response.
type GQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a decoded GraphQL response.
type Response struct {
	Status int
	Data   map[string]any
	Errors []GQLError
	Header http.Header
	Raw    string
}

// Code returns the extensions.code of the first error, or "".
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// Field returns the extensions.field of the first error, or "".
func (r *Response) Field() string {
	if len(r.Errors) == 0 {
		return ""
	}
	f, _ := r.Errors[0].Extensions["field"].(string)
	return f
}

// NoErrors fails the test when the response has errors.
func (r *Response) NoErrors(t testing.TB) *Response {
	t.Helper()
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		t.Fatalf("GraphQL errors (status %d): %s", r.Status, r.Raw)
	}
	return r
}

// Get walks the data by keys and array indexes: r.Get("me", "email").
func (r *Response) Get(path ...any) any {
	var cur any = r.Data
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			a, ok := cur.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			cur = a[k]
		}
	}
	return cur
}

// String is Get for a string leaf ("" when absent).
func (r *Response) String(path ...any) string {
	s, _ := r.Get(path...).(string)
	return s
}

// Do posts a GraphQL operation and decodes the answer.
func (c *Client) Do(t testing.TB, query string, vars map[string]any) *Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, c.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return c.Send(t, req)
}

// Send sends a prepared request and decodes a GraphQL answer.
func (c *Client) Send(t testing.TB, req *http.Request) *Response {
	t.Helper()
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	var doc struct {
		Data   map[string]any `json:"data"`
		Errors []GQLError     `json:"errors"`
	}
	if err := json.Unmarshal(raw, &doc); err == nil {
		out.Data, out.Errors = doc.Data, doc.Errors
	}
	return out
}

// As returns a copy of the client that sends another token.
func (c *Client) As(token string) *Client {
	cc := *c
	cc.Token = token
	return &cc
}
