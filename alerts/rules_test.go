package alerts_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firebreak/alerts"
	"firebreak/playbooks"
)

// rulesParse parses src, failing the test on an error.
func rulesParse(t *testing.T, src string) *alerts.RuleSet {
	t.Helper()
	rs, err := alerts.ParseRules("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseRules:\n%v\nsource:\n%s", err, src)
	}
	return rs
}

// rulesErrors parses src and returns its errors, failing the test when
// there are none or they are not playbooks.Errors.
func rulesErrors(t *testing.T, src string) playbooks.Errors {
	t.Helper()
	_, err := alerts.ParseRules("t.yaml", []byte(src))
	if err == nil {
		t.Fatalf("no error for:\n%s", src)
	}
	var es playbooks.Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T) is not playbooks.Errors", err, err)
	}
	return es
}

func rulesAlert() alerts.Alert {
	return alerts.Alert{
		Format:    "falco",
		ID:        "0f3c",
		Source:    "syscall",
		Rule:      "Detect crypto miners using the Stratum protocol",
		Priority:  alerts.Critical,
		Time:      time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600)),
		Output:    "miner started",
		Host:      "node-3",
		Tags:      []string{"mitre_execution", "container"},
		Container: "0123456789ab",
		Pod:       "batch/miner-7",
		Fields: map[string]string{
			"proc.name":                  "xmrig",
			"proc.cmdline":               "xmrig -o stratum+tcp://pool:3333",
			"container.name":             "web-1",
			"container.image.repository": "docker.io/library/alpine",
			"empty":                      "",
		},
	}
}

func TestRulesExampleLoads(t *testing.T) {
	rs, err := alerts.LoadRules("testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if rs.File != "testdata/rules/example.yaml" {
		t.Errorf("File = %q", rs.File)
	}
	type want struct {
		name, playbook string
		line, col      int
		approve        string
		all, logOnly   bool
		dedupe         time.Duration
		rate           string
	}
	wants := []want{
		{"escape", "escape-suspected", 1, 3, "hand_over", false, false, 5 * time.Minute, "<nil>"},
		{"miner", "cryptominer", 6, 3, "", false, false, 10 * time.Minute, "&{2 5}"},
		{"host-events", "", 18, 3, "", false, true, 5 * time.Minute, "<nil>"},
		{"everything-else", "triage", 21, 3, "", true, false, 5 * time.Minute, "<nil>"},
	}
	if len(rs.Rules) != len(wants) {
		t.Fatalf("%d rules, want %d", len(rs.Rules), len(wants))
	}
	for i, w := range wants {
		r := rs.Rules[i]
		got := want{r.Name, r.Playbook, r.Line, r.Column, strings.Join(r.Approve, ","), r.ApproveAll, r.LogOnly, r.Dedupe, fmt.Sprint(r.Rate)}
		if got != w {
			t.Errorf("rule %d = %+v\nwant      %+v", i, got, w)
		}
	}
}

func TestRulesLoadMissingFile(t *testing.T) {
	if _, err := alerts.LoadRules(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want not exist", err)
	}
}

