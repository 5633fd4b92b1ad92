package collect

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// cappedLog keeps at most limit bytes of one log stream in a temporary
// file: the first quarter and the newest rest, so that a flood of output
// hides neither how the container started nor what it did last. The cut
// falls between whole lines; what lies between the two parts is dropped
// and counted. Limit 0 keeps everything.
type cappedLog struct {
	f            *os.File
	limit, head  int64 // the head is the first limit/4 bytes
	n            int64 // bytes written in all
	pos          int64 // once n > limit: where the next byte goes in the tail ring
	keptH, keptT int64 // set by cut: the bytes kept of the head and of the tail
	tailFrom     int64 // set by cut: offset in the ring where the kept tail starts
}

func newCappedLog(limit int64) (*cappedLog, error) {
	f, err := os.CreateTemp("", "firebreak-log-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return &cappedLog{f: f, limit: limit, head: limit / 4}, nil
}

func (c *cappedLog) Close() error { return c.f.Close() }

func (c *cappedLog) ring() int64 { return c.limit - c.head }

func (c *cappedLog) Write(p []byte) (int, error) {
	written := len(p)
	for len(p) > 0 {
		var off, k int64
		if c.limit == 0 || c.n < c.limit {
			off, k = c.n, int64(len(p))
			if c.limit > 0 {
				k = min(k, c.limit-c.n)
			}
		} else {
			off, k = c.head+c.pos, min(int64(len(p)), c.ring()-c.pos)
			c.pos = (c.pos + k) % c.ring()
		}
		if _, err := c.f.WriteAt(p[:k], off); err != nil {
			return 0, err
		}
		c.n += k
		p = p[k:]
	}
	return written, nil
}

// dropped is how many bytes were not kept.
func (c *cappedLog) dropped() int64 {
	if c.limit == 0 || c.n <= c.limit {
		return 0
	}
	return c.n - c.keptH - c.keptT
}

// cut decides, once writing is over, where the kept head ends (after its
// last newline) and the kept tail starts (after its first newline: the
// ring cannot tell whether its oldest byte starts a line, so its first line
// counts as cut and is dropped).
func (c *cappedLog) cut() error {
	if c.limit == 0 || c.n <= c.limit {
		return nil
	}
	r := c.tailRing()
	buf := make([]byte, 64<<10)
	c.keptH = c.head
	for end := c.head; end > 0; {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := c.f.ReadAt(b, start); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			c.keptH = start + int64(i) + 1
			break
		}
		end = start
	}
	c.tailFrom, c.keptT = 0, c.ring()
	for start := int64(0); start < c.ring(); {
		b := buf[:min(int64(len(buf)), c.ring()-start)]
		if _, err := r.ReadAt(b, start); err != nil && err != io.EOF {
			return err
		}
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			c.tailFrom = start + int64(i) + 1
			c.keptT = c.ring() - c.tailFrom
			break
		}
		start += int64(len(b))
	}
	return nil
}

// tailRing reads the ring oldest byte first.
func (c *cappedLog) tailRing() io.ReaderAt {
	return ringReader{c.f, c.head, c.ring(), c.pos}
}

type ringReader struct {
	f               io.ReaderAt
	base, size, pos int64
}

func (r ringReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 && off < r.size {
		at := (r.pos + off) % r.size
		k, err := r.f.ReadAt(p[:min(int64(len(p)), r.size-at)], r.base+at)
		n, off, p = n+k, off+int64(k), p[k:]
		if err != nil {
			return n, err
		}
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// reader gives what was kept, from the start; each call reads afresh.
func (c *cappedLog) reader() io.Reader {
	if c.limit == 0 || c.n <= c.limit {
		return io.NewSectionReader(c.f, 0, c.n)
	}
	return io.MultiReader(io.NewSectionReader(c.f, 0, c.keptH), io.NewSectionReader(c.tailRing(), c.tailFrom, c.keptT))
}

// note says what the cap left out, "" when nothing.
func (c *cappedLog) note(stream string) string {
	if c.dropped() == 0 {
		return ""
	}
	return fmt.Sprintf("%s: %d bytes over the %d-byte cap: kept the first %d and the last %d, dropped %d between them", stream, c.n, c.limit, c.keptH, c.keptT, c.dropped())
}
