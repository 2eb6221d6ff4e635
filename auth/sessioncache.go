package auth

import (
	"sync"
	"time"

	"github.com/giveathon/giveathon"
)

// sessionCache remembers, for a short while, which user a session token belongs to, so a
// donor's burst of requests asks the database once. A session signed out through this
// process is forgotten at once; one signed out through another instance is still accepted
// here until its entry ages out (at most the TTL).
type sessionCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedSession
}

type cachedSession struct {
	user  giveathon.User
	until time.Time
	// revoked marks a token signed out through this process: a read of it that was under way
	// during the sign-out must not cache it again.
	revoked bool
}

// maxCachedSessions bounds the cache; when it is full it starts again empty.
const maxCachedSessions = 100_000

func (c *sessionCache) get(key []byte, now time.Time) (*giveathon.User, bool) {
	if c == nil || c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(key)]
	if !ok || e.revoked || !now.Before(e.until) {
		return nil, false
	}
	u := e.user
	return &u, true
}

func (c *sessionCache) put(key []byte, u *giveathon.User, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedSessions {
		c.m = make(map[string]cachedSession)
	}
	if e, ok := c.m[string(key)]; ok && e.revoked && now.Before(e.until) {
		return
	}
	c.m[string(key)] = cachedSession{user: *u, until: now.Add(c.ttl)}
}

// forget drops a signed-out token and, for the TTL, refuses to cache it again.
func (c *sessionCache) forget(key []byte, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedSession)
	}
	c.m[string(key)] = cachedSession{revoked: true, until: now.Add(c.ttl)}
}
