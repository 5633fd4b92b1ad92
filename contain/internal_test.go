package contain

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/nftables/expr"

	"firebreak/runtime"
)

func TestPrefixMatch(t *testing.T) {
	tests := []struct {
		prefix   string
		dst      bool
		off, len uint32
		mask     []byte
		addr     []byte
	}{
		{"10.9.0.0/16", false, 12, 4, []byte{255, 255, 0, 0}, []byte{10, 9, 0, 0}},
		{"10.9.7.5/32", true, 16, 4, []byte{255, 255, 255, 255}, []byte{10, 9, 7, 5}},
		{"10.9.7.5/20", true, 16, 4, []byte{255, 255, 240, 0}, []byte{10, 9, 0, 0}},
		{"fd00::/8", false, 8, 16, append([]byte{255}, make([]byte, 15)...), append([]byte{0xfd}, make([]byte, 15)...)},
		{"fd00::/8", true, 24, 16, append([]byte{255}, make([]byte, 15)...), append([]byte{0xfd}, make([]byte, 15)...)},
	}
	for _, tt := range tests {
		exprs := prefixMatch(netip.MustParsePrefix(tt.prefix), tt.dst)
		p := exprs[2].(*expr.Payload)
		b := exprs[3].(*expr.Bitwise)
		c := exprs[4].(*expr.Cmp)
		if p.Offset != tt.off || p.Len != tt.len {
			t.Errorf("%s dst=%v: payload offset %d len %d, want %d %d", tt.prefix, tt.dst, p.Offset, p.Len, tt.off, tt.len)
		}
		if string(b.Mask) != string(tt.mask) || string(c.Data) != string(tt.addr) {
			t.Errorf("%s: mask %v addr %v, want %v %v", tt.prefix, b.Mask, c.Data, tt.mask, tt.addr)
		}
		if v := exprs[5].(*expr.Verdict); v.Kind != expr.VerdictAccept {
			t.Errorf("%s: verdict %v, want accept", tt.prefix, v.Kind)
		}
	}
}

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3":      "10.1.2.3:80",
		"10.1.2.3:8080": "10.1.2.3:8080",
		"fd00::1":       "[fd00::1]:80",
		"[fd00::1]:443": "[fd00::1]:443",
	} {
		if got := hostPort(in, 80); got != want {
			t.Errorf("hostPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStoreSaveLoadRetire(t *testing.T) {
	s, err := OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{Version: 1, Runtime: "docker", Container: runtime.Container{ID: "abc"}, Since: time.Now(), Phase: "contained", Pause: &PauseHold{Paused: true}}
	if err := s.Save(rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("docker", "", "abc")
	if err != nil || got == nil || !got.Held() {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	// Records of another namespace or engine are not listed.
	other := *rec
	other.Runtime, other.Namespace = "containerd", "k8s.io"
	if err := s.Save(&other); err != nil {
		t.Fatal(err)
	}
	list, err := s.List("docker", "")
	if err != nil || len(list) != 1 {
		t.Fatalf("List(docker) = %d records, %v; want 1", len(list), err)
	}
	if err := s.Retire(rec, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load("docker", "", "abc"); got != nil {
		t.Error("retired record still loads as held")
	}
	released, _ := filepath.Glob(filepath.Join(s.Dir(), "released", "docker_abc.*.json"))
	if len(released) != 1 {
		t.Errorf("released history = %v, want one file", released)
	}
	tmp, _ := filepath.Glob(filepath.Join(s.Dir(), "held", ".tmp-*"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
}

func TestStoreDamagedRecordIsKept(t *testing.T) {
	s, err := OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Dir(), "held", "docker_abc.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil { // records make it on first save
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("docker", "", "abc"); err == nil {
		t.Fatal("a damaged record loaded without error")
	}
	if b, _ := os.ReadFile(p); string(b) != "{half" {
		t.Error("a damaged record was changed")
	}
}

func TestStoreLockNamesHolder(t *testing.T) {
	s, err := OpenRecords(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock("docker", "", "abc")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Lock("docker", "", "abc")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Holder == "" {
		t.Fatalf("second Lock = %v, want BusyError naming the holder", err)
	}
	unlock()
	unlock2, err := s.Lock("docker", "", "abc")
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
}

func TestRefuseShared(t *testing.T) {
	c := runtime.Container{ID: "abcdef0123456789", Name: "x"}
	for _, mode := range []runtime.NetworkMode{{Kind: "host"}, {Kind: "container", SharedWith: []string{"pod"}}} {
		err := refuseShared(runtime.Details{Container: c, NetworkMode: mode})
		var r *runtime.RefusedError
		if !errors.As(err, &r) {
			t.Errorf("%s: %v, want refusal", mode.Kind, err)
		}
	}
	// A namespace path that is in fact the host's is refused too.
	err := refuseShared(runtime.Details{Container: c, NetworkMode: runtime.NetworkMode{Kind: "private"}, NetNSPath: "/proc/self/ns/net"})
	var r *runtime.RefusedError
	if !errors.As(err, &r) {
		t.Errorf("host namespace by path: %v, want refusal", err)
	}
	if err := refuseShared(runtime.Details{Container: c, NetworkMode: runtime.NetworkMode{Kind: "private"}}); err != nil {
		t.Errorf("private: %v", err)
	}
}
