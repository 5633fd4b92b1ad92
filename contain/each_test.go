package contain

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"firebreak/runtime"
)

func TestEachKeepsEveryOutcome(t *testing.T) {
	refs := []string{"a", "b", "c", "d"}
	outs := Each(context.Background(), refs, 2, func(ctx context.Context, ref string) (*Result, error) {
		if ref == "b" {
			return nil, errors.New("boom")
		}
		return &Result{Container: runtime.Container{ID: ref}}, nil
	})
	if len(outs) != len(refs) {
		t.Fatalf("%d outcomes for %d refs", len(outs), len(refs))
	}
	for i, o := range outs {
		switch {
		case o.Ref != refs[i]:
			t.Errorf("outcome %d is for %q, want %q (the order of refs)", i, o.Ref, refs[i])
		case o.Ref == "b" && (o.Err == nil || o.Result != nil):
			t.Errorf("b: %+v, want its error", o)
		case o.Ref != "b" && (o.Err != nil || o.Result == nil || o.Result.Container.ID != o.Ref):
			t.Errorf("%s: %+v, want its result (one failure does not stop the others)", o.Ref, o)
		}
	}
	if err := Errors(outs); err == nil || !strings.Contains(err.Error(), "b: boom") {
		t.Errorf("Errors = %v, want b's failure named", err)
	}
}

func TestEachBoundsParallel(t *testing.T) {
	for _, tt := range []struct{ parallel, want int }{{3, 3}, {1, 1}, {0, 1}} {
		var running, most atomic.Int32
		refs := make([]string, 12)
		for i := range refs {
			refs[i] = string(rune('a' + i))
		}
		Each(context.Background(), refs, tt.parallel, func(ctx context.Context, ref string) (*Result, error) {
			n := running.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			running.Add(-1)
			return &Result{}, nil
		})
		if got := int(most.Load()); got != tt.want {
			t.Errorf("parallel %d: at most %d at once, want %d", tt.parallel, got, tt.want)
		}
	}
}

func TestEachCancelledStartsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var called atomic.Int32
	outs := Each(ctx, []string{"a", "b"}, 1, func(ctx context.Context, ref string) (*Result, error) {
		called.Add(1)
		return &Result{}, nil
	})
	if called.Load() != 0 {
		t.Errorf("fn ran %d times after cancel", called.Load())
	}
	for _, o := range outs {
		if !errors.Is(o.Err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", o.Ref, o.Err)
		}
	}
}
