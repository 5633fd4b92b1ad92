package progress

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCountFraction(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Count
		want float64
	}{
		{"unknown", Count{Files: 3, Bytes: 10}, 0},
		{"zero", Count{BytesTotal: 100}, 0},
		{"half", Count{Bytes: 50, BytesTotal: 100}, 0.5},
		{"done", Count{Bytes: 100, BytesTotal: 100}, 1},
		{"past the total clamps", Count{Bytes: 150, BytesTotal: 100}, 1},
		{"negative clamps", Count{Bytes: -5, BytesTotal: 100}, 0},
		{"files only", Count{Files: 1, FilesTotal: 4}, 0.25},
	} {
		if got := tc.c.Fraction(); got != tc.want {
			t.Errorf("%s: Fraction() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCountComplete(t *testing.T) {
	if (Count{Bytes: 10}).Complete() {
		t.Error("a count without a total is complete")
	}
	if !(Count{Files: 2, Bytes: 10, FilesTotal: 2, BytesTotal: 10}).Complete() {
		t.Error("a count at its totals is not complete")
	}
	if (Count{Files: 1, Bytes: 10, FilesTotal: 2, BytesTotal: 10}).Complete() {
		t.Error("a count with a file left is complete")
	}
}

func TestCountETA(t *testing.T) {
	c := Count{Bytes: 10 << 20, BytesTotal: 30 << 20}
	if r := c.Rate(2 * time.Second); r != 5<<20 {
		t.Errorf("Rate = %v, want %v", r, 5<<20)
	}
	if eta, ok := c.ETA(2 * time.Second); !ok || eta != 4*time.Second {
		t.Errorf("ETA = %v %v, want 4s true", eta, ok)
	}
	if _, ok := (Count{Bytes: 10}).ETA(time.Second); ok {
		t.Error("an ETA without a total")
	}
	if _, ok := c.ETA(0); ok {
		t.Error("an ETA before any time passed")
	}
}

func TestCountJSONOmitsZero(t *testing.T) {
	b, err := json.Marshal(Count{})
	if err != nil || string(b) != "{}" {
		t.Fatalf("Marshal(Count{}) = %s, %v", b, err)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 20 << 20: "20.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCountParts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       Count
		elapsed time.Duration
		want    string
	}{
		{"running", Count{Files: 1, Bytes: 10 << 20, FilesTotal: 3, BytesTotal: 30 << 20}, 2 * time.Second, "33%|10.0 MiB of 30.0 MiB|5.0 MiB/s|4s left"},
		{"at the start", Count{BytesTotal: 30 << 20}, 0, "0%|0 B of 30.0 MiB"},
		{"complete", Count{Files: 3, Bytes: 30 << 20, FilesTotal: 3, BytesTotal: 30 << 20}, 3 * time.Second, "100%|30.0 MiB of 30.0 MiB|10.0 MiB/s"},
		{"past the total", Count{Bytes: 40 << 20, BytesTotal: 30 << 20}, 4 * time.Second, "100%|40.0 MiB of 30.0 MiB|10.0 MiB/s"},
		{"files only", Count{Files: 2, FilesTotal: 8}, time.Second, "25%|2 of 8 files"},
		{"unknown", Count{Files: 2, Bytes: 2048}, time.Second, "2.0 KiB, 2 files|2.0 KiB/s"},
	} {
		if got := strings.Join(tc.c.Parts(tc.elapsed), "|"); got != tc.want {
			t.Errorf("%s: Parts = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRestarted(t *testing.T) {
	prev := Count{Files: 3, Bytes: 300, FilesTotal: 5, BytesTotal: 500}
	for _, tc := range []struct {
		c    Count
		want bool
	}{
		{Count{Files: 4, Bytes: 400, FilesTotal: 5, BytesTotal: 500}, false},
		{Count{Files: 3, Bytes: 300, FilesTotal: 5, BytesTotal: 500}, false},
		{Count{Files: 1, Bytes: 10, FilesTotal: 5, BytesTotal: 500}, true},
		{Count{Files: 4, Bytes: 400, FilesTotal: 9, BytesTotal: 900}, true},
	} {
		if got := tc.c.Restarted(prev); got != tc.want {
			t.Errorf("%+v after %+v: Restarted %v, want %v", tc.c, prev, got, tc.want)
		}
	}
}
