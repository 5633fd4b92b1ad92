package collect

import (
	"io"
	"sync"
)

// chunkPipe is an in-memory pipe with a bounded buffer of chunks, so that the
// stage writing (walk, hash, tar, compress) and the stage reading (hash,
// upload) run at the same time instead of taking turns as with io.Pipe.
// Memory: at most depth chunks of at most chunkSize bytes.
type chunkPipe struct {
	ch      chan []byte
	free    chan []byte
	cur     []byte
	once    sync.Once
	mu      sync.Mutex
	rerr    error // set by CloseWithError on the read side
	werr    error // given to CloseWithError on the write side
	done    chan struct{}
	pending []byte // the chunk being read, whole
	off     int    // how much of it was read
}

const (
	chunkSize  = 256 << 10
	chunkDepth = 16 // 4 MiB in flight at most
)

func newChunkPipe() *chunkPipe {
	p := &chunkPipe{ch: make(chan []byte, chunkDepth), free: make(chan []byte, chunkDepth+1), done: make(chan struct{})}
	for i := 0; i < chunkDepth+1; i++ {
		p.free <- make([]byte, 0, chunkSize)
	}
	return p
}

// Write copies p into chunks; it blocks while the buffer is full and fails
// once the reader has gone.
func (p *chunkPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.cur == nil {
			select {
			case p.cur = <-p.free:
			case <-p.done:
				return n, p.readErr()
			}
		}
		k := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur = p.cur[:len(p.cur)+k]
		b, n = b[k:], n+k
		if len(p.cur) == cap(p.cur) {
			if err := p.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (p *chunkPipe) flush() error {
	if len(p.cur) == 0 {
		return nil
	}
	select {
	case p.ch <- p.cur:
		p.cur = nil
		return nil
	case <-p.done:
		return p.readErr()
	}
}

// CloseWrite ends the stream after what was written; err (nil for a clean
// end) is what the reader sees after the data.
func (p *chunkPipe) CloseWrite(err error) {
	if err == nil {
		err = p.flush()
	}
	p.mu.Lock()
	p.werr = err
	p.mu.Unlock()
	close(p.ch)
}

// Read hands out the chunks in order.
func (p *chunkPipe) Read(b []byte) (int, error) {
	if p.pending == nil {
		c, ok := <-p.ch
		if !ok {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.werr != nil {
				return 0, p.werr
			}
			return 0, io.EOF
		}
		p.pending, p.off = c, 0
	}
	n := copy(b, p.pending[p.off:])
	p.off += n
	if p.off == len(p.pending) {
		p.free <- p.pending[:0]
		p.pending = nil
	}
	return n, nil
}

// CloseRead stops the writer with err.
func (p *chunkPipe) CloseRead(err error) {
	p.once.Do(func() {
		if err == nil {
			err = io.ErrClosedPipe
		}
		p.mu.Lock()
		p.rerr = err
		p.mu.Unlock()
		close(p.done)
	})
}

func (p *chunkPipe) readErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rerr
}
