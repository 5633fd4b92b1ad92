package tui

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

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
