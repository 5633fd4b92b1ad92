package collect

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

func TestChunkPipeCarriesEverythingInOrder(t *testing.T) {
	data := make([]byte, 5<<20+12345)
	_, _ = rand.Read(data)
	p := newChunkPipe()
	go func() {
		// Writes of odd sizes, to cross chunk boundaries every way.
		for off, step := 0, 1; off < len(data); step = step*7%100003 + 1 {
			end := min(off+step, len(data))
			if _, err := p.Write(data[off:end]); err != nil {
				t.Error(err)
				return
			}
			off = end
		}
		p.CloseWrite(nil)
	}()
	var got bytes.Buffer
	buf := make([]byte, 3000)
	for {
		n, err := p.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read %d bytes, not what was written (%d)", got.Len(), len(data))
	}
}

func TestChunkPipeErrorsBothWays(t *testing.T) {
	p := newChunkPipe()
	boom := errors.New("walk failed")
	go func() {
		p.Write([]byte("partial"))
		p.CloseWrite(boom)
	}()
	if _, err := io.ReadAll(p); !errors.Is(err, boom) {
		t.Errorf("reader saw %v, want the writer's error", err)
	}
	q := newChunkPipe()
	stop := errors.New("store failed")
	q.CloseRead(stop)
	big := make([]byte, chunkSize*(chunkDepth+4))
	if _, err := q.Write(big); !errors.Is(err, stop) {
		t.Errorf("writer saw %v, want the reader's error", err)
	}
}
