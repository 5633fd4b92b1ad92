package recover

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"

	"firebreak/evidence"
)

// A feed hands out the chunks of a sequence (a volume's files, in order)
// one after another, while a few goroutines read the objects that hold
// them ahead of need: a pack is read whole once for all its chunks that
// come together, and kept a while for those that come again. Memory stays
// bounded: at most feedCache objects (of under 1 MiB each) are held.
const (
	feedWorkers   = 4    // objects read at once
	feedLookahead = 6    // objects read ahead of the one in use
	feedCache     = 12   // objects held, the least recently needed dropped first
	feedRefsAhead = 4096 // chunks the reading runs ahead at most, even of objects held
)

// feedRef is one chunk of the sequence: the object that holds it, where.
type feedRef struct {
	unit   int32
	off, n uint32
	plain  uint32
	crc    uint32 // of the stored bytes; 0: not recorded
}

// feedUnit is an object to read: a pack, or (version 1) a chunk stored as
// an object of its own.
type feedUnit struct {
	key    string
	legacy bool
	checks []feedCheck // with check: its chunks the sequence holds, each once
}

type feedCheck struct {
	sum [32]byte
	ref feedRef
}

// fetched is an object read (or being read).
type fetched struct {
	done  chan struct{}
	data  []byte
	err   error
	bad   map[[32]byte]error // with check: chunks that did not verify
	plain int                // legacy, after a check: the chunk's plain bytes
	used  int64              // when last needed, for dropping
}

// feedBuilder lists a sequence's chunks before the feed starts.
type feedBuilder struct {
	r       *Repo
	check   bool
	refs    []feedRef
	units   []feedUnit
	byPack  map[int32]int32
	byChunk map[string]int32
}

// newFeed starts a list of chunks to read. With check, each distinct
// chunk is decompressed and its digest checked as its object is read.
func (r *Repo) newFeed(ctx context.Context, check bool) (*feedBuilder, error) {
	if err := r.loadIndex(ctx); err != nil {
		return nil, err
	}
	return &feedBuilder{r: r, check: check, byPack: map[int32]int32{}, byChunk: map[string]int32{}}, nil
}

// add appends a chunk (its digest, as in a file list) to the sequence.
func (b *feedBuilder) add(sum string) {
	d, valid := parseSum(sum) // an invalid one was refused before, by checkEntries or the list's digest
	var ref feedRef
	if loc, ok := b.r.idx.lookup(d); ok {
		u, seen := b.byPack[loc.pack]
		if !seen {
			u = int32(len(b.units))
			b.units = append(b.units, feedUnit{key: packKey(b.r.idx.packID(loc.pack))})
			b.byPack[loc.pack] = u
		}
		ref = feedRef{unit: u, off: loc.off, n: loc.n, plain: loc.plainBytes, crc: loc.crc}
	} else {
		u, seen := b.byChunk[sum]
		if !seen {
			u = int32(len(b.units))
			key := ""
			if valid {
				key = chunkKey(sum)
			}
			b.units = append(b.units, feedUnit{key: key, legacy: true})
			b.byChunk[sum] = u
		}
		ref = feedRef{unit: u}
	}
	if b.check { // each once: see start
		b.units[ref.unit].checks = append(b.units[ref.unit].checks, feedCheck{sum: d, ref: ref})
	}
	b.refs = append(b.refs, ref)
}

// feed is a started sequence. next must be called once per chunk, in
// order; close stops the readers.
type feed struct {
	r      *Repo
	ctx    context.Context
	cancel context.CancelFunc
	refs   []feedRef
	units  []feedUnit
	check  bool
	buf    []byte

	mu     sync.Mutex
	wake   *sync.Cond
	cache  map[int32]*fetched
	clock  int64
	pos    int   // the next ref the consumer takes
	ahead  []int // positions of the first need of objects read ahead
	sem    chan struct{}
	wg     sync.WaitGroup
	closed bool
}

func (b *feedBuilder) start(ctx context.Context) *feed {
	ctx, cancel := context.WithCancel(ctx)
	f := &feed{r: b.r, ctx: ctx, cancel: cancel, refs: b.refs, units: b.units, check: b.check,
		cache: map[int32]*fetched{}, sem: make(chan struct{}, feedWorkers)}
	f.wake = sync.NewCond(&f.mu)
	b.byChunk, b.byPack = nil, nil
	for i := range f.units { // a chunk that comes again is checked once
		c := f.units[i].checks
		slices.SortFunc(c, func(x, y feedCheck) int { return bytes.Compare(x.sum[:], y.sum[:]) })
		f.units[i].checks = slices.CompactFunc(c, func(x, y feedCheck) bool { return x.sum == y.sum })
	}
	f.wg.Add(1)
	go f.prefetch()
	return f
}

