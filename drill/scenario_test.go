package drill_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"firebreak/drill"
	"firebreak/playbooks"
)

func lib() drill.Library { return drill.Library{} }

func TestValidateErrorsNameFileLineColumn(t *testing.T) {
	tests := []struct {
		file      string
		line, col int
		msg       string
	}{
		{"unknown-key", 19, 1, `unknown key "objectivez" in the scenario`},
		{"bad-duration", 10, 9, `at: "soon": give a duration like 30s`},
		{"unknown-event", 16, 16, `unknown event "pwned"`},
		{"negative-points", 18, 17, "points cannot be negative"},
		{"reserve-with-at", 11, 5, "a reserve inject is played by the facilitator"},
		{"unknown-decoy", 19, 8, `unknown decoy "fork-bomb"`},
		{"missing-playbook", 19, 11, `playbook "no-such-playbook": no playbook "no-such-playbook"`},
		{"unknown-technique", 19, 21, `unknown technique "T9999"`},
		{"bad-technique", 19, 14, `technique "escape": write an ATT&CK technique ID`},
		{"name-mismatch", 1, 7, `name "other" differs from the file's name "name-mismatch"`},
		{"duplicate-inject", 19, 5, `inject id "I1" is used twice`},
		{"duplicate-expectation", 19, 9, `expectation id "E1" is used twice`},
		{"after-cycle", 20, 12, `inject "I2" would never be played: it waits on I3 -> I2`},
		{"answer-without-question", 14, 9, `answer expectation "E1" needs a question`},
		{"decoy-on-tabletop", 19, 8, "decoy is for live scenarios"},
		{"missing-title", 1, 1, "the scenario has no title: add title:"},
		{"alias", 4, 12, "anchors and aliases are not allowed"},
		{"bad-yaml", 3, 1, "not valid YAML"},
		{"unknown-inject-ref", 16, 16, `there is no inject "I9"`},
		{"live-without-decoy", 2, 7, "a live scenario needs a decoy: add decoy:"},
		{"unknown-expect-key", 19, 9, `unknown key "dealine" in an expectation`},
		{"unknown-role", 13, 10, `to "ceo": name a role`},
		{"no-trigger", 9, 5, `inject "I1" has no trigger: give at:`},
		{"unknown-artifact", 16, 16, `unknown artifact kind "diary"`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file+".yaml")
			_, err := lib().Load(path)
			var es playbooks.Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load(%s) = %v, want errors naming file:line:column", path, err)
			}
			for _, e := range es {
				if strings.Contains(e.Msg, tt.msg) {
					want := playbooks.Pos{File: path, Line: tt.line, Col: tt.col}
					if e.Pos != want {
						t.Errorf("%q at %s, want %s", e.Msg, e.Pos, want)
					}
					if !strings.HasPrefix(e.Error(), want.String()+": ") {
						t.Errorf("error %q does not start with %s", e.Error(), want)
					}
					return
				}
			}
			t.Errorf("errors do not say %q:\n%v", tt.msg, err)
		})
	}
}

