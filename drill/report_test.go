package drill

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// hostile is foreign text as a scenario, a participant or a container
// could give it: markup, quotes of both kinds, a terminal escape, a bidi
// override, a NUL, a byte that is not UTF-8, a Markdown table breaker.
const hostile = "<script>alert(1)</script> \"dq\" 'sq' & | pipe \x1b[31mred\x00 \u202eevil \xff"

var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ms(d time.Duration) Millis { return Millis(d / time.Millisecond) }

// tabletopResult is a tabletop drill with injects, decisions, scores met,
// missed and pending, ratings, a hotwash and a plan, and hostile text in
// every kind of field.
func tabletopResult() *Result {
	entry := func(d time.Duration, kind, who, ref, text, source string) Entry {
		return Entry{Time: at(d), Offset: ms(d), Kind: kind, Who: who, Ref: ref, Text: text, Source: source}
	}
	return &Result{
		Version:    1,
		Scenario:   "cluster-breach",
		Title:      "Breach " + hostile,
		Kind:       KindTabletop,
		Techniques: []string{"T1610", "T1611", `T1611" onload="x`},
		Started:    t0,
		Ended:      at(5*time.Minute + 12*time.Second),
		Roles:      Roles{Facilitator: "fran", Responders: []string{"alice", "bob " + hostile}, Observers: []string{"olga"}},
		Timeline: []Entry{
			entry(0, "start", "fran", "", "drill started", "console"),
			entry(0, "inject", "fran", "I1", "Falco reports a shell in web-1 "+hostile, "console"),
			entry(45*time.Second, "decision", "alice", "I1", "Contain web-1 with escape-suspected", "console"),
			entry(45*time.Second, "expectation", "", "E1", "met: contain the suspect", "console"),
			entry(90*time.Second, "inject", "fran", "I2", "The SOC asks: is customer data involved?", "console"),
			entry(2*time.Minute, "note", "fran", "", "team split | roles\nsecond line", "facilitator"),
			entry(3*time.Minute+500*time.Millisecond, "inject", "fran", "I3", "Reserve: the press calls", "facilitator"),
			entry(5*time.Minute+12*time.Second, "end", "fran", "", "drill ended", "console"),
		},
		Scores: []Score{
			{Inject: "I1", Expectation: "E1", Text: "Contain the suspect", Outcome: OutcomeMet, Points: 10, Of: 10, At: at(45 * time.Second), Deadline: at(2 * time.Minute), Who: "alice"},
			{Inject: "I2", Expectation: "E2", Text: "Answer within a minute " + hostile, Outcome: OutcomeMissed, Points: 0, Of: 5, Deadline: at(150 * time.Second)},
			{Inject: "I3", Expectation: "E3", Text: "Name a spokesperson", Outcome: OutcomePending, Points: 0, Of: 5},
		},
		Points:   10,
		Possible: 20,
		Objectives: []ObjectiveRating{
			{ID: "O1", Text: "Contain within two minutes", Rating: RatingP},
			{ID: "O2", Text: "Brief the SOC", Rating: RatingM, Note: "no one owned it " + hostile},
			{ID: "O3", Text: "Talk to the press"},
		},
		Hotwash: []Hotwash{
			{Who: "alice", Strong: []string{"playbook known by heart"}, Improve: []string{"# not a heading", "1. not a list"}},
			{Who: "bob " + hostile, Improve: []string{"we need " + hostile}},
		},
		Plan: []Improvement{
			{Capability: "Communications", Action: "Name an owner for SOC briefings", Owner: "fran", Due: "2026-04-01"},
			{Capability: "Containment " + hostile, Action: "Drill escape-suspected monthly", Owner: "alice", Due: "2026-05-01"},
		},
	}
}

