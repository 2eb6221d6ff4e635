package auth

import "sync"

// watchers are the open connections (websockets) waiting to hear that what they act for (a
// session, by its token's hash; an API key, by its id) ended through this process.
type watchers struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{}
}

// watch returns a channel that is closed when key ends, and the function that stops watching.
func (w *watchers) watch(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]map[chan struct{}]struct{})
	}
	if w.m[key] == nil {
		w.m[key] = make(map[chan struct{}]struct{})
	}
	w.m[key][ch] = struct{}{}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if set := w.m[key]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(w.m, key)
			}
		}
	}
}

// ended tells the watchers of key that it ended, and forgets them.
func (w *watchers) ended(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[key] {
		close(ch)
	}
	delete(w.m, key)
}

// WatchSession returns a channel that is closed when the session of token is signed out
// through this process, and the function that stops watching. A sign-out through another
// instance is not heard of here: watchers check the session again from time to time.
func (s *Service) WatchSession(token string) (<-chan struct{}, func()) {
	h, ok := HashToken(token)
	if !ok {
		return make(chan struct{}), func() {}
	}
	return s.watchers.watch(string(h))
}

// WatchKey returns a channel that is closed when the API key keyID is revoked through this
// process (Revoked), and the function that stops watching. A revocation through another
// instance is not heard of here: watchers check the key again from time to time.
func (k *Keys) WatchKey(keyID string) (<-chan struct{}, func()) { return k.watchers.watch(keyID) }

// Revoked tells the watchers of the API key keyID that it was revoked.
func (k *Keys) Revoked(keyID string) { k.watchers.ended(keyID) }
