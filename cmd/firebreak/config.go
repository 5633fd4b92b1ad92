package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	yaml "go.yaml.in/yaml/v3"
)

// DefaultConfigFile holds site defaults for flags.
const DefaultConfigFile = "/etc/firebreak/config.yaml"

// configEnv names, for each flag a config file may set, the environment
// variable that also sets it. Precedence: command line, then environment,
// then config file, then the built-in default.
var configEnv = map[string]string{
	"runtime":        "FIREBREAK_RUNTIME",
	"host":           "DOCKER_HOST",
	"address":        "CONTAINERD_ADDRESS",
	"namespace":      "CONTAINERD_NAMESPACE",
	"output":         "",
	"state-dir":      "FIREBREAK_STATE_DIR",
	"store":          "FIREBREAK_STORE",
	"key-dir":        "FIREBREAK_KEY_DIR",
	"spool-dir":      "FIREBREAK_SPOOL_DIR",
	"playbooks":      "FIREBREAK_PLAYBOOKS",
	"s3-credentials": "AWS_SHARED_CREDENTIALS_FILE",
	"s3-profile":     "AWS_PROFILE",
	"retain":         "",
	"lock-mode":      "",
	"parallel":       "",
	"trusted-keys":   "FIREBREAK_TRUSTED_KEYS",
}

// siteConfig is a parsed config file: flag name to value(s), with where each
// was written.
type siteConfig struct {
	path   string
	values map[string][]string
	pos    map[string]string // where each setting's value is: file:line:column
}

// loadConfig reads the config file. A missing default file is no error; a
// missing file named with --config or $FIREBREAK_CONFIG is.
var yamlLine = regexp.MustCompile(`line (\d+)`)

func loadConfig(path string, explicit bool) (*siteConfig, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, usagef("config file: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := err.Error()
		line := "1"
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line = m[1]
		}
		return nil, usagef("%s:%s:1: not valid YAML: %s", path, line, strings.TrimPrefix(msg, "yaml: "))
	}
	c := &siteConfig{path: path, values: map[string][]string{}, pos: map[string]string{}}
	if len(doc.Content) == 0 {
		return c, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, usagef("%s:%d:%d: the config file must be a mapping of setting to value", path, m.Line, m.Column)
	}
	known := make([]string, 0, len(configEnv))
	for k := range configEnv {
		known = append(known, strings.ReplaceAll(k, "-", "_"))
	}
	sort.Strings(known)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name := strings.ReplaceAll(k.Value, "_", "-")
		if _, ok := configEnv[name]; !ok {
			return nil, usagef("%s:%d:%d: unknown setting %q (known: %s)", path, k.Line, k.Column, k.Value, strings.Join(known, ", "))
		}
		if at, dup := c.pos[name]; dup {
			return nil, usagef("%s:%d:%d: setting %s is given twice (first at %s): keep one", path, k.Line, k.Column, k.Value, at)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			c.values[name] = []string{v.Value}
		case yaml.SequenceNode:
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, usagef("%s:%d:%d: %s: a list of plain values", path, e.Line, e.Column, k.Value)
				}
				c.values[name] = append(c.values[name], e.Value)
			}
		default:
			return nil, usagef("%s:%d:%d: %s: give a value or a list", path, v.Line, v.Column, k.Value)
		}
		c.pos[name] = fmt.Sprintf("%s:%d:%d", path, v.Line, v.Column)
	}
	return c, nil
}

// apply sets every flag of cmd that the command line and the environment
// left alone from the config file.
func (c *siteConfig) apply(cmd *cobra.Command) error {
	if c == nil {
		return nil
	}
	var errs []error
	seen := map[string]bool{} // a global flag is both the command's and inherited
	visit := func(f *pflag.Flag) {
		vals, ok := c.values[f.Name]
		if !ok || f.Changed || seen[f.Name] {
			return
		}
		seen[f.Name] = true
		if env := configEnv[f.Name]; env != "" && os.Getenv(env) != "" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			if err := sv.Replace(vals); err != nil {
				errs = append(errs, c.badValue(f, strings.Join(vals, ", ")))
			}
			return
		}
		if len(vals) != 1 {
			errs = append(errs, usagef("%s: setting %s takes one value, not a list: give %s", c.pos[f.Name], settingName(f.Name), wantOf(f)))
			return
		}
		if err := checkSetting(f.Name, vals[0]); err != nil {
			errs = append(errs, c.badValue(f, vals[0]))
			return
		}
		if err := f.Value.Set(vals[0]); err != nil {
			errs = append(errs, c.badValue(f, vals[0]))
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return errors.Join(errs...)
}

// badValue says which setting has a value it cannot take, where, and what
// to give instead.
func (c *siteConfig) badValue(f *pflag.Flag, val string) error {
	return usagef("%s: setting %s: %q is not valid: give %s", c.pos[f.Name], settingName(f.Name), val, wantOf(f))
}

func settingName(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// settingWants says what a setting takes, where its type alone does not.
var settingWants = map[string]string{
	"runtime":   "docker or containerd",
	"output":    "text or json",
	"retain":    "whole days like 90d, or a duration like 720h",
	"lock-mode": "governance or compliance",
	"parallel":  "a whole number of containers at once, like 4",
}

// checkSetting refuses values of settings whose flags take any string but
// that only some strings make sense for, so that the file's position is
// in the error rather than a later one about a flag that was never typed.
func checkSetting(name, val string) error {
	switch name {
	case "runtime":
		if val != "docker" && val != "containerd" && val != "" {
			return errors.New("bad runtime")
		}
	case "output":
		if val != "text" && val != "json" {
			return errors.New("bad output")
		}
	case "retain":
		if _, err := parseRetention(val); err != nil {
			return err
		}
	case "lock-mode":
		if val != "governance" && val != "compliance" {
			return errors.New("bad lock mode")
		}
	}
	return nil
}

// wantOf says what a flag takes, in words.
func wantOf(f *pflag.Flag) string {
	if w, ok := settingWants[f.Name]; ok {
		return w
	}
	switch f.Value.Type() {
	case "int", "int64", "uint", "uint64":
		return "a whole number"
	case "bool":
		return "true or false"
	case "duration":
		return "a duration like 30s, 5m or 2h"
	case "stringSlice", "stringArray":
		return "a list of values, like [a, b]"
	}
	return "a value as for --" + f.Name
}
