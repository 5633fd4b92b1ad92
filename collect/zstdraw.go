package collect

import (
	"encoding/binary"
	"io"

	"github.com/klauspost/compress/zstd"
)

// layerWriter writes the layer tar as zstd frames: compressed, except for the
// content of files that do not compress (already compressed or random
// bytes), which goes out in raw-block frames. Every decoder reads the frames
// in turn as one stream; the capture skips the work that would not shrink
// anything.
type layerWriter struct {
	out    io.Writer
	enc    *zstd.Encoder
	raw    bool   // inside a raw frame
	block  []byte // raw block being filled
	probe  *zstd.Encoder
	sample []byte
}

const (
	rawBlockMax      = 128 << 10 // zstd's largest block
	incompressibleAt = 1 << 20   // files at least this large are probed
	probeSize        = 64 << 10
)

func newLayerWriter(out io.Writer) (*layerWriter, error) {
	enc, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	probe, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	return &layerWriter{out: out, enc: enc, probe: probe, block: make([]byte, 0, rawBlockMax)}, nil
}

func (l *layerWriter) Write(p []byte) (int, error) {
	if !l.raw {
		return l.enc.Write(p)
	}
	n := 0
	for len(p) > 0 {
		if len(l.block) == 0 && len(p) > rawBlockMax {
			// A whole block, not the last: written as it is, without
			// staging it.
			if err := l.writeBlock(p[:rawBlockMax], false); err != nil {
				return n, err
			}
			p, n = p[rawBlockMax:], n+rawBlockMax
			continue
		}
		k := min(len(p), rawBlockMax-len(l.block))
		l.block = append(l.block, p[:k]...)
		p, n = p[k:], n+k
		if len(l.block) == rawBlockMax {
			if err := l.flushBlock(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// incompressible tells, from a sample of a file's start, whether compressing
// it would save less than 3%.
func (l *layerWriter) incompressible(sample []byte) bool {
	if len(sample) < probeSize/2 {
		return false
	}
	l.sample = l.probe.EncodeAll(sample, l.sample[:0])
	return len(l.sample) > len(sample)*97/100
}

// beginRaw ends the compressed frame and opens a raw one.
func (l *layerWriter) beginRaw() error {
	if l.raw {
		return nil
	}
	if err := l.enc.Close(); err != nil {
		return err
	}
	// Magic, a frame header descriptor with no content size, checksum or
	// dictionary and not single-segment, and a 128 KiB window (2^(10+7)).
	hdr := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3}
	if _, err := l.out.Write(hdr); err != nil {
		return err
	}
	l.raw = true
	return nil
}

// endRaw closes the raw frame and opens a compressed one.
func (l *layerWriter) endRaw() error {
	if !l.raw {
		return nil
	}
	if err := l.flushBlock(true); err != nil {
		return err
	}
	l.raw = false
	l.enc.Reset(l.out)
	return nil
}

func (l *layerWriter) flushBlock(last bool) error {
	err := l.writeBlock(l.block, last)
	l.block = l.block[:0]
	return err
}

// writeBlock writes one raw block: a 3-byte little-endian header (last
// flag, type 0 for raw, size), then the bytes.
func (l *layerWriter) writeBlock(p []byte, last bool) error {
	h := uint32(len(p)) << 3
	if last {
		h |= 1
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], h)
	if _, err := l.out.Write(b[:3]); err != nil {
		return err
	}
	_, err := l.out.Write(p)
	return err
}

// Close ends the stream.
func (l *layerWriter) Close() error {
	if err := l.endRaw(); err != nil {
		return err
	}
	return l.enc.Close()
}
