package tui

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/klauspost/compress/zstd"

	"firebreak/evidence"
)

// previewFile opens the content of a file of the capture.
func (v *evidenceView) previewFile(m *Model, n *fsNode) tea.Cmd {
	d := v.diff
	p := &preview{title: n.path, back: levelDiff, total: -1}
	v.pv, v.level = p, levelPreview
	c := n.ch
	if c == nil {
		p.loaded, p.note = true, "a directory only implied by the paths below it: not in changes.json"
		return nil
	}
	p.sub = append(p.sub, fmt.Sprintf("%s %s", kindWord(c.Kind), c.Type))
	if c.Mode != "" {
		p.sub = append(p.sub, "mode "+c.Mode)
	}
	if c.SHA256 != "" {
		p.sub = append(p.sub, "sha256 "+c.SHA256)
	}
	if c.Truncated {
		p.sub = append(p.sub, fmt.Sprintf("captured %d of %d bytes", c.Captured, c.Size))
	}
	if c.Note != "" {
		p.sub = append(p.sub, c.Note)
	}
	want := strings.TrimPrefix(n.path, "/")
	switch {
	case c.Kind == "D":
		p.loaded, p.note = true, "deleted: the layer holds no content for it"
		return nil
	case c.Type == "symlink":
		p.loaded, p.note = true, "symbolic link to "+c.Link+" (not followed)"
		return nil
	case c.Type == "hardlink":
		want = strings.TrimPrefix(c.Link, "/")
		p.sub = append(p.sub, "hard link: content of "+c.Link)
	case c.Type != "file":
		p.loaded, p.note = true, c.Type+": recorded, no content captured"
		return nil
	}
	if d.layer == "" {
		p.loaded, p.note = true, "the case has no layer tar beside "+d.key+": no content to show"
		return nil
	}
	st := m.b.Store()
	layer := d.layer
	gen := m.next("evidence/preview")
	return m.call("evidence/preview", "reading "+path.Base(layer), func(ctx context.Context) tea.Msg {
		if st == nil {
			return previewMsg{gen: gen, err: errors.New("no evidence store")}
		}
		data, total, cut, err := readLayerFile(ctx, st, layer, want)
		return previewMsg{gen: gen, data: data, total: total, cut: cut, err: err}
	})
}

// previewObject opens the start of a stored object (decompressed when it is
// zstd or gzip).
func (v *evidenceView) previewObject(m *Model, a evidence.Artifact) tea.Cmd {
	p := &preview{title: a.Key, back: levelCase, total: -1}
	if a.SHA256 != "" {
		p.sub = append(p.sub, "sha256 "+a.SHA256)
	}
	if a.Collector != "" {
		p.sub = append(p.sub, "collector "+a.Collector)
	}
	v.pv, v.level = p, levelPreview
	st := m.b.Store()
	key, size := a.Key, a.Size
	gen := m.next("evidence/preview")
	return m.call("evidence/preview", "reading "+path.Base(key), func(ctx context.Context) tea.Msg {
		if st == nil {
			return previewMsg{gen: gen, err: errors.New("no evidence store")}
		}
		rc, err := st.Get(ctx, key)
		if err != nil {
			return previewMsg{gen: gen, err: err}
		}
		defer rc.Close()
		r, how, done, err := decompressed(evCtxReader{ctx, rc})
		if err != nil {
			return previewMsg{gen: gen, err: err}
		}
		defer done()
		data, err := io.ReadAll(io.LimitReader(r, previewMax+1))
		if err != nil {
			return previewMsg{gen: gen, err: err}
		}
		total := int64(-1)
		if how == "" {
			total = size
		}
		cut := len(data) > previewMax
		if cut {
			data = data[:previewMax]
		}
		return previewMsg{gen: gen, data: data, total: total, cut: cut, compressed: how}
	})
}