// liveResult is a live drill with measures (met, missed, without target,
// never reached), outcome checks, an evidence case and a journal.
func liveResult() *Result {
	return &Result{
		Version:    1,
		Scenario:   "engine-socket",
		Title:      "Engine socket abuse",
		Kind:       KindLive,
		Techniques: []string{"T1610", "T1611"},
		Started:    t0,
		Ended:      at(3 * time.Minute),
		Roles:      Roles{Facilitator: "fran", Responders: []string{"playbook"}},
		Timeline: []Entry{
			{Time: t0, Kind: "start", Text: "drill started", Source: "engine"},
			{Time: t0, Kind: "inject", Ref: "I1", Text: "decoy started", Source: "engine"},
			{Time: at(12300 * time.Millisecond), Offset: 12300, Kind: "measure", Text: "detected", Source: "engine"},
			{Time: at(20 * time.Second), Offset: 20000, Kind: "action", Who: "playbook", Text: "contain " + hostile, Source: "journal"},
			{Time: at(75 * time.Second), Offset: 75000, Kind: "measure", Text: "contained", Source: "probe"},
			{Time: at(3 * time.Minute), Offset: 180000, Kind: "end", Text: "drill ended", Source: "engine"},
		},
		Scores: []Score{
			{Inject: "I1", Expectation: "E1", Text: "contained", Outcome: OutcomeMet, Points: 10, Of: 10, At: at(75 * time.Second)},
			{Inject: "I1", Expectation: "E2", Text: "restored", Outcome: OutcomeMissed, Points: 0, Of: 10, Deadline: at(150 * time.Second)},
		},
		Points:   10,
		Possible: 20,
		Measures: []Measure{
			{Name: "detect", Took: 12300, Target: 30000, Met: true, Source: "engine", Done: true},
			{Name: "contain", Took: 75000, Target: 60000, Met: false, Source: "probe", Done: true},
			{Name: "evidence", Took: 110000, Source: "evidence", Done: true},
			{Name: "restore", Target: 120000, Source: "probe"},
		},
		Checks: []Check{
			{Name: "isolated", OK: true, Detail: "the decoy cannot reach its peer"},
			{Name: "artifact:file", OK: true, Detail: "planted file in the fs diff"},
			{Name: "restored", OK: false, Detail: "service did not answer " + hostile},
		},
		Objectives: []ObjectiveRating{{ID: "O1", Text: "Contain in a minute", Rating: RatingS}},
		Case:       "case-20260314-093000-engine-socket",
		Journal:    "/var/lib/firebreak/journal/run-42.jsonl",
		Findings:   []string{"engine socket mounted in drill-engine-socket"},
	}
}

func writeReports(t *testing.T, r *Result) (string, map[string]string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "report")
	paths, err := WriteReports(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ReportResultFile, ReportMarkdownFile, ReportHTMLFile, ReportNavigatorFile}
	if len(paths) != len(want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	files := map[string]string{}
	for i, p := range paths {
		if p != filepath.Join(dir, want[i]) {
			t.Errorf("path %d = %s, want %s", i, p, want[i])
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[want[i]] = string(b)
	}
	return dir, files
}

func TestWriteReportsResultRoundTrips(t *testing.T) {
	for _, r := range []*Result{tabletopResult(), liveResult()} {
		dir, files := writeReports(t, r)
		for _, p := range []string{dir, filepath.Join(dir, ReportResultFile)} {
			got, err := LoadResult(p)
			if err != nil {
				t.Fatal(err)
			}
			// Compared as JSON: a time read back may carry another
			// *Location for UTC, and JSON holds a byte that is not UTF-8
			// as U+FFFD.
			gj, _ := json.Marshal(got)
			rj, _ := json.Marshal(r)
			rj = bytes.ReplaceAll(rj, []byte(`\ufffd`), []byte("\ufffd"))
			if !bytes.Equal(gj, rj) || !got.Started.Equal(r.Started) {
				t.Errorf("LoadResult(%s) differs from the result written:\n%s\n%s", p, gj, rj)
			}
		}
		if !strings.Contains(files[ReportResultFile], "\n  \"scenario\": ") {
			t.Errorf("result.json is not indented:\n%.200s", files[ReportResultFile])
		}
		// The same result gives the same files.
		again, err := WriteReports(dir, r)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range again {
			b, _ := os.ReadFile(p)
			if string(b) != files[filepath.Base(p)] {
				t.Errorf("%s changed when written again", filepath.Base(p))
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 4 {
			t.Errorf("report dir holds %d files, want 4 (no temporary files left)", len(ents))
		}
	}
}

func TestWriteReportsFailureLeavesNothing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteReports(filepath.Join(file, "report"), liveResult()); err == nil {
		t.Fatal("writing under a file succeeded")
	}
	if _, err := WriteReports(t.TempDir(), nil); err == nil {
		t.Fatal("writing a nil result succeeded")
	}
}

func TestLoadResultErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`{"points": 3}`), 0o600)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "nowhere"), "does not exist: give a report directory"},
		{dir, "result.json does not exist"},
		{bad, "is not a drill result"},
		{empty, "names no scenario"},
	} {
		_, err := LoadResult(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadResult(%s) = %v, want an error with %q", c.path, err, c.want)
		}
	}
}

