package alerts_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"firebreak/alerts"
)

// TestMatchKeys checks each match key once matching and once not.
func TestMatchKeys(t *testing.T) {
	tests := []struct {
		name  string
		match string
		edit  func(*alerts.Alert)
		want  bool
	}{
		{"AnyMatchesAll", `{any: true}`, func(a *alerts.Alert) { *a = alerts.Alert{} }, true},

		{"SourceExact", `{source: syscall}`, nil, true},
		{"SourceExactOther", `{source: syscall}`, func(a *alerts.Alert) { a.Source = "k8s_audit" }, false},
		{"SourceExactIsNotSubstring", `{source: sys}`, nil, false},
		{"SourceExactIsCaseSensitive", `{source: Syscall}`, nil, false},
		{"SourceRegexp", `{source: "/^k8s_/"}`, func(a *alerts.Alert) { a.Source = "k8s_audit" }, true},
		{"SourceRegexpNot", `{source: "/^k8s_/"}`, nil, false},

		{"RuleExact", `{rule: "Container escape attempt"}`, func(a *alerts.Alert) { a.Rule = "Container escape attempt" }, true},
		{"RuleExactLonger", `{rule: "Container escape attempt"}`, func(a *alerts.Alert) { a.Rule = "Container escape attempt 2" }, false},
		{"RuleRegexpPrefix", `{rule: "/^Detect crypto miners/"}`, nil, true},
		{"RuleRegexpAnchoredAsWritten", `{rule: "/^crypto/"}`, nil, false},
		{"RuleRegexpUnanchoredSearches", `{rule: "/crypto/"}`, nil, true},
		{"RuleSlashIsExact", `{rule: "/"}`, func(a *alerts.Alert) { a.Rule = "/" }, true},

		{"TagsAllPresent", `{tags: [mitre_execution, container]}`, nil, true},
		{"TagsOneMissing", `{tags: [mitre_execution, mitre_persistence]}`, nil, false},
		{"TagsNoTags", `{tags: [mitre_execution]}`, func(a *alerts.Alert) { a.Tags = nil }, false},

		{"FieldEqual", `{fields: ["proc.name=xmrig"]}`, nil, true},
		{"FieldEqualDifferent", `{fields: ["proc.name=bash"]}`, nil, false},
		{"FieldEqualAbsent", `{fields: ["user.name=root"]}`, nil, false},
		{"FieldEqualEmpty", `{fields: ["empty="]}`, nil, true},
		{"FieldNotEqualDifferent", `{fields: ["container.image.repository!=registry.local/ci"]}`, nil, true},
		{"FieldNotEqualSame", `{fields: ["container.image.repository!=docker.io/library/alpine"]}`, nil, false},
		{"FieldNotEqualAbsent", `{fields: ["user.name!=root"]}`, nil, true},
		{"FieldPresent", `{fields: ["proc.cmdline"]}`, nil, true},
		{"FieldPresentEmptyValue", `{fields: ["empty"]}`, nil, true},
		{"FieldPresentAbsent", `{fields: ["user.name"]}`, nil, false},
		{"FieldRegexp", `{fields: ["proc.cmdline~=stratum\\+tcp"]}`, nil, true},
		{"FieldRegexpNot", `{fields: ["proc.cmdline~=^bash"]}`, nil, false},
		{"FieldNotRegexp", `{fields: ["container.image.repository!~=^registry\\.local/"]}`, nil, true},
		{"FieldNotRegexpMatches", `{fields: ["container.image.repository!~=alpine$"]}`, nil, false},
		{"FieldSlashesAreExact", `{fields: ["proc.cmdline=/stratum/"]}`, nil, false},
		{"FieldSpacesTrimmed", `{fields: [" proc.name = xmrig "]}`, nil, true},
		{"FieldsAllMustHold", `{fields: ["proc.name=xmrig", "user.name"]}`, nil, false},

		{"HostGlob", `{host: "node-*"}`, nil, true},
		{"HostGlobNot", `{host: "node-*"}`, func(a *alerts.Alert) { a.Host = "master-1" }, false},
		{"HostGlobClass", `{host: "node-[0-2]"}`, nil, false},
		{"HostExact", `{host: node-3}`, nil, true},
		{"HostGlobNoHost", `{host: "node-*"}`, func(a *alerts.Alert) { a.Host = "" }, false},

		{"HostEventTrue", `{host_event: true}`, func(a *alerts.Alert) { a.Container = "host" }, true},
		{"HostEventTrueContainer", `{host_event: true}`, nil, false},
		{"HostEventFalseContainer", `{host_event: false}`, nil, true},
		{"HostEventFalseHost", `{host_event: false}`, func(a *alerts.Alert) { a.Container = "host" }, false},

		{"CEL", `{cel: 'alert.fields["proc.cmdline"].contains("stratum")'}`, nil, true},
		{"CELFalse", `{cel: 'alert.fields["proc.cmdline"].contains("nicehash")'}`, nil, false},
		{"CELPriorityWord", `{cel: 'alert.priority == "critical" && alert.pod.startsWith("batch/")'}`, nil, true},
		{"CELTags", `{cel: '"container" in alert.tags && size(alert.tags) == 2'}`, nil, true},
		{"CELTime", `{cel: 'alert.time == "2026-03-04T04:06:07Z"'}`, nil, true},
		{"CELOptional", `{cel: 'alert.fields[?"user.name"].orValue("nobody") == "nobody"'}`, nil, true},
		{"CELAllKeys", `{cel: 'alert.format == "falco" && alert.id == "0f3c" && alert.source == "syscall" && alert.output == "miner started" && alert.host == "node-3" && alert.container == "0123456789ab"'}`, nil, true},

		{"PriorityBare", `{priority: critical}`, nil, true},
		{"PriorityBareOther", `{priority: warning}`, nil, false},

		{"AllKeysTogether", `{source: syscall, rule: "/miners/", priority: ">=error", tags: [container], fields: [proc.name=xmrig], host: "node-?", host_event: false, cel: 'alert.fields["container.name"] == "web-1"'}`, nil, true},
		{"AllKeysTogetherOneFails", `{source: syscall, rule: "/miners/", priority: ">=error", tags: [container], fields: [proc.name=xmrig], host: "node-?", host_event: false, cel: 'alert.fields["container.name"] == "web-2"'}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := rulesParse(t, "- name: r\n  match: "+tt.match+"\n  playbook: p\n")
			a := rulesAlert()
			if tt.edit != nil {
				tt.edit(&a)
			}
			r, ok := rs.Match(a)
			if ok != tt.want {
				t.Fatalf("Match = %v, want %v", ok, tt.want)
			}
			if ok && r.Name != "r" {
				t.Errorf("matched rule %q", r.Name)
			}
			if n := rs.Rules[0].Errors.Load(); n != 0 {
				t.Errorf("%d evaluation errors", n)
			}
		})
	}
}

func TestMatchPriorityBoundaries(t *testing.T) {
	all := []alerts.Priority{alerts.PriorityUnknown, alerts.Debug, alerts.Informational, alerts.Notice, alerts.Warning, alerts.Error, alerts.Critical, alerts.AlertLevel, alerts.Emergency}
	// Each want lists the priorities that match, by their words; an
	// alert whose priority is unknown matches no comparison.
	tests := []struct {
		cond string
		want string
	}{
		{">=critical", "critical alert emergency"},
		{">= critical", "critical alert emergency"},
		{">critical", "alert emergency"},
		{"<=warning", "debug informational notice warning"},
		{"<warning", "debug informational notice"},
		{"=error", "error"},
		{"error", "error"},
		{"err", "error"},
		{"ERROR", "error"},
		{">=debug", "debug informational notice warning error critical alert emergency"},
		{"<debug", ""},
		{">emergency", ""},
		{"<=emergency", "debug informational notice warning error critical alert emergency"},
		{">=emerg", "emergency"},
		{"<info", "debug"},
		{"=alert", "alert"},
		{">warn", "error critical alert emergency"},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			rs := rulesParse(t, fmt.Sprintf("- name: r\n  match: {priority: %q}\n  playbook: p\n", tt.cond))
			var got []string
			for _, p := range all {
				if _, ok := rs.Match(alerts.Alert{Priority: p}); ok {
					got = append(got, p.String())
				}
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("%s matches %q, want %q", tt.cond, g, tt.want)
			}
		})
	}
}

func TestMatchFirstRuleInFileOrder(t *testing.T) {
	src := `
- name: specific
  match: {rule: "Terminal shell in container", fields: [container.name=db]}
  playbook: p1
- name: broad
  match: {rule: "/shell/"}
  playbook: p2
- name: host
  match: {host_event: true}
  log_only: true
- name: rest
  match: {any: true}
  playbook: p3
`
	rs := rulesParse(t, src)
	tests := []struct {
		alert alerts.Alert
		want  string
	}{
		{alerts.Alert{Rule: "Terminal shell in container", Fields: map[string]string{"container.name": "db"}}, "specific"},
		{alerts.Alert{Rule: "Terminal shell in container", Fields: map[string]string{"container.name": "web"}}, "broad"},
		{alerts.Alert{Rule: "Terminal shell in container", Container: "host"}, "broad"},
		{alerts.Alert{Rule: "Write below etc", Container: "host"}, "host"},
		{alerts.Alert{Rule: "Write below etc"}, "rest"},
	}
	for _, tt := range tests {
		r, ok := rs.Match(tt.alert)
		if !ok || r.Name != tt.want {
			t.Errorf("%+v matched %v %v, want %s", tt.alert, r, ok, tt.want)
		}
	}
	// With the broad rule first the specific one is never reached.
	rev := rulesParse(t, `
- name: broad
  match: {rule: "/shell/"}
  playbook: p2
- name: specific
  match: {rule: "Terminal shell in container"}
  playbook: p1
`)
	if r, ok := rev.Match(tests[0].alert); !ok || r.Name != "broad" {
		t.Errorf("matched %v, want broad", r)
	}
	if _, ok := rev.Match(alerts.Alert{Rule: "other"}); ok {
		t.Error("an alert no rule matches was matched")
	}
}

func TestMatchCELErrorIsNoMatch(t *testing.T) {
	rs := rulesParse(t, `
- name: needs-cmdline
  match: {cel: 'alert.fields["proc.cmdline"].contains("stratum")'}
  playbook: p1
- name: fallback
  match: {any: true}
  log_only: true
`)
	var mu sync.Mutex
	var got []string
	rs.OnError = func(r *alerts.Rule, err error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Name+": "+err.Error())
	}
	r, ok := rs.Match(alerts.Alert{Rule: "x"})
	if !ok || r.Name != "fallback" {
		t.Fatalf("matched %v, want fallback", r)
	}
	if n := rs.Rules[0].Errors.Load(); n != 1 {
		t.Errorf("Errors = %d, want 1", n)
	}
	if len(got) != 1 || !strings.Contains(got[0], "t.yaml:2:3: rule needs-cmdline: cel:") || !strings.Contains(got[0], "proc.cmdline") {
		t.Errorf("OnError got %q", got)
	}
	if r, _ := rs.Match(alerts.Alert{Fields: map[string]string{"proc.cmdline": "stratum+tcp"}}); r.Name != "needs-cmdline" {
		t.Errorf("matched %s", r.Name)
	}
	if n := rs.Rules[0].Errors.Load(); n != 1 {
		t.Errorf("Errors = %d after a good evaluation, want still 1", n)
	}
}

func TestMatchCELCostLimit(t *testing.T) {
	// Nested comprehensions over many tags: far past the cost limit.
	rs := rulesParse(t, `
- name: costly
  match: {cel: 'alert.tags.all(a, alert.tags.all(b, alert.tags.all(c, a + b + c != "xyz")))'}
  playbook: p
`)
	var got error
	rs.OnError = func(_ *alerts.Rule, err error) { got = err }
	start := time.Now()
	_, ok := rs.Match(alerts.Alert{Tags: strings.Split(strings.Repeat("t,", 2000), ",")})
	// The cost limit stops it; on a slow machine (-race) the timeout may
	// come first.
	if got == nil || !(strings.Contains(got.Error(), "cost limit") || strings.Contains(got.Error(), "deadline exceeded")) {
		t.Errorf("error %v, want the cost limit or the timeout", got)
	}
	if ok {
		t.Error("matched")
	}
	if n := rs.Rules[0].Errors.Load(); n != 1 {
		t.Errorf("Errors = %d, want 1", n)
	}
	if d := time.Since(start); d > alerts.RuleCELTimeout+time.Second {
		t.Errorf("took %s", d)
	}
}

func TestMatchConcurrent(t *testing.T) {
	rs, err := alerts.LoadRules("testdata/rules/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				r, ok := rs.Match(rulesAlert())
				if !ok || r.Name != "miner" {
					t.Errorf("matched %v", r)
					return
				}
				if _, err := r.Params(rulesAlert()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestParamsExpand(t *testing.T) {
	quoted := rulesAlert()
	quoted.Fields["container.name"] = `it's "web" \n`
	tests := []struct {
		name  string
		param string // YAML value of params.p
		alert alerts.Alert
		want  string
	}{
		{"Literal", `fb-quarantine`, rulesAlert(), "fb-quarantine"},
		{"LiteralNumber", `5`, rulesAlert(), "5"},
		{"LiteralBool", `true`, rulesAlert(), "true"},
		{"LiteralEmpty", `""`, rulesAlert(), ""},
		{"LiteralDollar", `"$5 {{ x }}"`, rulesAlert(), "$5 {{ x }}"},
		{"Example", `"${{ alert.rule }} on ${{ alert.fields['container.name'] }}"`, rulesAlert(), "Detect crypto miners using the Stratum protocol on web-1"},
		{"FieldWithQuotes", `"${{ alert.fields['container.name'] }}"`, quoted, `it's "web" \n`},
		{"FieldWithQuotesInText", `'<${{ alert.fields["container.name"] }}>'`, quoted, `<it's "web" \n>`},
		{"WholeValue", `"${{alert.host}}"`, rulesAlert(), "node-3"},
		{"Priority", `"${{ alert.priority }}"`, rulesAlert(), "critical"},
		{"TimeRFC3339UTC", `"${{ alert.time }}"`, rulesAlert(), "2026-03-04T04:06:07Z"},
		{"TagsJoined", `"${{ alert.tags }}"`, rulesAlert(), "mitre_execution,container"},
		{"Number", `"n=${{ size(alert.tags) + 1 }}"`, rulesAlert(), "n=3"},
		{"Bool", `"${{ alert.pod == 'batch/miner-7' }}"`, rulesAlert(), "true"},
		{"BracesInString", `"${{ alert.rule.startsWith('}}') ? 'a' : '}}{' }}!"`, rulesAlert(), "}}{!"},
		{"MapLiteral", `"${{ {'a': {'b': 'c'}}['a']['b'] }}"`, rulesAlert(), "c"},
		{"Optional", `"${{ alert.fields[?'user.name'].orValue('unknown') }}"`, rulesAlert(), "unknown"},
		{"Guarded", `"${{ 'user.name' in alert.fields ? alert.fields['user.name'] : '-' }}"`, rulesAlert(), "-"},
		{"EmptyFieldsMap", `"${{ size(alert.fields) }}"`, alerts.Alert{}, "0"},
		{"ZeroTimeEmpty", `"[${{ alert.time }}]"`, alerts.Alert{}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := rulesParse(t, "- name: r\n  match: {any: true}\n  playbook: pb\n  params:\n    p: "+tt.param+"\n    q: fixed\n")
			got, err := rs.Rules[0].Params(tt.alert)
			if err != nil {
				t.Fatal(err)
			}
			if got["p"] != tt.want || got["q"] != "fixed" || len(got) != 2 {
				t.Errorf("Params = %q, want p=%q q=fixed", got, tt.want)
			}
		})
	}
}

func TestParamsNone(t *testing.T) {
	rs := rulesParse(t, "- {name: r, match: {any: true}, playbook: pb}\n")
	got, err := rs.Rules[0].Params(rulesAlert())
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("Params = %v, %v; want an empty map", got, err)
	}
}

func TestParamsErrors(t *testing.T) {
	src := `- name: miner
  match: {any: true}
  playbook: cryptominer
  params:
    reason: "${{ alert.rule }} on ${{ alert.fields['container.name'] }}"
    pod: "${{ alert.pod }}"
    map: "${{ alert.fields }}"
`
	rs := rulesParse(t, src)
	a := rulesAlert()
	delete(a.Fields, "container.name")
	got, err := rs.Rules[0].Params(a)
	if err == nil {
		t.Fatalf("no error; params %v", got)
	}
	if got != nil {
		t.Errorf("params %v with an error", got)
	}
	msg := err.Error()
	for _, want := range []string{
		"t.yaml:1:3: rule miner: param reason: ${{ alert.fields['container.name'] }}: no such key: container.name",
		"'k' in alert.fields",
		"param map: ${{ alert.fields }}: gives a map",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "param pod") {
		t.Errorf("error names a param that expanded:\n%s", msg)
	}
}
