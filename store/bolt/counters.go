package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Counters implements the LLM proxy's budget counters (limits.Counters)
// for one node. Windows and concurrency leases live in memory under one
// mutex, so the hot path never touches the file. Windows of an hour or
// longer (the daily token budgets) are also written behind to the bucket
//
//	limits_windows  key -> length ms ‖ fixed-window index ‖ current ‖ previous (4 × 8 bytes BE)
//
// by one bbolt Batch at most every second, and read back when the
// counters are opened, so that a restart does not reset a daily budget.
// A crash loses the daily charges of at most the last second (and of a
// flush that failed, which is retried); minute windows and leases start
// empty after a restart, which only errs on the side of the caller.
//
// Stale windows and expired leases are pruned on each flush, by the latest
// time a call passed in.
type Counters struct {
	db *bbolt.DB

	mu      sync.Mutex
	windows map[string]*window
	slots   map[string]map[string]int64 // slot set -> lease -> expiry, Unix ms
	dirty   map[string]struct{}         // persisted windows changed since the last flush
	latest  int64                       // the latest now passed in, Unix ms

	stop    chan struct{}
	stopped chan struct{}
	close   sync.Once
	err     error // of the last flush
}

// window is a sliding-window counter over two fixed windows: cur is the
// count of fixed window idx, prev of idx-1.
type window struct {
	length    int64 // ms
	idx       int64
	cur, prev int64
}

var bucketLimits = []byte("limits_windows")

// persistFrom is the shortest window written to the file.
const persistFrom = int64(time.Hour / time.Millisecond)

// flushEvery is the write-behind period.
const flushEvery = time.Second

// maxCounterKey bounds window and slot keys.
const maxCounterKey = 1024

// Counters opens the budget counters kept by this file: it reads the
// persisted windows and starts the write-behind. Open it once per DB, and
// Close it before the DB.
func (d *DB) Counters() (*Counters, error) {
	c := &Counters{
		db: d.db, windows: map[string]*window{}, slots: map[string]map[string]int64{},
		dirty: map[string]struct{}{}, stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	err := d.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLimits)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) != 32 || len(k) > maxCounterKey {
				return fmt.Errorf("window %q: %w", k, errCorrupt)
			}
			w := &window{
				length: int64(binary.BigEndian.Uint64(v)), idx: int64(binary.BigEndian.Uint64(v[8:])),
				cur: int64(binary.BigEndian.Uint64(v[16:])), prev: int64(binary.BigEndian.Uint64(v[24:])),
			}
			if w.length < persistFrom || w.cur < 0 || w.prev < 0 {
				return fmt.Errorf("window %q: %w", k, errCorrupt)
			}
			c.windows[string(k)] = w
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: counters: open: %w", err)
	}
	go c.run()
	return c, nil
}

// Close stops the write-behind after a last flush, whose error it returns.
func (c *Counters) Close() error {
	c.close.Do(func() {
		close(c.stop)
		<-c.stopped
	})
	return c.err
}

func (c *Counters) run() {
	defer close(c.stopped)
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			c.err = c.flush()
			return
		case <-tick.C:
			c.err = c.flush()
		}
	}
}

