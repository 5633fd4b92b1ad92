package tui

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/klauspost/compress/zstd"

	"firebreak/collect"
	"firebreak/evidence"
)

// The filesystem-diff browser shows what a capture recorded of a
// container's writable layer, as dive shows an image layer: a tree of the
// added, changed and deleted paths from the capture's changes.json, and the
// content of a file read from the layer tar beside it. Both are read from
// the store in commands; the tree is built there too, so Update only swaps
// it in.

const (
	// previewMax bounds what is read of a file or an object for preview.
	previewMax = 64 << 10
	// maxDiffEntries bounds the entries read of one changes.json.
	maxDiffEntries = 2 << 20
	// openAllUpTo: a tree of at most this many nodes starts with every
	// directory open; a larger one with the top level only.
	openAllUpTo = 10000
)

// fsNode is one path of the tree.
type fsNode struct {
	name   string // the last segment, raw bytes (shown only through Inert)
	path   string // the full path inside the container, raw, "/etc/passwd"
	ch     *collect.FileChange
	kids   []*fsNode
	parent *fsNode
	depth  int
	open   bool
	search string // lower-cased inert path, what the filter matches
}

// diffView is the browser of one capture.
type diffView struct {
	caseID string
	key    string // the changes.json (or a volume's files.json) artifact
	layer  string // the layer tar beside it; "" when the case has none
	loaded bool
	err    string
	root   *fsNode
	nodes  int
	counts map[string]int // by kind
	capped bool

	rows   []*fsNode
	dirty  bool
	nav    listNav
	show   string // "" every kind, else "A", "C" or "D"
	filter string
	typing bool
}

// diffMsg is a capture's tree, read and built in a command.
type diffMsg struct {
	gen    uint64
	key    string
	root   *fsNode
	nodes  int
	counts map[string]int
	capped bool
	err    error
}

// previewMsg is the start of a file or an object, read in a command.
type previewMsg struct {
	gen        uint64
	data       []byte
	total      int64 // bytes the entry or object holds; -1 unknown
	cut        bool  // more than data
	compressed string
	err        error
}

// preview shows the start of a file of a capture or of an artifact.
type preview struct {
	title      string // raw: a path or a key
	sub        []string
	back       evLevel
	loaded     bool
	err        string
	note       string // no content to read, and why
	data       []byte
	total      int64
	cut        bool
	compressed string
	hex        bool
	off        int
	height     int
	cache      []string
	cacheW     int
	cacheHex   bool
}

// openDiff starts reading the capture whose changes.json is key.
func (v *evidenceView) openDiff(m *Model, caseID, key, layer string) tea.Cmd {
	v.diff = &diffView{caseID: caseID, key: key, layer: layer, dirty: true}
	v.level = levelDiff
	st := m.b.Store()
	gen := m.next("evidence/diff")
	return m.call("evidence/diff", "reading "+path.Base(key), func(ctx context.Context) tea.Msg {
		if st == nil {
			return diffMsg{gen: gen, key: key, err: errors.New("no evidence store")}
		}
		root, nodes, counts, capped, err := readDiffTree(ctx, st, key)
		return diffMsg{gen: gen, key: key, root: root, nodes: nodes, counts: counts, capped: capped, err: err}
	})
}

