// Package archtest keeps the picture in docs/DESIGN.md true: arrows point one
// way (front ends -> drill -> internal/app -> playbooks -> {contain, collect,
// recover} -> {runtime, evidence} -> internal/*), and only cmd/ imports cobra.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "firebreak"

// layer of each top-level directory; a package may import only packages in
// a lower layer, or in its own top-level directory.
var layer = map[string]int{
	"cmd":   7, // the binary: its `tui` command starts the console
	"tui":   6,
	"drill": 5, "alerts": 5, // alert intake: runs playbooks through the case session
	"internal/app": 4, // the case session: above the verbs, below the front ends
	"playbooks":    3,
	"contain":      2, "collect": 2, "recover": 2,
	"runtime": 1, "evidence": 1,
	"internal": 0,
}

func top(pkgPath string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkgPath, module), "/")
	if rel == "internal/app" || strings.HasPrefix(rel, "internal/app/") {
		return "internal/app"
	}
	return strings.SplitN(rel, "/", 2)[0]
}

func TestImportsPointOneWay(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		from := top(filepath.ToSlash(rel))
		// Test-support packages (runtimetest) may reach across, as tests do.
		if strings.Contains(filepath.ToSlash(rel), "test/") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/spf13/cobra") && from != "cmd" {
				t.Errorf("%s imports cobra; only cmd/ may", rel)
			}
			if p != module && !strings.HasPrefix(p, module+"/") {
				continue
			}
			to := top(p)
			if to == from {
				continue
			}
			lf, ok1 := layer[from]
			lt, ok2 := layer[to]
			if !ok1 || !ok2 {
				t.Errorf("%s imports %s: directory not in the layer map of docs/DESIGN.md", rel, p)
				continue
			}
			if lt >= lf {
				t.Errorf("%s (%s) imports %s (%s): arrows point the other way (docs/DESIGN.md, The house)", rel, from, p, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 5 {
		t.Fatalf("checked only %d files; is the walk rooted at the module?", checked)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("root %s has no go.mod", root)
	}
}
