package recover

import (
	"context"
	"encoding/hex"
	"fmt"
)

func hexSum(b [32]byte) string { return hex.EncodeToString(b[:]) }

// PackOf names the pack that holds a chunk, for tests that damage one.
func PackOf(ctx context.Context, r *Repo, sum string) (string, error) {
	if err := r.loadIndex(ctx); err != nil {
		return "", err
	}
	d, ok := parseSum(sum)
	if !ok {
		return "", fmt.Errorf("%q is not a chunk digest", sum)
	}
	loc, ok := r.idx.lookup(d)
	if !ok {
		return "", fmt.Errorf("chunk %.12s is in no pack", sum)
	}
	return packKey(r.idx.packID(loc.pack)), nil
}

// ChunkAt names the chunk whose stored bytes cover offset off of a pack.
func ChunkAt(r *Repo, pack string, off int) string {
	r.idx.mu.Lock()
	defer r.idx.mu.Unlock()
	for sum, loc := range r.idx.added {
		if packKey(r.idx.packs[loc.pack]) == pack && int(loc.off) <= off && off < int(loc.off+loc.n) {
			return hexSum(sum)
		}
	}
	for _, e := range r.idx.sorted {
		if packKey(r.idx.packs[e.loc.pack]) == pack && int(e.loc.off) <= off && off < int(e.loc.off+e.loc.n) {
			return hexSum(e.sum)
		}
	}
	return ""
}