func TestValidateAcceptsValidTestdata(t *testing.T) {
	s, err := lib().Load(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "valid" || s.Kind != drill.KindTabletop || len(s.Injects) != 1 || s.Injects[0].Expectations[0].Points != 5 {
		t.Errorf("parsed %+v", s)
	}
}

// Every error in a file is reported at once, in file order.
func TestValidateReportsEveryError(t *testing.T) {
	src := "name: many\nkind: tabletop\ntitle: T\nnarrative: N\nobjectives:\n  - id: O1\n    text: o\ninjects:\n  - id: I1\n    at: soon\n    title: t\n    text: x\n    expect:\n      - id: E1\n        kind: action\n        event: pwned\n        text: e\n        points: -1\n"
	_, err := drill.Validate("many.yaml", []byte(src), playbooks.Library{})
	var es playbooks.Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	for i, line := range []int{10, 16, 18} {
		if es[i].Pos.Line != line {
			t.Errorf("error %d at line %d, want %d: %v", i, es[i].Pos.Line, line, es[i])
		}
	}
}

func TestBuiltinScenariosValidate(t *testing.T) {
	entries, err := lib().List()
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	tabletops := 0
	for _, e := range entries {
		if e.Error != "" {
			t.Errorf("%s does not validate: %s", e.Name, e.Error)
			continue
		}
		s, err := lib().Load(e.Name)
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		if s.Name != e.Name || e.Source != "builtin" {
			t.Errorf("%s names itself %q (source %s)", e.Name, s.Name, e.Source)
		}
		if len(s.Techniques) == 0 || len(s.Objectives) == 0 || s.Narrative == "" || s.Points() == 0 {
			t.Errorf("%s lacks techniques, objectives, a narrative or points", e.Name)
		}
		switch s.Kind {
		case drill.KindLive:
			live[s.Decoy] = true
			if s.Playbook == "" || (s.Targets == drill.Targets{}) {
				t.Errorf("%s: a live scenario without playbook or targets", e.Name)
			}
			if s.Decoy != s.Name {
				t.Errorf("%s runs decoy %s; built-in live scenarios are named after their decoy", e.Name, s.Decoy)
			}
		case drill.KindTabletop:
			tabletops++
			checkTabletopShape(t, s)
		}
	}
	for _, d := range drill.Decoys {
		if !live[d] {
			t.Errorf("no built-in live scenario for decoy %s", d)
		}
	}
	if tabletops < 2 {
		t.Errorf("%d built-in tabletops, want at least 2", tabletops)
	}
}

// checkTabletopShape: a built-in tabletop has offset, after and reserve
// injects and answer expectations, and its offsets are short (a tmux test
// runs it in real time).
func checkTabletopShape(t *testing.T, s *drill.Scenario) {
	t.Helper()
	triggers := map[drill.Trigger]bool{}
	answers := 0
	for _, inj := range s.Injects {
		triggers[inj.Trigger] = true
		if inj.At > 10*time.Second {
			t.Errorf("%s: inject %s at %s; keep built-in tabletop offsets to seconds", s.Name, inj.ID, inj.At)
		}
		for _, e := range inj.Expectations {
			if e.Kind == drill.ExpectAnswer {
				answers++
			}
		}
	}
	for _, tr := range []drill.Trigger{drill.TriggerOffset, drill.TriggerAfter, drill.TriggerReserve} {
		if !triggers[tr] {
			t.Errorf("%s has no %s inject", s.Name, tr)
		}
	}
	if answers == 0 {
		t.Errorf("%s has no answer expectation", s.Name)
	}
}

func TestLibraryUserDirectoryWinsAndListsErrors(t *testing.T) {
	dir := t.TempDir()
	valid, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// a user's scenario hides the built-in of the same name
	mine := strings.Replace(string(valid), "name: valid", "name: nsenter", 1)
	if err := os.WriteFile(filepath.Join(dir, "nsenter.yaml"), []byte(mine), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("name: broken\nkind: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := drill.Library{Dirs: []string{dir}}
	s, err := l.Load("nsenter")
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != drill.KindTabletop {
		t.Errorf("loaded the built-in nsenter, not the user's")
	}
	entries, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(entries, func(e drill.ListEntry) bool { return e.Name == "broken" })
	if i < 0 || !strings.HasPrefix(entries[i].Error, filepath.Join(dir, "broken.yaml")+":1:1: the scenario has no title") {
		t.Errorf("broken scenario listed as %+v", entries[i])
	}
	j := slices.IndexFunc(entries, func(e drill.ListEntry) bool { return e.Name == "nsenter" })
	if j < 0 || entries[j].Source != filepath.Join(dir, "nsenter.yaml") {
		t.Errorf("nsenter listed as %+v", entries[j])
	}
	if _, err := l.Load("no-such-scenario"); err == nil || !strings.Contains(err.Error(), "drill list") {
		t.Errorf("Load of an unknown scenario: %v", err)
	}
}

func TestTechniquesKnown(t *testing.T) {
	for _, id := range []string{"T1609", "T1610", "T1611", "T1612", "T1613", "T1496", "T1053.007", "T1552.007"} {
		if _, ok := drill.TechniqueName(id); !ok {
			t.Errorf("%s is not known", id)
		}
	}
	if n, _ := drill.TechniqueName("T1611"); n != "Escape to Host" {
		t.Errorf("T1611 is %q", n)
	}
	ts := drill.Techniques()
	if !slices.IsSortedFunc(ts, func(a, b drill.Technique) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("Techniques is not sorted")
	}
}

func FuzzParse(f *testing.F) {
	entries, _ := drill.Library{}.List()
	for _, e := range entries {
		s, err := drill.Library{}.Load(e.Name)
		if err == nil {
			f.Add(string(s.Source))
		}
	}
	f.Add("name: x\nkind: tabletop\n")
	f.Fuzz(func(t *testing.T, src string) {
		s, err := drill.Parse("fuzz.yaml", []byte(src))
		if err == nil && s == nil {
			t.Fatal("no scenario and no error")
		}
		var es playbooks.Errors
		if err != nil && !errors.As(err, &es) {
			t.Fatalf("error is not playbooks.Errors: %v", err)
		}
		for _, e := range es {
			if e.Pos.File != "fuzz.yaml" || e.Pos.Line < 1 {
				t.Fatalf("error without a position: %v", e)
			}
		}
	})
}
