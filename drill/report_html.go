package drill

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
)

// The timeline chart's colours. Injects are drawn in ChartInjectColour, a
// colour nothing else on the page uses, so a screenshot shows whether the
// chart was drawn.
const (
	ChartInjectColour = "#d9480f" // injects
	ChartActionColour = "#1971c2" // decisions, actions, notes
	ChartMetColour    = "#2f9e44" // expectations met, measures within target
	ChartMissedColour = "#c92a2a" // expectations missed, measures over target
	ChartTargetColour = "#862e9c" // target lines
	chartPendingGrey  = "#868e96"
)

// The chart's geometry, in SVG user units.
const (
	chartWidth      = 1160.0
	chartLeft       = 130.0 // lane labels
	chartRight      = 40.0
	chartTop        = 46.0 // target labels
	chartLaneHeight = 44.0
	chartAxis       = 34.0
	chartLegend     = 30.0
)

var chartLanes = []string{"Injects", "Actions", "Expectations", "Measures"}

// chart is the timeline drawn as SVG: the drill's duration along x, one
// lane each for injects, actions, expectations and measures, and the
// targets as vertical lines.
type chart struct {
	Width, Height float64
	PlotLeft      float64
	PlotRight     float64
	AxisY         float64
	Lanes         []chartLane
	Ticks         []chartTick
	Targets       []chartTarget
	Marks         []chartMark
	Legend        []chartLegendItem
	LegendY       float64
}

type chartLane struct {
	Name           string
	Y, Top, Height float64
	LabelX, LabelY float64
	Shade          bool
}

type chartTick struct {
	X     float64
	Label string
}

type chartTarget struct {
	X      float64
	Label  string
	Y1, Y2 float64
}

type chartMark struct {
	Shape  string // inject, action, met, missed, pending, measure
	X, Y   float64
	Fill   string
	Points string // measure: the diamond
	Label  string // drawn above the mark
	Title  string // the tooltip
}

type chartLegendItem struct {
	X     float64
	Shape string
	Fill  string
	Label string
}

