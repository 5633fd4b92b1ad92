// Package flock takes exclusive, non-blocking file locks that name their
// holder: the lock file holds one line saying who has it, so a process that
// finds the lock taken can say by whom. A lock dies with the process that
// holds it (flock(2)), so a crash leaves no stale lock behind.
package flock
