// Package procfs parses the /proc files Firebreak reads from the host side:
// a namespace's socket tables and routes, a process's stat, status and
// mountinfo, and the boot time. Parsers take the file's text, so tests and
// fuzzing feed them fixtures; Root reads them for a PID under a /proc mount.
package procfs