func buildChart(r *Result) chart {
	end := max(duration(r), 1000)
	for _, m := range r.Measures {
		end = max(end, m.Took, m.Target)
	}
	for _, s := range r.Scores {
		end = max(end, offsetOf(r, s.At), offsetOf(r, s.Deadline))
	}
	span := float64(end) * 1.03
	c := chart{Width: chartWidth, PlotLeft: chartLeft, PlotRight: chartWidth - chartRight}
	x := func(m Millis) float64 {
		return c.PlotLeft + (c.PlotRight-c.PlotLeft)*float64(max(m, 0))/span
	}
	laneY := func(i int) float64 { return chartTop + chartLaneHeight*float64(i) + chartLaneHeight/2 }
	for i, name := range chartLanes {
		c.Lanes = append(c.Lanes, chartLane{Name: name, Y: laneY(i), Top: chartTop + chartLaneHeight*float64(i),
			Height: chartLaneHeight, Shade: i%2 == 0, LabelX: c.PlotLeft - 12, LabelY: laneY(i) + 4})
	}
	c.AxisY = chartTop + chartLaneHeight*float64(len(chartLanes))
	c.LegendY = c.AxisY + chartAxis + chartLegend/2
	c.Height = c.AxisY + chartAxis + chartLegend
	step := tickStep(end)
	for t := Millis(0); t <= end; t += step {
		c.Ticks = append(c.Ticks, chartTick{X: x(t), Label: clock(t)})
	}
	for _, m := range r.Measures {
		if m.Target > 0 {
			c.Targets = append(c.Targets, chartTarget{X: x(m.Target), Y1: chartTop - 6, Y2: c.AxisY,
				Label: oneLine(m.Name) + " target " + clock(m.Target)})
		}
	}
	for _, e := range r.Timeline {
		lane, shape, fill := 1, "action", ChartActionColour
		switch e.Kind {
		case "start", "end", "expectation", "measure":
			continue // the axis, the expectations and measures lanes show these
		case "inject":
			lane, shape, fill = 0, "inject", ChartInjectColour
		}
		m := chartMark{Shape: shape, X: x(e.Offset), Y: laneY(lane), Fill: fill,
			Title: fmt.Sprintf("%s %s %s%s: %s", clock(e.Offset), oneLine(e.Kind), oneLine(e.Ref), whoSuffix(e.Who), oneLine(e.Text))}
		if lane == 0 {
			m.Label = short(oneLine(e.Ref), 10)
		}
		c.Marks = append(c.Marks, m)
	}
	for _, s := range r.Scores {
		at := offsetOf(r, s.At)
		m := chartMark{Shape: "pending", Y: laneY(2), Fill: "none"}
		switch {
		case s.Outcome == OutcomeMet:
			m.Shape, m.Fill = "met", ChartMetColour
		case s.Outcome == OutcomeMissed:
			m.Shape, m.Fill = "missed", ChartMissedColour
			if s.At.IsZero() {
				at = offsetOf(r, s.Deadline)
			}
		}
		if s.At.IsZero() && s.Deadline.IsZero() {
			at = end
		}
		m.X = x(at)
		m.Label = short(oneLine(s.Expectation), 10)
		m.Title = fmt.Sprintf("%s %s %s: %s (%d of %d points)%s", clock(at), oneLine(s.Expectation), s.Outcome, oneLine(s.Text), s.Points, s.Of, whoSuffix(s.Who))
		c.Marks = append(c.Marks, m)
	}
	for _, ms := range r.Measures {
		if !ms.Done {
			continue
		}
		fill := ChartMetColour
		if ms.Target > 0 && !ms.Met {
			fill = ChartMissedColour
		}
		mx, my := x(ms.Took), laneY(3)
		c.Marks = append(c.Marks, chartMark{Shape: "measure", X: mx, Y: my, Fill: fill,
			Points: fmt.Sprintf("%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f", mx, my-10, mx+10, my, mx, my+10, mx-10, my),
			Label:  short(oneLine(ms.Name), 10),
			Title:  fmt.Sprintf("time to %s: %s (target %s)", oneLine(ms.Name), clock(ms.Took), orDash(targetClock(ms.Target)))})
	}
	legend := []chartLegendItem{
		{Shape: "inject", Fill: ChartInjectColour, Label: "inject"},
		{Shape: "action", Fill: ChartActionColour, Label: "decision, action, note"},
		{Shape: "met", Fill: ChartMetColour, Label: "met / within target"},
		{Shape: "missed", Fill: ChartMissedColour, Label: "missed / over target"},
		{Shape: "target", Fill: ChartTargetColour, Label: "target"},
	}
	lx := c.PlotLeft
	for _, l := range legend {
		l.X = lx
		c.Legend = append(c.Legend, l)
		lx += 40 + 7*float64(len(l.Label))
	}
	return c
}

// tickStep is a round interval that puts at most about ten ticks on the axis.
func tickStep(end Millis) Millis {
	for _, s := range []Millis{1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 900000, 1800000, 3600000} {
		if end/s <= 10 {
			return s
		}
	}
	return (end/10/3600000 + 1) * 3600000
}

func targetClock(m Millis) string {
	if m <= 0 {
		return ""
	}
	return clock(m)
}

func whoSuffix(who string) string {
	if who == "" {
		return ""
	}
	return " (" + oneLine(who) + ")"
}

