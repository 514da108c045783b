package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Filter selects events for [Query]. Zero fields match everything.
type Filter struct {
	Nodes    []string
	Actor    string // the subject, the client ID or any actor of the delegation chain
	Type     string
	Decision Decision
	Since    time.Time // inclusive
	Until    time.Time // exclusive
	Limit    int       // at most this many, oldest first; 0 means no limit
}

func (f *Filter) match(e *Event) bool {
	switch {
	case f.Type != "" && e.Type != f.Type,
		f.Decision != "" && e.Decision != f.Decision,
		!f.Since.IsZero() && e.Time.Before(f.Since):
		return false
	case f.Actor == "", e.Actor.Subject == f.Actor, e.Actor.ClientID == f.Actor:
		return true
	}
	return slices.Contains(e.Actor.Chain, f.Actor)
}

// Query returns the events matching f from every selected node's chain,
// merged by time (ties by node, then seq). It decodes but does not verify
// events; see [Verify].
func Query(ctx context.Context, r Reader, f Filter) ([]Event, error) {
	nodes, err := selectNodes(ctx, r, f.Nodes)
	if err != nil {
		return nil, err
	}
	var all []Event
	for _, node := range nodes {
		var got []Event
		err := r.Scan(ctx, node, 0, func(rec Record) error {
			e, err := decodeRecord(node, rec)
			if err != nil {
				return err
			}
			if !f.Until.IsZero() && !e.Time.Before(f.Until) {
				return errStop // each chain's times never decrease
			}
			if f.match(&e) {
				got = append(got, e)
				if f.Limit > 0 && len(got) >= f.Limit {
					return errStop // later events of this chain are not earlier
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return nil, err
		}
		all = append(all, got...)
	}
	sortByTime(all)
	if f.Limit > 0 && len(all) > f.Limit {
		all = all[:f.Limit]
	}
	return all, nil
}

// Tail calls fn with the last n events of every selected node, merged by
// time; when follow is set it then polls every interval and calls fn with
// new events as they arrive, until ctx ends.
func Tail(ctx context.Context, r Reader, nodes []string, n int, follow bool, interval time.Duration, fn func(Event) error) error {
	err := tail(ctx, r, nodes, n, follow, interval, fn)
	if follow && ctx.Err() != nil {
		return nil // following ends when ctx does, whatever it was doing
	}
	return err
}

func tail(ctx context.Context, r Reader, nodes []string, n int, follow bool, interval time.Duration, fn func(Event) error) error {
	explicit := len(nodes) > 0
	nodes, err := selectNodes(ctx, r, nodes)
	if err != nil {
		return err
	}
	next := map[string]uint64{}
	for _, node := range nodes {
		rec, ok, err := r.Last(ctx, node)
		if err != nil {
			return fmt.Errorf("audit: last event of node %s: %w", node, err)
		}
		if ok {
			next[node] = rec.Seq + 1 - min(uint64(n), rec.Seq)
		} else {
			next[node] = 1
		}
	}
	for {
		var batch []Event
		for _, node := range nodes {
			err := r.Scan(ctx, node, next[node], func(rec Record) error {
				e, err := decodeRecord(node, rec)
				if err != nil {
					return err
				}
				batch = append(batch, e)
				next[node] = rec.Seq + 1
				return nil
			})
			if err != nil {
				return err
			}
		}
		sortByTime(batch)
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
		if !explicit {
			// Nodes that start writing while we follow join from seq 1.
			fresh, err := r.Nodes(ctx)
			if err != nil {
				return fmt.Errorf("audit: list nodes: %w", err)
			}
			for _, node := range fresh {
				if _, ok := next[node]; !ok {
					next[node] = 1
					nodes = append(nodes, node)
				}
			}
		}
	}
}

func selectNodes(ctx context.Context, r Reader, nodes []string) ([]string, error) {
	if len(nodes) > 0 {
		return nodes, nil
	}
	nodes, err := r.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: list nodes: %w", err)
	}
	return nodes, nil
}

func decodeRecord(node string, rec Record) (Event, error) {
	var p parsed
	if err := parseStored(rec.Data, &p); err != nil {
		return p.Event, fmt.Errorf("audit: node %s seq %d: %w (run `subzero audit verify`)", node, rec.Seq, err)
	}
	return p.Event, nil
}

func sortByTime(es []Event) {
	slices.SortStableFunc(es, func(a, b Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if a.Node != b.Node {
			if a.Node < b.Node {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
}
