package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
}

// siteConfig is a parsed config file: flag name to value(s), with where each
// was written.
type siteConfig struct {
	path   string
	values map[string][]string
	pos    map[string]string
}

// loadConfig reads the config file. A missing default file is no error; a
// missing file named with --config or $FIREBREAK_CONFIG is.
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
		return nil, usagef("config file %s is not valid YAML: %v", path, err)
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
		c.pos[name] = fmt.Sprintf("%s:%d:%d", path, k.Line, k.Column)
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
	visit := func(f *pflag.Flag) {
		vals, ok := c.values[f.Name]
		if !ok || f.Changed {
			return
		}
		if env := configEnv[f.Name]; env != "" && os.Getenv(env) != "" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			if err := sv.Replace(vals); err != nil {
				errs = append(errs, usagef("%s: %s: %v", c.pos[f.Name], f.Name, err))
			}
			return
		}
		if len(vals) != 1 {
			errs = append(errs, usagef("%s: %s takes one value", c.pos[f.Name], f.Name))
			return
		}
		if err := f.Value.Set(vals[0]); err != nil {
			errs = append(errs, usagef("%s: %s: %v", c.pos[f.Name], f.Name, err))
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return errors.Join(errs...)
}
