package playbooks

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Type is the type of a parameter.
type Type string

const (
	TypeString   Type = "string"
	TypeInt      Type = "int"
	TypeBool     Type = "bool"
	TypeDuration Type = "duration"
	TypeList     Type = "list" // of strings
)

// ParseType reads a type name.
func ParseType(s string) (Type, error) {
	switch t := Type(s); t {
	case TypeString, TypeInt, TypeBool, TypeDuration, TypeList:
		return t, nil
	}
	return "", fmt.Errorf("unknown type %q: use string, int, bool, duration or list", s)
}

// FromNode converts a YAML literal to the type.
func (t Type) FromNode(n *yaml.Node) (any, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return t.Convert(v, n.Tag)
}

// Convert checks and converts a decoded value (tag is its YAML tag, "" when
// it came from elsewhere, e.g. a CEL result).
func (t Type) Convert(v any, tag string) (any, error) {
	switch t {
	case TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case TypeInt:
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		case uint64:
			return int64(x), nil
		}
	case TypeBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case TypeDuration:
		switch x := v.(type) {
		case string:
			d, err := ParseDuration(x)
			if err != nil {
				return nil, err
			}
			return d, nil
		case time.Duration:
			return x, nil
		}
	case TypeList:
		switch x := v.(type) {
		case []any:
			out := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("want a list of strings, found %v", e)
				}
				out = append(out, s)
			}
			return out, nil
		case []string:
			return x, nil
		}
	}
	what := fmt.Sprintf("%T", v)
	if tag != "" {
		what = strings.TrimPrefix(tag, "!!")
	}
	return nil, fmt.Errorf("want %s, found %s", t, what)
}

// FromString parses a command-line value (--param k=v).
func (t Type) FromString(s string) (any, error) {
	switch t {
	case TypeString:
		return s, nil
	case TypeInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case TypeBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q: use true or false", s)
		}
		return b, nil
	case TypeDuration:
		return ParseDuration(s)
	case TypeList:
		if s == "" {
			return []string{}, nil
		}
		return strings.Split(s, ","), nil
	}
	return nil, fmt.Errorf("unknown type %s", t)
}
