package auth

import "sync"

// sessionWatchers are the open connections (websockets) waiting to hear that their session
// was signed out through this process.
type sessionWatchers struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{}
}

// WatchSession returns a channel that is closed when the session of token is signed out
// through this process, and the function that stops watching. A sign-out through another
// instance is not heard of here: watchers check the session again from time to time.
func (s *Service) WatchSession(token string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	h, ok := HashToken(token)
	if !ok {
		return ch, func() {}
	}
	w := &s.watchers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]map[chan struct{}]struct{})
	}
	if w.m[string(h)] == nil {
		w.m[string(h)] = make(map[chan struct{}]struct{})
	}
	w.m[string(h)][ch] = struct{}{}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if set := w.m[string(h)]; set != nil {
			delete(set, ch)
			if len(set) == 0 {
				delete(w.m, string(h))
			}
		}
	}
}

// signedOut tells the watchers of a session that it was signed out, and forgets them.
func (w *sessionWatchers) signedOut(tokenHash []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[string(tokenHash)] {
		close(ch)
	}
	delete(w.m, string(tokenHash))
}
