package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"firebreak/drill"
	"firebreak/internal/testenv"
)

// drillReportCLI runs `firebreak drill report ARGS` as the binary would.
// Until the drill command group holds report, it is added here under a
// bare "drill" group.
func drillReportCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	args = append([]string{"drill", "report"}, args...)
	var out, errb bytes.Buffer
	d := newDeps(&out, &errb)
	root, g := newRoot(d)
	if c, _, err := root.Find([]string{"drill", "report"}); err == nil && c.Name() == "report" {
		return runCLI(t, args...)
	}
	grp := &cobra.Command{Use: "drill", Short: "Rehearse the response"}
	grp.AddCommand(newDrillReportCommand(g, d))
	root.AddCommand(grp)
	addUsageToErrors(root)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := exitCode(err)
	if err != nil {
		printError(d.stderr, g.Output, code, err)
	}
	return cliResult{code, out.String(), errb.String()}
}

const drillHostile = "<script>alert('x')</script> \"q\" & \x1b]0;title\x07 \u202eevil"

// reportResult is a live drill with injects, actions, measures with
// targets and hostile text, as a drill writes it.
func reportResult(start time.Time, detect, contain drill.Millis) *drill.Result {
	at := func(ms drill.Millis) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	return &drill.Result{
		Version: 1, Scenario: "engine-socket", Title: "Engine socket abuse " + drillHostile, Kind: drill.KindLive,
		Techniques: []string{"T1610", "T1611"}, Started: start, Ended: at(150000),
		Roles: drill.Roles{Facilitator: "fran", Responders: []string{"alice " + drillHostile}},
		Timeline: []drill.Entry{
			{Time: start, Kind: "start", Text: "drill started", Source: "engine"},
			{Time: start, Kind: "inject", Ref: "I1", Text: "decoy " + drillHostile, Source: "engine"},
			{Time: at(detect), Offset: detect, Kind: "action", Who: "alice", Text: "triage", Source: "console"},
			{Time: at(60000), Offset: 60000, Kind: "inject", Ref: "I2", Text: "the SOC calls", Source: "facilitator"},
			{Time: at(contain), Offset: contain, Kind: "action", Who: "alice", Text: "contain", Source: "journal"},
			{Time: at(150000), Offset: 150000, Kind: "end", Text: "drill ended", Source: "engine"},
		},
		Scores: []drill.Score{
			{Inject: "I1", Expectation: "E1", Text: "contained " + drillHostile, Outcome: drill.OutcomeMet, Points: 10, Of: 10, At: at(contain)},
			{Inject: "I2", Expectation: "E2", Text: "answered", Outcome: drill.OutcomeMissed, Of: 5, Deadline: at(120000)},
		},
		Points: 10, Possible: 15,
		Measures: []drill.Measure{
			{Name: "detect", Took: detect, Target: 30000, Met: detect <= 30000, Source: "engine", Done: true},
			{Name: "contain", Took: contain, Target: 60000, Met: contain <= 60000, Source: "probe", Done: true},
			{Name: "evidence", Target: 120000, Source: "evidence"},
		},
		Checks:     []drill.Check{{Name: "isolated", OK: true, Detail: "peer unreachable " + drillHostile}},
		Objectives: []drill.ObjectiveRating{{ID: "O1", Text: "Contain fast", Rating: drill.RatingS}},
		Hotwash:    []drill.Hotwash{{Who: "alice", Strong: []string{"quick triage"}, Improve: []string{drillHostile}}},
		Plan:       []drill.Improvement{{Capability: "Containment", Action: "practise", Owner: "alice", Due: "2026-06-01"}},
		Case:       "case-1", Journal: "journal/run-1.jsonl",
	}
}

// writeResult writes r as a drill's result.json into a new directory.
func writeResult(t *testing.T, r *drill.Result) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "drill-report")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, drill.ReportResultFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

