package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"firebreak/internal/progress"
	"firebreak/playbooks"
)

func TestProgressText(t *testing.T) {
	n := progress.Count{Files: 2, Bytes: 10 << 20, FilesTotal: 4, BytesTotal: 20 << 20}
	for _, tc := range []struct {
		name string
		n    progress.Count
		w    int
		want string
	}{
		{"wide", n, 100, "  capturing [##########----------] 50% · 10.0 MiB of 20.0 MiB · 5.0 MiB/s · 2s left"},
		{"narrow drops the last words", n, 62, "  capturing [##########----------] 50% · 10.0 MiB of 20.0 MiB"},
		{"narrower still is cut", n, 30, "  capturing [##########------…"},
		{"no total", progress.Count{Files: 3, Bytes: 10 << 20}, 100, "  capturing 10.0 MiB, 3 files · 5.0 MiB/s"},
		{"past the total", progress.Count{Bytes: 30 << 20, BytesTotal: 20 << 20}, 100, "  capturing [####################] 100% · 30.0 MiB of 20.0 MiB · 15.0 MiB/s"},
	} {
		if got := progressText("capturing", tc.n, 2*time.Second, tc.w); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// TestEventPrinterProgressInPlace: on a terminal a step's reports rewrite
// one line and the next event clears it; the target's name is escaped.
func TestEventPrinterProgressInPlace(t *testing.T) {
	var out bytes.Buffer
	d := newDeps(&out, &out)
	clock := time.Unix(0, 0)
	line := &progressLine{w: d.rawStderr, cols: func() int { return 100 }, now: func() time.Time { return clock }}
	print := eventPrinter(d, "text", line)
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ev := playbooks.Event{Target: "abc", TargetName: "web\x1b]0;x\a", Step: "capture", Action: "collect.all"}
	ev.Type, ev.Time = playbooks.EventStepStarted, at
	print(ev)
	ev.Type, ev.Time, ev.Detail, ev.Progress = playbooks.EventStepProgress, at.Add(2*time.Second), "fsdiff", &progress.Count{Bytes: 1 << 20, BytesTotal: 4 << 20}
	print(ev)
	ev.Time, ev.Progress = at.Add(2100*time.Millisecond), &progress.Count{Bytes: 2 << 20, BytesTotal: 4 << 20}
	print(ev) // within 200 ms: not drawn
	clock = clock.Add(time.Second)
	ev.Time, ev.Progress = at.Add(4*time.Second), &progress.Count{Bytes: 4 << 20, BytesTotal: 4 << 20}
	print(ev)
	ev.Type, ev.Progress, ev.Status = playbooks.EventStepFinished, nil, playbooks.StatusOK
	print(ev)
	got := out.String()
	for _, want := range []string{
		"\r  web\\x1b]0;x\\a: capture [#####---------------] 25% · 1.0 MiB of 4.0 MiB · 512.0 KiB/s · 6s left\x1b[K",
		"\r  web\\x1b]0;x\\a: capture [####################] 100% · 4.0 MiB of 4.0 MiB · 1.0 MiB/s\x1b[K\r\x1b[K12:00:04 web\\x1b]0;x\\a: capture OK\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%q", want, got)
		}
	}
	if strings.Contains(got, "50%") || strings.Count(got, "\r  web") != 2 {
		t.Errorf("the report within 200 ms was drawn:\n%q", got)
	}
	if strings.Contains(got, "\x1b]") {
		t.Errorf("the target's name reached the terminal unescaped:\n%q", got)
	}
}

// TestEventPrinterNoLineOffTerminal: without a terminal (line nil) a
// report is a line of its own, on stderr, and -o json adds nothing but
// the event's own fields.
func TestEventPrinterNoLineOffTerminal(t *testing.T) {
	var stdout, stderr bytes.Buffer
	d := newDeps(&stdout, &stderr)
	if newProgressLine(d, "text") != nil {
		t.Fatal("a progress line on a buffer")
	}
	ev := playbooks.Event{Type: playbooks.EventStepProgress, Time: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), TargetName: "web", Step: "capture", Detail: "fsdiff: 1 files, 1.0 MiB", Progress: &progress.Count{Files: 1, Bytes: 1 << 20, FilesTotal: 2, BytesTotal: 2 << 20}}
	eventPrinter(d, "text", nil)(ev)
	if stdout.Len() != 0 || stderr.String() != "12:00:00 web: capture: fsdiff: 1 files, 1.0 MiB\n" {
		t.Errorf("text off a terminal: stdout %q stderr %q", stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	eventPrinter(d, "json", nil)(ev)
	if stderr.Len() != 0 || !strings.Contains(stdout.String(), `"progress":{"files":1,"bytes":1048576,"files_total":2,"bytes_total":2097152}`) || strings.Count(stdout.String(), "\n") != 1 {
		t.Errorf("json: stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

// TestProgressLineDrawsEachTargetsEnd: with several targets captured one
// after the other, each one's completing count is drawn, even within the
// line's throttle of the previous one's end.
func TestProgressLineDrawsEachTargetsEnd(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	line := &progressLine{w: &out, cols: func() int { return 100 }, now: func() time.Time { return clock }}
	line.show("capturing", progress.Count{Bytes: 20 << 20, BytesTotal: 20 << 20, Files: 1, FilesTotal: 1}, time.Second)
	clock = clock.Add(50 * time.Millisecond)
	line.show("capturing", progress.Count{Bytes: 1 << 20, BytesTotal: 30 << 20, Files: 1, FilesTotal: 2}, time.Second)
	line.show("capturing", progress.Count{Bytes: 30 << 20, BytesTotal: 30 << 20, Files: 2, FilesTotal: 2}, time.Second)
	if s := out.String(); !strings.Contains(s, "30.0 MiB of 30.0 MiB") {
		t.Errorf("the second target's end was not drawn: %q", s)
	}
}