// section is the Markdown from heading to the next "## ".
func section(t *testing.T, md, heading string) string {
	t.Helper()
	i := strings.Index(md, "\n## "+heading+"\n")
	if i < 0 {
		t.Fatalf("no section %q in:\n%s", heading, md)
	}
	rest := md[i+len(heading)+5:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// unescapedPipes counts the | of a Markdown line that are column breaks.
func unescapedPipes(line string) int {
	return len(regexp.MustCompile(`(^|[^\\])\|`).FindAllString(strings.ReplaceAll(line, `\\`, ""), -1))
}

func TestMarkdownReportTabletop(t *testing.T) {
	_, files := writeReports(t, tabletopResult())
	md := files[ReportMarkdownFile]
	if !strings.HasPrefix(md, "# After-action report: Breach &lt;script&gt;") {
		t.Errorf("title line: %.80q", md)
	}
	for _, want := range []string{
		"| Scenario | cluster-breach |", "| Kind | tabletop |", "| Started | 2026-03-14 09:30:00.0 +00:00 |",
		"| Duration | 5:12.0 |", "| Score | 10 of 20 points (50%) |", "| Techniques | T1610, T1611, T1611\" onload=\"x |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("header lacks %q", want)
		}
	}
	for heading, rows := range map[string][]string{
		"Participants": {"| facilitator | fran |", "| responder | alice |", "| observer | olga |"},
		"Timeline": {"| 0:45.0 | decision | alice | I1 | Contain web-1 with escape-suspected | console |",
			"| 2:00.0 | note | fran |  | team split \\| roles<br>second line | facilitator |",
			"| 3:00.5 | inject | fran | I3 | Reserve: the press calls | facilitator |"},
		"Scores against expectations": {"| I1 | E1 | Contain the suspect | met | 10 of 10 | 0:45.0 | alice |",
			"| missed | 0 of 5 | deadline 2:30.0 |", "| I3 | E3 | Name a spokesperson | pending | 0 of 5 | - |",
			"**Total: 10 of 20 points (50%)**"},
		"Objective ratings": {"| O1 | Contain within two minutes | P: performed without challenges |  |",
			"| O2 | Brief the SOC | M: performed with major challenges | no one owned it",
			"| O3 | Talk to the press | not rated |"},
		"Hotwash": {"### alice", "Went well:\n\n- playbook known by heart", "To improve:\n\n- \\# not a heading\n- 1\\. not a list"},
		"Improvement plan": {"| Capability | Corrective action | Owner | Due |",
			"| Communications | Name an owner for SOC briefings | fran | 2026-04-01 |"},
		"Measures against targets": {"None recorded."},
		"Outcome checks":           {"None recorded."},
		"Evidence and journal":     {"- Evidence case: -\n", "- Playbook journal: -\n"},
	} {
		sec := section(t, md, heading)
		for _, row := range rows {
			if !strings.Contains(sec, row) {
				t.Errorf("section %s lacks %q:\n%s", heading, row, sec)
			}
		}
	}
	// Every row of a table has as many columns as its head: hostile pipes
	// and line breaks did not break it.
	for _, heading := range []string{"Participants", "Timeline", "Scores against expectations", "Objective ratings", "Improvement plan"} {
		lines := strings.Split(strings.TrimSpace(section(t, md, heading)), "\n")
		cols := unescapedPipes(lines[0])
		for _, l := range lines {
			if strings.HasPrefix(l, "|") && unescapedPipes(l) != cols {
				t.Errorf("%s: row has %d column breaks, head %d: %q", heading, unescapedPipes(l), cols, l)
			}
		}
	}
	for _, bad := range []string{"<script", "\x1b", "\x00", "\u202e", "\xff"} {
		if strings.Contains(md, bad) {
			t.Errorf("report.md holds %q raw", bad)
		}
	}
	for _, want := range []string{`&lt;script&gt;alert(1)&lt;/script&gt; "dq" 'sq' &amp; \| pipe`, `\\x1b\[31mred\\x00`, `\\u202eevil \\xff`} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks the escaped %q", want)
		}
	}
}

