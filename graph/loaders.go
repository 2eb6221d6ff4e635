package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/vikstrous/dataloadgen"
)

// loaders batch the relations a list resolves (a page of donations and their charities) into
// one query each, per request.
type loaders struct {
	charity *dataloadgen.Loader[string, *giveathon.Charity]
}

type loadersKey struct{}

// withLoaders gives each request its own loaders, so nothing is cached across requests.
func withLoaders(charities giveathon.CharityService, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := &loaders{
			charity: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*giveathon.Charity, error) {
				return charities.FindCharitiesByIDs(ctx, ids)
			}, dataloadgen.WithWait(time.Millisecond)),
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), loadersKey{}, l)))
	})
}

func loadersFrom(ctx context.Context) *loaders {
	return ctx.Value(loadersKey{}).(*loaders)
}