// flush writes the changed persisted windows in one Batch and prunes.
func (c *Counters) flush() error {
	type rec struct {
		k string
		v []byte // nil: delete
	}
	c.mu.Lock()
	recs := make([]rec, 0, len(c.dirty))
	for k := range c.dirty {
		w := c.windows[k]
		if w == nil {
			recs = append(recs, rec{k: k})
			continue
		}
		v := make([]byte, 0, 32)
		for _, n := range []int64{w.length, w.idx, w.cur, w.prev} {
			v = binary.BigEndian.AppendUint64(v, uint64(n))
		}
		recs = append(recs, rec{k, v})
	}
	clear(c.dirty)
	c.pruneLocked()
	c.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	err := c.db.Batch(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketLimits)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.v == nil {
				err = b.Delete([]byte(r.k))
			} else {
				err = b.Put([]byte(r.k), r.v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.mu.Lock()
		for _, r := range recs { // retry at the next flush
			c.dirty[r.k] = struct{}{}
		}
		c.mu.Unlock()
		return fmt.Errorf("bolt: counters: flush: %w", err)
	}
	return nil
}

// pruneLocked forgets windows two fixed windows old and expired leases.
func (c *Counters) pruneLocked() {
	now := c.latest
	for k, w := range c.windows {
		if w.idx < now/w.length-1 {
			delete(c.windows, k)
			if w.length >= persistFrom {
				c.dirty[k] = struct{}{}
			}
		}
	}
	for k, set := range c.slots {
		for id, exp := range set {
			if exp <= now {
				delete(set, id)
			}
		}
		if len(set) == 0 {
			delete(c.slots, k)
		}
	}
}

// roll moves w to fixed window idx.
func (w *window) roll(idx int64) {
	switch w.idx {
	case idx:
	case idx - 1:
		w.prev, w.cur = w.cur, 0
	default:
		if w.idx < idx {
			w.prev, w.cur = 0, 0
		}
	}
	w.idx = max(w.idx, idx)
}

// windowWait returns 0 when n more fits under limit in a window of length
// ms, e ms into fixed window with counts prev and cur; else an upper bound
// in ms on the time until it fits were nothing else charged, or -1 when n
// alone exceeds limit. store/redis's counter script computes the same.
func windowWait(prev, cur, n, limit, length, e int64) int64 {
	fp, fc, fn, fl, fw := float64(prev), float64(cur), float64(n), float64(limit), float64(length)
	if fp*(fw-float64(e))/fw+fc+fn <= fl {
		return 0
	}
	if n > limit {
		return -1
	}
	if cur+n <= limit { // in this window, once prev has decayed enough
		return int64(math.Ceil(fw-(fl-fc-fn)*fw/fp)) - e + 1
	}
	// in the next window, once cur (then previous) has decayed enough
	return length - e + int64(math.Ceil(fw-(fl-fn)*fw/fc)) + 1
}

// errCounterArgs reports mismatched argument slices.
var errCounterArgs = errors.New("mismatched or invalid arguments")

func checkCounterArgs(keys []string, lengths []time.Duration, n int, slots []string) error {
	if len(lengths) != len(keys) || n != len(keys) {
		return errCounterArgs
	}
	for i, k := range keys {
		if len(k) == 0 || len(k) > maxCounterKey || lengths[i] < time.Millisecond || slices.Contains(keys[:i], k) {
			return errCounterArgs
		}
	}
	for j, k := range slots {
		if len(k) == 0 || len(k) > maxCounterKey || slices.Contains(slots[:j], k) {
			return errCounterArgs
		}
	}
	return nil
}

// Charge implements limits.Counters.
func (c *Counters) Charge(ctx context.Context, now time.Time, keys []string, lengths []time.Duration, limits, amounts []int64,
	slots []string, slotLimits []int64, lease string, leaseTTL time.Duration) (int, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if err := checkCounterArgs(keys, lengths, len(limits), slots); err != nil || len(amounts) != len(keys) ||
		len(slotLimits) != len(slots) || (len(slots) > 0 && (lease == "" || leaseTTL < time.Millisecond)) {
		return 0, 0, fmt.Errorf("bolt: counters: charge: %w", errCounterArgs)
	}
	ms := now.UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latest = max(c.latest, ms)
	denied, worst := -1, int64(0)
	blame := func(i int, wait int64) {
		switch {
		case wait == 0 || worst < 0:
		case wait < 0 || wait > worst:
			denied, worst = i, wait
		}
	}
	for i, k := range keys {
		length := lengths[i].Milliseconds()
		idx := ms / length
		var prev, cur int64
		if w := c.windows[k]; w != nil && w.length == length {
			switch {
			case w.idx >= idx: // a clock that stepped back counts as now
				prev, cur = w.prev, w.cur
			case w.idx == idx-1:
				prev = w.cur
			}
		}
		blame(i, windowWait(prev, cur, amounts[i], limits[i], length, ms-idx*length))
	}
	for j, k := range slots {
		live, earliest := int64(0), int64(math.MaxInt64)
		for _, exp := range c.slots[k] {
			if exp > ms {
				live++
				earliest = min(earliest, exp)
			}
		}
		if live >= slotLimits[j] {
			blame(len(keys)+j, max(earliest-ms, 1))
		}
	}
	if denied >= 0 {
		return denied, time.Duration(worst) * time.Millisecond, nil
	}
	for i, k := range keys {
		length := lengths[i].Milliseconds()
		w := c.windows[k]
		if w == nil || w.length != length {
			w = &window{length: length, idx: ms / length}
			c.windows[k] = w
		}
		w.roll(ms / length)
		w.cur += amounts[i]
		if length >= persistFrom {
			c.dirty[k] = struct{}{}
		}
	}
	for _, k := range slots {
		set := c.slots[k]
		if set == nil {
			set = map[string]int64{}
			c.slots[k] = set
		}
		set[lease] = ms + leaseTTL.Milliseconds()
	}
	return -1, 0, nil
}

// Settle implements limits.Counters.
func (c *Counters) Settle(ctx context.Context, at, now time.Time, keys []string, lengths []time.Duration, delta int64, slots []string, lease string) error {
	if err := checkCounterArgs(keys, lengths, len(keys), slots); err != nil {
		return fmt.Errorf("bolt: counters: settle: %w", err)
	}
	atMS, ms := at.UnixMilli(), now.UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latest = max(c.latest, ms)
	for i, k := range keys {
		length := lengths[i].Milliseconds()
		w := c.windows[k]
		if w == nil || w.length != length {
			if delta <= 0 {
				continue
			}
			w = &window{length: length, idx: ms / length}
			c.windows[k] = w
		}
		w.roll(ms / length)
		switch atIdx := atMS / length; {
		case atIdx == w.idx:
			w.cur = max(w.cur+delta, 0)
		case atIdx == w.idx-1:
			w.prev = max(w.prev+delta, 0)
		case delta > 0:
			w.cur += delta
		}
		if length >= persistFrom {
			c.dirty[k] = struct{}{}
		}
	}
	for _, k := range slots {
		if set := c.slots[k]; set != nil {
			delete(set, lease)
			if len(set) == 0 {
				delete(c.slots, k)
			}
		}
	}
	return nil
}

// Extend implements limits.Counters.
func (c *Counters) Extend(ctx context.Context, now time.Time, slots []string, lease string, leaseTTL time.Duration) error {
	if err := checkCounterArgs(nil, nil, 0, slots); err != nil || lease == "" || leaseTTL < time.Millisecond {
		return fmt.Errorf("bolt: counters: extend: %w", errCounterArgs)
	}
	ms := now.UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latest = max(c.latest, ms)
	for _, k := range slots {
		if _, ok := c.slots[k][lease]; ok {
			c.slots[k][lease] = ms + leaseTTL.Milliseconds()
		}
	}
	return nil
}
