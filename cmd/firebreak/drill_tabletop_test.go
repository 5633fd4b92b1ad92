package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"firebreak/drill"
)

// runCLIInput runs the CLI with stdin.
func runCLIInput(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	d := newDeps(&out, &errb)
	d.stdin = strings.NewReader(stdin)
	code := run(context.Background(), args, d)
	return cliResult{code, out.String(), errb.String()}
}

func readResult(t *testing.T, path string) *drill.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r drill.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func scoreOf(r *drill.Result, id string) drill.Score {
	for _, s := range r.Scores {
		if s.Expectation == id {
			return s
		}
	}
	return drill.Score{Outcome: "absent"}
}

// quickScenario plays everything at once (no offsets but 0s), so a piped
// run is the same however fast the machine is.
const quickScenario = `name: quick
kind: tabletop
title: "Quick \e]0;owned\a title"
narrative: A short story.
objectives:
  - {id: O1, text: Contain}
  - {id: O2, text: Talk}
injects:
  - id: I1
    at: 0s
    title: Alert
    text: An alert.
    question: First?
    expect:
      - {id: E1, kind: answer, text: A good first step, points: 10, deadline: 1h}
      - {id: E2, kind: action, event: contained, text: Contained, points: 20, deadline: 1h}
  - id: I2
    after: contained
    title: After containment
    text: Now the evidence.
    expect:
      - {id: E3, kind: action, event: evidence, text: Evidence, points: 15}
  - id: R1
    reserve: true
    title: Held
    text: Never played.
    expect:
      - {id: E4, kind: action, event: restored, text: Restored, points: 50}
`

func writeQuick(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "quick.yaml"), []byte(quickScenario), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestDrillTabletopPiped(t *testing.T) {
	scen := writeQuick(t)
	state := t.TempDir()
	input := strings.Join([]string{
		"a I1 contain it first",
		"act contained",
		"n the lead agreed",
		"end",
		"y",             // judge E1, answered in time
		"quick", "", "", // alice: went well; to improve
		"", "slow start", "", // fran
		"P", "s",
		"Evidence; practise capture; alice; 2030-02-01",
		"",
	}, "\n") + "\n"
	r := runCLIInput(t, input, "drill", "tabletop", "quick", "--scenarios", scen, "--state-dir", state, "--facilitator", "fran", "--responder", "alice")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	if strings.ContainsRune(r.stdout, 0x1b) || !strings.Contains(r.stdout, `Quick \x1b]0;owned\a title`) {
		t.Errorf("the scenario's control characters reached the terminal:\n%s", r.stdout)
	}
	for _, want := range []string{"A short story.", "inject I1: Alert", "inject I2: After containment", "E2 met: Contained", "score: 30 of 45 points"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	paths, _ := filepath.Glob(filepath.Join(state, "drills", "quick-*", drill.ReportResultFile))
	if len(paths) != 1 {
		t.Fatalf("result under the state dir: %v", paths)
	}
	if !strings.Contains(r.stdout, filepath.Dir(paths[0])) {
		t.Errorf("output does not say where the result is:\n%s", r.stdout)
	}
	res := readResult(t, paths[0])
	if res.Points != 30 || res.Possible != 45 || res.Aborted != "" {
		t.Errorf("points %d/%d (aborted %q), want 30/45", res.Points, res.Possible, res.Aborted)
	}
	if s := scoreOf(res, "E1"); s.Outcome != drill.OutcomeMet || s.Who != "alice" {
		t.Errorf("E1 %+v, want met by alice (judged at the closing)", s)
	}
	if s := scoreOf(res, "E3"); s.Outcome != drill.OutcomeMissed {
		t.Errorf("E3 %+v, want missed at the end", s)
	}
	if s := scoreOf(res, "E4"); s.Outcome != "absent" {
		t.Errorf("E4 of a reserve inject never played is scored: %+v", s)
	}
	if len(res.Objectives) != 2 || res.Objectives[0].Rating != drill.RatingP || res.Objectives[1].Rating != drill.RatingS {
		t.Errorf("objectives %+v", res.Objectives)
	}
	if len(res.Hotwash) != 2 || res.Hotwash[0].Who != "alice" || res.Hotwash[0].Strong[0] != "quick" || res.Hotwash[1].Improve[0] != "slow start" {
		t.Errorf("hotwash %+v", res.Hotwash)
	}
	if len(res.Plan) != 1 || res.Plan[0].Owner != "alice" || res.Plan[0].Due != "2030-02-01" {
		t.Errorf("plan %+v", res.Plan)
	}
}

func TestDrillTabletopInputEndsEarly(t *testing.T) {
	scen := writeQuick(t)
	out := t.TempDir()
	r := runCLIInput(t, "act contained\n", "drill", "tabletop", "quick", "--scenarios", scen, "--report-dir", out)
	if r.code != exitOK || !strings.Contains(r.stderr, "ended early") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	res := readResult(t, filepath.Join(out, drill.ReportResultFile))
	if res.Aborted == "" || res.Points != 20 {
		t.Errorf("aborted %q, points %d; want a reason and 20", res.Aborted, res.Points)
	}
}

func TestDrillTabletopRefusals(t *testing.T) {
	for _, args := range [][]string{
		{"drill", "tabletop", "nsenter"},                       // a live scenario
		{"drill", "tabletop", "no-such-scenario"},              // unknown
		{"drill", "tabletop", "escape-tabletop", "-o", "json"}, // text only
		{"drill", "tabletop", "escape-tabletop", "--responder", "al ice"},
		{"drill", "tabletop", "escape-tabletop", "--facilitator", "a", "--responder", "a"},
	} {
		r := runCLIInput(t, "", args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, r.code, exitUsage, r.stderr)
		}
	}
}