// prefetch walks the sequence ahead of the consumer, starting the read of
// each object not held, no more than feedLookahead ahead.
func (f *feed) prefetch() {
	defer f.wg.Done()
	last := int32(-1)
	for i, ref := range f.refs {
		if ref.unit == last {
			continue
		}
		last = ref.unit
		f.mu.Lock()
		for {
			for len(f.ahead) > 0 && f.ahead[0] < f.pos {
				f.ahead = f.ahead[1:]
			}
			if f.closed || len(f.ahead) < feedLookahead && i < f.pos+feedRefsAhead {
				break
			}
			f.wake.Wait()
		}
		if f.closed {
			f.mu.Unlock()
			return
		}
		if i < f.pos {
			f.mu.Unlock()
			continue // the consumer is past it
		}
		f.clock++
		if e, ok := f.cache[ref.unit]; ok {
			e.used = f.clock
			f.mu.Unlock()
			continue
		}
		e := f.holdLocked(ref.unit)
		f.ahead = append(f.ahead, i)
		f.mu.Unlock()
		select {
		case f.sem <- struct{}{}:
		case <-f.ctx.Done():
			e.err = f.ctx.Err()
			close(e.done)
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.fetch(ref.unit, e)
			<-f.sem
		}()
	}
}

// holdLocked makes the cache entry of an object about to be read,
// dropping the least recently needed held ones beyond feedCache.
func (f *feed) holdLocked(u int32) *fetched {
	e := &fetched{done: make(chan struct{}), used: f.clock}
	f.cache[u] = e
	for len(f.cache) > feedCache {
		var old int32 = -1
		for k, c := range f.cache {
			if k != u && (old < 0 || c.used < f.cache[old].used) {
				old = k
			}
		}
		delete(f.cache, old)
	}
	return e
}

// fetch reads one object and, with check, checks its chunks.
func (f *feed) fetch(u int32, e *fetched) {
	defer close(e.done)
	unit := &f.units[u]
	if unit.key == "" {
		e.err = errors.New("not a chunk digest")
		return
	}
	e.data, e.err = readAll(f.ctx, f.r.store, unit.key, 2*chunkMax)
	if e.err != nil {
		if errors.Is(e.err, evidence.ErrNotFound) {
			e.err = f.r.missing(unit)
		}
		return
	}
	if !f.check {
		return
	}
	bp := checkBufs.Get().(*[]byte)
	defer checkBufs.Put(bp)
	buf := *bp
	defer func() { *bp = buf[:0] }()
	for _, c := range unit.checks {
		z, err := f.slice(e.data, c.ref, unit)
		if err == nil && f.r.seal == nil && c.ref.crc != 0 && storedCRC(z) != c.ref.crc { // sealed: the AEAD covers every byte
			err = errors.New("its stored bytes are not those written (CRC32C; altered)")
		}
		if err == nil && !unit.legacy && f.r.seal != nil {
			z, err = f.r.seal.open(nil, z, c.sum[:])
		}
		if err == nil {
			buf, err = decodeChunk(z, buf[:0], c.sum)
		}
		switch {
		case err != nil:
		case !unit.legacy && len(buf) != int(c.ref.plain):
			err = fmt.Errorf("the index says %d plain bytes, it holds %d", c.ref.plain, len(buf))
		case unit.legacy:
			e.plain = len(buf)
		}
		if err != nil {
			if e.bad == nil {
				e.bad = map[[32]byte]error{}
			}
			e.bad[c.sum] = err
		}
	}
}

// checkBufs hold chunks decompressed to be checked.
var checkBufs = sync.Pool{New: func() any { b := make([]byte, 0, chunkMaxSize); return &b }}

// missing says why an object is not there.
func (r *Repo) missing(u *feedUnit) error {
	if !u.legacy {
		return fmt.Errorf("pack %s is missing from the store", u.key)
	}
	return errors.New("in no pack of the index, and not stored on its own")
}

func (f *feed) slice(data []byte, ref feedRef, unit *feedUnit) ([]byte, error) {
	if unit.legacy {
		return data, nil
	}
	if uint64(ref.off)+uint64(ref.n) > uint64(len(data)) {
		return nil, fmt.Errorf("the index places it past the end of %s", unit.key)
	}
	return data[ref.off : ref.off+ref.n], nil
}

