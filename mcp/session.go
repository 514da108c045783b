package mcp

import (
	"crypto/rand"
	"sync"
	"time"
)

// sessions holds the sessions of protocols before 2026-07-28: each ID is
// random and belongs to the caller (virtual server, subject, client) that
// initialized it, and ends when it is deleted or idle for ttl.
type sessions struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]*session
}

type session struct {
	owner string
	seen  time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, m: map[string]*session{}}
}

// create returns a new session ID for owner; "" when MaxSessions are live,
// which mcp-go serves without a session.
func (s *sessions) create(owner string) string {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= MaxSessions {
		for id, se := range s.m {
			if now.Sub(se.seen) > s.ttl {
				delete(s.m, id)
			}
		}
		if len(s.m) >= MaxSessions {
			return ""
		}
	}
	id := rand.Text() // 26 characters, 130 bits
	s.m[id] = &session{owner: owner, seen: now}
	return id
}

// owns reports whether the session id is live and belongs to owner, and
// marks it used.
func (s *sessions) owns(id, owner string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[id]
	switch {
	case se == nil:
		return false
	case now.Sub(se.seen) > s.ttl:
		delete(s.m, id)
		return false
	case se.owner != owner:
		return false
	}
	se.seen = now
	return true
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}
