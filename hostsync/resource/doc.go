// Package resource owns host state as data: typed resources (File, Directory, Symlink,
// SystemdUnit, Package, Sysctl, KernelModule, StaticPod) that each write a probe snippet,
// decide from the probed facts which step brings the host to the desired state, and write
// the shell snippet that performs that step. Probe snippets of all resources of a host run
// as one remote script (one round trip), and the chosen steps run as one more: the plan
// is the list of steps, and applying performs exactly that list. It does not dial hosts
// (package transport does) nor know about nodes and roles (package roles does).
package resource