func TestDrillListAndValidate(t *testing.T) {
	r := runCLI(t, "drill", "list", "-o", "json")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var entries []struct {
		Name, Kind, Title string
		Techniques        []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	kinds := map[string]string{}
	for _, e := range entries {
		kinds[e.Name] = e.Kind
		if e.Title == "" || len(e.Techniques) == 0 {
			t.Errorf("entry %+v lacks a title or techniques", e)
		}
	}
	if kinds["engine-socket"] != "live" || kinds["escape-tabletop"] != "tabletop" || len(entries) < 10 {
		t.Errorf("list: %v", kinds)
	}
	r = runCLI(t, "drill", "list")
	if r.code != exitOK || !strings.Contains(r.stdout, "escape-tabletop") || !strings.Contains(r.stdout, "T1611") {
		t.Errorf("text list:\n%s", r.stdout)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	src := strings.Replace(strings.Replace(quickScenario, "name: quick", "name: bad", 1), "points: 15", "points: -15", 1)
	if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "drill", "validate", "escape-tabletop", bad)
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d", r.code, exitUsage)
	}
	if !strings.Contains(r.stdout, "escape-tabletop: ok (tabletop") || !strings.Contains(r.stdout, bad+":22:73: points -15") {
		t.Errorf("validate output:\n%s", r.stdout)
	}
}

