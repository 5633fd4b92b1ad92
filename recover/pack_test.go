package recover

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"firebreak/evidence"
	"firebreak/runtime"
	"firebreak/runtime/fake"
)

// TestWriteListIsMarshal: the list written entry by entry is the bytes
// json.Marshal makes of it, so lists stored before and after keep their
// digests and chunks.
func TestWriteListIsMarshal(t *testing.T) {
	for name, files := range map[string][]Entry{
		"empty": {},
		"one":   {{Path: "a", Type: "file", Mode: 0o644, Size: 3, SHA256: strings.Repeat("a", 64), Chunks: []string{strings.Repeat("a", 64)}}},
		"mixed": {
			{Path: "d", Type: "dir", Mode: 0o755, MTime: time.Unix(1e9, 5).UTC(), Xattrs: map[string][]byte{"user.b": []byte("x"), "user.a": {0, 1}}},
			{Path: "d/<&>", PathB64: "/w==", Type: "symlink", Link: "../x"},
			{Path: "e", Type: "file", SHA256: strings.Repeat("b", 64)},
			{Path: "h", Type: "hardlink", Link: "e", UID: 1000, GID: 1000},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			if err := writeList(&got, files); err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(files)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("writeList = %s\nwant        %s", got.Bytes(), want)
			}
		})
	}
}

// TestFeedRevisitsObjects: a sequence that comes back to packs read long
// before (more than the feed holds) gets every chunk's bytes right, with
// and without checking; a damaged pack fails only its own chunks when
// checked.
func TestFeedRevisitsObjects(t *testing.T) {
	r := testRepo(t)
	n := feedCache * 3
	sums := make([]string, n)
	data := make([][]byte, n)
	for i := range sums {
		data[i] = bytes.Repeat([]byte(fmt.Sprintf("chunk %d;", i)), 100+i)
		sums[i] = storeChunk(t, r, data[i])
	}
	var order []int
	for i := range n {
		order = append(order, i)
	}
	for i := range n { // back to the start, interleaved with the end
		order = append(order, i, n-1-i)
	}
	for _, check := range []bool{false, true} {
		b, err := r.newFeed(context.Background(), check)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range order {
			b.add(sums[i])
		}
		f := b.start(context.Background())
		for k, i := range order {
			got, size, err := f.next(sums[i], true)
			if err != nil || !bytes.Equal(got, data[i]) || size != len(data[i]) {
				t.Fatalf("check %v, item %d (chunk %d): %d bytes, %v", check, k, i, size, err)
			}
		}
		f.close()
	}

	// One byte changed in the pack of chunk 5.
	pack, err := PackOf(context.Background(), r, sums[5])
	if err != nil {
		t.Fatal(err)
	}
	damage(t, r, pack)
	b, _ := r.newFeed(context.Background(), true)
	for _, i := range []int{4, 5, 6} {
		b.add(sums[i])
	}
	f := b.start(context.Background())
	defer f.close()
	for _, i := range []int{4, 5, 6} {
		_, _, err := f.next(sums[i], false)
		if (err != nil) != (i == 5) {
			t.Errorf("chunk %d after its neighbour's pack was damaged: %v", i, err)
		}
	}
}

// damage flips a byte in the middle of an object of a local store.
func damage(t *testing.T, r *Repo, key string) {
	t.Helper()
	p := filepath.Join(r.store.(*evidence.FileStore).Dir(), filepath.FromSlash(key))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreReadsVersion1Chunks: a chunk stored as an object of its own
// (before packs) is still read by a restore and checked by a verify.
func TestRestoreReadsVersion1Chunks(t *testing.T) {
	r := testRepo(t)
	content := []byte(strings.Repeat("version one\n", 1000))
	sum := sha256.Sum256(content)
	key := hex.EncodeToString(sum[:])
	enc, _ := zstd.NewWriter(nil)
	if _, err := r.store.Put(context.Background(), chunkKey(key), bytes.NewReader(enc.EncodeAll(content, nil)), nil); err != nil {
		t.Fatal(err)
	}
	e := Entry{Path: "old", Type: "file", Mode: 0o640, Size: int64(len(content)), SHA256: key, Chunks: []string{key}, MTime: time.Unix(1e9, 0)}
	s := &Snapshot{ID: "20261128T000000Z-000002", Volumes: []Volume{{Name: "v", Files: []Entry{e}}}}
	dst := t.TempDir()
	if err := r.RestoreVolume(context.Background(), s, "v", dst, DefaultRestoreLimits()); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "old")); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("restored %d bytes, %v", len(got), err)
	}
	_, _, problems, err := r.verifyVolume(context.Background(), "v", entriesOf(s.Volumes[0].Files))
	if err != nil || len(problems) > 0 {
		t.Errorf("verify of a version 1 chunk: %v %v", problems, err)
	}
	missing := e
	missing.Chunks = []string{strings.Repeat("c", 64)}
	_, _, problems, _ = r.verifyVolume(context.Background(), "v", entriesOf([]Entry{missing}))
	if len(problems) != 1 || !strings.Contains(problems[0], "in no pack of the index") {
		t.Errorf("verify of a chunk stored nowhere: %v", problems)
	}
}

