package giveathon

import (
	"context"
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

// Page asks for one page of a list: at most First items after the opaque cursor After.
type Page struct {
	First int
	After string
}

// Page size limits.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Validate checks the page size and fills in the default.
func (p Page) Validate() (Page, error) {
	switch {
	case p.First == 0:
		p.First = DefaultPageSize
	case p.First < 0:
		return p, Invalid("first", "first must not be negative")
	case p.First > MaxPageSize:
		return p, Invalid("first", "first must be at most %d", MaxPageSize)
	}
	return p, nil
}

// CharityService reads charities.
type CharityService interface {
	// FindCharityByID returns one charity, or ENOTFOUND.
	FindCharityByID(ctx context.Context, id string) (*Charity, error)
	// FindCharities returns a page of charities in a stable order, the cursor of each, and
	// the total count.
	FindCharities(ctx context.Context, page Page) ([]*Charity, []string, int, error)
	// FindCharitiesByIDs returns the charities with the given ids, by id (missing ids are
	// left out).
	FindCharitiesByIDs(ctx context.Context, ids []string) (map[string]*Charity, error)
}