// readLayerFile streams a layer tar from the store and returns the start of
// the entry want (a path without its leading slash), following one hard
// link.
func readLayerFile(ctx context.Context, st evidence.Store, key, want string) ([]byte, int64, bool, error) {
	for range 2 {
		data, total, cut, link, err := readLayerEntry(ctx, st, key, want)
		if err != nil || link == "" {
			return data, total, cut, err
		}
		want = link
	}
	return nil, 0, false, fmt.Errorf("%s: a hard link to a hard link", want)
}

func readLayerEntry(ctx context.Context, st evidence.Store, key, want string) (data []byte, total int64, cut bool, link string, err error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, 0, false, "", err
	}
	defer rc.Close()
	r, _, done, err := decompressed(evCtxReader{ctx, rc})
	if err != nil {
		return nil, 0, false, "", err
	}
	defer done()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, 0, false, "", fmt.Errorf("%s is not in %s", want, path.Base(key))
		}
		if err != nil {
			return nil, 0, false, "", fmt.Errorf("reading %s: %w", path.Base(key), err)
		}
		if tarName(hdr.Name) != want {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeLink:
			return nil, 0, false, tarName(hdr.Linkname), nil
		case tar.TypeReg:
		default:
			return nil, 0, false, "", fmt.Errorf("%s is no regular file in the layer (type %q)", want, hdr.Typeflag)
		}
		data, err := io.ReadAll(io.LimitReader(tr, previewMax))
		if err != nil {
			return nil, 0, false, "", fmt.Errorf("reading %s: %w", want, err)
		}
		return data, hdr.Size, hdr.Size > int64(len(data)), "", nil
	}
}

func tarName(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "./"), "/"), "/")
}

// decompressed reads r through zstd or gzip when it starts with their
// magic; how names the compression ("" for none) and done frees the
// decoder.
func decompressed(r io.Reader) (out io.Reader, how string, done func(), err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, "", nil, err
		}
		return zr, "zstd", zr.Close, nil
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		gr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", nil, err
		}
		return gr, "gzip", func() { gr.Close() }, nil
	}
	return br, "", func() {}, nil
}

// evCtxReader stops a long read when the call is cancelled.
type evCtxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c evCtxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// looksBinary decides how content is shown: with a NUL byte or bytes that
// are not UTF-8 (a rune cut at the end of what was read does not count),
// as a hex dump.
func looksBinary(data []byte, cut bool) bool {
	if bytes.IndexByte(data, 0) >= 0 {
		return true
	}
	if cut {
		j := len(data) - 1
		for k := 0; j > 0 && k < 3 && !utf8.RuneStart(data[j]); k++ {
			j--
		}
		if j >= 0 && !utf8.FullRune(data[j:]) {
			data = data[:j]
		}
	}
	return !utf8.Valid(data)
}