// failingStore refuses to store packs while fail is set.
type failingStore struct {
	evidence.Store
	fail atomic.Bool
}

func (s *failingStore) Put(ctx context.Context, key string, rd io.Reader, meta map[string]string) (evidence.Object, error) {
	if s.fail.Load() && strings.HasPrefix(key, packsPrefix) {
		return evidence.Object{}, errors.New("store down")
	}
	return s.Store.Put(ctx, key, rd, meta)
}

// TestFailedPackGivesChunksBack: chunks whose pack could not be stored are
// not taken for stored: the next backup in the same process stores them.
func TestFailedPackGivesChunksBack(t *testing.T) {
	r := testRepo(t)
	fs := &failingStore{Store: r.store}
	r.store = fs
	data := bytes.Repeat([]byte("some data that a failed upload must not lose "), 30000) // several chunks
	store := func() (int64, error) {
		w := r.newPackWriter(context.Background())
		cw := r.newChunkWorker(w)
		stored, err := cw.store(w.ctx, bytes.NewReader(data), func(string, []byte, int64) {})
		if err == nil {
			err = cw.p.flush()
		}
		if werr := w.wait(); err == nil {
			err = werr
		}
		if err != nil {
			cw.p.discard()
		}
		return stored, err
	}
	fs.fail.Store(true)
	if _, err := store(); err == nil {
		t.Fatal("stored with the store down")
	}
	fs.fail.Store(false)
	stored, err := store()
	if err != nil || stored == 0 {
		t.Fatalf("after the failure: %d bytes stored, %v (the chunks were taken for stored)", stored, err)
	}
	if again, err := store(); err != nil || again != 0 {
		t.Errorf("a third time: %d bytes stored, %v (want none: all are there)", again, err)
	}
}

// TestPacksStayUnderTheirBounds: tiny chunks (which compress to a few
// bytes) fill packs up to the chunk bound, larger ones up to the byte
// bound, and each index object stays small enough to be read back.
func TestPacksStayUnderTheirBounds(t *testing.T) {
	r := testRepo(t)
	ctx := context.Background()
	if err := r.loadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	w := r.newPackWriter(ctx)
	p := w.packer()
	big := make([]byte, chunkMaxSize)
	for i := range 3*packChunks + 7 {
		data := []byte(fmt.Sprint(i))
		if i%1000 == 0 {
			_, _ = rand.Read(big)
			data = big
		}
		sum := sha256.Sum256(data)
		if !r.idx.claim(sum) {
			t.Fatalf("chunk %d claimed twice", i)
		}
		if _, err := p.add(sum, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.wait(); err != nil {
		t.Fatal(err)
	}
	r.idx.mu.Lock()
	chunks := map[int32]int{} // pack -> chunks
	ends := map[int32]uint32{}
	total := 0
	for _, l := range r.idx.added {
		chunks[l.pack]++
		ends[l.pack] = max(ends[l.pack], l.off+l.n)
		total++
	}
	r.idx.mu.Unlock()
	if len(chunks) < 4 {
		t.Fatalf("%d packs for %d chunks", len(chunks), 3*packChunks+7)
	}
	for p, n := range chunks {
		if n > packChunks || ends[p] > packMax {
			t.Errorf("pack %d: %d chunks, %d bytes", p, n, ends[p])
		}
	}
	if total != 3*packChunks+7 {
		t.Errorf("%d chunks in the packs, want %d", total, 3*packChunks+7)
	}
	if _, err := r.writeIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r.idx.added) != 0 || len(r.idx.sorted) != total || !slices.IsSortedFunc(r.idx.sorted, func(a, b locEntry) int { return bytes.Compare(a.sum[:], b.sum[:]) }) {
		t.Errorf("after the index was written: %d chunks unwritten, %d sorted (want %d, in order)", len(r.idx.added), len(r.idx.sorted), total)
	}
	objs, err := r.store.List(ctx, indexPrefix)
	if err != nil || len(objs) == 0 {
		t.Fatalf("index objects: %v, %v", objs, err)
	}
	for _, o := range objs {
		if o.Size > 4*indexMax {
			t.Errorf("%s: %d bytes, more than a reader takes", o.Key, o.Size)
		}
	}
	again, err := OpenRepo(ctx, r.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.loadIndex(ctx); err != nil || len(again.idx.sorted) != total || len(again.idx.damagedIndex()) > 0 {
		t.Errorf("read back %d of %d chunks (%v), damaged: %v", len(again.idx.sorted), total, err, again.idx.damagedIndex())
	}
}

// TestDamagedIndexIsNamed: an index object whose content is not its name
// is left out; its chunks are then missing, and a backup stores them again.
func TestDamagedIndexIsNamed(t *testing.T) {
	r := testRepo(t)
	ctx := context.Background()
	sum := storeChunk(t, r, []byte("indexed once"))
	objs, err := r.store.List(ctx, indexPrefix)
	if err != nil || len(objs) != 1 {
		t.Fatalf("index objects: %v, %v", objs, err)
	}
	damage(t, r, objs[0].Key)
	again, err := OpenRepo(ctx, r.store, r.signer)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Path: "f", Type: "file", Size: 12, SHA256: sum, Chunks: []string{sum}}
	_, _, problems, err := again.verifyVolume(ctx, "v", entriesOf([]Entry{e}))
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0], "in no pack") {
		t.Errorf("verify with the index damaged: %v, %v", problems, err)
	}
	if d := again.idx.damagedIndex(); len(d) != 1 || !strings.Contains(d[0], objs[0].Key) {
		t.Errorf("damaged index objects named: %v", d)
	}
	d, _ := parseSum(sum)
	if !again.idx.claim(d) {
		t.Error("a chunk only a damaged index places is taken for stored")
	}
}

