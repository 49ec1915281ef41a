// Package sitegen generates large, valid, deterministic site repositories for
// benchmarks and tests (a 200-node / 2,000-volume site by default). It owns nothing else:
// it writes only the files it is asked to, and never reads the network or a cluster.
package sitegen