func short(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// htmlView is what the page template shows: foreign text made visible
// (visible), still to be escaped by html/template.
type htmlView struct {
	R            *Result
	Title        string
	Duration     string
	Total        string
	Started      string
	Ended        string
	Participants []role
	Techniques   []htmlTechnique
	Timeline     []htmlEntry
	Scores       []htmlScore
	Measures     []htmlMeasure
	Chart        chart
}

type htmlTechnique struct {
	ID  string
	URL template.URL // only for a well-formed ID
}

type htmlEntry struct {
	Offset string
	Entry
}

type htmlScore struct {
	At string
	Score
}

type htmlMeasure struct {
	Took, Target, Met string
	Measure
}

var htmlFuncs = template.FuncMap{
	"v":      visible,
	"rating": ratingWords,
	"ok":     okWord,
	"f":      func(x float64) string { return fmt.Sprintf("%.1f", x) },
	"add":    func(a, b float64) float64 { return a + b },
	"dash":   orDash,
}

var pageTemplate = template.Must(template.New("report").Funcs(htmlFuncs).Parse(pageHTML))

func renderHTML(r *Result) ([]byte, error) {
	v := htmlView{R: r, Title: orDash(oneLine(r.Title)), Duration: clock(duration(r)), Total: total(r),
		Started: stamp(r.Started), Ended: stamp(r.Ended), Participants: participants(r), Chart: buildChart(r)}
	for _, t := range r.Techniques {
		ht := htmlTechnique{ID: t}
		if techniqueID.MatchString(t) {
			ht.URL = template.URL("https://attack.mitre.org/techniques/" + strings.ReplaceAll(t, ".", "/") + "/")
		}
		v.Techniques = append(v.Techniques, ht)
	}
	for _, e := range r.Timeline {
		v.Timeline = append(v.Timeline, htmlEntry{clock(e.Offset), e})
	}
	for _, s := range r.Scores {
		at := "-"
		switch {
		case !s.At.IsZero():
			at = clock(offsetOf(r, s.At))
		case s.Outcome == OutcomeMissed && !s.Deadline.IsZero():
			at = "deadline " + clock(offsetOf(r, s.Deadline))
		}
		v.Scores = append(v.Scores, htmlScore{at, s})
	}
	for _, m := range r.Measures {
		took, target, met := measureRow(m)
		v.Measures = append(v.Measures, htmlMeasure{took, target, met, m})
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// pageHTML is the report page: one file, its style inline, no script, and
// a policy that forbids fetching or running anything, so the page shows
// the same offline and cannot be made to act by the text it shows.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>After-action report: {{.Title}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2733; background: #fff; margin: 0; }
main { max-width: 1200px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 30px 0 8px; border-bottom: 1px solid #dee2e6; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 16px 0 4px; }
.sub { color: #5c6773; margin: 0 0 16px; }
dl.head { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; margin: 0; }
dl.head dt { color: #5c6773; }
dl.head dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 4px 0; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #e9ecef; white-space: pre-wrap; word-break: break-word; }
th { background: #f1f3f5; font-weight: 600; white-space: nowrap; word-break: normal; }
td.num, th.num { text-align: right; white-space: nowrap; }
.met, .pass { color: #2b8a3e; font-weight: 600; }
.missed, .fail { color: ` + ChartMissedColour + `; font-weight: 600; }
.pending { color: #5c6773; font-weight: 600; }
.total { font-weight: 600; margin: 8px 0; }
.none { color: #5c6773; font-style: italic; }
.chart { width: 100%; height: auto; display: block; border: 1px solid #dee2e6; background: #fff; }
.chart text { font: 12px system-ui, sans-serif; fill: #343a40; }
.chart .lane { font-weight: 600; }
ul { margin: 2px 0 8px; padding-left: 22px; }
code { font-size: 13px; }
</style>
</head>
<body>
<main>
<header id="header">
<h1>After-action report: {{.Title}}</h1>
<p class="sub">{{v (print .R.Kind)}} drill of scenario <code>{{v .R.Scenario}}</code></p>
<dl class="head">
<dt>Scenario</dt><dd>{{v .R.Scenario}}</dd>
<dt>Kind</dt><dd>{{v (print .R.Kind)}}</dd>
<dt>Title</dt><dd>{{v .R.Title}}</dd>
<dt>Started</dt><dd>{{.Started}}</dd>
<dt>Ended</dt><dd>{{.Ended}}</dd>
<dt>Duration</dt><dd>{{.Duration}}</dd>
<dt>Score</dt><dd>{{.Total}}</dd>
{{- if .R.Aborted}}
<dt>Ended early</dt><dd class="missed">{{v .R.Aborted}}</dd>
{{- end}}
<dt>Techniques</dt><dd>{{range $i, $t := .Techniques}}{{if $i}}, {{end}}{{if $t.URL}}<a href="{{$t.URL}}">{{$t.ID}}</a>{{else}}{{v $t.ID}}{{end}}{{else}}-{{end}}</dd>
</dl>
</header>

<section id="participants">
<h2>Participants</h2>
{{if .Participants}}<table><tr><th>Role</th><th>Who</th></tr>
{{range .Participants}}<tr><td>{{.Role}}</td><td>{{v .Who}}</td></tr>
{{end}}</table>{{else}}<p class="none">None recorded.</p>{{end}}
</section>

<section id="timeline">
<h2>Timeline</h2>
{{with .Chart}}<svg id="timeline-chart" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{f .Width}} {{f .Height}}" role="img" aria-label="Timeline of the drill">
{{range .Lanes}}{{if .Shade}}<rect x="0" y="{{f .Top}}" width="{{f $.Chart.Width}}" height="{{f .Height}}" fill="#f8f9fa"/>{{end}}
<text class="lane" x="{{f .LabelX}}" y="{{f .LabelY}}" text-anchor="end">{{.Name}}</text>
{{end}}<line x1="{{f .PlotLeft}}" y1="{{f .AxisY}}" x2="{{f .PlotRight}}" y2="{{f .AxisY}}" stroke="#495057" stroke-width="1"/>
{{range .Ticks}}<line x1="{{f .X}}" y1="{{f $.Chart.AxisY}}" x2="{{f .X}}" y2="{{f (add $.Chart.AxisY 5)}}" stroke="#495057"/><text x="{{f .X}}" y="{{f (add $.Chart.AxisY 19)}}" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .Targets}}<g class="target"><title>{{.Label}}</title><line x1="{{f .X}}" y1="{{f .Y1}}" x2="{{f .X}}" y2="{{f .Y2}}" stroke="` + ChartTargetColour + `" stroke-width="2.5" stroke-dasharray="7 4"/><text x="{{f .X}}" y="{{f (add .Y1 -4)}}" text-anchor="middle" fill="` + ChartTargetColour + `">{{.Label}}</text></g>
{{end}}{{range .Marks}}<g class="mark {{.Shape}}"><title>{{.Title}}</title>
{{- if eq .Shape "inject"}}<rect x="{{f (add .X -5)}}" y="{{f (add .Y -13)}}" width="10" height="26" fill="{{.Fill}}"/>
{{- else if eq .Shape "measure"}}<polygon points="{{.Points}}" fill="{{.Fill}}" stroke="#212529" stroke-width="1"/>
{{- else if eq .Shape "pending"}}<circle cx="{{f .X}}" cy="{{f .Y}}" r="7" fill="none" stroke="` + chartPendingGrey + `" stroke-width="2"/>
{{- else if eq .Shape "missed"}}<rect x="{{f (add .X -7)}}" y="{{f (add .Y -7)}}" width="14" height="14" fill="{{.Fill}}"/>
{{- else}}<circle cx="{{f .X}}" cy="{{f .Y}}" r="7" fill="{{.Fill}}"/>{{end}}
{{- if .Label}}<text x="{{f .X}}" y="{{f (add .Y -15)}}" text-anchor="middle">{{.Label}}</text>{{end}}</g>
{{end}}{{range .Legend}}<g class="legend">
{{- if eq .Shape "inject"}}<rect x="{{f .X}}" y="{{f (add $.Chart.LegendY -9)}}" width="8" height="18" fill="{{.Fill}}"/>
{{- else if eq .Shape "target"}}<line x1="{{f (add .X 4)}}" y1="{{f (add $.Chart.LegendY -9)}}" x2="{{f (add .X 4)}}" y2="{{f (add $.Chart.LegendY 9)}}" stroke="{{.Fill}}" stroke-width="2.5" stroke-dasharray="4 3"/>
{{- else if eq .Shape "missed"}}<rect x="{{f (add .X -2)}}" y="{{f (add $.Chart.LegendY -6)}}" width="12" height="12" fill="{{.Fill}}"/>
{{- else}}<circle cx="{{f (add .X 4)}}" cy="{{f $.Chart.LegendY}}" r="6" fill="{{.Fill}}"/>{{end}}
<text x="{{f (add .X 16)}}" y="{{f (add $.Chart.LegendY 4)}}">{{.Label}}</text></g>
{{end}}</svg>{{end}}
{{if .Timeline}}<table class="entries"><tr><th class="num">Offset</th><th>Kind</th><th>Who</th><th>Ref</th><th>What</th><th>Source</th></tr>
{{range .Timeline}}<tr><td class="num">{{.Offset}}</td><td>{{v .Kind}}</td><td>{{v .Who}}</td><td>{{v .Ref}}</td><td>{{v .Text}}</td><td>{{v .Source}}</td></tr>
{{end}}</table>{{else}}<p class="none">None recorded.</p>{{end}}
</section>

<section id="scores">
<h2>Scores against expectations</h2>
{{if .Scores}}<table><tr><th>Inject</th><th>Expectation</th><th>What</th><th>Outcome</th><th class="num">Points</th><th class="num">At</th><th>Who</th></tr>
{{range .Scores}}<tr><td>{{v .Inject}}</td><td>{{v .Expectation}}</td><td>{{v .Text}}</td><td class="{{if eq .Outcome "met"}}met{{else if eq .Outcome "missed"}}missed{{else}}pending{{end}}">{{v (print .Outcome)}}</td><td class="num">{{.Points}} of {{.Of}}</td><td class="num">{{.At}}</td><td>{{v .Who}}</td></tr>
{{end}}</table>{{else}}<p class="none">None recorded.</p>{{end}}
<p class="total">Total: {{.Total}}</p>
</section>

<section id="measures">
<h2>Measures against targets</h2>
{{if .Measures}}<table><tr><th>Time to</th><th class="num">Took</th><th class="num">Target</th><th>Target met</th><th>Measured from</th></tr>
{{range .Measures}}<tr><td>{{v .Name}}</td><td class="num">{{.Took}}</td><td class="num">{{.Target}}</td><td class="{{.Met}}">{{.Met}}</td><td>{{v .Source}}</td></tr>
{{end}}</table>{{else}}<p class="none">None recorded.</p>{{end}}
</section>

<section id="checks">
<h2>Outcome checks</h2>
{{if .R.Checks}}<table><tr><th>Check</th><th>Result</th><th>Detail</th></tr>
{{range .R.Checks}}<tr><td>{{v .Name}}</td><td class="{{if .OK}}pass{{else}}fail{{end}}">{{ok .OK}}</td><td>{{v .Detail}}</td></tr>
{{end}}</table>{{else}}<p class="none">None recorded.</p>{{end}}
</section>

<section id="objectives">
<h2>Objective ratings</h2>
{{if .R.Objectives}}<table><tr><th>Objective</th><th></th><th>Rating</th><th>Note</th></tr>
{{range .R.Objectives}}<tr><td>{{v .ID}}</td><td>{{v .Text}}</td><td>{{v (rating .Rating)}}</td><td>{{v .Note}}</td></tr>
{{end}}</table>{{else}}<p class="none">None recorded.</p>{{end}}
</section>

<section id="hotwash">
<h2>Hotwash</h2>
{{range .R.Hotwash}}<h3>{{v (dash .Who)}}</h3>
{{if .Strong}}<p>Went well:</p><ul>{{range .Strong}}<li>{{v .}}</li>{{end}}</ul>{{end}}
{{if .Improve}}<p>To improve:</p><ul>{{range .Improve}}<li>{{v .}}</li>{{end}}</ul>{{end}}
{{else}}<p class="none">None recorded.</p>{{end}}
</section>

<section id="plan">
<h2>Improvement plan</h2>
{{if .R.Plan}}<table><tr><th>Capability</th><th>Corrective action</th><th>Owner</th><th>Due</th></tr>
{{range .R.Plan}}<tr><td>{{v .Capability}}</td><td>{{v .Action}}</td><td>{{v .Owner}}</td><td>{{v .Due}}</td></tr>
{{end}}</table>{{else}}<p class="none">None recorded.</p>{{end}}
</section>

<section id="evidence">
<h2>Evidence and journal</h2>
<ul>
<li>Evidence case: {{if .R.Case}}<code>{{v .R.Case}}</code>{{else}}-{{end}}</li>
<li>Playbook journal: {{if .R.Journal}}<code>{{v .R.Journal}}</code>{{else}}-{{end}}</li>
{{range .R.Findings}}<li>Finding: {{v .}}</li>
{{end}}</ul>
</section>
</main>
</body>
</html>
`
