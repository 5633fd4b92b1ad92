// Package runtime is the seam between Firebreak and container engines. It
// defines the small Runtime interface that the verbs need, the types they share
// (Container, Details, Attachment), target resolution in Docker's order, and the
// identity check made before every destructive act. Engine adapters live in
// runtime/docker and runtime/containerd; this package imports none of the
// verbs.
package runtime
