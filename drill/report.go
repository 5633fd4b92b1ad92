package drill

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The files of a report directory. WriteReports writes all four; a drill
// prints the directory.
const (
	ReportResultFile    = "result.json"    // the Result, the input of every other file
	ReportMarkdownFile  = "report.md"      // the after-action report in Markdown
	ReportHTMLFile      = "report.html"    // the same as one self-contained page
	ReportNavigatorFile = "navigator.json" // an ATT&CK Navigator layer of the techniques
)

// WriteReports writes the after-action report of r into dir (made if
// missing): result.json, report.md, report.html and navigator.json, and
// returns their paths in that order. Every file is rendered before any is
// written, and each is written whole (a temporary file renamed into
// place), so a failure leaves no half-written report behind. Writing the
// same Result again gives the same files.
func WriteReports(dir string, r *Result) ([]string, error) {
	if r == nil {
		return nil, errors.New("writing drill reports: no result")
	}
	res, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", ReportResultFile, err)
	}
	html, err := renderHTML(r)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", ReportHTMLFile, err)
	}
	nav, err := json.MarshalIndent(navigatorLayer(r), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", ReportNavigatorFile, err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{ReportResultFile, append(res, '\n')},
		{ReportMarkdownFile, renderMarkdown(r)},
		{ReportHTMLFile, html},
		{ReportNavigatorFile, append(nav, '\n')},
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("making the report directory: %w", err)
	}
	var paths []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeWhole(p, f.data); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// writeWhole writes data to path through a temporary file in the same
// directory, so that path holds the old content or the new, never a part.
func writeWhole(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o640)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// LoadResult reads a drill's result: path is a result.json or a report
// directory holding one.
func LoadResult(path string) (*Result, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, ReportResultFile)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading a drill result: %s does not exist: give a report directory a drill wrote, or its %s", path, ReportResultFile)
	}
	if err != nil {
		return nil, fmt.Errorf("reading a drill result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is not a drill result (%s of a report directory): %w", path, ReportResultFile, err)
	}
	if r.Scenario == "" || r.Started.IsZero() {
		return nil, fmt.Errorf("%s is not a drill result: it names no scenario or start time", path)
	}
	return &r, nil
}

// --- shared by the Markdown and HTML reports ---

// visible makes foreign text (scenario text, names, notes) safe to show
// anywhere: control characters other than line feed and tab, the
// bidirectional formatting marks, and bytes that are not UTF-8 become
// visible escapes (\x1b, \u202e, \xff) instead of acting on what shows them.
func visible(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, invisible) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case invisible(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func invisible(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// oneLine is visible text on a single line (a table cell, a chart label).
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(visible(s), "\t", " ")), " ")
}

// clock formats a drill offset as m:ss.d (h:mm:ss.d from an hour), at the
// 100 ms resolution drills are measured at.
func clock(m Millis) string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	tenths := (int64(m) + 50) / 100
	h, rest := tenths/36000, tenths%36000
	if h > 0 {
		return fmt.Sprintf("%s%d:%02d:%02d.%d", sign, h, rest/600, rest%600/10, rest%10)
	}
	return fmt.Sprintf("%s%d:%02d.%d", sign, rest/600, rest%600/10, rest%10)
}

// offsetOf is t as an offset from the drill's start (0 for a zero time).
func offsetOf(r *Result, t time.Time) Millis {
	if t.IsZero() || r.Started.IsZero() {
		return 0
	}
	return Millis(t.Sub(r.Started) / time.Millisecond)
}

// duration is how long the drill ran: start to end, or to its last entry
// when it has no end.
func duration(r *Result) Millis {
	var d Millis
	if !r.Ended.IsZero() {
		d = offsetOf(r, r.Ended)
	}
	for _, e := range r.Timeline {
		d = max(d, e.Offset)
	}
	return d
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04:05.0 -07:00")
}

// role is one line of the participants list.
type role struct{ Role, Who string }

// participants lists who took part by role, then anyone else the timeline
// or the hotwash names.
func participants(r *Result) []role {
	var out []role
	seen := map[string]bool{}
	add := func(rl, who string) {
		if who == "" || seen[rl+"\x00"+who] {
			return
		}
		seen[rl+"\x00"+who] = true
		seen[who] = true
		out = append(out, role{rl, who})
	}
	add("facilitator", r.Roles.Facilitator)
	for _, w := range r.Roles.Responders {
		add("responder", w)
	}
	for _, w := range r.Roles.Observers {
		add("observer", w)
	}
	for _, e := range r.Timeline {
		if !seen[e.Who] {
			add("participant", e.Who)
		}
	}
	for _, h := range r.Hotwash {
		if !seen[h.Who] {
			add("participant", h.Who)
		}
	}
	return out
}

