package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"firebreak/collect"
	"firebreak/internal/app"
	"firebreak/runtime"
)

type triageOptions struct {
	All     bool
	FailOn  string
	Profile string
	Host    bool
	Pods    bool
}

func newTriageCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &triageOptions{}
	cmd := &cobra.Command{
		Use:   "triage [TARGET...|--all]",
		Short: "Rank containers by escape risk and flag live signs of an escape",
		Long: `Triage reads each container's configuration (created and stopped ones too)
and, for running ones, its processes from /proc on the host, and reports
findings with severity, the exact setting, why it matters and the remedy,
riskiest container first. --output sarif writes SARIF 2.1.0 for code-scanning
tools; --fail-on SEVERITY exits 1 when a finding at or above it exists.
--profile chooses what the score counts: escape (the default) the ways out,
with CIS hygiene findings shown at weight 0; cis every CIS finding.
A Kubernetes pod (pod/NAMESPACE/NAME, or --pods for every pod of the node) is
triaged as one: the node's namespaces, each container's security context,
hostPath volumes, service-account tokens and limits as the kubelet gave them
to the CRI, and what its containers' processes do now.`,
		Example: `  firebreak triage --all
  firebreak triage --all --output sarif > triage.sarif
  firebreak triage --all --fail-on high   # in cron or CI
  firebreak triage --all --profile cis    # rank by CIS Docker Benchmark findings
  firebreak --runtime containerd -n k8s.io triage --pods`,
		Annotations: map[string]string{outputsAnnotation: "text,json,sarif"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTriage(cmd.Context(), g, o, args, d)
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "every container of the engine")
	cmd.Flags().BoolVar(&o.Pods, "pods", false, "every ready Kubernetes pod of the node, each triaged as one (containerd's CRI plugin)")
	cmd.Flags().StringVar(&o.FailOn, "fail-on", "", "exit 1 when a finding at or above this severity exists: info, low, medium, high, critical")
	cmd.Flags().BoolVar(&o.Host, "host", false, "also triage the host: engine, runc, containerd and kernel versions against known escape CVEs, runtime binaries and kernel modules changed since the last triage, and host-wide conditions (cgroup v1, no user namespace remapping)")
	cmd.Flags().StringVar(&o.Profile, "profile", string(collect.ProfileEscape), "what the score counts: escape (ways out; hygiene weighs 0) or cis (every CIS finding)")
	return cmd
}

// failOnError says triage found what --fail-on asked to fail on.
type failOnError struct {
	sev   collect.Severity
	count int
}

func (e *failOnError) Error() string {
	return fmt.Sprintf("%s with findings at or above %s", plural(e.count, "container"), e.sev)
}

