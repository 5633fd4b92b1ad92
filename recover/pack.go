package recover

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"
	"golang.org/x/sync/errgroup"

	"firebreak/evidence"
)

// Chunks are stored in packs: a pack is the zstd frames of a few chunks
// back to back (each frame decompresses to one chunk, whose SHA-256 is its
// name), stored as packs/<xx>/<pack ID> (see packID). Index objects,
// index/<sha256 of the JSON>, say where each chunk is: its pack, offset,
// stored length and plain length. Both are written once and never changed.
//
// A pack stays under packMax so that the S3 store sends it in one request
// (it sends objects under 1 MiB as one PUT, larger ones as a multipart
// upload with two 8 MiB part buffers), and the chunker's largest chunk fits
// in a pack whole.
const (
	packsPrefix = "packs/"
	indexPrefix = "index/"

	packMax      = 1<<20 - 16<<10 // bytes of one pack, at most
	packChunks   = 4096           // chunks of one pack, at most (tiny files compress to a few bytes each)
	chunkMinSize = 128 << 10      // the chunker's least chunk (all but a file's last)
	chunkMaxSize = 896 << 10      // the chunker's largest chunk
	chunkAvgBits = 18             // a cut is looked for every 256 KiB on average past the least
	indexMax     = 900 << 10      // bytes of one index object (a larger index is split)

	uploadWorkers = 4 // packs in flight at once (about 2 MiB of memory each)
)

func packKey(id string) string { return packsPrefix + id[:2] + "/" + id }

// chunkLoc is where a stored chunk is: a pack (by its number in the
// repository's list of packs), where in it, and its size before and after
// compression.
type chunkLoc struct {
	pack       int32
	off, n     uint32
	plainBytes uint32
	crc        uint32 // CRC32C of the stored bytes; 0: not recorded (indexes before it)
}

type locEntry struct {
	sum [32]byte
	loc chunkLoc
}

// indexFile is the JSON of an index object.
type indexFile struct {
	Version int         `json:"version"`
	Packs   []indexPack `json:"packs"`
}

type indexPack struct {
	ID     string       `json:"id"` // see packID
	Chunks []indexChunk `json:"chunks"`
}

type indexChunk struct {
	SHA256 string `json:"sha256"` // of the plain bytes
	Off    uint32 `json:"off"`
	Len    uint32 `json:"len"`   // stored (compressed) bytes
	Plain  uint32 `json:"plain"` // plain bytes
	// CRC32C of the stored bytes: a changed byte that still decodes to
	// the same chunk (a bit of a frame's header, which zstd's own
	// checksum does not cover) is caught too. Absent in indexes written
	// before it.
	CRC uint32 `json:"crc32c,omitempty"`
}

// chunkIndex is what the repository holds, as far as this process knows:
// the index objects read once and those this process wrote (sorted,
// searched), what it stored since its last index object (a map), and what
// its workers are storing now (claimed, so that two workers do not store
// the same chunk).
type chunkIndex struct {
	mu      sync.Mutex
	loaded  bool
	packs   []string         // pack IDs; chunkLoc.pack indexes this
	packNum map[string]int32 // pack ID -> its number
	sorted  []locEntry       // in index objects, by digest
	added   map[[32]byte]chunkLoc
	claimed map[[32]byte]struct{}
	damaged []string // index objects that could not be read
}

func newChunkIndex() *chunkIndex {
	return &chunkIndex{packNum: map[string]int32{}, added: map[[32]byte]chunkLoc{}, claimed: map[[32]byte]struct{}{}}
}

