package playbooks

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Library finds playbooks by name: a path to a file, a file NAME.yaml in one
// of the user's directories (first match wins), or a built-in one.
type Library struct {
	Dirs []string
}

// Entry is a playbook the library knows.
type Entry struct {
	Name   string `json:"name"`
	Source string `json:"source"` // "builtin" or a path
}

// Load reads and parses a playbook; it does not validate it against a
// registry (see Validate, or Check for both).
func (l Library) Load(ref string) (*Playbook, error) {
	file, data, err := l.read(ref)
	if err != nil {
		return nil, err
	}
	return Parse(file, data)
}

// Check reads a playbook, parses it and validates it against the registry,
// reporting every error it can find in one pass (see the function Check).
func (l Library) Check(ref string, reg *Registry) (*Playbook, error) {
	file, data, err := l.read(ref)
	if err != nil {
		return nil, err
	}
	return Check(file, data, reg)
}

// read finds a playbook and reads it: the name it goes by in errors, and
// its bytes.
func (l Library) read(ref string) (string, []byte, error) {
	if strings.ContainsRune(ref, os.PathSeparator) || strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml") {
		return readFile(ref)
	}
	for _, d := range l.Dirs {
		for _, ext := range []string{".yaml", ".yml"} {
			p := filepath.Join(d, ref+ext)
			if _, err := os.Stat(p); err == nil {
				return readFile(p)
			}
		}
	}
	b, err := builtinFS.ReadFile("builtin/" + ref + ".yaml")
	if err != nil {
		where := "no playbook directory was given (--playbooks, $FIREBREAK_PLAYBOOKS)"
		if len(l.Dirs) > 0 {
			where = "not in " + strings.Join(l.Dirs, ", ")
		}
		return "", nil, fmt.Errorf("no playbook %q: not a file, %s, not built in (`firebreak playbook list` shows them)", ref, where)
	}
	return "builtin/" + ref + ".yaml", b, nil
}

func readFile(p string) (string, []byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", nil, fmt.Errorf("reading playbook: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, err
	}
	if fi.Size() > MaxFileSize {
		return "", nil, Errors{{Pos: Pos{File: p, Line: 1, Col: 1}, Msg: fmt.Sprintf("file is %d bytes; a playbook may be at most %d", fi.Size(), MaxFileSize)}}
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return "", nil, fmt.Errorf("reading playbook: %w", err)
	}
	return p, b, nil
}

// List returns every playbook the library can load, user ones first.
func (l Library) List() ([]Entry, error) {
	var out []Entry
	seen := map[string]bool{}
	for _, d := range l.Dirs {
		ents, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), ".yaml")
			if !ok {
				name, ok = strings.CutSuffix(e.Name(), ".yml")
			}
			if ok && !seen[name] {
				seen[name] = true
				out = append(out, Entry{Name: name, Source: filepath.Join(d, e.Name())})
			}
		}
	}
	ents, _ := builtinFS.ReadDir("builtin")
	for _, e := range ents {
		name := strings.TrimSuffix(e.Name(), ".yaml")
		if !seen[name] {
			seen[name] = true
			out = append(out, Entry{Name: name, Source: "builtin"})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
