// Package fake is an in-process container engine for unit tests of pure
// logic (resolution, identity checks, scheduling, retries, playbook flow): it
// implements runtime.Runtime, runtime.Stopper and runtime.NetworkAttacher over
// containers held in memory, counts every call and injects faults on demand.
// Its containers have no processes, PIDs or namespaces, so it never stands in
// for an engine in a test that claims engine behaviour: such tests run against
// Docker and containerd (runtime/runtimetest).
package fake