func TestRulesLoadTooBig(t *testing.T) {
	f := filepath.Join(t.TempDir(), "big.yaml")
	big := "- name: a\n  match: {any: true}\n  playbook: p\n" + "#" + strings.Repeat("x", alerts.MaxRulesFileSize) + "\n"
	if err := os.WriteFile(f, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := alerts.LoadRules(f)
	if err == nil || !strings.Contains(err.Error(), f+":1:1: file is more than 1048576 bytes") {
		t.Errorf("err = %v", err)
	}
}

func TestRulesTooMany(t *testing.T) {
	var b strings.Builder
	for i := 0; i <= alerts.MaxRules; i++ {
		fmt.Fprintf(&b, "- {name: r%d, match: {any: true}, playbook: p}\n", i)
	}
	es := rulesErrors(t, b.String())
	if len(es) != 1 || !strings.Contains(es[0].Msg, "1001 rules; a rules file may have at most 1000") || es[0].Pos.Line != 1 {
		t.Errorf("errors = %v", es)
	}
	// Exactly the limit is fine.
	b.Reset()
	for i := 0; i < alerts.MaxRules; i++ {
		fmt.Fprintf(&b, "- {name: r%d, match: {any: true}, playbook: p}\n", i)
	}
	if rs := rulesParse(t, b.String()); len(rs.Rules) != alerts.MaxRules {
		t.Errorf("%d rules", len(rs.Rules))
	}
}

// TestRulesValidationErrors checks each refusal, where it is reported, and
// that its message says what to write instead.
func TestRulesValidationErrors(t *testing.T) {
	const ok = "  match: {any: true}\n  playbook: p\n"
	tests := []struct {
		name      string
		src       string
		line, col int
		msg       string
	}{
		{"NotYAML", "- name: [\n", 1, 1, "not valid YAML"},
		{"UnquotedComparison", "- name: r\n  match: {priority: >=critical}\n  playbook: p\n", 2, 1, `must be quoted: priority: ">=critical"`},
		{"Empty", "", 1, 1, "empty rules file"},
		{"OnlyComment", "# nothing\n", 1, 1, "empty rules file"},
		{"NotAList", "name: r\nmatch: {any: true}\n", 1, 1, "a rules file is a list of rules"},
		{"EmptyList", "[]\n", 1, 1, "no rules"},
		{"RuleNotMapping", "- r\n", 1, 3, "a rule must be a mapping"},
		{"UnknownRuleKey", "- name: r\n" + ok + "  parms: {a: b}\n", 4, 3, `unknown key "parms" in a rule (known: approve, dedupe, log_only, match, name, params, playbook, rate)`},
		{"RepeatedKey", "- name: r\n" + ok + "  name: s\n", 4, 3, `"name" given twice in a rule`},
		{"UnknownMatchKey", "- name: r\n  match: {rule: x, container: y}\n  playbook: p\n", 2, 20, `unknown key "container" in match`},
		{"UnknownRateKey", "- name: r\n" + ok + "  rate: {per_second: 1, per_minute: 2}\n", 4, 25, `unknown key "per_minute" in rate`},
		{"Alias", "- &a\n  name: r\n" + ok, 1, 3, "anchors and aliases are not allowed"},
		{"Deep", "- name: r\n" + ok + "  params: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n", 4, 42, "nested deeper than 32"},

		{"NoName", "- match: {any: true}\n  playbook: p\n", 1, 3, "rule has no name: add name: <name>"},
		{"EmptyName", "- name: ''\n" + ok, 1, 9, "name is empty"},
		{"BadName", "- name: 'a b'\n" + ok, 1, 9, `rule name "a b": use letters, digits`},
		{"DuplicateName", "- name: r\n" + ok + "- name: r\n" + ok, 4, 9, `rule name "r" is used twice (first at line 1)`},
		{"NoMatch", "- name: r\n  playbook: p\n", 1, 3, "rule r has no match: add match: with at least one of source, rule, priority, tags, fields, host, host_event, cel (or match: {any: true} for every alert)"},
		{"EmptyMatch", "- name: r\n  match: {}\n  playbook: p\n", 2, 10, "empty match would match every alert"},
		{"NullMatch", "- name: r\n  match:\n  playbook: p\n", 2, 9, "match must be a mapping"},
		{"AnyFalse", "- name: r\n  match: {any: false}\n  playbook: p\n", 2, 16, "any: false matches nothing"},
		{"AnyWithOthers", "- name: r\n  match: {any: true, rule: x}\n  playbook: p\n", 2, 16, "the other keys of this match do nothing"},
		{"NoPlaybook", "- name: r\n  match: {any: true}\n", 1, 3, "rule r has no playbook: add playbook: <name>, or log_only: true"},
		{"BadPlaybookName", "- name: r\n  match: {any: true}\n  playbook: ../x\n", 3, 13, "not a playbook name"},
		{"LogOnlyNotBool", "- name: r\n  match: {any: true}\n  log_only: yes\n", 3, 13, "log_only must be true or false"},

		{"BadPriorityWord", "- name: r\n  match: {priority: '>=crit1cal'}\n  playbook: p\n", 2, 21, `priority ">=crit1cal": "crit1cal" is not a priority; write one of debug`},
		{"BadPriorityOp", "- name: r\n  match: {priority: '=>critical'}\n  playbook: p\n", 2, 21, `priority "=>critical": not a comparison: write >=, >, <=, < or = and then the word, like ">=critical"`},
		{"PriorityNotEqualOp", "- name: r\n  match: {priority: '!=debug'}\n  playbook: p\n", 2, 21, `priority "!=debug": not a comparison`},
		{"PriorityNoWord", "- name: r\n  match: {priority: '>='}\n  playbook: p\n", 2, 21, `priority ">=": "" is not a priority`},
		{"PriorityUnknownWord", "- name: r\n  match: {priority: unknown}\n  playbook: p\n", 2, 21, `"unknown" is not a priority`},
		{"BadRuleRegexp", "- name: r\n  match: {rule: '/^Detect (crypto/'}\n  playbook: p\n", 2, 17, "bad regexp /^Detect (crypto/: missing closing ): `^Detect (crypto`: write an RE2 regexp between slashes"},
		{"EmptyRegexp", "- name: r\n  match: {source: //}\n  playbook: p\n", 2, 19, "empty regexp //"},
		{"EmptyRule", "- name: r\n  match: {rule: ''}\n  playbook: p\n", 2, 17, "rule is empty: give"},
		{"RuleNotString", "- name: r\n  match: {rule: [a]}\n  playbook: p\n", 2, 17, "rule must be a string"},
		{"TagsNotList", "- name: r\n  match: {tags: mitre}\n  playbook: p\n", 2, 17, "tags must be a list, like [mitre_execution]"},
		{"TagsEmpty", "- name: r\n  match: {tags: []}\n  playbook: p\n", 2, 17, "tags is an empty list"},
		{"FieldsNoName", "- name: r\n  match:\n    fields: [a=b, '!=x']\n  playbook: p\n", 3, 19, `fields: "!=x" has no field name`},
		{"FieldsBadRegexp", "- name: r\n  match:\n    fields: ['a~=[']\n  playbook: p\n", 3, 14, "bad regexp /[/"},
		{"BadGlob", "- name: r\n  match: {host: 'node-['}\n  playbook: p\n", 2, 17, `host "node-[" is not a valid glob`},
		{"HostEventNotBool", "- name: r\n  match: {host_event: maybe}\n  playbook: p\n", 2, 23, "host_event must be true or false"},
		{"BadCEL", "- name: r\n  match:\n    cel: 'alert.rule =='\n  playbook: p\n", 3, 10, "cel: bad expression"},
		{"CELNotBool", "- name: r\n  match:\n    cel: 'alert.rule + \"x\"'\n  playbook: p\n", 3, 10, "it must give true or false"},
		{"CELUnknownKey", "- name: r\n  match:\n    cel: 'alert.rul == \"x\" || alert[\"prio\"] == \"y\"'\n  playbook: p\n", 3, 10, "reads alert.rul, alert.prio, which alerts do not have (they have: container, fields"},
		{"CELUnknownVariable", "- name: r\n  match:\n    cel: 'event.rule == \"x\"'\n  playbook: p\n", 3, 10, "undeclared reference to 'event'"},
		{"CELEmpty", "- name: r\n  match: {cel: ' '}\n  playbook: p\n", 2, 16, "cel is empty"},

		{"ApproveScalar", "- name: r\n" + ok + "  approve: hand_over\n", 4, 12, `approve: "hand_over": approve is a list of the playbook's step IDs, like [hand_over], or all for every step`},
		{"ApproveBool", "- name: r\n" + ok + "  approve: true\n", 4, 12, "or all for every step"},
		{"ApproveAllInList", "- name: r\n" + ok + "  approve: [kill, all]\n", 4, 19, "write approve: all, not a list"},
		{"ApproveBadID", "- name: r\n" + ok + "  approve: [Kill]\n", 4, 13, `"Kill" is not a step ID`},
		{"ApproveTwice", "- name: r\n" + ok + "  approve: [kill, kill]\n", 4, 19, `step "kill" is given twice`},
		{"ApproveMapping", "- name: r\n" + ok + "  approve: {kill: true}\n", 4, 12, "approve is a list"},

		{"ParamsNotMapping", "- name: r\n" + ok + "  params: [a]\n", 4, 11, "params must be a mapping"},
		{"ParamBadName", "- name: r\n" + ok + "  params: {Reason: x}\n", 4, 12, `parameter name "Reason"`},
		{"ParamList", "- name: r\n" + ok + "  params: {allow: [a, b]}\n", 4, 19, `param allow must be a single value (a string, number or bool; a list as one string, like "a,b"`},
		{"ParamNull", "- name: r\n" + ok + "  params: {a: }\n", 4, 12, "param a must be a single value"},
		{"ParamUnclosed", "- name: r\n" + ok + "  params: {a: 'x ${{ alert.rule'}\n", 4, 15, `param a: "${{ alert.rule" has ${{ without its closing }}`},
		{"ParamEmptyExpr", "- name: r\n" + ok + "  params: {a: '${{ }}'}\n", 4, 15, "empty ${{ }}"},
		{"ParamBadCEL", "- name: r\n" + ok + "  params: {a: '${{ alert.rule + }}'}\n", 4, 15, "param a: bad expression"},
		{"ParamUnknownKey", "- name: r\n" + ok + "  params: {a: '${{ alert.severity }}'}\n", 4, 15, "reads alert.severity, which alerts do not have"},
		{"ParamTwice", "- name: r\n" + ok + "  params: {a: x, a: y}\n", 4, 18, `"a" given twice in params`},

		{"DedupeBad", "- name: r\n" + ok + "  dedupe: 10 minutes\n", 4, 11, `dedupe "10 minutes" is not a duration: give a window like 5m, 30s or 1h`},
		{"DedupeNoUnit", "- name: r\n" + ok + "  dedupe: 600\n", 4, 11, "is not a duration"},
		{"DedupeNegative", "- name: r\n" + ok + "  dedupe: -5m\n", 4, 11, `dedupe "-5m" is negative: give a window like 5m`},
		{"DedupeZero", "- name: r\n" + ok + "  dedupe: 0s\n", 4, 11, "the window must be more than 0"},

		{"RateNotMapping", "- name: r\n" + ok + "  rate: 5\n", 4, 9, "rate must be a mapping of burst, per_second"},
		{"RateNoPerSecond", "- name: r\n" + ok + "  rate: {burst: 5}\n", 4, 9, "rate needs per_second: write rate: {per_second: 2, burst: 5}"},
		{"RateZero", "- name: r\n" + ok + "  rate: {per_second: 0}\n", 4, 22, "per_second 0 must be more than 0"},
		{"RateNegative", "- name: r\n" + ok + "  rate: {per_second: -1.5}\n", 4, 22, "per_second -1.5 must be more than 0"},
		{"RateInf", "- name: r\n" + ok + "  rate: {per_second: .inf}\n", 4, 22, "not a finite number"},
		{"RateNaN", "- name: r\n" + ok + "  rate: {per_second: .nan}\n", 4, 22, "not a finite number"},
		{"RateString", "- name: r\n" + ok + "  rate: {per_second: '2'}\n", 4, 22, "per_second must be a number"},
		{"BurstZero", "- name: r\n" + ok + "  rate: {per_second: 1, burst: 0}\n", 4, 32, "burst 0 must be at least 1"},
		{"BurstFloat", "- name: r\n" + ok + "  rate: {per_second: 1, burst: 1.5}\n", 4, 32, "burst must be a whole number"},
		{"BurstHuge", "- name: r\n" + ok + "  rate: {per_second: 1, burst: 99999999999999999999}\n", 4, 32, "burst must be a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := rulesErrors(t, tt.src)
			for _, e := range es {
				if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Pos.File != "t.yaml" {
					t.Errorf("error without a place: %v", e)
				}
			}
			for _, e := range es {
				if strings.Contains(e.Msg, tt.msg) {
					if e.Pos.Line != tt.line || e.Pos.Col != tt.col {
						t.Errorf("%q at %s, want t.yaml:%d:%d", e.Msg, e.Pos, tt.line, tt.col)
					}
					return
				}
			}
			t.Errorf("errors\n%v\ndo not say %q", es, tt.msg)
		})
	}
}

