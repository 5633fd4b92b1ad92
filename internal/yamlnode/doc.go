// Package yamlnode is what the hand-written YAML readers share: playbooks,
// drill scenarios and alert rules are read by walking go.yaml.in/yaml/v3
// nodes, so that every problem (unknown or repeated keys, wrong shapes) is
// reported at its file:line:column with what to fix, all of them at once.
// It holds the error types (playbooks.Pos, Error and Errors are these) and
// the walker; each reader keeps its own schema and messages.
package yamlnode
