package notes

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Note is one note.
type Note struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

// Summary is a note as search_notes lists it.
type Summary struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Snippet string `json:"snippet"`
}

// snippetBytes bounds a search hit's snippet.
const snippetBytes = 120

// The book's errors. Their messages are written for the agent that reads
// them in a tool result.
var (
	errNotFound = errors.New("no note has this id")
	errFull     = errors.New("the notebook is full")
)

// book is the notebook: notes in memory, in the order they were written,
// with its bounds. It is safe for concurrent use.
type book struct {
	maxNotes, maxTitle, maxBody int

	mu    sync.Mutex
	notes []Note
	next  int // the number in the next note's id
}

func newBook(cfg Config) *book {
	b := &book{maxNotes: cfg.MaxNotes, maxTitle: cfg.MaxTitleBytes, maxBody: cfg.MaxBodyBytes, next: 1}
	for _, n := range seedNotes {
		if len(b.notes) == b.maxNotes {
			break
		}
		b.notes = append(b.notes, Note{ID: b.newID(), Title: n.Title, Body: n.Body})
	}
	return b
}

// newID returns the next id; b.mu is held or b is not shared yet.
func (b *book) newID() string {
	id := "n" + strconv.Itoa(b.next)
	b.next++
	return id
}

// write adds a note and returns its id.
func (b *book) write(title, body string) (string, error) {
	title = strings.TrimSpace(title)
	switch {
	case title == "":
		return "", errors.New("the title is empty")
	case len(title) > b.maxTitle:
		return "", fmt.Errorf("the title is %d bytes long; the limit is %d", len(title), b.maxTitle)
	case strings.IndexFunc(title, unicode.IsControl) >= 0:
		return "", errors.New("the title contains a line break or another control character")
	case len(body) > b.maxBody:
		return "", fmt.Errorf("the body is %d bytes long; the limit is %d", len(body), b.maxBody)
	case !utf8.ValidString(title) || !utf8.ValidString(body):
		return "", errors.New("the note is not valid UTF-8")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.notes) >= b.maxNotes {
		return "", fmt.Errorf("%w: it holds %d notes, its limit; delete one first", errFull, len(b.notes))
	}
	n := Note{ID: b.newID(), Title: title, Body: body}
	b.notes = append(b.notes, n)
	return n.ID, nil
}

// read returns the note with this id.
func (b *book) read(id string) (Note, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.notes {
		if n.ID == id {
			return n, nil
		}
	}
	return Note{}, errNotFound
}

// remove deletes the note with this id.
func (b *book) remove(id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, n := range b.notes {
		if n.ID == id {
			b.notes = append(b.notes[:i], b.notes[i+1:]...)
			return nil
		}
	}
	return errNotFound
}

// all returns a copy of every note, oldest first.
func (b *book) all() []Note {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Note(nil), b.notes...)
}

// search returns up to limit notes, oldest first, whose title or body
// contains every word of query, ignoring case; an empty query matches
// every note.
func (b *book) search(query string, limit int) []Summary {
	terms := strings.Fields(strings.ToLower(query))
	hits := []Summary{}
	for _, n := range b.all() {
		if len(hits) == limit {
			break
		}
		text := strings.ToLower(n.Title + "\n" + n.Body)
		match := true
		for _, t := range terms {
			if !strings.Contains(text, t) {
				match = false
				break
			}
		}
		if match {
			hits = append(hits, Summary{ID: n.ID, Title: n.Title, Snippet: snippet(n.Body)})
		}
	}
	return hits
}

// snippet is the first line of body, cut to snippetBytes on a character
// boundary, with "…" when cut.
func snippet(body string) string {
	s := strings.TrimSpace(body)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	if len(s) <= snippetBytes {
		return s
	}
	cut := snippetBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// seedNotes are the notes a new notebook holds.
var seedNotes = []struct{ Title, Body string }{
	{
		"Team offsite agenda",
		"Day 1: retro on the spring release, then roadmap themes for the second half.\n" +
			"Day 2: hiring plan, on-call rotation changes, team dinner at 7.\n" +
			"Bring: laptop, the customer interview summaries, walking shoes.",
	},
	{
		"Q3 roadmap draft",
		"Themes: faster search, offline mode for the mobile app, audit export.\n" +
			"Open questions: do we drop the legacy importer? who owns the billing migration?\n" +
			"Next step: review with product on Thursday.",
	},
	{
		"Onboarding checklist",
		"Week 1: laptop and accounts, read the architecture overview, pair on a small bug.\n" +
			"Week 2: ship one change to production, join the on-call shadow rotation.\n" +
			"Ask your buddy before touching the deploy scripts.",
	},
	{
		"Reading list: zero trust",
		"BeyondCorp papers (Google), NIST SP 800-207, the OAuth 2.1 draft,\n" +
			"RFC 9449 on DPoP, and the MCP authorization specification.",
	},
	{
		"Groceries",
		"Oat milk, coffee beans, rice, limes, coriander, two onions, dish soap.",
	},
}