// TestEveryStoredByteIsChecked: each bit of a stored chunk, flipped, fails
// a check, read back through an index a new process loads (the CRC32C of
// the stored bytes goes through the index's JSON). zstd's own checksum
// covers the content only, and some header bits (the window size's, for
// one) change nothing a decoder gives back: without the CRC about 4% of
// single-bit flips of small chunks went unseen.
func TestEveryStoredByteIsChecked(t *testing.T) {
	st, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w, err := OpenRepo(ctx, st, sg)
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{[]byte("7"), bytes.Repeat([]byte("4242"), 700)} {
		sum := storeChunk(t, w, data)
		r, err := OpenRepo(ctx, st, sg) // a new process: the index as stored
		if err != nil {
			t.Fatal(err)
		}
		pack, err := PackOf(ctx, r, sum)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(st.Dir(), filepath.FromSlash(pack))
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
		// With the feed's check (verify's data chunks) and without it, the
		// bytes decoded (a file list streamed, a restore).
		read := func(checked bool) error {
			b, err := r.newFeed(ctx, checked)
			if err != nil {
				t.Fatal(err)
			}
			b.add(sum)
			f := b.start(ctx)
			defer f.close()
			_, _, err = f.next(sum, !checked)
			return err
		}
		for _, checked := range []bool{true, false} {
			if err := read(checked); err != nil {
				t.Fatalf("chunk of %d bytes, undamaged, checked %v: %v", len(data), checked, err)
			}
		}
		missed := 0
		for i := range orig {
			for bit := range 8 {
				b := bytes.Clone(orig)
				b[i] ^= 1 << bit
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				if read(true) == nil || read(false) == nil {
					missed++
				}
			}
		}
		if missed > 0 {
			t.Errorf("chunk of %d bytes (%d stored): %d of %d single-bit flips not seen", len(data), len(orig), missed, 8*len(orig))
		}
		if err := os.WriteFile(p, orig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyNamesEveryDifference: with three packs damaged, verify goes on
// past the first bad chunk and names each bad chunk of each file (with its
// pack), not only the first.
func TestVerifyNamesEveryDifference(t *testing.T) {
	r := testRepo(t)
	ctx := context.Background()
	vol := t.TempDir()
	big := make([]byte, 6<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	e := fake.New()
	d := e.Create("db", fake.WithSecurity(runtime.Security{Mounts: []runtime.Mount{{Type: "volume", Name: "db-data", Source: vol, Destination: "/data", RW: true}}}))
	s, err := r.Backup(ctx, e, d.Container, BackupOptions{})
	if err == nil {
		err = r.Commit(ctx, s)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The packs of the file's chunks (not the file list's).
	var packs []string
	for _, c := range s.Volumes[0].Files[0].Chunks {
		p, err := PackOf(ctx, r, c)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(packs, p) {
			packs = append(packs, p)
		}
	}
	if len(packs) < 4 {
		t.Fatalf("the file is in %d packs, want 4 or more", len(packs))
	}
	for _, p := range packs[:3] {
		damage(t, r, p)
	}
	_, _, err = r.Verify(ctx, s.ID, r.signer.Pub)
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("verify with three packs damaged: %v", err)
	}
	for _, p := range packs[:3] {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("damaged pack %s not named: %v", p, err)
		}
	}
	if strings.Contains(err.Error(), packs[3]) {
		t.Errorf("a sound pack %s named: %v", packs[3], err)
	}
}