func runTriage(ctx context.Context, g *globalOptions, o *triageOptions, refs []string, d *deps) error {
	var failOn collect.Severity
	if o.FailOn != "" {
		s, err := collect.ParseSeverity(o.FailOn)
		if err != nil {
			return usagef("--fail-on: %v", err)
		}
		failOn = s
	}
	profile, err := collect.ParseProfile(o.Profile)
	if err != nil {
		return usagef("--profile: %v", err)
	}
	if len(refs) == 0 && !o.All && !o.Pods {
		return usagef("name containers or pods, or give --all or --pods")
	}
	s, err := openSession(ctx, g, d, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	podRefs, refs := splitPodRefs(refs)
	var targets []runtime.Container
	var as []collect.Assessment
	if len(refs) > 0 || o.All {
		targets, err = s.Resolve(ctx, app.Selection{Refs: refs, All: o.All, Listed: true})
		if err != nil {
			return err
		}
		as, err = collect.AssessAll(ctx, s.Runtime(), "/proc", targets, 8)
		if err != nil {
			return err
		}
	}
	if len(podRefs) > 0 || o.Pods {
		pods, err := s.ResolvePods(ctx, podRefs, nil)
		if err != nil {
			return err
		}
		if o.Pods {
			all, err := s.Pods(ctx)
			if err != nil {
				return err
			}
			for _, p := range all {
				if p.Ready && !slices.ContainsFunc(pods, func(q runtime.Pod) bool { return q.SandboxID == p.SandboxID }) {
					pods = append(pods, p)
				}
			}
		}
		for _, p := range pods {
			as = append(as, collect.AssessPod(ctx, s.Runtime(), "/proc", p))
		}
		collect.Rank(as)
	}
	profile.Apply(as)
	var host *collect.HostAssessment
	if o.Host {
		hf := collect.DefaultHostFiles(g.StateDir)
		if remoteEngine(g.Host) || (g.Runtime != "containerd" && g.Host == "" && remoteEngine(os.Getenv("DOCKER_HOST"))) {
			// The engine's runc and kernel are another host's: this host's
			// packages say nothing of their backports.
			hf.Backported = nil
		}
		h := collect.TriageHost(ctx, s.Runtime(), hf, "/proc", targets)
		host = &h
	}
	switch {
	case g.Output == "json" && host != nil:
		err = writeJSON(d, struct {
			Host       *collect.HostAssessment `json:"host"`
			Containers []collect.Assessment    `json:"containers"`
		}{host, as})
	case g.Output == "json":
		err = writeJSON(d, as)
	case g.Output == "sarif":
		all := as
		if host != nil {
			// The host's findings are results located at the host.
			name, _ := os.Hostname()
			all = append(slices.Clone(as), collect.Assessment{Container: runtime.Container{ID: "host", Name: name}, Runtime: "host", Findings: host.Findings})
		}
		err = writeSARIF(d.stdout, all)
	default:
		if host != nil {
			printHost(d.stdout, host)
		}
		printTriage(d.stdout, as)
	}
	if err != nil {
		return err
	}
	if failOn != "" {
		n := 0
		for _, a := range as {
			if a.Max().Rank() >= failOn.Rank() {
				n++
			}
		}
		if n > 0 {
			return &failOnError{sev: failOn, count: n}
		}
	}
	return nil
}

func printHost(w io.Writer, h *collect.HostAssessment) {
	v := h.Versions
	fmt.Fprintf(w, "host: %s, runc %s, containerd %s, kernel %s\n", orUnknown(v.Engine), orUnknown(v.Runc), orUnknown(v.Containerd), orUnknown(v.Kernel))
	for _, f := range h.Findings {
		fmt.Fprintf(w, "  %-8s %-28s %s\n           why: %s\n           fix: %s\n", strings.ToUpper(string(f.Severity)), f.ID, f.Evidence, f.Why, f.Remedy)
	}
	for _, n := range h.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if len(h.Findings) == 0 {
		fmt.Fprintln(w, "  no host findings")
	}
	fmt.Fprintln(w)
}

func printTriage(w io.Writer, as []collect.Assessment) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCORE\tCONTAINER ID\tNAME\tSTATE\tWORST\tFINDINGS")
	for _, a := range as {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\n", a.Score, a.Container.ShortID(), safe(a.Container.Name), a.Container.State, a.Max(), len(a.Findings))
	}
	tw.Flush()
	for _, a := range as {
		if len(a.Findings) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s%s, score %d\n", a.Container.ShortID(), nameSuffix(a.Container), a.Score)
		for _, f := range a.Findings {
			fmt.Fprintf(w, "  %-8s %-28s %s\n           why: %s\n           fix: %s\n", strings.ToUpper(string(f.Severity)), f.ID, safe(f.Evidence), f.Why, f.Remedy)
		}
		for _, n := range a.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
}

// writeSARIF writes SARIF 2.1.0: one rule per finding ID, one result per
// finding, located at the container.
func writeSARIF(w io.Writer, as []collect.Assessment) error {
	type msg struct {
		Text string `json:"text"`
	}
	type rule struct {
		ID               string         `json:"id"`
		ShortDescription msg            `json:"shortDescription"`
		Help             msg            `json:"help"`
		Properties       map[string]any `json:"properties"`
	}
	type result struct {
		RuleID     string         `json:"ruleId"`
		Level      string         `json:"level"`
		Message    msg            `json:"message"`
		Locations  []any          `json:"locations"`
		Properties map[string]any `json:"properties"`
	}
	rules := map[string]rule{}
	var order []string
	results := []result{}
	level := map[collect.Severity]string{collect.Critical: "error", collect.High: "error", collect.Medium: "warning", collect.Low: "note", collect.Info: "note"}
	score := map[collect.Severity]string{collect.Critical: "9.5", collect.High: "8.0", collect.Medium: "5.0", collect.Low: "2.0", collect.Info: "0.0"}
	for _, a := range as {
		for _, f := range a.Findings {
			if _, ok := rules[f.ID]; !ok {
				order = append(order, f.ID)
				rules[f.ID] = rule{ID: f.ID, ShortDescription: msg{f.Title}, Help: msg{f.Why + ". Remedy: " + f.Remedy},
					Properties: map[string]any{"security-severity": score[f.Severity], "tags": []string{"security", "container", string(f.Kind)}}}
			}
			uri := a.Runtime + "://" + a.Container.ID
			results = append(results, result{
				RuleID: f.ID, Level: level[f.Severity],
				Message: msg{fmt.Sprintf("%s: %s (%s)", a.Container.Name, f.Title, f.Evidence)},
				Locations: []any{map[string]any{
					"physicalLocation": map[string]any{"artifactLocation": map[string]any{"uri": uri}},
					"logicalLocations": []any{map[string]any{"name": a.Container.Name, "fullyQualifiedName": uri, "kind": "container"}},
				}},
				Properties: map[string]any{"container": a.Container.ID, "image": a.Container.Image, "score": a.Score, "severity": f.Severity},
			})
		}
	}
	ruleList := make([]rule, 0, len(order))
	for _, id := range order {
		ruleList = append(ruleList, rules[id])
	}
	doc := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool":    map[string]any{"driver": map[string]any{"name": "firebreak", "version": readVersion().Version, "rules": ruleList}},
			"results": results,
		}},
	}
	return writeJSONDoc(w, doc)
}

// remoteEngine says whether the Docker host named (-H) is another machine:
// anything but a local socket.
func remoteEngine(host string) bool {
	return host != "" && !strings.HasPrefix(host, "unix://") && !strings.HasPrefix(host, "/")
}
