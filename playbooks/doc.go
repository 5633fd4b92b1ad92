// Package playbooks is the orchestrator: the YAML playbook format, its
// validation (every error with file:line:column), the registry of
// self-describing actions, and the engine that runs a playbook against
// containers with dependencies, conditions (CEL), timeouts, retries,
// approvals, a durable journal and resume. The CLI, the TUI and drills all
// drive it.
package playbooks
