// Package seed owns the generation of a new site repository (`mk8s seed`): the files of
// the initial site from a MetalK8s bootstrap.yaml or from flags, the operator README, and
// the first signed commit of the git repository that holds them. It writes only into the
// target directory it is given.
package seed
