// Package solutiontest builds the opened archives of an example Solution in memory:
// solution.Archive values as solution.Open returns them for a valid ISO, and an
// OpenFunc serving them by path. Tests of the renderer and of the pipeline use them
// where reading a real ISO is not what they test.
//
// It must not read files or build images; tests that need a real archive build the
// ISO (reconciler/solution's tests own that).
package solutiontest