// hexDump writes data as offset, hex bytes and printable ASCII, per bytes
// to a line.
func hexDump(data []byte, per int) []string {
	var out []string
	var b strings.Builder
	for off := 0; off < len(data); off += per {
		chunk := data[off:min(len(data), off+per)]
		b.Reset()
		fmt.Fprintf(&b, "%08x  ", off)
		for i := range per {
			if i < len(chunk) {
				fmt.Fprintf(&b, "%02x ", chunk[i])
			} else {
				b.WriteString("   ")
			}
			if i == per/2-1 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(" |")
		for _, c := range chunk {
			if c >= 0x20 && c < 0x7f {
				b.WriteByte(c)
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteString("|")
		out = append(out, b.String())
	}
	return out
}

// textLines makes content lines inert (tabs as spaces) and wraps them to w.
func textLines(data []byte, w int) []string {
	s := strings.ReplaceAll(string(data), "\t", "    ")
	s = strings.TrimSuffix(s, "\n")
	var out []string
	for _, l := range Lines(s) {
		if Width(l) <= w {
			out = append(out, l)
			continue
		}
		// An inert line holds no escape sequence: wrapping only counts
		// cells.
		out = append(out, strings.Split(ansi.Hardwrap(l, w, true), "\n")...)
	}
	return out
}

func (p *preview) lines(w int) []string {
	if p.cache != nil && p.cacheW == w && p.cacheHex == p.hex {
		return p.cache
	}
	p.cacheW, p.cacheHex = w, p.hex
	switch {
	case len(p.data) == 0:
		p.cache = []string{}
	case p.hex:
		per := 16
		if w < 78 {
			per = 8
		}
		p.cache = hexDump(p.data, per)
	default:
		p.cache = textLines(p.data, max(1, w))
	}
	return p.cache
}

func (v *evidenceView) previewKey(m *Model, k tea.KeyMsg) (back bool) {
	p := v.pv
	n := len(p.lines(max(1, m.width)))
	page := max(1, p.height-1)
	switch k.String() {
	case "esc":
		return true
	case "x":
		if p.loaded && len(p.data) > 0 {
			p.hex, p.off = !p.hex, 0
		}
	case "up", "k":
		p.off--
	case "down", "j":
		p.off++
	case "pgup", "ctrl+b":
		p.off -= page
	case "pgdown", "ctrl+f", "space", " ":
		p.off += page
	case "home", "g":
		p.off = 0
	case "end", "G":
		p.off = n
	}
	p.off = max(0, min(p.off, n-p.height))
	return false
}

func (v *evidenceView) previewView(m *Model, w, h int) string {
	p := v.pv
	var b strings.Builder
	b.WriteString(m.st.head.Render(keepEnd(p.title, w)) + "\n")
	var sub []string
	if p.loaded && p.err == "" && p.note == "" {
		mode := "text"
		if p.hex {
			mode = "hex"
		}
		what := fmt.Sprintf("%s, %s", mode, evBytes(int64(len(p.data))))
		switch {
		case p.cut && p.total > 0:
			what = fmt.Sprintf("%s, first %s of %s", mode, evBytes(int64(len(p.data))), evBytes(p.total))
		case p.cut:
			what = fmt.Sprintf("%s, first %s", mode, evBytes(int64(len(p.data))))
		}
		if p.compressed != "" {
			what += ", " + p.compressed + " decompressed"
		}
		sub = append(sub, what+" (x: hex/text)")
	}
	sub = append(sub, p.sub...)
	subH := 1
	if h >= 30 {
		subH = 2
	}
	for _, l := range wrapParts(sub, w, subH) {
		b.WriteString(m.st.dim.Render(l) + "\n")
	}
	bodyH := max(1, h-1-subH)
	p.height = bodyH
	switch {
	case !p.loaded:
		b.WriteString(m.st.dim.Render("reading…"))
		return b.String()
	case p.err != "":
		b.WriteString(m.st.bad.Render(Cut(p.err, w)) + "\n" + m.st.dim.Render("esc goes back"))
		return b.String()
	case p.note != "":
		b.WriteString(m.st.dim.Render(Cut(p.note, w)))
		return b.String()
	case len(p.data) == 0:
		b.WriteString(m.st.dim.Render("(empty)"))
		return b.String()
	}
	lines := p.lines(w)
	p.off = max(0, min(p.off, len(lines)-bodyH))
	end := min(len(lines), p.off+bodyH)
	for i := p.off; i < end; i++ {
		b.WriteString(Cut(lines[i], w))
		if i < end-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// digest12 is a digest's first 12 digits, as short digests are shown.
func digest12(s string) string {
	if len(s) >= 12 && strings.Trim(s[:12], "0123456789abcdef") == "" {
		return s[:12]
	}
	return Fit(s, 12)
}

func inertAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Inert(s)
	}
	return out
}

func kindWord(k string) string {
	switch k {
	case "A":
		return "added"
	case "C":
		return "changed"
	case "D":
		return "deleted"
	}
	return Inert(k)
}
