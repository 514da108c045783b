package bolt

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/subzero-gateway/subzero/audit"
)

// The audit log's appends go to a write-ahead file with one fdatasync each,
// and reach the bbolt file later, many at a time: a bbolt commit costs two
// fsyncs and a rewrite of the B+tree's path, which every gateway call would
// otherwise wait for.
//
// There are two files, <db>.audit-0.wal and <db>.audit-1.wal; appends go to
// the active one. A drain switches appends to the other (emptied after the
// previous drain), copies everything the drained file holds into bbolt in
// one transaction, and then empties it by writing a header with a new
// generation. Opening the database replays both files into bbolt, oldest
// generation first, skipping what bbolt already holds.
//
// A file is a 32-byte header (magic, generation, CRC-32C of both) and then
// frames, one per append: payload length (4 bytes), CRC-32C of the
// generation and the payload (4 bytes), payload. The payload is the node,
// prev, and the events' and checkpoints' seqs and data, as uvarints and
// bytes. Reading stops at the first frame whose length or CRC does not
// hold: a torn write (never acknowledged), the zeroes of preallocated
// space, or a frame of an earlier generation. Files are not shrunk when
// emptied and grow by zero-filled chunks, so that an fdatasync after an
// append flushes data only, not the file's size.

const (
	walMagic      = "SZAWAL01"
	walHeaderSize = 32
	walFrameHead  = 8
	// walMaxFrame bounds one append's frame.
	walMaxFrame = 256 << 20
	// walMinChunk and walMaxChunk bound how much a file grows at a time.
	walMinChunk = 256 << 10
	walMaxChunk = 8 << 20
	// walDrainBytes starts a drain once that much is pending, and
	// walDrainEvery at least that often while anything is.
	walDrainBytes = 4 << 20
	walDrainEvery = time.Second
	// walMaxPending refuses appends while that much waits for bbolt.
	walMaxPending = 64 << 20
)

// walOptions tunes when drains happen (tests drain more often).
type walOptions struct {
	drainBytes int
	drainEvery time.Duration
	maxPending int
}

func defaultWAL() walOptions { return walOptions{walDrainBytes, walDrainEvery, walMaxPending} }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// auditWAL holds the audit records not yet in bbolt: in its files, for
// durability, and in memory, for readers.
type auditWAL struct {
	db       *bbolt.DB
	readOnly bool

	// io serializes appends and the drain's switch of files; it is held
	// during an append's write and fdatasync.
	io     sync.Mutex
	files  [2]*os.File
	gens   [2]uint64
	size   [2]int64
	active int
	off    int64
	failed error // a failed fdatasync: the file's state is unknown
	zeros  []byte

	// mu guards the in-memory state below; it is never held during I/O.
	mu       sync.Mutex
	heads    map[string]uint64 // every chain's last seq, once known
	pending  map[string]*walChain
	draining map[string]*walChain
	bytes    int // held by pending and draining

	drainBytes int
	drainEvery time.Duration
	maxPending int
	drainNow   chan struct{}
	closing    chan struct{}
	stopped    chan struct{}
	drainMu    sync.Mutex // one drain at a time
	drainErr   error      // the last drain's, under drainMu
	closeErr   error
}

// walChain is one node's records waiting for bbolt, in append order.
type walChain struct {
	events      []audit.Record
	checkpoints []audit.Record
	size        int // the bytes of the frames holding them
}

func walPaths(dbPath string) [2]string {
	return [2]string{dbPath + ".audit-0.wal", dbPath + ".audit-1.wal"}
}