func percent(points, of int) int {
	if of <= 0 {
		return 0
	}
	return (points*100 + of/2) / of
}

// total words the score: "25 of 40 points (63%)".
func total(r *Result) string {
	if r.Possible == 0 {
		return fmt.Sprintf("%d points (no expectations scored)", r.Points)
	}
	return fmt.Sprintf("%d of %d points (%d%%)", r.Points, r.Possible, percent(r.Points, r.Possible))
}

func ratingWords(rt Rating) string {
	if rt == "" {
		return RatingText(rt)
	}
	return string(rt) + ": " + RatingText(rt)
}

// measureRow words one measure for the tables.
func measureRow(m Measure) (took, target, met string) {
	took, target, met = "not reached", "none", "-"
	if m.Done {
		took = clock(m.Took)
	}
	if m.Target > 0 {
		target = clock(m.Target)
		met = "missed"
		if m.Met {
			met = "met"
		}
	}
	return took, target, met
}

func okWord(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// --- Markdown ---

// mdCell is foreign text made inert in Markdown (a table cell, a list
// item, a heading): HTML is escaped (Markdown passes it through), the
// marks of emphasis, links, code and tables are backslash-escaped, so is
// a leading mark that would start a block (# - + = or "1."), and line
// breaks become <br>.
func mdCell(s string) string {
	s = visible(s)
	var b strings.Builder
	digits := true
	for i, r := range s {
		switch {
		case i == 0 && strings.ContainsRune("#-+=", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case digits && i > 0 && (r == '.' || r == ')') && (i+1 == len(s) || s[i+1] == ' '):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\n':
			b.WriteString("<br>")
		case r == '\r':
		case r == '\t':
			b.WriteByte(' ')
		case strings.ContainsRune("\\`*_[]|~", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
		digits = digits && r >= '0' && r <= '9'
	}
	return b.String()
}

type mdWriter struct{ bytes.Buffer }

func (w *mdWriter) f(format string, args ...any) { fmt.Fprintf(&w.Buffer, format, args...) }

// table writes a Markdown table; cells are already escaped.
func (w *mdWriter) table(head []string, rows [][]string) {
	if len(rows) == 0 {
		w.f("None recorded.\n\n")
		return
	}
	w.f("| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, r := range rows {
		w.f("| %s |\n", strings.Join(r, " | "))
	}
	w.f("\n")
}

func renderMarkdown(r *Result) []byte {
	var w mdWriter
	w.f("# After-action report: %s\n\n", mdCell(oneLine(orDash(r.Title))))
	techs := make([]string, len(r.Techniques))
	for i, t := range r.Techniques {
		techs[i] = mdCell(t)
	}
	head := [][]string{
		{"Scenario", mdCell(r.Scenario)},
		{"Kind", mdCell(string(r.Kind))},
		{"Title", mdCell(r.Title)},
		{"Started", stamp(r.Started)},
		{"Ended", stamp(r.Ended)},
		{"Duration", clock(duration(r))},
		{"Score", mdCell(total(r))},
		{"Techniques", orDash(strings.Join(techs, ", "))},
	}
	if r.Aborted != "" {
		head = append(head, []string{"Ended early", mdCell(r.Aborted)})
	}
	w.table([]string{"Drill", ""}, head)

	w.f("## Participants\n\n")
	var rows [][]string
	for _, p := range participants(r) {
		rows = append(rows, []string{p.Role, mdCell(p.Who)})
	}
	w.table([]string{"Role", "Who"}, rows)

	w.f("## Timeline\n\n")
	rows = nil
	for _, e := range r.Timeline {
		rows = append(rows, []string{clock(e.Offset), mdCell(e.Kind), mdCell(e.Who), mdCell(e.Ref), mdCell(e.Text), mdCell(e.Source)})
	}
	w.table([]string{"Offset", "Kind", "Who", "Ref", "What", "Source"}, rows)

	w.f("## Scores against expectations\n\n")
	rows = nil
	for _, s := range r.Scores {
		at := "-"
		switch {
		case !s.At.IsZero():
			at = clock(offsetOf(r, s.At))
		case s.Outcome == OutcomeMissed && !s.Deadline.IsZero():
			at = "deadline " + clock(offsetOf(r, s.Deadline))
		}
		rows = append(rows, []string{mdCell(s.Inject), mdCell(s.Expectation), mdCell(s.Text), mdCell(string(s.Outcome)),
			fmt.Sprintf("%d of %d", s.Points, s.Of), at, mdCell(s.Who)})
	}
	w.table([]string{"Inject", "Expectation", "What", "Outcome", "Points", "At", "Who"}, rows)
	w.f("**Total: %s**\n\n", mdCell(total(r)))

	w.f("## Measures against targets\n\n")
	rows = nil
	for _, m := range r.Measures {
		took, target, met := measureRow(m)
		rows = append(rows, []string{mdCell(m.Name), took, target, met, mdCell(m.Source)})
	}
	w.table([]string{"Time to", "Took", "Target", "Target met", "Measured from"}, rows)

	w.f("## Outcome checks\n\n")
	rows = nil
	for _, c := range r.Checks {
		rows = append(rows, []string{mdCell(c.Name), okWord(c.OK), mdCell(c.Detail)})
	}
	w.table([]string{"Check", "Result", "Detail"}, rows)

	w.f("## Objective ratings\n\n")
	rows = nil
	for _, o := range r.Objectives {
		rows = append(rows, []string{mdCell(o.ID), mdCell(o.Text), mdCell(ratingWords(o.Rating)), mdCell(o.Note)})
	}
	w.table([]string{"Objective", "", "Rating", "Note"}, rows)

	w.f("## Hotwash\n\n")
	if len(r.Hotwash) == 0 {
		w.f("None recorded.\n\n")
	}
	for _, h := range r.Hotwash {
		w.f("### %s\n\n", mdCell(oneLine(orDash(h.Who))))
		for _, part := range []struct {
			name  string
			items []string
		}{{"Went well", h.Strong}, {"To improve", h.Improve}} {
			if len(part.items) == 0 {
				continue
			}
			w.f("%s:\n\n", part.name)
			for _, s := range part.items {
				w.f("- %s\n", mdCell(s))
			}
			w.f("\n")
		}
	}

	w.f("## Improvement plan\n\n")
	rows = nil
	for _, p := range r.Plan {
		rows = append(rows, []string{mdCell(p.Capability), mdCell(p.Action), mdCell(p.Owner), mdCell(p.Due)})
	}
	w.table([]string{"Capability", "Corrective action", "Owner", "Due"}, rows)

	w.f("## Evidence and journal\n\n")
	w.f("- Evidence case: %s\n", orDash(mdCell(r.Case)))
	w.f("- Playbook journal: %s\n", orDash(mdCell(r.Journal)))
	for _, f := range r.Findings {
		w.f("- Finding: %s\n", mdCell(f))
	}
	return w.Bytes()
}

// --- ATT&CK Navigator layer (format 4.5) ---

type navLayer struct {
	Name                          string         `json:"name"`
	Versions                      navVersions    `json:"versions"`
	Domain                        string         `json:"domain"`
	Description                   string         `json:"description"`
	Filters                       navFilters     `json:"filters"`
	Sorting                       int            `json:"sorting"`
	Layout                        navLayout      `json:"layout"`
	HideDisabled                  bool           `json:"hideDisabled"`
	Techniques                    []navTechnique `json:"techniques"`
	Gradient                      navGradient    `json:"gradient"`
	LegendItems                   []navLegend    `json:"legendItems"`
	ShowTacticRowBackground       bool           `json:"showTacticRowBackground"`
	TacticRowBackground           string         `json:"tacticRowBackground"`
	SelectTechniquesAcrossTactics bool           `json:"selectTechniquesAcrossTactics"`
	SelectSubtechniquesWithParent bool           `json:"selectSubtechniquesWithParent"`
	SelectVisibleTechniques       bool           `json:"selectVisibleTechniques"`
	Metadata                      []navMeta      `json:"metadata"`
}

type navVersions struct {
	Attack    string `json:"attack"`
	Navigator string `json:"navigator"`
	Layer     string `json:"layer"`
}

type navFilters struct {
	Platforms []string `json:"platforms"`
}

type navLayout struct {
	Layout                string `json:"layout"`
	ShowID                bool   `json:"showID"`
	ShowName              bool   `json:"showName"`
	ShowAggregateScores   bool   `json:"showAggregateScores"`
	CountUnscored         bool   `json:"countUnscored"`
	AggregateFunction     string `json:"aggregateFunction"`
	ExpandedSubtechniques string `json:"expandedSubtechniques"`
}

type navTechnique struct {
	TechniqueID       string    `json:"techniqueID"`
	Score             *int      `json:"score,omitempty"`
	Color             string    `json:"color,omitempty"`
	Comment           string    `json:"comment"`
	Enabled           bool      `json:"enabled"`
	Metadata          []navMeta `json:"metadata"`
	ShowSubtechniques bool      `json:"showSubtechniques"`
}

type navGradient struct {
	Colors   []string `json:"colors"`
	MinValue int      `json:"minValue"`
	MaxValue int      `json:"maxValue"`
}

type navLegend struct {
	Label string `json:"label"`
	Color string `json:"color"`
}

type navMeta struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// The layer's colours: the gradient a score is drawn with, and the colour
// of a technique exercised but not scored.
const (
	navLow       = "#ff6666"
	navMid       = "#ffe766"
	navHigh      = "#8ec843"
	navExercised = "#74c0fc"
)

// techniqueID is the form of an ATT&CK technique or sub-technique ID.
var techniqueID = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)

// navigatorLayer is the techniques r exercised as a Navigator layer. A
// scenario's expectations are not tied to single techniques, so each
// technique carries the drill's own result: the share of expectation
// points met, else of outcome checks passed; with neither it is marked
// exercised, in its own colour, without a score.
func navigatorLayer(r *Result) navLayer {
	score, how := -1, "exercised; no expectations scored and no outcome checks"
	switch {
	case r.Possible > 0:
		score = percent(r.Points, r.Possible)
		how = fmt.Sprintf("%d of %d expectation points met (%d%%)", r.Points, r.Possible, score)
	case len(r.Checks) > 0:
		ok := 0
		for _, c := range r.Checks {
			if c.OK {
				ok++
			}
		}
		score = percent(ok, len(r.Checks))
		how = fmt.Sprintf("%d of %d outcome checks passed", ok, len(r.Checks))
	}
	title := oneLine(r.Title)
	scenario := oneLine(r.Scenario)
	meta := []navMeta{
		{"scenario", scenario},
		{"kind", string(r.Kind)},
		{"started", r.Started.Format(time.RFC3339)},
		{"result", how},
	}
	layer := navLayer{
		Name:        "firebreak drill: " + scenario,
		Versions:    navVersions{Attack: "18", Navigator: "5.2.0", Layer: "4.5"},
		Domain:      "enterprise-attack",
		Description: fmt.Sprintf("ATT&CK for Containers techniques exercised by the %s drill %s (%s) on %s: %s.", r.Kind, scenario, title, r.Started.Format("2006-01-02"), how),
		Filters:     navFilters{Platforms: []string{"Containers"}},
		Layout: navLayout{Layout: "side", ShowID: true, ShowName: true, AggregateFunction: "average",
			ExpandedSubtechniques: "annotated"},
		Techniques: []navTechnique{},
		Gradient:   navGradient{Colors: []string{navLow, navMid, navHigh}, MinValue: 0, MaxValue: 100},
		LegendItems: []navLegend{
			{"all expectations met", navHigh},
			{"some expectations met", navMid},
			{"none met", navLow},
			{"exercised, not scored", navExercised},
		},
		TacticRowBackground:           "#dddddd",
		SelectTechniquesAcrossTactics: true,
		SelectSubtechniquesWithParent: false,
		Metadata:                      meta,
	}
	var seen []string
	for _, id := range r.Techniques {
		id = strings.TrimSpace(id)
		if !techniqueID.MatchString(id) || slices.Contains(seen, id) {
			continue // the layer would not load: scenarios validate IDs, a hand-edited result may not
		}
		seen = append(seen, id)
		t := navTechnique{TechniqueID: id, Enabled: true, Metadata: meta,
			Comment: fmt.Sprintf("Exercised by drill %s (%s): %s", scenario, title, how)}
		if score >= 0 {
			s := score
			t.Score = &s
		} else {
			t.Color = navExercised
		}
		layer.Techniques = append(layer.Techniques, t)
	}
	return layer
}