func TestMarkdownReportLive(t *testing.T) {
	_, files := writeReports(t, liveResult())
	md := files[ReportMarkdownFile]
	for heading, rows := range map[string][]string{
		"Measures against targets": {"| detect | 0:12.3 | 0:30.0 | met | engine |", "| contain | 1:15.0 | 1:00.0 | missed | probe |",
			"| evidence | 1:50.0 | none | - | evidence |", "| restore | not reached | 2:00.0 | missed | probe |"},
		"Outcome checks": {"| isolated | pass | the decoy cannot reach its peer |", "| restored | FAIL | service did not answer &lt;script&gt;"},
		"Evidence and journal": {"- Evidence case: case-20260314-093000-engine-socket",
			"- Playbook journal: /var/lib/firebreak/journal/run-42.jsonl", "- Finding: engine socket mounted"},
		"Objective ratings": {"| O1 | Contain in a minute | S: performed with some challenges |"},
		"Hotwash":           {"None recorded."},
		"Improvement plan":  {"None recorded."},
	} {
		sec := section(t, md, heading)
		for _, row := range rows {
			if !strings.Contains(sec, row) {
				t.Errorf("section %s lacks %q:\n%s", heading, row, sec)
			}
		}
	}
}

func TestHTMLReportEscapesAndIsSelfContained(t *testing.T) {
	_, files := writeReports(t, tabletopResult())
	page := files[ReportHTMLFile]
	lower := strings.ToLower(page)
	if strings.Contains(lower, "<script") {
		t.Errorf("report.html holds a <script element")
	}
	for _, bad := range []string{"\x1b", "\x00", "\u202e", "\xff", `"dq"`, `onload="x`} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html holds %q raw", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;dq&#34; &#39;sq&#39; &amp; | pipe", `\x1b[31mred\x00`, `\u202eevil \xff`} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks the escaped %q", want)
		}
	}
	// One file: nothing fetched, nothing run.
	for _, bad := range []string{"src=", "<link", "url(", "@import", "<iframe", "<object", "javascript:"} {
		if strings.Contains(lower, bad) {
			t.Errorf("report.html holds %q", bad)
		}
	}
	if !strings.Contains(page, `http-equiv="Content-Security-Policy" content="default-src 'none';`) {
		t.Error("report.html has no content security policy")
	}
	// Links only to ATT&CK, and only for well-formed IDs.
	hrefs := regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(hrefs) != 2 {
		t.Errorf("links %v, want the two well-formed techniques", hrefs)
	}
	for _, h := range hrefs {
		if !strings.HasPrefix(h[1], "https://attack.mitre.org/techniques/T161") {
			t.Errorf("link %q", h[1])
		}
	}
	for _, id := range []string{`id="header"`, `id="participants"`, `id="timeline"`, `id="scores"`, `id="measures"`, `id="checks"`, `id="objectives"`, `id="hotwash"`, `id="plan"`, `id="evidence"`} {
		if !strings.Contains(page, id) {
			t.Errorf("report.html lacks the section %s", id)
		}
	}
	for _, want := range []string{"M: performed with major challenges", "Total: 10 of 20 points (50%)",
		"<td>Communications</td><td>Name an owner for SOC briefings</td><td>fran</td><td>2026-04-01</td>", "<h3>alice</h3>"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestHTMLTimelineChart(t *testing.T) {
	_, files := writeReports(t, liveResult())
	page := files[ReportHTMLFile]
	i, j := strings.Index(page, `<svg id="timeline-chart"`), strings.Index(page, "</svg>")
	if i < 0 || j < i {
		t.Fatal("no timeline chart")
	}
	svg := page[i:j]
	// One inject in the chart and one in its legend.
	if n := strings.Count(svg, `fill="`+ChartInjectColour+`"`); n != 2 {
		t.Errorf("%d marks in the inject colour, want 2", n)
	}
	// Two measures with a target: a dashed line each (restore was never
	// reached but has a target too: three lines).
	if n := strings.Count(svg, `<g class="target">`); n != 3 {
		t.Errorf("%d target lines, want 3", n)
	}
	for _, want := range []string{"contain target 1:00.0", "time to contain: 1:15.0 (target 1:00.0)", `<g class="mark measure">`, `<g class="mark action">`, `<g class="mark met">`, `<g class="mark missed">`, ">3:00.0<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	// Marks lie on the plot, in time order along x.
	xs := regexp.MustCompile(`<g class="mark inject"><title>[^<]*</title><rect x="([0-9.]+)"`).FindAllStringSubmatch(svg, -1)
	if len(xs) != 1 || xs[0][1] != "125.0" {
		t.Errorf("inject mark at %v, want x=125.0 (the plot's left edge less half its width)", xs)
	}
}

func TestNavigatorLayer(t *testing.T) {
	check := func(t *testing.T, r *Result) map[string]any {
		_, files := writeReports(t, r)
		var layer map[string]any
		if err := json.Unmarshal([]byte(files[ReportNavigatorFile]), &layer); err != nil {
			t.Fatal(err)
		}
		if layer["domain"] != "enterprise-attack" {
			t.Errorf("domain %v", layer["domain"])
		}
		name, _ := layer["name"].(string)
		if !strings.Contains(name, r.Scenario) {
			t.Errorf("name %q", name)
		}
		v, _ := layer["versions"].(map[string]any)
		nav, _ := v["navigator"].(string)
		if v["layer"] != "4.5" || v["attack"] == "" || !regexp.MustCompile(`^(4\.9|[5-9])\.`).MatchString(nav) {
			t.Errorf("versions %v: want layer 4.5, navigator at least 4.9.0, an attack version", v)
		}
		if d, _ := layer["description"].(string); d == "" {
			t.Error("no description")
		}
		g, _ := layer["gradient"].(map[string]any)
		if cs, _ := g["colors"].([]any); len(cs) < 2 || g["minValue"].(float64) >= g["maxValue"].(float64) {
			t.Errorf("gradient %v", g)
		}
		for _, it := range layer["legendItems"].([]any) {
			li := it.(map[string]any)
			if li["label"] == "" || !regexp.MustCompile(`^#[0-9a-f]{6}$`).MatchString(li["color"].(string)) {
				t.Errorf("legend item %v", li)
			}
		}
		var ids []string
		for _, it := range layer["techniques"].([]any) {
			tq := it.(map[string]any)
			ids = append(ids, tq["techniqueID"].(string))
			if c, _ := tq["comment"].(string); !strings.Contains(c, r.Scenario) {
				t.Errorf("comment %q does not name the drill", c)
			}
		}
		if !slices.Equal(ids, []string{"T1610", "T1611"}) {
			t.Errorf("techniqueIDs %v, want the two well-formed ones", ids)
		}
		return layer
	}
	t.Run("scored", func(t *testing.T) {
		layer := check(t, tabletopResult())
		for _, it := range layer["techniques"].([]any) {
			if s := it.(map[string]any)["score"]; s != 50.0 {
				t.Errorf("score %v, want 50 (10 of 20 points)", s)
			}
		}
	})
	t.Run("checks", func(t *testing.T) {
		r := liveResult()
		r.Possible, r.Points, r.Scores = 0, 0, nil
		for _, it := range check(t, r)["techniques"].([]any) {
			if s := it.(map[string]any)["score"]; s != 67.0 {
				t.Errorf("score %v, want 67 (2 of 3 checks)", s)
			}
		}
	})
	t.Run("exercised", func(t *testing.T) {
		r := liveResult()
		r.Possible, r.Points, r.Scores, r.Checks = 0, 0, nil, nil
		for _, it := range check(t, r)["techniques"].([]any) {
			tq := it.(map[string]any)
			if _, scored := tq["score"]; scored || tq["color"] != navExercised {
				t.Errorf("technique %v: want no score and the exercised colour", tq)
			}
		}
	})
}

func TestClock(t *testing.T) {
	for _, c := range []struct {
		m    Millis
		want string
	}{{0, "0:00.0"}, {12349, "0:12.3"}, {12350, "0:12.4"}, {75000, "1:15.0"}, {3600000 + 61000, "1:01:01.0"}, {-1500, "-0:01.5"}} {
		if got := clock(c.m); got != c.want {
			t.Errorf("clock(%d) = %s, want %s", c.m, got, c.want)
		}
	}
}

func TestVisible(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ttext\n": "plain\ttext\n",
		"a\x1b[2Jb":     `a\x1b[2Jb`,
		"\u202eabc":     `\u202eabc`,
		"\xffok\x9b":    `\xffok\x9b`,
		"\u0085":        `\u0085`,
	} {
		if got := visible(in); got != want {
			t.Errorf("visible(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompare(t *testing.T) {
	a := liveResult()
	b := liveResult()
	b.Started = a.Started.Add(30 * 24 * time.Hour)
	b.Measures = []Measure{
		{Name: "detect", Took: 8000, Target: 30000, Met: true, Done: true},     // 4.3 s faster
		{Name: "contain", Took: 90000, Target: 60000, Done: true},              // 15 s slower
		{Name: "evidence", Took: 110050, Done: true},                           // the same within 100 ms
		{Name: "restore", Took: 100000, Target: 120000, Met: true, Done: true}, // reached now
	}
	b.Points = 20
	c := Compare(a, b)
	want := map[string]string{"detect": ChangeFaster, "contain": ChangeSlower, "evidence": ChangeSame, "restore": ChangeNowDone}
	if len(c.Measures) != 4 {
		t.Fatalf("measures %+v", c.Measures)
	}
	for _, m := range c.Measures {
		if m.Verdict != want[m.Name] {
			t.Errorf("%s: %s, want %s", m.Name, m.Verdict, want[m.Name])
		}
	}
	if c.Measures[0].Change != -4300 || c.Measures[1].Change != 15000 {
		t.Errorf("changes %d, %d; want -4300, 15000", c.Measures[0].Change, c.Measures[1].Change)
	}
	if c.Speed != SpeedMixed || c.Score.Verdict != ScoreBetter || c.Score.APercent != 50 || c.Score.BPercent != 100 {
		t.Errorf("speed %s, score %+v", c.Speed, c.Score)
	}
	text := c.Text()
	for _, line := range []string{`detect +0:12.3 +0:08.0 +0:04.3 faster +0:30.0 met +0:30.0 met`, `contain +1:15.0 +1:30.0 +0:15.0 slower +1:00.0 missed +1:00.0 missed`,
		`evidence +1:50.0 +1:50.1 +same`, `restore +not reached +1:40.0 +now reached +2:00.0 missed +2:00.0 met`,
		`score +10/20 \(50%\) +20/20 \(100%\) +better \(\+50 points of 100\)`,
		`B was faster on 2 and slower on 1 of 4 measures; the score was better \(50% -> 100%\)\.`} {
		if !regexp.MustCompile(line).MatchString(text) {
			t.Errorf("text lacks %q:\n%s", line, text)
		}
	}

	// The other way round: slower everywhere, and worse.
	c = Compare(b, a)
	if c.Speed != SpeedMixed || c.Score.Verdict != ScoreWorse {
		t.Errorf("reversed: speed %s, score %s", c.Speed, c.Score.Verdict)
	}
	if !strings.Contains(c.Text(), "B started before A") {
		t.Error("no note that B started first")
	}
	b.Measures = b.Measures[:1]
	a.Measures = a.Measures[:2]
	c = Compare(a, b)
	if c.Speed != SpeedFaster || c.Measures[1].Verdict != ChangeNotMatched {
		t.Errorf("detect faster, contain in A only: speed %s, %+v", c.Speed, c.Measures)
	}
	c = Compare(b, a)
	if c.Speed != SpeedSlower || !strings.Contains(c.Summary(), "B was slower on 1 of 1 measures") {
		t.Errorf("detect slower: speed %s, %s", c.Speed, c.Summary())
	}
}

func TestCompareTabletops(t *testing.T) {
	a, b := tabletopResult(), tabletopResult()
	b.Scenario = "other"
	c := Compare(a, b)
	if c.Speed != SpeedNoMeasures || c.Score.Verdict != ScoreSame || len(c.Measures) != 0 {
		t.Errorf("%+v", c)
	}
	text := c.Text()
	if !strings.Contains(text, "different scenarios") || !strings.Contains(text, "the score was the same (50%)") {
		t.Errorf("text:\n%s", text)
	}
	if strings.ContainsAny(text, "\x1b\x00\u202e") {
		t.Errorf("text holds raw controls: %q", text)
	}
	b.Possible = 0
	if c := Compare(a, b); c.Score.Verdict != ScoreNotScored {
		t.Errorf("score %s, want not scored", c.Score.Verdict)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(c); err != nil || !strings.Contains(buf.String(), `"measures":[]`) {
		t.Errorf("json %s %v", buf.String(), err)
	}
}