// openAuditWAL opens the write-ahead files of the database at dbPath and
// brings what they hold in: into bbolt, emptying them, or, read-only, into
// memory, leaving the files as they are.
func openAuditWAL(db *bbolt.DB, dbPath string, readOnly bool, o walOptions) (*auditWAL, error) {
	w := &auditWAL{
		db: db, readOnly: readOnly,
		heads: map[string]uint64{}, pending: map[string]*walChain{},
		drainBytes: o.drainBytes, drainEvery: o.drainEvery, maxPending: o.maxPending,
		drainNow: make(chan struct{}, 1), closing: make(chan struct{}), stopped: make(chan struct{}),
	}
	paths := walPaths(dbPath)
	var datas [2][]byte
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("bolt: audit wal: %w", err)
		}
		datas[i] = data
	}
	if err := w.replay(datas, dbPath); err != nil {
		return nil, err
	}
	if readOnly {
		close(w.stopped)
		return w, nil
	}
	// What the files held is in memory: put it in bbolt, then empty them.
	if err := w.flush(w.pending); err != nil {
		return nil, err
	}
	w.pending, w.bytes = map[string]*walChain{}, 0
	created := false
	for i, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			w.closeFiles()
			return nil, fmt.Errorf("bolt: audit wal: %w", err)
		}
		w.files[i] = f
		st, err := f.Stat()
		if err != nil {
			w.closeFiles()
			return nil, fmt.Errorf("bolt: audit wal: %w", err)
		}
		w.size[i] = st.Size()
		created = created || datas[i] == nil
	}
	gen := max(w.gens[0], w.gens[1])
	for i := range 2 {
		gen++
		if err := w.reset(i, gen); err != nil {
			w.closeFiles()
			return nil, err
		}
	}
	if created {
		if err := syncDir(paths[0]); err != nil {
			w.closeFiles()
			return nil, err
		}
	}
	w.active, w.off = 0, walHeaderSize
	go w.run()
	return w, nil
}

// replay reads both files into w.pending, oldest generation first, keeping
// of each frame only what bbolt does not hold yet.
func (w *auditWAL) replay(datas [2][]byte, dbPath string) error {
	type file struct {
		gen  uint64
		data []byte
	}
	var files []file
	for i, data := range datas {
		gen, ok := walHeader(data)
		if !ok {
			continue // absent, or torn while being created or emptied
		}
		w.gens[i] = gen
		files = append(files, file{gen, data[walHeaderSize:]})
	}
	slices.SortFunc(files, func(a, b file) int { return cmp.Compare(a.gen, b.gen) })
	for _, f := range files {
		for data := f.data; ; {
			payload, rest, ok := walFrame(f.gen, data)
			if !ok {
				break
			}
			data = rest
			node, prev, events, cps, err := decodeWALPayload(payload)
			if err != nil {
				return fmt.Errorf("bolt: audit wal: a frame of generation %d passes its checksum but does not decode: %w", f.gen, err)
			}
			head, err := w.head(node)
			if err != nil {
				return err
			}
			last := prev + uint64(len(events))
			switch {
			case len(events) > 0 && last <= head, len(events) == 0 && prev < head:
				continue // in bbolt already
			case prev != head:
				return fmt.Errorf("bolt: audit wal: node %s's chain ends at seq %d but the write-ahead file continues it from seq %d: records are missing; move %s.audit-*.wal aside and run `subzero audit verify`", node, head, prev, dbPath)
			}
			w.add(node, events, cps, len(payload))
		}
	}
	return nil
}

// walHeader reads a file's header.
func walHeader(data []byte) (gen uint64, ok bool) {
	if len(data) < walHeaderSize || string(data[:8]) != walMagic {
		return 0, false
	}
	if crc32.Checksum(data[:16], castagnoli) != binary.BigEndian.Uint32(data[16:20]) {
		return 0, false
	}
	return binary.BigEndian.Uint64(data[8:16]), true
}

func appendWALHeader(dst []byte, gen uint64) []byte {
	start := len(dst)
	dst = append(dst, walMagic...)
	dst = binary.BigEndian.AppendUint64(dst, gen)
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
	return append(dst, make([]byte, walHeaderSize-20)...)
}

// walFrame reads the frame at the start of data, written in generation gen.
func walFrame(gen uint64, data []byte) (payload, rest []byte, ok bool) {
	if len(data) < walFrameHead {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(data)
	if n == 0 || n > walMaxFrame || uint64(len(data)-walFrameHead) < uint64(n) {
		return nil, nil, false
	}
	payload = data[walFrameHead : walFrameHead+int(n)]
	if walCRC(gen, payload) != binary.BigEndian.Uint32(data[4:]) {
		return nil, nil, false
	}
	return payload, data[walFrameHead+int(n):], true
}

func walCRC(gen uint64, payload []byte) uint32 {
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], gen)
	return crc32.Update(crc32.Checksum(g[:], castagnoli), castagnoli, payload)
}