var drillT0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func TestDrillReportRewritesReports(t *testing.T) {
	dir := writeResult(t, reportResult(drillT0, 12300, 45000))
	r := drillReportCLI(t, dir)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, f := range []string{drill.ReportResultFile, drill.ReportMarkdownFile, drill.ReportHTMLFile, drill.ReportNavigatorFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
		if !strings.Contains(r.stdout, "  "+f+"\n") {
			t.Errorf("stdout does not list %s:\n%s", f, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "reports of drill engine-socket (2026-03-14 09:30:00 +00:00) written to "+dir) {
		t.Errorf("stdout: %s", r.stdout)
	}
	// The result.json path works too, and JSON says where the files are.
	r = drillReportCLI(t, "-o", "json", filepath.Join(dir, drill.ReportResultFile))
	var line struct {
		Type, Scenario, Dir string
		Files               []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &line); err != nil || r.code != exitOK {
		t.Fatalf("exit %d, %v: %s %s", r.code, err, r.stdout, r.stderr)
	}
	if line.Type != "report" || line.Dir != dir || len(line.Files) != 4 {
		t.Errorf("json line %+v", line)
	}
}

func TestDrillReportBadInput(t *testing.T) {
	dir := writeResult(t, reportResult(drillT0, 12300, 45000))
	other := filepath.Join(dir, "other.json")
	os.WriteFile(other, []byte("{}"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "accepts between 1 and 2 arg(s)"},
		{[]string{dir, dir}, "give one report directory"},
		{[]string{"--compare", dir}, "--compare takes two drills"},
		{[]string{filepath.Join(dir, "missing")}, "does not exist: give a report directory"},
		{[]string{other}, "give a report directory or its result.json"},
		{[]string{"--compare", dir, other}, "is not a drill result"},
	} {
		r := drillReportCLI(t, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, r.code, r.stderr, exitUsage, c.want)
		}
	}
}

func TestDrillReportCompare(t *testing.T) {
	march := writeResult(t, reportResult(drillT0, 20000, 75000))
	april := reportResult(drillT0.AddDate(0, 1, 0), 12000, 45000)
	april.Points = 15
	aprilDir := writeResult(t, april)

	r := drillReportCLI(t, "--compare", march, filepath.Join(aprilDir, drill.ReportResultFile))
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{`detect +0:20.0 +0:12.0 +0:08.0 faster`, `contain +1:15.0 +0:45.0 +0:30.0 faster +1:00.0 missed +1:00.0 met`,
		`evidence +not reached +not reached +neither`, `score +10/15 \(67%\) +15/15 \(100%\) +better`,
		`B was faster on 2 of 3 measures and slower on none; the score was better \(67% -> 100%\)\.`} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.ContainsAny(r.stdout, "\x1b\x07\u202e") {
		t.Errorf("stdout holds raw terminal controls: %q", r.stdout)
	}

	// Reversed, the team got slower; in JSON.
	r = drillReportCLI(t, "--compare", "-o", "json", aprilDir, march)
	var c struct {
		Type     string
		Speed    string
		Score    struct{ Verdict string }
		Measures []struct {
			Name, Verdict string
			Change        int64 `json:"change_ms"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || r.code != exitOK {
		t.Fatalf("exit %d, %v: %s %s", r.code, err, r.stdout, r.stderr)
	}
	if c.Type != "comparison" || c.Speed != drill.SpeedSlower || c.Score.Verdict != drill.ScoreWorse || len(c.Measures) != 3 ||
		c.Measures[0].Verdict != drill.ChangeSlower || c.Measures[0].Change != 8000 || c.Measures[1].Change != 30000 {
		t.Errorf("comparison %+v", c)
	}
}

// The chart's inject colour, #d9480f, which nothing else on the page uses.
var injectRGB = color.RGBA{0xd9, 0x48, 0x0f, 0xff}

// nearColour says c is within tol of want in each channel.
func nearColour(c color.Color, want color.RGBA, tol int) bool {
	r, g, b, _ := c.RGBA()
	d := func(x uint32, y uint8) bool { v := int(x>>8) - int(y); return v >= -tol && v <= tol }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

// chartDrawn finds the timeline chart in a screenshot: enough pixels in
// the inject colour, spread across the page's width as injects at
// different offsets are, with the chart's other colours in the same band
// of rows (targets, actions, met marks). It says what it missed.
func chartDrawn(img image.Image) (bool, string) {
	b := img.Bounds()
	minX, minY, maxX, maxY, n := b.Max.X, b.Max.Y, b.Min.X, b.Min.Y, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if nearColour(img.At(x, y), injectRGB, 10) {
				n++
				minX, maxX, minY, maxY = min(minX, x), max(maxX, x), min(minY, y), max(maxY, y)
			}
		}
	}
	if n < 300 {
		return false, "too few pixels in the inject colour: " + strconv.Itoa(n)
	}
	if maxX-minX < 250 {
		return false, "the inject marks are not spread along the time axis: " + strconv.Itoa(maxX-minX) + "px"
	}
	// The band from above the first lane down to the legend holds the rest.
	top := max(b.Min.Y, minY-60)
	for _, c := range []struct {
		name string
		rgb  color.RGBA
	}{{"target", color.RGBA{0x86, 0x2e, 0x9c, 0xff}}, {"action", color.RGBA{0x19, 0x71, 0xc2, 0xff}}, {"met", color.RGBA{0x2f, 0x9e, 0x44, 0xff}}} {
		found := 0
		for y := top; y <= maxY; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if nearColour(img.At(x, y), c.rgb, 10) {
					found++
				}
			}
		}
		if found < 20 {
			return false, "no " + c.name + " marks in the chart's band (" + strconv.Itoa(found) + " pixels)"
		}
	}
	return true, ""
}

func TestChartDrawnRejectsBlankPage(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 1280, 2000))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	if ok, _ := chartDrawn(img); ok {
		t.Fatal("a blank page passed as a drawn chart")
	}
}

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.SkipOrFail(t, "chromium is not installed (Debian package chromium)")
	return ""
}

// runChromium runs headless Chromium on url with args; it returns stdout and
// the page's console lines (errors, refused script or fetches) from its log.
func runChromium(t *testing.T, bin, url string, args ...string) (string, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + t.TempDir(),
		"--no-first-run", "--disable-extensions", "--enable-logging=stderr", "--v=0"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, url)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	var console []string
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") || strings.Contains(l, "Uncaught") {
			console = append(console, l)
		}
	}
	return out.String(), console
}

func TestDrillReportHTMLInChromium(t *testing.T) {
	bin := findChromium(t)
	dir := writeResult(t, reportResult(drillT0, 12300, 45000))
	if r := drillReportCLI(t, dir); r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	page := "file://" + filepath.Join(dir, drill.ReportHTMLFile)

	// The page as the browser built it: the chart is there, the hostile
	// text is text, and nothing was logged (no error, no refused script
	// or fetch).
	dom, console := runChromium(t, bin, page, "--dump-dom")
	if len(console) > 0 {
		t.Errorf("the page logged to the console:\n%s", strings.Join(console, "\n"))
	}
	for _, want := range []string{`<svg id="timeline-chart"`, `<g class="mark inject">`, `<g class="target">`, "&lt;script&gt;alert('x')&lt;/script&gt;", `id="plan"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered DOM lacks %q", want)
		}
	}
	if n := strings.Count(dom, `<g class="mark inject">`); n != 2 {
		t.Errorf("%d inject marks in the DOM, want 2", n)
	}
	if strings.Contains(strings.ToLower(dom), "<script") {
		t.Error("the rendered DOM holds a script element")
	}

	// What the team sees: the screenshot shows the chart.
	shot := filepath.Join(t.TempDir(), "report.png")
	runChromium(t, bin, page, "--screenshot="+shot, "--window-size=1280,2000", "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := chartDrawn(img); !ok {
		t.Errorf("the screenshot %s does not show the timeline chart: %s", shot, why)
	}

	// The console check can fail: a page that runs a script and fetches
	// under the same policy is logged.
	bad := filepath.Join(t.TempDir(), "bad.html")
	os.WriteFile(bad, []byte(`<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head>`+
		`<body><script>document.title="ran"</script><img src="http://127.0.0.1:9/x.png"></body></html>`), 0o600)
	if _, console := runChromium(t, bin, "file://"+bad, "--dump-dom"); len(console) == 0 {
		t.Error("a page with a refused script logged nothing: the console check cannot see errors")
	}
}
