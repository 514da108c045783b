package mcp

import (
	"crypto/rand"
	"sync"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
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
	// known is set once the client's initialize was seen; elicit says
	// whether it declared elicitation (fastcall.go).
	known, elicit bool
	// mcpgoUntil is when mcp-go's own idle clock for the session, which
	// only requests that mcp-go serves reset, may be half run out: the
	// fast path serves the session's calls until then.
	mcpgoUntil time.Time
	// queue is mcp-go's queue of notifications for the session, from when
	// mcp-go registers the session to when it ends it. mcp-go sends what
	// waits there with its answer to the next request, so the fast path
	// serves none while something waits.
	queue chan<- mcpgo.JSONRPCNotification
	// notified is set once mcp-go may have sent the session a
	// notification: mcp-go then answers every later request of the session
	// as server-sent events, which the fast path does not write.
	notified bool
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
	s.m[id] = &session{owner: owner, seen: now, mcpgoUntil: now.Add(s.ttl / 2)}
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

// initialized records whether the client of session id can be asked for
// elicitation, from its initialize request.
func (s *sessions) initialized(id string, elicit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se := s.m[id]; se != nil {
		se.known, se.elicit = true, elicit
	}
}

// registered records mcp-go's notification queue of session id (nil when
// mcp-go ends the session).
func (s *sessions) registered(id string, queue chan<- mcpgo.JSONRPCNotification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se := s.m[id]; se != nil {
		se.queue = queue
	}
}

// servedByMCPGo records that mcp-go served a request of session id, which
// resets its idle clock there.
func (s *sessions) servedByMCPGo(id string) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if se := s.m[id]; se != nil {
		se.mcpgoUntil = now.Add(s.ttl / 2)
	}
}

// notify records that mcp-go may have sent session id a notification;
// notifyAll, every session.
func (s *sessions) notify(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se := s.m[id]; se != nil {
		se.notified = true
	}
}

func (s *sessions) notifyAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, se := range s.m {
		se.notified = true
	}
}

// fast reports whether the fast path may serve a call of session id: its
// client cannot be asked for elicitation (so the call needs no session of
// mcp-go's), mcp-go registered the session and never sent it a
// notification (that we know of, or that waits), and mcp-go will not end
// it as idle before it is next asked.
func (s *sessions) fast(id string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[id]
	if se == nil || se.queue == nil {
		return false
	}
	if len(se.queue) > 0 {
		se.notified = true
	}
	return se.known && !se.elicit && !se.notified && now.Before(se.mcpgoUntil)
}
