package graph

import (
	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/graph/model"
)

// page turns Relay arguments into a domain page request. The store fetches one item more
// than asked, which tells whether there is a next page.
func page(first *int, after *string) giveathon.Page {
	var p giveathon.Page
	if first != nil {
		p.First = *first
		p.CountOnly = *first == 0
	}
	if after != nil {
		p.After = *after
	}
	return p
}

// trimPage cuts the extra item the store fetched and builds the page information.
func trimPage[E any](edges []E, p giveathon.Page, cursor func(E) string) ([]E, *model.PageInfo) {
	p, _ = p.Validate()
	return trimEdges(edges, p.First, p.After != "", cursor)
}

// trimEdges keeps the first n of edges (the store fetched one more, which says there is a next
// page) and builds the page information; hasPrevious says the page started after a cursor.
func trimEdges[E any](edges []E, n int, hasPrevious bool, cursor func(E) string) ([]E, *model.PageInfo) {
	info := &model.PageInfo{HasPreviousPage: hasPrevious}
	if len(edges) > n {
		edges = edges[:n]
		info.HasNextPage = true
	}
	if edges == nil {
		edges = []E{}
	}
	if len(edges) > 0 {
		start, end := cursor(edges[0]), cursor(edges[len(edges)-1])
		info.StartCursor, info.EndCursor = &start, &end
	}
	return edges, info
}

// firstOf returns the first n items of list, n being the argument (default def, at most
// most): a short list with no cursor.
func firstOf[E any](list []E, first *int, def, most int) ([]E, error) {
	n, err := firstArg(first, def, most)
	if err != nil {
		return nil, err
	}
	return list[:min(n, len(list))], nil
}

// firstArg is a list's first argument: def when absent, BAD_USER_INPUT outside 0..most.
func firstArg(first *int, def, most int) (int, error) {
	n := def
	if first != nil {
		n = *first
	}
	if n < 0 || n > most {
		return 0, giveathon.Invalid("first", "first must be between 0 and %d", most)
	}
	return n, nil
}
