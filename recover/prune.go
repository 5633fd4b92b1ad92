package recover

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"firebreak/evidence"
)

// PruneStats says what a prune found and removed.
type PruneStats struct {
	Snapshots      int   `json:"snapshots"`
	ChunksUsed     int   `json:"chunks_used"`
	PacksKept      int   `json:"packs_kept"`
	PacksRemoved   int   `json:"packs_removed"`
	PacksOrphaned  int   `json:"packs_orphaned"` // of those removed (or to be), packs no index named: a failed backup's
	PacksRetained  int   `json:"packs_retained"` // unused, kept by the store's retention
	BytesRemoved   int64 `json:"bytes_removed"`
	BytesUnused    int64 `json:"bytes_unused_in_kept_packs"`
	ChunkObjects   int   `json:"chunk_objects_removed"` // version 1 stores
	IndexRewritten int   `json:"index_objects_replaced"`
	DryRun         bool  `json:"dry_run"`
}

// Prune removes the data no snapshot uses any more, once forget has removed
// the snapshots that used it: packs none of whose chunks a remaining
// snapshot names, and chunk objects of version 1 stores. It keeps a pack
// that holds one used chunk (the unused bytes in such packs are counted).
//
// The order keeps the repository whole at every step, a crash included: a
// new index naming only the kept packs is written first, then the old
// index objects are removed, then the unused packs. A pack the store's
// retention keeps is left in place and counted. Prune takes the
// repository's prune lock and refuses while a backup holds its lock (a
// backup could be storing new references to chunks in the packs prune
// would remove), and refuses when an index object is damaged (the chunks
// it names could not be told used or not).
// dryRun counts what it would remove and changes nothing. Packs the
// store holds that no index names (a backup that died before its index)
// are removed too once older than a lock lasts (lockTTL), and counted.
func (r *Repo) Prune(ctx context.Context, dryRun bool) (*PruneStats, error) {
	del, ok := r.store.(evidence.Deleter)
	if !ok && !dryRun {
		return nil, fmt.Errorf("the store %s cannot delete objects", r.store)
	}
	st := &PruneStats{DryRun: dryRun}
	if !dryRun {
		unlock, err := r.lock(ctx, "prune")
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	// What the remaining snapshots use: their file lists' chunks and their
	// files' chunks.
	snaps, damaged, err := r.ListAll(ctx)
	if err != nil {
		return nil, err
	}
	if len(damaged) > 0 {
		// Its file lists cannot be read, so what it uses is not known: a
		// prune now would remove data it may name.
		errs := make([]error, len(damaged))
		for i, d := range damaged {
			errs[i] = d
		}
		return nil, fmt.Errorf("prune refused, nothing removed: what a damaged snapshot uses cannot be known: %w", errors.Join(errs...))
	}
	st.Snapshots = len(snaps)
	used := map[string]bool{}
	for i := range snaps {
		for _, v := range snaps[i].Volumes {
			if v.List == nil {
				continue
			}
			for _, c := range v.List.Chunks {
				used[c] = true
			}
			if err := r.streamList(ctx, v.List, func(e *Entry) {
				for _, c := range e.Chunks {
					used[c] = true
				}
			}); err != nil {
				return nil, fmt.Errorf("reading the file list of snapshot %s, volume %s: %w (nothing was removed)", snaps[i].ID, v.Name, err)
			}
		}
	}
	st.ChunksUsed = len(used)
	// Where the chunks are.
	if err := r.loadIndex(ctx); err != nil {
		return nil, err
	}
	if d := r.idx.damagedIndex(); len(d) > 0 {
		return nil, fmt.Errorf("the index is damaged (%s): prune cannot tell which chunks are used; nothing was removed", strings.Join(d, "; "))
	}
	type packInfo struct {
		chunks      []indexChunk
		used, bytes int64
	}
	packs := map[string]*packInfo{}
	r.idx.mu.Lock()
	for _, e := range r.idx.sorted {
		id := r.idx.packs[e.loc.pack]
		p := packs[id]
		if p == nil {
			p = &packInfo{}
			packs[id] = p
		}
		sum := hex.EncodeToString(e.sum[:])
		p.chunks = append(p.chunks, indexChunk{SHA256: sum, Off: e.loc.off, Len: e.loc.n, Plain: e.loc.plainBytes, CRC: e.loc.crc})
		p.bytes += int64(e.loc.n)
		if used[sum] {
			p.used += int64(e.loc.n)
		}
	}
	r.idx.mu.Unlock()
	var keep, drop []string
	for id, p := range packs {
		if p.used > 0 {
			keep = append(keep, id)
			st.BytesUnused += p.bytes - p.used
		} else {
			drop = append(drop, id)
		}
	}
	// Packs no index names: left by a backup that failed or was killed
	// before it wrote its index (a full disk, a store that dropped). The
	// prune lock shuts out every backup whose lock is renewed; a pack is
	// taken only once it is older than a lock lasts, so that a backup
	// whose lock went unseen (a store slow to list) keeps what it wrote.
	stored, err := r.store.List(ctx, packsPrefix)
	if err != nil {
		return nil, err
	}
	for _, o := range stored {
		id := o.Key[strings.LastIndexByte(o.Key, '/')+1:]
		if packs[id] == nil && o.Key == packKey(id) && time.Since(o.Modified) > lockTTL {
			packs[id] = &packInfo{bytes: o.Size}
			drop = append(drop, id)
			st.PacksOrphaned++
		}
	}
	sort.Strings(keep)
	sort.Strings(drop)
	st.PacksKept = len(keep)
	oldIndex, err := r.store.List(ctx, indexPrefix)
	if err != nil {
		return nil, err
	}
	v1, err := r.store.List(ctx, chunksPrefix)
	if err != nil {
		return nil, err
	}
	var v1drop []evidence.Object
	for _, o := range v1 {
		if !used[o.Key[strings.LastIndexByte(o.Key, '/')+1:]] {
			v1drop = append(v1drop, o)
		}
	}
	if dryRun {
		st.PacksRemoved, st.ChunkObjects = len(drop), len(v1drop)
		for _, id := range drop {
			st.BytesRemoved += packs[id].bytes
		}
		return st, nil
	}
	if len(drop) == 0 && len(v1drop) == 0 {
		return st, nil
	}
	// 1. A new index naming the kept packs only.
	written := map[string]bool{}
	for rest := keep; len(rest) > 0; {
		f := indexFile{Version: 1}
		n := 0
		for len(rest) > 0 && (n == 0 || n+len(packs[rest[0]].chunks) <= indexMax/130) {
			f.Packs = append(f.Packs, indexPack{ID: rest[0], Chunks: packs[rest[0]].chunks})
			n += len(packs[rest[0]].chunks)
			rest = rest[1:]
		}
		key, _, err := r.putIndex(ctx, f)
		if err != nil {
			return st, fmt.Errorf("writing the pruned index: %w (nothing was removed)", err)
		}
		written[key] = true
	}
	// 2. The old index objects.
	for _, o := range oldIndex {
		if written[o.Key] {
			continue
		}
		if err := del.Delete(ctx, o.Key); err != nil && !errors.Is(err, evidence.ErrRetained) {
			return st, fmt.Errorf("removing the old index %s: %w (the new index is written: prune again to finish)", o.Key, err)
		}
		st.IndexRewritten++
	}
	// 3. The packs and chunk objects no snapshot uses.
	for _, id := range drop {
		err := del.Delete(ctx, packKey(id))
		switch {
		case errors.Is(err, evidence.ErrRetained):
			st.PacksRetained++
		case err != nil:
			return st, fmt.Errorf("removing pack %s: %w (prune again to finish)", id, err)
		default:
			st.PacksRemoved++
			st.BytesRemoved += packs[id].bytes
		}
	}
	for _, o := range v1drop {
		if err := del.Delete(ctx, o.Key); err != nil && !errors.Is(err, evidence.ErrRetained) {
			return st, fmt.Errorf("removing %s: %w (prune again to finish)", o.Key, err)
		}
		st.ChunkObjects++
	}
	// This process's index is now stale.
	r.idx = newChunkIndex()
	return st, nil
}
