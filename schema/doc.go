// Package schema owns the site repository format: the CUE schemas (cue/*.cue) and the
// platform defaults of the seven service configurations (defaults/), both embedded; the
// Go types of every site document (types.go, services.go); the loader that reads a site
// from any fs.FS (a directory or a git tree) keeping the source line of every field; the
// single-document and cross-document validation; the secrets convention (ENC[AGE,…]);
// and the recurse-merge of a service override over its platform defaults
// (RecurseMerge, EffectiveConfig).
//
// How a Load works:
//
//   - every *.yaml/*.yml/*.cue file outside hidden paths is decoded (YAML with
//     cuelang.org/go/encoding/yaml, which keeps positions; YAML files in parallel);
//   - each document is routed by apiVersion/kind (never by path) to a CUE definition;
//   - the definition is flattened once per Load into a Go "plan" (fields, required
//     fields, patterns, list elements, defaults, descriptions from @mk8s(allowed=…)); a
//     document is checked by walking it against the plan, asking CUE only about leaf
//     values, each distinct value once (leaves that are a kind or a conjunction of
//     regular expressions are checked with Go's regexp, which is what CUE's =~ runs;
//     see fastLeaf). Whole-document CUE unification costs about
//     0.5 ms a document (too slow for 2,000 volumes) and stops at the first errors of a
//     struct; the walk reports every error, in mk8s's words;
//   - Go rules that CUE cannot say well (CIDRs, quantities, host keys, one volume source,
//     Loki retention multiple of 24h, …) and the cross-document rules follow.
//
// The compiled CUE schema lives in one cue.Context per Load: a Context is not safe for
// concurrent use, and compiling costs about 5 ms, so there is no package-level state.
//
// It is pure: it reads the fs.FS it is given and nothing else, never touches a host or a
// cluster, and reports every problem as a diag.Diagnostic naming file, line and field.
// It must not import the reconciler, hostsync or seed packages.
package schema
