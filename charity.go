package giveathon

import (
	"context"
	"strings"
	"time"
)

// Charity is an organisation donors can give to.
type Charity struct {
	ID          string
	Slug        string
	Name        string
	Description string
	// EIN is the US Employer Identification Number, printed on receipts.
	EIN       string
	Active    bool
	CreatedAt time.Time
}

// Page asks for one page of a list: at most First items after the opaque cursor After (First
// 0: DefaultPageSize). CountOnly asks for none (a client's "first: 0", which wants the list's
// totalCount or pageInfo alone), where First 0 would mean the default: Validate keeps it 0.
type Page struct {
	First     int
	After     string
	CountOnly bool
}

// Page size limits.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Validate checks the page size and fills in the default.
func (p Page) Validate() (Page, error) {
	switch {
	case p.First == 0 && !p.CountOnly:
		p.First = DefaultPageSize
	case p.First < 0:
		return p, Invalid("first", "first must not be negative")
	case p.First > MaxPageSize:
		return p, Invalid("first", "first must be at most %d", MaxPageSize)
	}
	if HasControl(p.After) {
		return p, Invalid("after", "after is not a cursor this list gave out")
	}
	return p, nil
}

// HasControl reports whether s holds a control character, NUL among them, which PostgreSQL
// refuses in text, or a hidden one (zero-width, bidi overrides). No search or cursor needs
// one, so they are refused as the client's mistake before they reach SQL.
func HasControl(s string) bool { return strings.ContainsFunc(s, isHiddenOrControl) }

// CharityFilter selects charities: a page of those whose name or description contains every
// word of Search (case-insensitive; empty: all).
type CharityFilter struct {
	Page
	Search string
}

// MaxSearchLength bounds a charity search.
const MaxSearchLength = 100

// SearchWords returns the words of the filter's search, or an EINVALID error when it is too
// long or holds control characters.
func (f CharityFilter) SearchWords() ([]string, error) {
	if len(f.Search) > MaxSearchLength {
		return nil, Invalid("search", "search must be at most %d characters", MaxSearchLength)
	}
	if HasControl(f.Search) {
		return nil, Invalid("search", "search must not contain control characters")
	}
	return strings.Fields(f.Search), nil
}

// CharityService reads charities.
type CharityService interface {
	// FindCharityByID returns one charity, or ENOTFOUND.
	FindCharityByID(ctx context.Context, id string) (*Charity, error)
	// FindCharities returns a page of the charities the filter keeps, in a stable order, the
	// cursor of each, and how many it keeps in all.
	FindCharities(ctx context.Context, f CharityFilter) ([]*Charity, []string, int, error)
	// FindCharitiesByIDs returns the charities with the given ids, by id (missing ids are
	// left out).
	FindCharitiesByIDs(ctx context.Context, ids []string) (map[string]*Charity, error)
}
