// Package app is the case session every front end shares (the CLI today, the
// console and drills next): from the global options it opens the engine, the
// containment records, the evidence store with its spool and signer, builds
// the action registry once and hands out the playbook engine; it also holds
// the one target resolver every verb uses. Front ends map their flags or
// keys to it and print what it returns; it never prints.
package app
