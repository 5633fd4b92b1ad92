// Package recover backs up what a container needs to come back: its
// create-time configuration as the engine reports it, and the data of its
// volumes, split by content-defined chunking into content-addressed,
// compressed chunks stored once, under a signed snapshot manifest that
// lists every file. Reading never leaves a volume's root; verification
// re-reads every chunk. Restore and the planned, reversible recover of a
// compromised container build on these snapshots.
package recover