// next takes the next chunk of the sequence. With decode, plain holds its
// bytes (valid until the next call; with check they were checked when
// read, otherwise not: the caller checks what they make); without, only
// its length is told, which with check is checked too.
func (f *feed) next(sum string, decode bool) (plain []byte, n int, err error) {
	var dst []byte
	if decode {
		dst = f.buf[:0]
	}
	plain, n, err = f.take(sum, decode, dst)
	if decode && err == nil {
		f.buf = plain
	}
	return plain, n, err
}

// nextInto is next with decode, into dst's storage (which it may grow).
func (f *feed) nextInto(sum string, dst []byte) ([]byte, int, error) {
	return f.take(sum, true, dst[:0])
}

func (f *feed) take(sum string, decode bool, dst []byte) (plain []byte, n int, err error) {
	if f.pos >= len(f.refs) {
		return dst, 0, errors.New("read past the chunks listed")
	}
	ref := f.refs[f.pos]
	f.mu.Lock()
	f.pos++
	f.clock++
	e, ok := f.cache[ref.unit]
	if ok {
		e.used = f.clock
	} else {
		e = f.holdLocked(ref.unit)
	}
	f.wake.Broadcast()
	f.mu.Unlock()
	if !ok {
		f.fetch(ref.unit, e)
	}
	select {
	case <-e.done:
	case <-f.ctx.Done():
		return dst, 0, f.ctx.Err()
	}
	if e.err != nil {
		return dst, 0, e.err
	}
	unit := &f.units[ref.unit]
	d, _ := parseSum(sum)
	if err := e.bad[d]; err != nil {
		return dst, 0, err
	}
	if !decode {
		if unit.legacy {
			return nil, e.plain, nil
		}
		return nil, int(ref.plain), nil
	}
	z, err := f.slice(e.data, ref, unit)
	if err == nil && !f.check && f.r.seal == nil && ref.crc != 0 && storedCRC(z) != ref.crc {
		// unchecked reads (a file list streamed, a restore) still see a
		// stored byte changed that decodes to the same bytes
		err = errors.New("its stored bytes are not those written (CRC32C; altered)")
	}
	if err == nil && !unit.legacy && f.r.seal != nil {
		z, err = f.r.seal.open(nil, z, d[:])
	}
	if err != nil {
		return dst, 0, err
	}
	plain, err = decodeFrame(z, dst)
	return plain, len(plain), err
}

// lastKey names the object that holds the chunk next gave last.
func (f *feed) lastKey() string {
	if f.pos == 0 || f.pos > len(f.refs) {
		return "?"
	}
	return f.units[f.refs[f.pos-1].unit].key
}

func (f *feed) close() {
	f.cancel()
	f.mu.Lock()
	f.closed = true
	f.wake.Broadcast()
	f.mu.Unlock()
	f.wg.Wait()
}

// feedReader reads the plain bytes of a feed's whole sequence (a file
// list's chunks) as one stream.
type feedReader struct {
	f    *feed
	sums []string
	rest []byte
	err  error // the first failure, told again to every later Read
}

func (fr *feedReader) Read(p []byte) (int, error) {
	if fr.err != nil {
		return 0, fr.err
	}
	for len(fr.rest) == 0 {
		if len(fr.sums) == 0 {
			return 0, io.EOF
		}
		b, _, err := fr.f.next(fr.sums[0], true)
		if err != nil {
			fr.err = fmt.Errorf("chunk %.12s: %w", fr.sums[0], err)
			return 0, fr.err
		}
		fr.sums, fr.rest = fr.sums[1:], b
	}
	n := copy(p, fr.rest)
	fr.rest = fr.rest[n:]
	return n, nil
}

var decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(64<<20))

// decodeFrame decompresses one stored chunk, appending to dst.
func decodeFrame(z, dst []byte) ([]byte, error) {
	out, err := decoder.DecodeAll(z, dst)
	if err != nil {
		return dst, fmt.Errorf("does not decompress: %w", err)
	}
	if len(out) > chunkMax {
		return dst, errors.New("decompresses to more than a chunk holds")
	}
	return out, nil
}

// decodeChunk decompresses a stored chunk and checks its digest.
func decodeChunk(z, dst []byte, sum [32]byte) ([]byte, error) {
	out, err := decodeFrame(z, dst)
	if err != nil {
		return out, err
	}
	if sha256.Sum256(out) != sum {
		return out, errors.New("its bytes do not have its digest (altered)")
	}
	return out, nil
}

// chunkMax is the largest chunk any version's chunker made.
const chunkMax = 8 << 20

func readAll(ctx context.Context, st evidence.Store, key string, limit int64) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, 0, min(limit+1, packMax+4096))
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return nil, fmt.Errorf("%s is larger than %d bytes", key, limit)
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