// TestRulesAllErrorsReported checks that one file's problems are all
// reported, in file order, and the golden text of them.
func TestRulesAllErrorsReported(t *testing.T) {
	const file = "testdata/rules/several-problems.yaml"
	_, err := alerts.LoadRules(file)
	if err == nil {
		t.Fatal("no error")
	}
	var es playbooks.Errors
	if !errors.As(err, &es) {
		t.Fatalf("%T", err)
	}
	for i := 1; i < len(es); i++ {
		a, b := es[i-1].Pos, es[i].Pos
		if a.Line > b.Line || (a.Line == b.Line && a.Col > b.Col) {
			t.Errorf("not in file order: %s before %s", a, b)
		}
	}
	golden := strings.TrimSuffix(file, ".yaml") + ".golden"
	got := err.Error() + "\n"
	if os.Getenv("FIREBREAK_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("errors differ from %s (FIREBREAK_UPDATE_GOLDEN=1 rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

func TestRulesCheckPlaybooks(t *testing.T) {
	rs := rulesParse(t, `
- {name: a, match: {any: true}, playbook: contain}
- name: b
  match: {rule: x}
  playbook: nope
- {name: c, match: {rule: y}, log_only: true}
- {name: d, match: {rule: z}, log_only: true, playbook: gone}
`)
	contain := &playbooks.Playbook{Name: "contain", Steps: []*playbooks.Step{{ID: "isolate"}}}
	var asked []string
	load := func(name string) (*playbooks.Playbook, error) {
		asked = append(asked, name)
		if name == "contain" {
			return contain, nil
		}
		return nil, fmt.Errorf("no playbook %q", name)
	}
	err := rs.CheckPlaybooks(load)
	if strings.Join(asked, ",") != "contain,nope,gone" {
		t.Errorf("asked about %v", asked)
	}
	want := "t.yaml:5:13: rule b: playbook nope: no playbook \"nope\"\nt.yaml:7:57: rule d: playbook gone: no playbook \"gone\""
	if err == nil || err.Error() != want {
		t.Errorf("err =\n%v\nwant\n%s", err, want)
	}
	if err := rs.CheckPlaybooks(func(string) (*playbooks.Playbook, error) { return contain, nil }); err != nil {
		t.Errorf("err = %v with every playbook known", err)
	}
	// Params and approvals are checked against the playbook; a list
	// parameter is never filled from the alert's text.
	rs = rulesParse(t, `
- name: p
  match: {any: true}
  playbook: contain
  approve: [isolate, no_such_step]
  params: {wat: x, allow: "${{ alert.fields['fd.sip'] }}", note: "${{ alert.rule }}"}
`)
	contain.Params = []*playbooks.ParamDecl{{Name: "allow", Type: playbooks.TypeList}, {Name: "note", Type: playbooks.TypeString}}
	err = rs.CheckPlaybooks(func(string) (*playbooks.Playbook, error) { return contain, nil })
	for _, want := range []string{"param wat: playbook contain has no such parameter (it has: allow, note)", "param allow is a list in playbook contain", "approve no_such_step: playbook contain has no such step (its steps: isolate)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "param note") {
		t.Errorf("a string param from the alert was refused: %v", err)
	}
}

func FuzzParseRules(f *testing.F) {
	for _, name := range []string{"example.yaml", "several-problems.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata/rules", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("- {name: r, match: {fields: ['a=/b/', 'c!=d', e], priority: '<=warn'}, playbook: p, params: {x: '${{ alert.fields[\"a\"] }}-${{ alert.tags }}'}}\n"))
	f.Add([]byte("- name: r\n  match: {cel: 'alert.rule.matches(\"^x\")'}\n  playbook: p\n  rate: {per_second: 0.5}\n"))
	f.Add([]byte("- &a {name: r}\n- *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := alerts.ParseRules("f.yaml", data)
		if err != nil {
			var es playbooks.Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %v (%T) is not playbooks.Errors", err, err)
			}
			for _, e := range es {
				if e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Fatalf("error without a place: %v", e)
				}
			}
			return
		}
		if len(rs.Rules) == 0 || len(rs.Rules) > alerts.MaxRules {
			t.Fatalf("%d rules", len(rs.Rules))
		}
		names := map[string]bool{}
		for _, r := range rs.Rules {
			if r.Name == "" || names[r.Name] || (r.Playbook == "" && !r.LogOnly) || r.Dedupe <= 0 {
				t.Fatalf("invalid rule accepted: %+v", r)
			}
			if r.Rate != nil && (r.Rate.PerSecond <= 0 || r.Rate.Burst < 1) {
				t.Fatalf("invalid rate accepted: %+v", r.Rate)
			}
			names[r.Name] = true
			_, _ = r.Params(rulesAlert())
			_, _ = r.Params(alerts.Alert{})
		}
		rs.Match(rulesAlert())
		rs.Match(alerts.Alert{Container: "host"})
	})
}