// appendWALFrame appends the frame of one append, its header included, and
// returns copies of the records whose data alias the frame.
func appendWALFrame(dst []byte, gen uint64, node string, prev uint64, events, cps []audit.Record) (frame []byte, evs, cs []audit.Record) {
	size := walFrameHead + len(node) + 4*binary.MaxVarintLen64
	for _, rs := range [2][]audit.Record{events, cps} {
		for _, r := range rs {
			size += 2*binary.MaxVarintLen64 + len(r.Data)
		}
	}
	dst = slices.Grow(dst, size) // the records alias dst: it must not move
	start := len(dst)
	dst = append(dst, make([]byte, walFrameHead)...)
	dst = binary.AppendUvarint(dst, uint64(len(node)))
	dst = append(dst, node...)
	dst = binary.AppendUvarint(dst, prev)
	dst = binary.AppendUvarint(dst, uint64(len(events)))
	dst = binary.AppendUvarint(dst, uint64(len(cps)))
	out := make([]audit.Record, 0, len(events)+len(cps))
	for _, rs := range [2][]audit.Record{events, cps} {
		for _, r := range rs {
			dst = binary.AppendUvarint(dst, r.Seq)
			dst = binary.AppendUvarint(dst, uint64(len(r.Data)))
			at := len(dst)
			dst = append(dst, r.Data...)
			out = append(out, audit.Record{Seq: r.Seq, Data: dst[at:len(dst):len(dst)]})
		}
	}
	payload := dst[start+walFrameHead:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], walCRC(gen, payload))
	return dst, out[:len(events):len(events)], out[len(events):]
}

var errWALPayload = errors.New("malformed payload")

// decodeWALPayload reads a frame's payload; the records' data alias it.
func decodeWALPayload(p []byte) (node string, prev uint64, events, cps []audit.Record, err error) {
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	take := func(n uint64) ([]byte, bool) {
		if n > uint64(len(p)) {
			return nil, false
		}
		b := p[:n:n]
		p = p[n:]
		return b, true
	}
	nl, ok := next()
	if !ok {
		return "", 0, nil, nil, errWALPayload
	}
	nb, ok := take(nl)
	if !ok || len(nb) == 0 {
		return "", 0, nil, nil, errWALPayload
	}
	prev, ok1 := next()
	ne, ok2 := next()
	nc, ok3 := next()
	// Each record takes at least two bytes.
	if !ok1 || !ok2 || !ok3 || ne > uint64(len(p))/2 || nc > uint64(len(p))/2 {
		return "", 0, nil, nil, errWALPayload
	}
	read := func(n uint64, want func(i int, seq uint64) bool) ([]audit.Record, bool) {
		out := make([]audit.Record, 0, n)
		for i := range int(n) {
			seq, ok := next()
			if !ok || !want(i, seq) {
				return nil, false
			}
			l, ok := next()
			if !ok {
				return nil, false
			}
			data, ok := take(l)
			if !ok {
				return nil, false
			}
			out = append(out, audit.Record{Seq: seq, Data: data})
		}
		return out, true
	}
	events, ok = read(ne, func(i int, seq uint64) bool { return seq == prev+uint64(i)+1 })
	if !ok {
		return "", 0, nil, nil, errWALPayload
	}
	cps, ok = read(nc, func(int, uint64) bool { return true })
	if !ok || len(p) != 0 {
		return "", 0, nil, nil, errWALPayload
	}
	return string(nb), prev, events, cps, nil
}

