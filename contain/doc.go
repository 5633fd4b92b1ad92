// Package contain isolates a suspect container and undoes that isolation:
// network quarantine (drop rules in the container's network namespace,
// installed from the host over netlink, plus engine-level detach where the
// engine owns networking), pause, and release. Every act is written to a
// durable record before it happens, so release restores exactly the prior
// state even after Firebreak itself crashed.
package contain