// loadIndex reads the index objects once: one listing and a few reads at
// once. An index object that cannot be read or parsed is left out (its
// chunks are then stored again by a backup, and named as missing by a
// restore or verify) and remembered, so that Verify names it.
func (r *Repo) loadIndex(ctx context.Context) error {
	ix := r.idx
	ix.mu.Lock()
	loaded := ix.loaded
	ix.mu.Unlock()
	if loaded {
		return nil
	}
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	ix.mu.Lock()
	loaded = ix.loaded
	ix.mu.Unlock()
	if loaded {
		return nil
	}
	objs, err := r.store.List(ctx, indexPrefix)
	if err != nil {
		return fmt.Errorf("listing the backup index: %w", err)
	}
	// Each object is turned into entries as it arrives (its JSON is not
	// kept), then all are sorted once.
	var entries []locEntry
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(feedWorkers)
	for _, o := range objs {
		g.Go(func() error {
			b, err := readAll(gctx, r.store, o.Key, 4*indexMax)
			if err != nil && gctx.Err() != nil {
				return gctx.Err()
			}
			var f indexFile
			sum := sha256.Sum256(b)
			if err == nil && o.Key != indexPrefix+hex.EncodeToString(sum[:]) {
				err = errors.New(o.Key + ": damaged (its content is not the index its name says)")
			}
			if err == nil {
				if b, err = r.seal.open(nil, b, indexAD); err != nil {
					err = errors.New(o.Key + ": " + err.Error())
				} else if json.Unmarshal(b, &f) != nil {
					err = errors.New(o.Key + ": damaged (its content is not the index its name says)")
				}
			}
			ix.mu.Lock()
			defer ix.mu.Unlock()
			if err != nil {
				ix.damaged = append(ix.damaged, err.Error())
				return nil
			}
			for _, p := range f.Packs {
				num, ok := ix.packNumLocked(p.ID)
				if !ok {
					continue
				}
				for _, c := range p.Chunks {
					sum, ok := parseSum(c.SHA256)
					if !ok || c.Len == 0 || uint64(c.Off)+uint64(c.Len) > 4*packMax || c.Plain > chunkMax {
						continue // not a place a chunk can be: left out, so the chunk is missing
					}
					entries = append(entries, locEntry{sum: sum, loc: chunkLoc{pack: num, off: c.Off, n: c.Len, plainBytes: c.Plain, crc: c.CRC}})
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("reading the backup index: %w", err)
	}
	slices.SortFunc(entries, func(a, b locEntry) int { return bytes.Compare(a.sum[:], b.sum[:]) })
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.sorted = mergeSorted(entries, ix.sorted)
	ix.loaded = true
	return nil
}

// packNumLocked numbers a pack ID (64 hex digits), once.
func (ix *chunkIndex) packNumLocked(id string) (int32, bool) {
	if n, ok := ix.packNum[id]; ok {
		return n, true
	}
	if _, ok := parseSum(id); !ok {
		return 0, false
	}
	n := int32(len(ix.packs))
	ix.packs = append(ix.packs, id)
	ix.packNum[id] = n
	return n, true
}

// lookup says where a chunk is stored, if the index knows it.
func (ix *chunkIndex) lookup(sum [32]byte) (chunkLoc, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.lookupLocked(sum)
}

func (ix *chunkIndex) lookupLocked(sum [32]byte) (chunkLoc, bool) {
	if l, ok := ix.added[sum]; ok {
		return l, true
	}
	i := sort.Search(len(ix.sorted), func(i int) bool { return bytes.Compare(ix.sorted[i].sum[:], sum[:]) >= 0 })
	if i < len(ix.sorted) && ix.sorted[i].sum == sum {
		return ix.sorted[i].loc, true
	}
	return chunkLoc{}, false
}

// claim reports whether a chunk must be stored: true (and it is claimed)
// when it is neither stored nor being stored by another worker.
func (ix *chunkIndex) claim(sum [32]byte) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, ok := ix.claimed[sum]; ok {
		return false
	}
	if _, ok := ix.lookupLocked(sum); ok {
		return false
	}
	ix.claimed[sum] = struct{}{}
	return true
}

// release gives claims back: their pack was not stored.
func (ix *chunkIndex) release(chunks []packedChunk) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, c := range chunks {
		delete(ix.claimed, c.sum)
	}
}

// stored records a pack that is in the store: its chunks are known from
// now on, and go into the next index object.
func (ix *chunkIndex) stored(p storedPack) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	num, _ := ix.packNumLocked(p.id)
	for _, c := range p.chunks {
		ix.added[c.sum] = chunkLoc{pack: num, off: c.off, n: c.n, plainBytes: c.plain, crc: c.crc}
		delete(ix.claimed, c.sum)
	}
}

// storedPack is a pack in the store, for the next index object.
type storedPack struct {
	id     string
	chunks []packedChunk
}

// packedChunk is a chunk in a pack: its digest, place and lengths.
type packedChunk struct {
	sum           [32]byte
	off, n, plain uint32
	crc           uint32 // of the stored bytes
}

// damagedIndex names the index objects that could not be read.
func (ix *chunkIndex) damagedIndex() []string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return append([]string(nil), ix.damaged...)
}

// packID is the ID of a pack by its number.
func (ix *chunkIndex) packID(n int32) string {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.packs[n]
}