// head returns node's last seq, reading it from bbolt the first time.
// Callers hold w.io or are the only goroutine.
func (w *auditWAL) head(node string) (uint64, error) {
	w.mu.Lock()
	head, ok := w.heads[node]
	w.mu.Unlock()
	if ok {
		return head, nil
	}
	err := w.db.View(func(tx *bbolt.Tx) error {
		head = boltHead(tx, node)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: audit wal: read chain head: %w", err)
	}
	w.mu.Lock()
	w.heads[node] = head
	w.mu.Unlock()
	return head, nil
}

// add makes records visible to readers (their data must not change) and
// returns how many bytes now wait for bbolt.
func (w *auditWAL) add(node string, events, cps []audit.Record, size int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.pending[node]
	if c == nil {
		c = &walChain{}
		w.pending[node] = c
	}
	c.events = append(c.events, events...)
	c.checkpoints = append(c.checkpoints, cps...)
	c.size += size
	if len(events) > 0 {
		w.heads[node] = events[len(events)-1].Seq
	}
	w.bytes += size
	return w.bytes
}

// Append writes one append's frame to the active file and returns once it
// is on stable storage.
func (w *auditWAL) Append(node string, prev uint64, events, cps []audit.Record) error {
	if w.readOnly {
		return errors.New("bolt: audit: the database is open read-only")
	}
	w.mu.Lock()
	backlog := w.bytes
	w.mu.Unlock()
	if backlog > w.maxPending {
		// bbolt has not taken records for a while (a drain failing, such
		// as on a full disk): refuse rather than hold ever more in memory.
		w.kick()
		return fmt.Errorf("bolt: audit: %d MB of audit records wait for the database; appends refused until it takes them", backlog>>20)
	}

	w.io.Lock()
	defer w.io.Unlock()
	if w.failed != nil {
		return w.failed
	}
	head, err := w.head(node)
	if err != nil {
		return err
	}
	if head != prev {
		return audit.ErrConflict
	}
	// The frame is also the records' memory until they are drained.
	frame, evs, cs := appendWALFrame(nil, w.gens[w.active], node, prev, events, cps)
	if len(frame)-walFrameHead > walMaxFrame {
		return fmt.Errorf("bolt: audit: an append of %d bytes is over the limit", len(frame))
	}
	if err := w.write(frame); err != nil {
		return err
	}
	if w.add(node, evs, cs, len(frame)) >= w.drainBytes {
		w.kick()
	}
	return nil
}

// kick asks the drainer to drain now.
func (w *auditWAL) kick() {
	select {
	case w.drainNow <- struct{}{}:
	default:
	}
}

// write puts frame at the active file's end and syncs it. w.io is held.
func (w *auditWAL) write(frame []byte) error {
	f := w.files[w.active]
	end := w.off + int64(len(frame))
	if end > w.size[w.active] {
		if err := w.grow(w.active, end); err != nil {
			return err
		}
	}
	if _, err := f.WriteAt(frame, w.off); err != nil {
		// Nothing is acknowledged: the next frame overwrites this one.
		return fmt.Errorf("bolt: audit wal: write: %w", err)
	}
	if err := fdatasync(f); err != nil {
		// After a failed sync the kernel may have dropped the pages: what
		// the file holds is unknown, so refuse to go on.
		w.failed = fmt.Errorf("bolt: audit wal: sync failed, audit appends stopped until restart: %w", err)
		return w.failed
	}
	w.off = end
	return nil
}

// grow zero-fills file i up to at least end, in chunks that double up to
// walMaxChunk. The fdatasync that follows the frame makes the new size
// durable.
func (w *auditWAL) grow(i int, end int64) error {
	size := w.size[i]
	chunk := min(max(size, walMinChunk), walMaxChunk)
	target := max(end, size+chunk)
	if w.zeros == nil {
		w.zeros = make([]byte, 64<<10)
	}
	for at := size; at < target; {
		n := min(int64(len(w.zeros)), target-at)
		if _, err := w.files[i].WriteAt(w.zeros[:n], at); err != nil {
			return fmt.Errorf("bolt: audit wal: grow: %w", err)
		}
		at += n
	}
	w.size[i] = target
	return nil
}

// reset empties file i by writing a header of generation gen, and syncs it.
func (w *auditWAL) reset(i int, gen uint64) error {
	hdr := appendWALHeader(nil, gen)
	if w.size[i] < walMinChunk {
		if err := w.grow(i, walMinChunk); err != nil {
			return err
		}
	}
	if _, err := w.files[i].WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("bolt: audit wal: reset: %w", err)
	}
	if err := fdatasync(w.files[i]); err != nil {
		return fmt.Errorf("bolt: audit wal: reset: %w", err)
	}
	w.gens[i] = gen
	return nil
}

func (w *auditWAL) run() {
	defer close(w.stopped)
	tick := time.NewTicker(w.drainEvery)
	defer tick.Stop()
	for {
		select {
		case <-w.closing:
			return
		case <-tick.C:
		case <-w.drainNow:
		}
		w.drain() // a failure is kept in the files and retried
	}
}

