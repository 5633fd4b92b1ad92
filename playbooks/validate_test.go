package playbooks_test

import (
	"errors"
	"strings"
	"testing"

	"firebreak/playbooks"
)

func registry() *playbooks.Registry {
	r := playbooks.NewRegistry()
	playbooks.RegisterBuiltins(r)
	return r
}

// check parses and validates src and returns the errors.
func check(src string) playbooks.Errors {
	pb, err := playbooks.Parse("t.yaml", []byte(src))
	if err == nil {
		err = playbooks.Validate(pb, registry())
	}
	var es playbooks.Errors
	if err != nil && !errors.As(err, &es) {
		return playbooks.Errors{{Msg: "not Errors: " + err.Error()}}
	}
	return es
}

func TestValidateErrorsHaveLineAndColumn(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		line, col int
		msg       string
	}{
		{"UnknownTopKey", "name: x\nstepz: []\nsteps:\n  - id: a\n    action: wait\n    with: {for: 1s}\n", 2, 1, `unknown key "stepz"`},
		{"UnknownStepKey", "name: x\nsteps:\n  - id: a\n    action: wait\n    with: {for: 1s}\n    retry: 2\n", 6, 5, `unknown key "retry"`},
		{"UnknownAction", "name: x\nsteps:\n  - id: a\n    action: contain.nuke\n", 4, 13, `unknown action "contain.nuke"`},
		{"WrongParamType", "name: x\nsteps:\n  - id: a\n    action: contain.network\n    with:\n      verify: maybe\n", 6, 15, "want bool"},
		{"UnknownParam", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n    with:\n      hard: true\n", 6, 13, `no parameter "hard"`},
		{"MissingRequiredParam", "name: x\nsteps:\n  - id: a\n    action: notify.webhook\n", 4, 13, `needs parameter "url"`},
		{"UnknownNeed", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n    needs: [b]\n", 5, 13, `needs "b"`},
		{"Cycle", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n    needs: [b]\n  - id: b\n    action: contain.pause\n    needs: [a]\n", 8, 13, "cycle: a -> b -> a"},
		{"BadExpression", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n    when: 'steps.(('\n", 5, 11, "bad expression"},
		{"NotBoolCondition", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n    when: '\"yes\"'\n", 5, 11, "must give true or false"},
		{"ReadsStepNotNeeded", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n  - id: b\n    action: contain.pause\n    when: steps.a.changed == true\n", 7, 11, "does not need"},
		{"ReadsUnknownStep", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n    when: steps.zz.changed\n", 5, 11, "not a step"},
		{"ReadsUndeclaredParam", "name: x\nsteps:\n  - id: a\n    action: contain.network\n    with:\n      quarantine_network: ${{ params.net }}\n", 6, 27, "does not declare"},
		{"BadDuration", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n    timeout: soon\n", 5, 14, "give a duration"},
		{"BadOnFailure", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n    on_failure: retry\n", 5, 17, "use abort, continue or undo"},
		{"DuplicateID", "name: x\nsteps:\n  - id: a\n    action: contain.pause\n  - id: a\n    action: contain.pause\n", 5, 5, "used twice"},
		{"ApprovalActionWithoutPrompt", "name: x\nsteps:\n  - id: a\n    action: approval\n", 4, 13, "without an approval"},
		{"Alias", "name: x\nsteps:\n  - &s\n    id: a\n    action: contain.pause\n  - *s\n", 3, 5, "aliases are not allowed"},
		{"BadYAML", "name: x\nsteps: [\n", 2, 1, "not valid YAML"},
		{"BadParamDefault", "name: x\nparams:\n  n:\n    type: int\n    default: many\nsteps:\n  - id: a\n    action: contain.pause\n", 5, 14, "want int"},
		{"AllowNotCIDR", "name: x\nsteps:\n  - id: a\n    action: contain.network\n    with:\n      allow: [10.0.0.0/8, 10.0.0.300/32]\n", 6, 14, `"10.0.0.300/32" is not a CIDR`},
		{"AllowBareAddress", "name: x\nsteps:\n  - id: a\n    action: contain.network\n    with:\n      allow: [192.0.2.7]\n", 6, 14, "192.0.2.7/32"},
		{"WebhookFileScheme", "name: x\nsteps:\n  - id: a\n    action: notify.webhook\n    with:\n      url: file:///etc/passwd\n", 6, 12, "give an http:// or https:// URL"},
		{"WebhookNoHost", "name: x\nsteps:\n  - id: a\n    action: notify.webhook\n    with:\n      url: https:///x\n", 6, 12, "with a host"},
		{"WebhookGopher", "name: x\nsteps:\n  - id: a\n    action: notify.webhook\n    with:\n      url: gopher://h/x\n", 6, 12, "give an http:// or https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := check(tt.src)
			if len(es) == 0 {
				t.Fatalf("no error, want %q at %d:%d", tt.msg, tt.line, tt.col)
			}
			for _, e := range es {
				if strings.Contains(e.Msg, tt.msg) {
					if e.Pos.Line != tt.line || e.Pos.Col != tt.col || e.Pos.File != "t.yaml" {
						t.Errorf("%q at %s, want t.yaml:%d:%d", e.Msg, e.Pos, tt.line, tt.col)
					}
					return
				}
			}
			t.Errorf("errors %v do not say %q", es, tt.msg)
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	es := check("name: x\nsteps:\n  - id: a\n    action: nope\n  - id: b\n    action: contain.pause\n    needs: [zz]\n")
	if len(es) != 2 {
		t.Fatalf("got %d errors, want both: %v", len(es), es)
	}
	if es[0].Pos.Line != 4 || es[1].Pos.Line != 7 {
		t.Errorf("errors not in file order: %v", es)
	}
}

func TestValidateAcceptsAGoodPlaybook(t *testing.T) {
	src := `name: good
params:
  net: {type: string, default: q}
steps:
  - id: a
    action: contain.network
    with: {quarantine_network: "${{ params.net }}", allow: ["10.9.0.0/24"]}
  - id: b
    action: contain.pause
    needs: [a]
    when: steps.a.verdict == "isolated" && target.name != ""
    timeout: 30s
    retries: 2
    on_failure: undo
`
	if es := check(src); len(es) != 0 {
		t.Fatalf("errors: %v", es)
	}
}

// TestCheckReportsEveryErrorInOnePass: a structural error (unknown key,
// step without an action) does not hide the semantic ones of the parts
// that parsed, and each is reported once.
func TestCheckReportsEveryErrorInOnePass(t *testing.T) {
	src := `name: x
stepz: 1
steps:
  - id: a
    action: contain.nuke
    retry: 2
  - id: b
    needs: [a]
  - id: c
    action: notify.webhook
    with: {url: "ftp://h/x"}
    needs: [zz]
`
	_, err := playbooks.Check("t.yaml", []byte(src), registry())
	var es playbooks.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Check = %v, want Errors", err)
	}
	want := []string{
		`2:1: unknown key "stepz"`,
		`5:13: unknown action "contain.nuke"`,
		`6:5: unknown key "retry"`,
		`7:5: step "b" has no action`,
		`11:17: url of notify.webhook`,
		`12:13: step c needs "zz"`,
	}
	if len(es) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(es), len(want), es)
	}
	for i, w := range want {
		if i < len(es) && !strings.Contains(es[i].Error(), w) {
			t.Errorf("error %d = %q, want %q", i, es[i], w)
		}
	}
	// Parse alone still stops at the structural errors.
	if _, err := playbooks.Parse("t.yaml", []byte(src)); err == nil || strings.Contains(err.Error(), "contain.nuke") {
		t.Errorf("Parse = %v", err)
	}
}

func TestCheckAcceptsAGoodPlaybook(t *testing.T) {
	pb, err := playbooks.Check("t.yaml", []byte("name: x\nsteps:\n  - id: a\n    action: contain.pause\n"), registry())
	if err != nil || pb == nil || len(pb.Steps) != 1 {
		t.Fatalf("Check = %v, %v", pb, err)
	}
	if _, err := playbooks.Check("t.yaml", []byte("steps: [\n"), registry()); err == nil {
		t.Error("Check of broken YAML passed")
	}
}

// TestBuiltinPlaybooksSayOnlyWhatExists: the built-in playbooks are valid
// and their descriptions promise nothing Firebreak does not do yet.
func TestBuiltinPlaybooksSayOnlyWhatExists(t *testing.T) {
	entries, err := playbooks.Library{}.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pb, err := playbooks.Library{}.Check(e.Name, registry())
		if err != nil {
			t.Errorf("%s: %v", e.Name, err)
			continue
		}
		desc := strings.ToLower(pb.Description)
		// Backup and restore exist (recover.backup, recover.restore); drills
		// and redeploying from a pipeline do not.
		for _, planned := range []string{"rebuild", "redeploy", "drill"} {
			if strings.Contains(desc, planned) {
				t.Errorf("%s's description speaks of %q, which does not exist yet: %s", e.Name, planned, pb.Description)
			}
		}
	}
}

// TestValidateChecksValuesActionsRefuseAtRun: a collector or signal name
// that the action would refuse only when it runs (after earlier steps had
// contained the target) is an error at validation; so is an allow that
// opens everything.
func TestValidateChecksValuesActionsRefuseAtRun(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"collector": {"name: x\nsteps:\n  - id: a\n    action: collect\n    with: {what: [nope]}\n", `unknown collector "nope"`},
		"signal":    {"name: x\nsteps:\n  - id: a\n    action: contain.kill\n    with: {signal: SIGFOO}\n", `signal "SIGFOO"`},
		"allow-all": {"name: x\nsteps:\n  - id: a\n    action: contain.network\n    with: {allow: [0.0.0.0/0]}\n", "keeps every address open"},
	} {
		t.Run(name, func(t *testing.T) {
			es := check(tc.src)
			if len(es) == 0 || !strings.Contains(es.Error(), tc.want) {
				t.Errorf("errors %v, want one saying %q", es, tc.want)
			}
		})
	}
	if es := check("name: x\nsteps:\n  - id: a\n    action: contain.kill\n    with: {signal: SIGTERM}\n"); len(es) != 0 {
		t.Errorf("SIGTERM refused: %v", es)
	}
}

func TestPlaybookNameIsChecked(t *testing.T) {
	es := check("name: \"evil\\e[31mRED\"\nsteps:\n  - id: a\n    action: wait\n    with: {for: 1s}\n")
	if len(es) != 1 || !strings.Contains(es.Error(), "t.yaml:1:7: name") {
		t.Errorf("errors %v, want the name refused at 1:7", es)
	}
}
