// Package progress is how far a long act (a capture, a restore) has got:
// a Count of files and bytes done against the totals known before it began,
// and the rate and time left worked out from it. The verbs fill it in, the
// playbook engine carries it in its events, and both front ends draw from
// the same numbers.
package progress