// health returns why audit appends fail or records do not reach bbolt,
// or nil.
func (w *auditWAL) health() error {
	w.io.Lock()
	failed := w.failed
	w.io.Unlock()
	if failed != nil {
		return failed
	}
	w.drainMu.Lock()
	defer w.drainMu.Unlock()
	return w.drainErr
}

// drain moves everything appended so far into bbolt.
func (w *auditWAL) drain() error {
	w.drainMu.Lock()
	defer w.drainMu.Unlock()
	w.drainErr = w.drainLocked()
	return w.drainErr
}

func (w *auditWAL) drainLocked() error {
	for {
		w.mu.Lock()
		retry, idle := w.draining != nil, w.draining == nil && len(w.pending) == 0
		w.mu.Unlock()
		if idle {
			return nil
		}
		drained := 1 - w.active // a failed drain's file, retried
		if !retry {
			// Switch appends to the other file, emptied after the
			// previous drain; what this one holds goes into bbolt.
			w.io.Lock()
			if w.failed != nil {
				w.io.Unlock()
				return w.failed
			}
			drained = w.active
			w.active, w.off = 1-w.active, walHeaderSize
			w.mu.Lock()
			w.draining, w.pending = w.pending, map[string]*walChain{}
			w.mu.Unlock()
			w.io.Unlock()
		}
		if err := w.flush(w.draining); err != nil {
			return err
		}
		w.mu.Lock()
		for _, c := range w.draining {
			w.bytes -= c.size
		}
		w.draining = nil
		w.mu.Unlock()
		if err := w.reset(drained, max(w.gens[0], w.gens[1])+1); err != nil {
			// The next switch would write into a file in an unknown state.
			w.io.Lock()
			w.failed = fmt.Errorf("bolt: audit wal: audit appends stopped until restart: %w", err)
			w.io.Unlock()
			return err
		}
		if !retry {
			return nil
		}
	}
}

// flush writes chains into bbolt in one transaction.
func (w *auditWAL) flush(chains map[string]*walChain) error {
	if len(chains) == 0 {
		return nil
	}
	err := w.db.Update(func(tx *bbolt.Tx) error {
		for node, c := range chains {
			var prev uint64
			if len(c.events) > 0 {
				prev = c.events[0].Seq - 1
			} else {
				prev = boltHead(tx, node)
			}
			if err := appendTx(tx, node, prev, c.events, c.checkpoints); err != nil {
				return fmt.Errorf("node %s: %w", node, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: audit wal: move records into the database: %w", err)
	}
	return nil
}

// boltHead returns the last seq bbolt holds of node's chain.
func boltHead(tx *bbolt.Tx, node string) uint64 {
	if b := nodeBucket(tx, node, bucketEvents); b != nil {
		if k, _ := b.Cursor().Last(); k != nil {
			return keySeq(k)
		}
	}
	return 0
}

// snapshot returns node's records not yet in bbolt, in seq order. The
// slices are the caller's; the records' data must not be changed.
func (w *auditWAL) snapshot(node string) (events, cps []audit.Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range [2]map[string]*walChain{w.draining, w.pending} {
		if c := m[node]; c != nil {
			events = append(events, c.events...)
			cps = append(cps, c.checkpoints...)
		}
	}
	return events, cps
}

// nodes returns the nodes with records not yet in bbolt.
func (w *auditWAL) nodes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range [2]map[string]*walChain{w.draining, w.pending} {
		for n := range m {
			out = append(out, n)
		}
	}
	return out
}

// close drains what is left, syncs and closes the files.
func (w *auditWAL) close() error {
	if w.readOnly {
		return nil
	}
	select {
	case <-w.closing:
		return w.closeErr
	default:
	}
	close(w.closing)
	<-w.stopped
	// The drain empties the file it drains; the other, now active, has
	// taken nothing since it was emptied.
	err := w.drain()
	if cerr := w.closeFiles(); err == nil {
		err = cerr
	}
	w.closeErr = err
	return err
}

func (w *auditWAL) closeFiles() error {
	var err error
	for i, f := range w.files {
		if f != nil {
			err = errors.Join(err, f.Close())
			w.files[i] = nil
		}
	}
	return err
}

// syncDir makes a new file's directory entry durable.
func syncDir(path string) error {
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("bolt: audit wal: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("bolt: audit wal: sync directory: %w", err)
	}
	return nil
}