// putIndex stores one index object (sealed in an encrypted repository)
// under the digest of its stored bytes; one already there is no error.
func (r *Repo) putIndex(ctx context.Context, f indexFile) (key string, n int64, err error) {
	b, err := json.Marshal(f)
	if err != nil {
		return "", 0, err
	}
	b = r.seal.seal(nil, b, indexAD)
	sum := sha256.Sum256(b)
	key = indexPrefix + hex.EncodeToString(sum[:])
	if _, err := r.store.Put(ctx, key, bytes.NewReader(b), nil); err != nil && !errors.Is(err, evidence.ErrExists) {
		return key, 0, fmt.Errorf("storing the backup index %s: %w", key, err)
	}
	return key, int64(len(b)), nil
}

// writeIndex stores what was stored since the last index object, split in
// objects under indexMax, before a manifest names any of it; then those
// chunks join the sorted index. An object written again after a failure
// has the same content and name, and is taken as there.
func (r *Repo) writeIndex(ctx context.Context) (int64, error) {
	ix := r.idx
	ix.mu.Lock()
	entries := make([]locEntry, 0, len(ix.added))
	for sum, loc := range ix.added {
		entries = append(entries, locEntry{sum: sum, loc: loc})
	}
	packs := ix.packs
	ix.mu.Unlock()
	slices.SortFunc(entries, func(a, b locEntry) int {
		if a.loc.pack != b.loc.pack {
			return int(a.loc.pack - b.loc.pack)
		}
		return int(a.loc.off) - int(b.loc.off)
	})
	var total int64
	for rest := entries; len(rest) > 0; {
		f := indexFile{Version: 1}
		for n := 0; len(rest) > 0 && (n == 0 || n < indexMax/160); n++ {
			e := rest[0]
			if k := len(f.Packs); k == 0 || f.Packs[k-1].ID != packs[e.loc.pack] {
				f.Packs = append(f.Packs, indexPack{ID: packs[e.loc.pack]})
			}
			p := &f.Packs[len(f.Packs)-1]
			p.Chunks = append(p.Chunks, indexChunk{SHA256: hex.EncodeToString(e.sum[:]), Off: e.loc.off, Len: e.loc.n, Plain: e.loc.plainBytes, CRC: e.loc.crc})
			rest = rest[1:]
		}
		_, n, err := r.putIndex(ctx, f)
		if err != nil {
			return total, err
		}
		total += n
	}
	if len(entries) == 0 {
		return 0, nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, e := range entries {
		delete(ix.added, e.sum)
	}
	if len(ix.added) == 0 {
		ix.added = map[[32]byte]chunkLoc{} // a map does not shrink
	}
	slices.SortFunc(entries, func(a, b locEntry) int { return bytes.Compare(a.sum[:], b.sum[:]) })
	ix.sorted = mergeSorted(ix.sorted, entries)
	return total, nil
}

// mergeSorted merges two lists sorted by digest.
func mergeSorted(a, b []locEntry) []locEntry {
	out := make([]locEntry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if bytes.Compare(a[0].sum[:], b[0].sum[:]) <= 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

func parseSum(s string) ([32]byte, bool) {
	var sum [32]byte
	if len(s) != 64 || strings.ToLower(s) != s {
		return sum, false
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return sum, false
	}
	return sum, true
}

// packWriter stores the chunks of one backup run in packs: each worker
// fills a packer of its own (a file's chunks stay together, in order), and
// full packs are uploaded by a few goroutines while the workers go on.
type packWriter struct {
	r      *Repo
	g      *errgroup.Group
	ctx    context.Context
	cancel context.CancelFunc
}

func (r *Repo) newPackWriter(ctx context.Context) *packWriter {
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(uploadWorkers)
	return &packWriter{r: r, g: g, ctx: gctx, cancel: cancel}
}

// wait waits for every upload; the packers must have been flushed.
func (w *packWriter) wait() error {
	defer w.cancel()
	return w.g.Wait()
}

// packer fills one pack.
type packer struct {
	w      *packWriter
	buf    []byte
	z      []byte // a chunk compressed, before it goes in
	sealed []byte // and sealed, in an encrypted repository
	chunks []packedChunk
}

var packBufs = sync.Pool{New: func() any { b := make([]byte, 0, packMax); return &b }}

// storedCRC is the CRC32C (Castagnoli: in hardware) of a chunk's stored
// bytes, recorded in the index beside its digest.
func storedCRC(z []byte) uint32 { return crc32.Checksum(z, castagnoli) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Each frame carries its content checksum: a changed byte in a stored pack
// that still decodes to the same chunk (a bit of an entropy table, say) is
// caught by the decoder, not only by the chunk's digest.
var encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2), zstd.WithWindowSize(1<<20), zstd.WithEncoderCRC(true))

func (w *packWriter) packer() *packer { return &packer{w: w} }

// add compresses a claimed chunk into the pack, sending the pack first
// when the chunk would not fit. It returns the chunk's stored bytes.
func (p *packer) add(sum [32]byte, data []byte) (int64, error) {
	p.z = encoder.EncodeAll(data, p.z[:0])
	if s := p.w.r.seal; s != nil {
		p.sealed = s.seal(p.sealed[:0], p.z, sum[:])
		p.z, p.sealed = p.sealed, p.z
	}
	if (len(p.buf)+len(p.z) > packMax || len(p.chunks) >= packChunks) && len(p.chunks) > 0 {
		if err := p.flush(); err != nil {
			p.w.r.idx.release([]packedChunk{{sum: sum}})
			return 0, err
		}
	}
	if p.buf == nil {
		p.buf = (*packBufs.Get().(*[]byte))[:0]
	}
	start := len(p.buf)
	p.buf = append(p.buf, p.z...)
	p.chunks = append(p.chunks, packedChunk{sum: sum, off: uint32(start), n: uint32(len(p.z)), plain: uint32(len(data)), crc: storedCRC(p.z)})
	return int64(len(p.z)), nil
}

// flush sends the pack to be uploaded (waiting for a free upload when all
// are busy). On failure its chunks' claims are given back.
func (p *packer) flush() error {
	if len(p.chunks) == 0 {
		if p.buf != nil {
			b := p.buf
			packBufs.Put(&b)
			p.buf = nil
		}
		return nil
	}
	buf, chunks := p.buf, p.chunks
	p.buf, p.chunks = nil, nil
	w := p.w
	if err := w.ctx.Err(); err != nil {
		w.r.idx.release(chunks)
		packBufs.Put(&buf)
		return err
	}
	id := packID(chunks)
	w.g.Go(func() error {
		defer packBufs.Put(&buf)
		_, err := w.r.store.Put(w.ctx, packKey(id), bytes.NewReader(buf), nil)
		if err != nil && !errors.Is(err, evidence.ErrExists) {
			w.r.idx.release(chunks)
			return fmt.Errorf("storing pack %.12s: %w", id, err)
		}
		w.r.idx.stored(storedPack{id: id, chunks: chunks})
		return nil
	})
	return nil
}

// packID names a pack by what it holds: the SHA-256 of its chunks'
// digests, places and lengths (hashing the list, not the megabyte). Two
// packs with one name hold the same chunks at the same places, so either
// serves the index.
func packID(chunks []packedChunk) string {
	h := sha256.New()
	for _, c := range chunks {
		fmt.Fprintf(h, "%x %d %d %d\n", c.sum, c.off, c.n, c.plain)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// discard gives back the claims of a pack that will not be sent.
func (p *packer) discard() {
	if len(p.chunks) > 0 {
		p.w.r.idx.release(p.chunks)
	}
	if p.buf != nil {
		b := p.buf
		packBufs.Put(&b)
	}
	p.buf, p.chunks = nil, nil
}

// chunkWorker splits files by content and stores their new chunks into a
// pack of its own; its buffers are reused from file to file.
type chunkWorker struct {
	r   *Repo
	p   *packer
	ck  *chunker.Chunker
	buf []byte
}

func (r *Repo) newChunkWorker(w *packWriter) *chunkWorker {
	return &chunkWorker{r: r, p: w.packer(), buf: make([]byte, chunkMaxSize)}
}

// store splits rd by content and stores each chunk the repository does not
// hold, telling each chunk's digest, plain bytes and the bytes it took in
// the store (0 when it was there already). It returns the bytes stored.
func (cw *chunkWorker) store(ctx context.Context, rd io.Reader, each func(key string, data []byte, stored int64)) (int64, error) {
	if err := cw.r.loadIndex(ctx); err != nil {
		return 0, err
	}
	var total int64
	if cw.ck == nil {
		cw.ck = chunker.NewWithBoundaries(rd, cw.r.pol, chunkMinSize, chunkMaxSize)
	} else {
		cw.ck.ResetWithBoundaries(rd, cw.r.pol, chunkMinSize, chunkMaxSize)
	}
	cw.ck.SetAverageBits(chunkAvgBits)
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		c, err := cw.ck.Next(cw.buf)
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		sum := sha256.Sum256(c.Data)
		var stored int64
		if cw.r.idx.claim(sum) {
			if stored, err = cw.p.add(sum, c.Data); err != nil {
				return total, err
			}
			total += stored
		}
		each(hex.EncodeToString(sum[:]), c.Data, stored)
	}
}