// readDiffTree reads a changes.json and builds its tree.
func readDiffTree(ctx context.Context, st evidence.Store, key string) (*fsNode, int, map[string]int, bool, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, 0, nil, false, err
	}
	defer rc.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(evCtxReader{ctx, rc}, 64<<10))
	tok, err := dec.Token()
	if err != nil {
		return nil, 0, nil, false, fmt.Errorf("%s: %w", key, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, 0, nil, false, fmt.Errorf("%s: not a list of changes", key)
	}
	root := &fsNode{path: "/", open: true, depth: -1}
	index := map[string]*fsNode{"": root}
	counts := map[string]int{}
	nodes, capped := 0, false
	for dec.More() {
		if nodes >= maxDiffEntries {
			capped = true
			break
		}
		var c collect.FileChange
		if err := dec.Decode(&c); err != nil {
			return nil, 0, nil, false, fmt.Errorf("%s: %w", key, err)
		}
		p := c.Path
		if c.PathB64 != "" {
			if raw, err := base64.StdEncoding.DecodeString(c.PathB64); err == nil {
				p = string(raw)
			}
		}
		segs := strings.Split(strings.Trim(p, "/"), "/")
		parent, rel := root, ""
		for i, s := range segs {
			if s == "" {
				continue
			}
			if rel == "" {
				rel = s
			} else {
				rel += "/" + s
			}
			n := index[rel]
			if n == nil {
				n = &fsNode{name: s, path: "/" + rel, parent: parent, depth: parent.depth + 1}
				n.search = strings.ToLower(Inert(n.path))
				index[rel] = n
				parent.kids = append(parent.kids, n)
				nodes++
			}
			if i == len(segs)-1 {
				if n.ch == nil {
					counts[c.Kind]++
				}
				cc := c
				n.ch = &cc
			}
			parent = n
		}
	}
	var sortKids func(n *fsNode)
	sortKids = func(n *fsNode) {
		slices.SortFunc(n.kids, func(a, b *fsNode) int { return strings.Compare(a.name, b.name) })
		for _, k := range n.kids {
			k.open = nodes <= openAllUpTo
			sortKids(k)
		}
	}
	sortKids(root)
	return root, nodes, counts, capped, nil
}

func (d *diffView) filtering() bool { return d.show != "" || d.filter != "" }

func (d *diffView) matches(n *fsNode) bool {
	if d.show != "" && (n.ch == nil || n.ch.Kind != d.show) {
		return false
	}
	return d.filter == "" || strings.Contains(n.search, strings.ToLower(d.filter))
}

// visible is the tree as shown: open directories' children, or with a
// filter every match and the directories that lead to it.
func (d *diffView) visible() []*fsNode {
	if !d.dirty || d.root == nil {
		return d.rows
	}
	d.dirty = false
	var cur *fsNode
	if d.nav.cursor < len(d.rows) {
		cur = d.rows[d.nav.cursor]
	}
	d.rows = d.rows[:0]
	filtering := d.filtering()
	var walk func(n *fsNode) bool
	walk = func(n *fsNode) bool {
		mark := len(d.rows)
		d.rows = append(d.rows, n)
		if !filtering {
			if n.open {
				for _, k := range n.kids {
					walk(k)
				}
			}
			return true
		}
		any := false
		for _, k := range n.kids {
			if walk(k) {
				any = true
			}
		}
		if !any && !d.matches(n) {
			d.rows = d.rows[:mark]
			return false
		}
		return true
	}
	for _, k := range d.root.kids {
		walk(k)
	}
	d.nav.cursor = min(d.nav.cursor, max(0, len(d.rows)-1))
	for i, n := range d.rows {
		if n == cur {
			d.nav.cursor = i
			break
		}
	}
	return d.rows
}

func (d *diffView) current() *fsNode {
	rows := d.visible()
	if d.nav.cursor >= 0 && d.nav.cursor < len(rows) {
		return rows[d.nav.cursor]
	}
	return nil
}

func (d *diffView) setOpen(n *fsNode, open bool) {
	if len(n.kids) > 0 && n.open != open {
		n.open, d.dirty = open, true
	}
}

func (d *diffView) openAll(open bool) {
	var walk func(n *fsNode)
	walk = func(n *fsNode) {
		for _, k := range n.kids {
			if len(k.kids) > 0 {
				k.open = open
			}
			walk(k)
		}
	}
	if d.root != nil {
		walk(d.root)
	}
	d.dirty = true
}

