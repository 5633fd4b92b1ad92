package drill

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"firebreak/playbooks"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Library finds scenarios by name: a path to a file, a file NAME.yaml in
// one of the user's directories (first match wins), or a built-in one. A
// scenario's playbooks are looked up in Playbooks.
type Library struct {
	Dirs      []string
	Playbooks playbooks.Library
}

// ListEntry is a scenario the library knows, as `drill list` shows it.
type ListEntry struct {
	Name       string   `json:"name"`
	Kind       Kind     `json:"kind"`
	Title      string   `json:"title"`
	Techniques []string `json:"techniques"`
	Source     string   `json:"source"`          // "builtin" or a path
	Error      string   `json:"error,omitempty"` // the first error, when it does not validate
}

// Load reads, parses and validates a scenario, its playbooks included.
// Errors in the file are playbooks.Errors at file:line:column.
func (l Library) Load(ref string) (*Scenario, error) {
	file, data, err := l.read(ref)
	if err != nil {
		return nil, err
	}
	return Validate(file, data, l.Playbooks)
}

// read finds a scenario and reads it: the name it goes by in errors, and
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
		where := "no scenario directory was given (--scenarios, $FIREBREAK_SCENARIOS)"
		if len(l.Dirs) > 0 {
			where = "not in " + strings.Join(l.Dirs, ", ")
		}
		return "", nil, fmt.Errorf("no scenario %q: not a file, %s, not built in (`firebreak drill list` shows them)", ref, where)
	}
	return "builtin/" + ref + ".yaml", b, nil
}

func readFile(p string) (string, []byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", nil, fmt.Errorf("reading scenario: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("reading scenario: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("reading scenario %s: not a regular file", p)
	}
	if fi.Size() > MaxFileSize {
		return "", nil, playbooks.Errors{{Pos: playbooks.Pos{File: p, Line: 1, Col: 1}, Msg: fmt.Sprintf("file is %d bytes; a scenario may be at most %d", fi.Size(), MaxFileSize)}}
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return "", nil, fmt.Errorf("reading scenario: %w", err)
	}
	return p, b, nil
}

// List returns every scenario the library can load, the user's first
// (a user's scenario hides a built-in one of the same name), sorted by
// name. A scenario that does not validate is listed with its first error.
func (l Library) List() ([]ListEntry, error) {
	type found struct{ name, source, ref string }
	var all []found
	seen := map[string]bool{}
	for _, d := range l.Dirs {
		ents, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing scenarios: %w", err)
		}
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), ".yaml")
			if !ok {
				name, ok = strings.CutSuffix(e.Name(), ".yml")
			}
			if ok && !seen[name] && !e.IsDir() {
				seen[name] = true
				p := filepath.Join(d, e.Name())
				all = append(all, found{name, p, p})
			}
		}
	}
	ents, err := builtinFS.ReadDir("builtin")
	if err != nil {
		return nil, fmt.Errorf("listing built-in scenarios: %w", err)
	}
	for _, e := range ents {
		name := strings.TrimSuffix(e.Name(), ".yaml")
		if !seen[name] {
			seen[name] = true
			all = append(all, found{name, "builtin", name})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].name < all[j].name })
	out := make([]ListEntry, 0, len(all))
	for _, f := range all {
		e := ListEntry{Name: f.name, Source: f.source, Techniques: []string{}}
		s, err := l.Load(f.ref)
		if err != nil {
			e.Error = firstError(err)
		} else {
			e.Kind, e.Title = s.Kind, s.Title
			if len(s.Techniques) > 0 {
				e.Techniques = s.Techniques
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// firstError is the first line of an error (the first of a scenario's).
func firstError(err error) string {
	var es playbooks.Errors
	if errors.As(err, &es) && len(es) > 0 {
		return es[0].Error()
	}
	return firstLine(err)
}
