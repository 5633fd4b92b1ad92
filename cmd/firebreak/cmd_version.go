package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildVersion is what a binary knows of how it was built.
type buildVersion struct {
	Version   string `json:"version"`            // the module version, "(devel)" for a build from a work tree, or what -ldflags set
	GoVersion string `json:"go_version"`         // the Go toolchain that built it
	Revision  string `json:"revision,omitempty"` // VCS revision
	Time      string `json:"time,omitempty"`     // VCS commit time, RFC 3339
	Modified  bool   `json:"modified"`           // built from a work tree with uncommitted changes
}

// String is the one-line form stamped into evidence:
// "(devel) rev 0123456789ab 2026-11-28T09:00:00Z dirty", or the module's
// pseudo-version alone when it already says as much
// ("v0.0.0-20261128090000-0123456789ab+dirty").
func (v buildVersion) String() string {
	if v.Revision != "" && strings.Contains(v.Version, trunc12(v.Revision)) {
		return v.Version
	}
	parts := []string{v.Version}
	if v.Revision != "" {
		parts = append(parts, "rev "+trunc12(v.Revision))
	}
	if v.Time != "" {
		parts = append(parts, v.Time)
	}
	if v.Modified {
		parts = append(parts, "dirty")
	}
	return strings.Join(parts, " ")
}

func trunc12(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// readVersion reads this binary's build information.
func readVersion() buildVersion {
	info, _ := debug.ReadBuildInfo()
	return versionOf(info, version)
}

// versionOf makes the version of build information and the version set
// with -ldflags ("dev" when none was).
func versionOf(info *debug.BuildInfo, ldflags string) buildVersion {
	v := buildVersion{Version: ldflags, GoVersion: goruntime.Version()}
	if info == nil {
		return v
	}
	v.GoVersion = info.GoVersion
	if ldflags == "dev" || ldflags == "" {
		v.Version = info.Main.Version
		if v.Version == "" {
			v.Version = "(devel)"
		}
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func newVersionCommand(g *globalOptions, d *deps) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, Go version and source revision of this binary",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := readVersion()
			if g.Output == "json" {
				return jsonLine(d.stdout, "version", v)
			}
			fmt.Fprintf(d.stdout, "firebreak %s\n", v.Version)
			fmt.Fprintf(d.stdout, "  go:       %s\n", v.GoVersion)
			if v.Revision != "" {
				fmt.Fprintf(d.stdout, "  revision: %s\n", v.Revision)
			}
			if v.Time != "" {
				fmt.Fprintf(d.stdout, "  time:     %s\n", v.Time)
			}
			fmt.Fprintf(d.stdout, "  modified: %t\n", v.Modified)
			return nil
		},
	}
}