// diffKey handles a key in the browser; back reports esc with nothing to
// clear (the view goes back a level).
func (v *evidenceView) diffKey(m *Model, k tea.KeyMsg) (cmd tea.Cmd, back bool) {
	d := v.diff
	if d.typing {
		if filterKey(&d.filter, &d.typing, k) {
			d.dirty = true
			d.nav.cursor = 0
		}
		return nil, false
	}
	if d.nav.key(k.String(), len(d.visible())) {
		return nil, false
	}
	n := d.current()
	switch k.String() {
	case "esc":
		if d.filter != "" || d.show != "" {
			d.filter, d.show, d.dirty = "", "", true
			return nil, false
		}
		return nil, true
	case "/":
		d.typing = true
	case "f":
		next := map[string]string{"": "A", "A": "C", "C": "D", "D": ""}
		d.show, d.dirty = next[d.show], true
		m.notify("showing %s", map[string]string{"": "every change", "A": "added paths", "C": "changed paths", "D": "deleted paths"}[d.show])
	case "+", "=":
		d.openAll(true)
	case "-":
		d.openAll(false)
	case "ctrl+r":
		return v.openDiff(m, d.caseID, d.key, d.layer), false
	case "space", " ":
		if n != nil && len(n.kids) > 0 {
			d.setOpen(n, !n.open)
		}
	case "right", "l":
		if n != nil && len(n.kids) > 0 {
			if n.open || d.filtering() {
				d.nav.move(1, len(d.visible()))
			} else {
				d.setOpen(n, true)
			}
		}
	case "left", "h":
		if n == nil {
			break
		}
		if len(n.kids) > 0 && n.open && !d.filtering() {
			d.setOpen(n, false)
			break
		}
		if p := n.parent; p != nil && p != d.root {
			for i, r := range d.visible() {
				if r == p {
					d.nav.cursor = i
				}
			}
		}
	case "enter":
		if n == nil {
			break
		}
		if len(n.kids) > 0 {
			if !d.filtering() {
				d.setOpen(n, !n.open)
			}
			break
		}
		return v.previewFile(m, n), false
	}
	return nil, false
}

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

// diffView draws the tree: kind, type, mode, size, digest (and on a wide
// screen owner and modification time), then the path indented.
func (v *evidenceView) diffViewDraw(m *Model, w, h int) string {
	d := v.diff
	var b strings.Builder
	title := "fs diff " + shortKey(d.caseID, d.key)
	if !d.loaded {
		b.WriteString(m.st.head.Render(Cut(title, w)) + "\n")
		if d.err != "" {
			b.WriteString(m.st.bad.Render(Cut(d.err, w)) + "\n" + m.st.dim.Render("ctrl+r reads again · esc goes back"))
		} else {
			b.WriteString(m.st.dim.Render("reading changes…"))
		}
		return b.String()
	}
	changes := 0
	for _, n := range d.counts {
		changes += n
	}
	summary := fmt.Sprintf("%d changes: %d added, %d changed, %d deleted", changes, d.counts["A"], d.counts["C"], d.counts["D"])
	if d.capped {
		summary += fmt.Sprintf(" (first %d only)", maxDiffEntries)
	}
	title = "fs diff " + keepEnd(shortKey(d.caseID, d.key), max(12, w-Width(summary)-3-8))
	b.WriteString(m.st.head.Render(Cut(title, w)) + m.st.dim.Render(Cut(" · "+summary, max(0, w-Width(title)))) + "\n")
	rows := d.visible()
	switch {
	case d.typing:
		b.WriteString("/" + Cut(d.filter, w-3) + "▏\n")
	case d.filtering():
		what := map[string]string{"": "every kind", "A": "added", "C": "changed", "D": "deleted"}[d.show]
		if d.filter != "" {
			what += ", path has " + Inert(d.filter)
		}
		b.WriteString(m.st.dim.Render(Cut(fmt.Sprintf("showing %s: %d rows · esc clears", what, len(rows)), w)) + "\n")
	default:
		b.WriteString(m.st.dim.Render(Cut("enter opens a directory or previews a file · f kinds · / filter · ? help", w)) + "\n")
	}
	wide := w >= 120
	head := Fit("K", 1) + " " + Fit("TYPE", 8) + " " + Fit("MODE", 4) + " " + fmt.Sprintf("%9s", "SIZE") + " " + Fit("DIGEST", 12) + " "
	if wide {
		head += Fit("UID:GID", 9) + " " + Fit("MODIFIED (UTC)", 17) + " "
	}
	nameW := max(0, w-Width(head))
	b.WriteString(m.st.head.Render(Fit(head+"PATH", w)) + "\n")
	detailH := 2
	bodyH := max(1, h-3-detailH)
	if len(rows) == 0 {
		msg := "no change recorded"
		if d.filtering() {
			msg = "nothing matches"
		}
		b.WriteString(m.st.dim.Render(msg))
		return b.String()
	}
	from, to := d.nav.window(len(rows), bodyH)
	for i := from; i < to; i++ {
		n := rows[i]
		line := fsRow(n, wide, nameW)
		switch {
		case i == d.nav.cursor:
			line = m.st.sel.Render(markCursor(line))
		case n.ch == nil:
			line = m.st.dim.Render(line)
		case n.ch.Kind == "A":
			line = m.st.good.Render(line)
		case n.ch.Kind == "D":
			line = m.st.bad.Render(line)
		}
		b.WriteString(line + "\n")
	}
	for i := to - from; i < bodyH; i++ {
		b.WriteString("\n")
	}
	if n := d.current(); n != nil {
		for i, l := range fsDetail(n, w, detailH) {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(m.st.dim.Render(l))
		}
	}
	return b.String()
}

