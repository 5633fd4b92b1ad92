package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"firebreak/drill"
	"firebreak/runtime/docker"
	"firebreak/runtime/runtimetest"
)

// engineImages are the engine's images, by ID.
func engineImages(t *testing.T, args ...filters.KeyValuePair) []string {
	t.Helper()
	d, err := docker.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	is, err := d.API().ImageList(context.Background(), image.ListOptions{All: true, Filters: filters.NewArgs(args...)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range is {
		out = append(out, i.ID+" "+strings.Join(i.RepoTags, ","))
	}
	slices.Sort(out)
	return out
}

// TestDrillLiveConsoleOnDocker runs an interactive live drill in the
// console in a real terminal on the real engine, with no --image (the
// drill builds its own): the responder finds the decoy by typing,
// contains it with the keys and the confirmation, captures it, and sees
// the contain and evidence times in the drill panel; the drill ends once
// every target is met, and q quits. The reports hold those times measured,
// and nothing of the drill is left: containers, networks, volumes, the
// image it built, its directory.
func TestDrillLiveConsoleOnDocker(t *testing.T) {
	runtimetest.Docker(t)
	flags := drillFlags(t)
	flags = flags[:len(flags)-2] // no --image: the drill builds its own
	if flagValue(flags, "--image") != "" {
		t.Fatal("drillFlags changed: --image is still given")
	}
	stateDir := flagValue(flags, "--state-dir")
	imagesBefore := engineImages(t)
	reports := t.TempDir()
	env, argv := selfCLI(t)
	args := append(append(argv, "drill", "live", "kernel-helper", "--interactive", "--console", "--report-dir", reports), flags...)
	x := startTmux(t, 180, 45, env, args...)
	s := x.waitFor(90*time.Second, "LIVE DRILL kernel-helper", "containers · sorted by", "targets")
	x.checkStyled()
	decoy := regexp.MustCompile(`decoy  (fbdrill-[a-z0-9]+-decoy)`).FindStringSubmatch(s)
	if decoy == nil {
		t.Fatalf("the panel does not name the decoy:\n%s", s)
	}
	name := decoy[1]
	id := strings.TrimSuffix(strings.TrimPrefix(name, drill.NamePrefix), "-decoy")
	if got := engineImages(t, filters.Arg("label", drill.LabelDrill+"="+id)); len(got) != 1 || !strings.Contains(got[0], drill.BuiltImage(id)) {
		t.Errorf("the drill's own image during the drill: %v", got)
	}

	// find the decoy by typing its name
	x.keys("/")
	x.text(name)
	x.keys("Enter")
	s = x.waitFor(10*time.Second, "filter: "+name)
	if r := row(s, name); !strings.HasPrefix(r, "> ") {
		t.Fatalf("the decoy's row is not under the cursor:\n%s", s)
	}

	// contain it: Cancel is the default, the responder moves to Contain
	x.keys("c")
	x.waitDialog(10*time.Second, "Contain "+name+"?", "[>Cancel<]")
	x.keys("Tab")
	x.waitFor(5*time.Second, "[>Contain<]")
	x.keys("Enter")
	measured := func(what string) *regexp.Regexp {
		return regexp.MustCompile(what + `\s+(\d+\.\d) s\s+≤ [\d.]+ s\s+(met|MISSED)`)
	}
	s = x.waitUntil(60*time.Second, "the contain time in the panel", func(s string) bool { return measured("contain").MatchString(s) })
	contain := measured("contain").FindStringSubmatch(s)[1]
	if !strings.Contains(s, "✓ peer-unreachable") || !strings.Contains(s, "✓ frozen") {
		t.Errorf("the checks that passed are not shown:\n%s", s)
	}

	// capture it into the drill's case
	x.keys("e")
	x.waitDialog(10*time.Second, "Capture evidence of "+name+"?", "case drill-kernel-helper-"+id)
	x.keys("Tab", "Enter")
	s = x.waitUntil(90*time.Second, "the evidence time in the panel", func(s string) bool { return measured("evidence").MatchString(s) })
	evidence := measured("evidence").FindStringSubmatch(s)[1]

	// every target met: the drill ends, cleans up, writes its reports;
	// the console stays to show it
	x.waitFor(90*time.Second, "ended, sandbox removed", "the drill has ended: result and reports in "+reports)
	x.keys("q")
	out := x.waitFor(60*time.Second, "[exited 0]")
	if !strings.Contains(out, "result and reports written to "+reports) {
		t.Errorf("the CLI does not say where the reports are:\n%s", out)
	}

	res, err := drill.LoadResult(reports)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Measures {
		if (m.Name == "contain" || m.Name == "evidence") && (!m.Done || m.Took <= 0 || m.Source == "") {
			t.Errorf("measure %s not taken: %+v", m.Name, m)
		}
	}
	for name, shown := range map[string]string{"contain": contain, "evidence": evidence} {
		if secsOf(res, name) != shown {
			t.Errorf("the panel showed %s at %s s, the report says %s s", name, shown, secsOf(res, name))
		}
	}
	for _, c := range res.Checks {
		if !c.OK {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
		if c.Name == "zero-residue" && !strings.Contains(c.Detail, "1 built image") {
			t.Errorf("zero-residue does not count the built image: %s", c.Detail)
		}
	}
	if left := leftovers(t, stateDir); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
	if after := engineImages(t); !slices.Equal(imagesBefore, after) {
		t.Errorf("images before %v, after %v", imagesBefore, after)
	}
}

// secsOf is a measure's time as the panel shows it (one decimal).
func secsOf(res *drill.Result, name string) string {
	for _, m := range res.Measures {
		if m.Name == name {
			return fmt.Sprintf("%.1f", float64(m.Took)/1000)
		}
	}
	return ""
}