// TestDrillTabletopTmux drives the built-in escape tabletop on a real
// terminal: the facilitator and two responders type, the injects come on
// the clock, and result.json holds the expected score and ratings.
func TestDrillTabletopTmux(t *testing.T) {
	env, argv := selfCLI(t)
	out := filepath.Join(t.TempDir(), "report")
	argv = append(argv, "drill", "tabletop", "escape-tabletop", "--report-dir", out, "--state-dir", t.TempDir(),
		"--facilitator", "fran", "--responder", "alice", "--responder", "bob")
	x := startTmux(t, 140, 50, env, argv...)
	const wait = 20 * time.Second
	say := func(line string, want ...string) {
		t.Helper()
		x.text(line)
		x.keys("Enter")
		if len(want) > 0 {
			x.waitFor(wait, want...)
		}
	}
	x.waitFor(wait, "inject I1: Runtime alert on payments-api-2", "speaking: alice")
	say("a I1 Confirm with triage, then contain; the on-call lead decides", "alice answers I1")
	say("d Contain payments-api-2 now", "E2 met: A containment decision is recorded")
	x.waitFor(wait, "inject I2: The engine saw a create request") // at 3s
	say("act detected", "E3 met")
	say("a I2 Yes: the host is compromised through the socket", "alice answers I2")
	say("act contained", "E4 met")
	say("ok E1", "E1 met (judged)")
	say("ok E2", "a result once recorded is not changed")
	say("p", "pause: paused")
	say("r", "resume: resumed after")
	x.waitFor(wait, "inject I3: Both containers are frozen") // 2s after containment
	say("a I3 Processes, filesystem diff and engine events of both, from the host", "alice answers I3")
	say("ok E6", "E6 met (judged)")
	say("play R1", "inject R1: Pressure to just restart it")
	say("who bob", "speaking: bob")
	say("d No restart until the evidence is sealed", "E10 met")
	say("skip R2", "skipped R2")
	say("add Vendor advisory: a runc fix is out", "inject X1: Vendor advisory")
	say("n The team followed the playbook outline", "bob note: The team followed")
	say("end", "end: the exercise ended", "judge E5 (answered by alice)")
	say("n", "alice: what went well?")
	say("Contained within a minute", "more")
	say("", "alice: what should be improved?")
	say("Evidence came late")
	say("", "bob: what went well?")
	say("", "bob: what should be improved?")
	say("Press line unclear")
	say("", "fran: what went well?")
	say("Good pace")
	say("", "fran: what should be improved?")
	say("", "O1 Decide on and carry out containment")
	say("X", "give P, S, M or U")
	say("P", "O2 Capture and verify evidence")
	say("M", "O3 Hold the line")
	say("S", "improvement:")
	say("Evidence capture; Practise firebreak collect on both containers; alice; 2030-03-01")
	say("", "result and reports written to", "[exited 0]")

	res := readResult(t, filepath.Join(out, drill.ReportResultFile))
	// met: E1 10, E2 10, E3 10, E4 20, E6 10, E10 5; missed: E5 (judged), E7 (never)
	if res.Points != 65 || res.Possible != 90 {
		t.Errorf("score %d/%d, want 65/90; scores %+v", res.Points, res.Possible, res.Scores)
	}
	for id, want := range map[string]drill.Outcome{"E1": drill.OutcomeMet, "E2": drill.OutcomeMet, "E3": drill.OutcomeMet, "E4": drill.OutcomeMet,
		"E5": drill.OutcomeMissed, "E6": drill.OutcomeMet, "E7": drill.OutcomeMissed, "E10": drill.OutcomeMet, "E8": "absent", "E11": "absent"} {
		if s := scoreOf(res, id); s.Outcome != want {
			t.Errorf("%s: %s, want %s", id, s.Outcome, want)
		}
	}
	if s := scoreOf(res, "E10"); s.Who != "bob" {
		t.Errorf("E10 met by %q, want bob", s.Who)
	}
	ratings := map[string]drill.Rating{}
	for _, o := range res.Objectives {
		ratings[o.ID] = o.Rating
	}
	if ratings["O1"] != drill.RatingP || ratings["O2"] != drill.RatingM || ratings["O3"] != drill.RatingS {
		t.Errorf("ratings %v, want O1 P, O2 M, O3 S", ratings)
	}
	if len(res.Hotwash) != 3 || res.Hotwash[0].Who != "alice" || res.Hotwash[1].Improve[0] != "Press line unclear" || res.Hotwash[2].Strong[0] != "Good pace" {
		t.Errorf("hotwash %+v", res.Hotwash)
	}
	if len(res.Plan) != 1 || res.Plan[0].Capability != "Evidence capture" {
		t.Errorf("plan %+v", res.Plan)
	}
	kinds := map[string]int{}
	for _, e := range res.Timeline {
		kinds[e.Kind]++
	}
	for _, k := range []string{"start", "inject", "decision", "answer", "action", "finding", "pause", "resume", "skip", "note", "expectation", "end"} {
		if kinds[k] == 0 {
			t.Errorf("the timeline has no %s entry", k)
		}
	}
	if res.Roles.Facilitator != "fran" || len(res.Roles.Responders) != 2 {
		t.Errorf("roles %+v", res.Roles)
	}
}

// syncBuffer is a bytes.Buffer safe to read while the CLI writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDrillTabletopInterrupted: an interrupt (the context main cancels on
// SIGINT) ends the exercise, writes what happened so far, marked
// interrupted, and exits 130.
func TestDrillTabletopInterrupted(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report")
	var stdout, stderr syncBuffer
	d := newDeps(&stdout, &stderr)
	in, typed := io.Pipe()
	defer typed.Close()
	d.stdin = in
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"drill", "tabletop", "quick", "--scenarios", writeQuick(t), "--report-dir", out, "--responder", "alice"}, d)
	}()
	if _, err := io.WriteString(typed, "act contained\n"); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(20 * time.Second); !strings.Contains(stdout.String(), "E2 met"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("E2 never met:\n%s", stdout.String())
		}
	}
	cancel()
	if c := <-code; c != exitInterrupted {
		t.Errorf("exit %d, want %d: %s", c, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stdout.String(), "result and reports written to") {
		t.Errorf("output does not say where the result went:\n%s", stdout.String())
	}
	res := readResult(t, filepath.Join(out, drill.ReportResultFile))
	if res.Aborted != "interrupted" || res.Points != 20 || res.Possible != 45 {
		t.Errorf("aborted %q, %d/%d; want interrupted, 20/45", res.Aborted, res.Points, res.Possible)
	}
}