func fsRow(n *fsNode, wide bool, nameW int) string {
	kind, typ, mode, size, digest := " ", "dir", "", "-", "-"
	var owner, mtime string
	if c := n.ch; c != nil {
		kind, typ, mode = c.Kind, c.Type, c.Mode
		if c.Type == "file" || c.Type == "hardlink" {
			size = evBytes(c.Size)
		}
		if c.SHA256 != "" {
			digest = c.SHA256
		}
		if c.Kind != "D" {
			owner = fmt.Sprintf("%d:%d", c.UID, c.GID)
		}
		if !c.MTime.IsZero() {
			mtime = c.MTime.UTC().Format("2006-01-02 15:04")
		}
	}
	var b strings.Builder
	b.WriteString(Fit(kind, 1) + " " + Fit(typ, 8) + " " + Fit(mode, 4) + " " + fmt.Sprintf("%9s", Cut(size, 9)) + " " + digest12(digest) + " ")
	if wide {
		b.WriteString(Fit(owner, 9) + " " + Fit(mtime, 17) + " ")
	}
	marker := "  "
	if len(n.kids) > 0 {
		marker = "▾ "
		if !n.open {
			marker = "▸ "
		}
	}
	name := strings.Repeat("  ", max(0, n.depth)) + marker + Inert(n.name)
	if c := n.ch; c != nil && c.Link != "" {
		switch c.Type {
		case "symlink":
			name += " → " + Inert(c.Link)
		case "hardlink":
			name += " ⇒ " + Inert(c.Link)
		}
	}
	b.WriteString(Fit(name, nameW))
	return b.String()
}

// fsDetail is what the browser says of the path under the cursor.
func fsDetail(n *fsNode, w, lines int) []string {
	parts := []string{n.path}
	c := n.ch
	if c == nil {
		parts = append(parts, "not in changes.json: only paths below it changed")
	} else {
		parts = append(parts, kindWord(c.Kind)+" "+c.Type)
		if c.SHA256 != "" {
			parts = append(parts, "sha256 "+c.SHA256)
		}
		if c.Type == "file" && c.Captured != c.Size {
			parts = append(parts, fmt.Sprintf("captured %d of %d bytes", c.Captured, c.Size))
		}
		for _, t := range []struct {
			name string
			at   time.Time
		}{{"mtime", c.MTime}, {"ctime", c.CTime}, {"btime", c.BTime}} {
			if !t.at.IsZero() {
				parts = append(parts, t.name+" "+t.at.UTC().Format(time.RFC3339))
			}
		}
		if c.Device != "" {
			parts = append(parts, "device "+c.Device)
		}
		if c.Opaque {
			parts = append(parts, "opaque directory")
		}
		if len(c.Xattrs) > 0 {
			parts = append(parts, fmt.Sprintf("%d xattrs", len(c.Xattrs)))
		}
		if c.Note != "" {
			parts = append(parts, c.Note)
		}
	}
	return wrapParts(parts, w, lines)
}

// wrapParts makes parts inert, joins them with " · " and wraps the result
// over at most lines lines of w cells, the last cut with an ellipsis.
func wrapParts(parts []string, w, lines int) []string {
	if w <= 0 || lines <= 0 {
		return nil
	}
	s := strings.Join(inertAll(parts), " · ")
	out := strings.Split(ansi.Hardwrap(s, w, true), "\n")
	if len(out) > lines {
		rest := strings.Join(out[lines-1:], "")
		out = append(out[:lines-1], Cut(rest, w))
	}
	return out
}
