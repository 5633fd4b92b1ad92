package collect

import (
	"bytes"
	"crypto/rand"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"

	"firebreak/internal/testenv"
)

// The layer stream mixes compressed frames and raw-block frames; both the
// library's decoder and the zstd tool read it back as the bytes written,
// whatever the sizes of the writes inside a raw stretch.
func TestLayerWriterRawFramesRoundTrip(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	var out, want bytes.Buffer
	lw, err := newLayerWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	write := func(p []byte) {
		t.Helper()
		if _, err := lw.Write(p); err != nil {
			t.Fatal(err)
		}
		want.Write(p)
	}
	write(bytes.Repeat([]byte("compressible header "), 100))
	for _, sizes := range [][]int{
		{1 << 20, 1 << 20, 12345},          // large writes, a partial block at the end
		{rawBlockMax},                      // exactly one block
		{rawBlockMax + 1, rawBlockMax - 1}, // a block and a byte, then the block's rest
		{7, rawBlockMax*3 + 5, 100},        // staged bytes before a large write
		{},                                 // an empty raw stretch
	} {
		if err := lw.beginRaw(); err != nil {
			t.Fatal(err)
		}
		for _, n := range sizes {
			write(random(n))
		}
		if err := lw.endRaw(); err != nil {
			t.Fatal(err)
		}
		write([]byte("between raw stretches "))
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	if out.Len() < want.Len()-2000 {
		t.Fatalf("stream of %d bytes for %d mostly random bytes: the raw stretches were compressed or lost", out.Len(), want.Len())
	}

	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	got, err := dec.DecodeAll(out.Bytes(), nil)
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("decoded %d bytes, differ from the %d written", len(got), want.Len())
	}

	if _, err := exec.LookPath("zstd"); err != nil {
		testenv.SkipOrFail(t, "no zstd tool to decode with (apt-get install zstd)")
	}
	cmd := exec.Command("zstd", "-d", "-c")
	cmd.Stdin = bytes.NewReader(out.Bytes())
	tool, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -d: %v", err)
	}
	if !bytes.Equal(tool, want.Bytes()) {
		t.Fatalf("zstd -d gave %d bytes, differ from the %d written", len(tool), want.Len())
	}
}
