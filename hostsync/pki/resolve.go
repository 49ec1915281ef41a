package pki

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Recovery is the operator's one-shot answer to an authority that is missing or broken
// on the bootstrap node of a running cluster.
type Recovery int

const (
	// RecoveryNone refuses: nothing is changed on any host.
	RecoveryNone Recovery = iota
	// RecoveryRestore puts the backup back (mk8s reconcile --restore-ca).
	RecoveryRestore
	// RecoveryRecreate creates new CAs for what is missing or broken, and every
	// certificate they signed is re-issued (mk8s reconcile --recreate-ca).
	RecoveryRecreate
)

// ResolveInput is what Resolve decides from.
type ResolveInput struct {
	// Bootstrap is the CA minion's node name, for messages.
	Bootstrap string
	// Live holds the authority's files read on the bootstrap node; Unreadable those it
	// could not read, with why.
	Live       map[string][]byte
	Unreadable map[string]string
	// Backup is the state directory's copy (empty when there is none).
	Backup *Backup
	// Evidence lists "node:path" of certificates and kubeconfigs found on the nodes
	// (the bootstrap node's own included): a cluster runs, and a missing CA must not be
	// re-created under it. A CA group present on its own (brought by the operator) is no
	// such evidence.
	Evidence []string
	Recovery Recovery
	// CAKeyBits overrides CAKeyBits (tests).
	CAKeyBits int
	Now       time.Time
}

// Resolution is the authority to use and how it came to be.
type Resolution struct {
	Authority *Authority
	// Origin says, for each file the bootstrap node lacks, where its content comes from
	// ("generated", "restored from the backup"); files it holds are absent.
	Origin map[string]string
	// ToBackup are files the backup lacks (generated ones, or live ones adopted): they
	// are written to the backup before anything is written to a host.
	ToBackup map[string][]byte
}

// RefusedError is a PKI state mk8s will not repair on its own; nothing is changed on
// any host. It names the node and files, and the procedure.
type RefusedError struct{ Problems []string }

func (e *RefusedError) Error() string {
	return "PKI: " + strings.Join(e.Problems, "; ")
}

// Refused marks the error as one that stops the whole reconcile (hosts and objects).
func (e *RefusedError) Refused() bool { return true }

// Resolve decides the authority group by group (Groups): a group the bootstrap node
// holds is used as is (and must match the backup); a missing one is generated on a
// fresh cluster, finished from the backup after an interrupted first install, and
// otherwise refused unless in.Recovery says what to do.
func Resolve(in ResolveInput) (*Resolution, error) {
	res := &Resolution{Origin: map[string]string{}, ToBackup: map[string][]byte{}}
	if in.Backup == nil {
		in.Backup = &Backup{Files: map[string][]byte{}}
	}
	running := len(in.Evidence) > 0
	files := map[string][]byte{}
	var problems []string
	for _, g := range Groups() {
		got, origin, problem := resolveGroup(in, g, running)
		if problem != "" {
			problems = append(problems, problem)
			continue
		}
		maps.Copy(files, got)
		for p, o := range origin {
			res.Origin[p] = o
		}
		for _, p := range g {
			if !bytes.Equal(in.Backup.Files[p], got[p]) {
				res.ToBackup[p] = got[p]
			}
		}
	}
	if len(problems) > 0 {
		// The procedure once, after every problem that needs it.
		need := false
		for i, p := range problems {
			if q, ok := strings.CutSuffix(p, needsProcedure); ok {
				problems[i], need = q, true
			}
		}
		if need {
			problems = append(problems, procedure)
		}
		return nil, &RefusedError{Problems: problems}
	}
	a, err := Load(files)
	if err != nil {
		return nil, &RefusedError{Problems: []string{"node " + in.Bootstrap + ": " + err.Error()}}
	}
	res.Authority = a
	return res, nil
}

// needsProcedure marks a problem the recovery procedure answers.
const needsProcedure = "\x00procedure"

const procedure = "a CA is never re-created over a running cluster on mk8s' own (every node would stop trusting every other): " +
	"put the file back, or run `mk8s reconcile --restore-ca` to restore mk8s' backup, or `mk8s reconcile --recreate-ca` to create a new CA and re-issue every certificate it signed (docs/pki.md)"

func resolveGroup(in ResolveInput, g []string, running bool) (map[string][]byte, map[string]string, string) {
	var present, missing, unreadable []string
	for _, p := range g {
		switch {
		case in.Unreadable[p] != "":
			unreadable = append(unreadable, p+" ("+in.Unreadable[p]+")")
		case in.Live[p] != nil:
			present = append(present, p)
		default:
			missing = append(missing, p)
		}
	}
	backup := map[string][]byte{}
	for _, p := range g {
		if b, ok := in.Backup.Files[p]; ok {
			backup[p] = b
		}
	}
	hasBackup := len(backup) == len(g)
	node := "node " + in.Bootstrap + ": "
	fromBackup := func() (map[string][]byte, map[string]string, string) {
		origin := map[string]string{}
		for _, p := range g {
			if !bytes.Equal(in.Live[p], backup[p]) {
				origin[p] = "restored from the backup in " + in.Backup.Dir
			}
		}
		if err := checkGroup(g, backup); err != "" {
			return nil, nil, node + "the backup is unusable: " + err
		}
		return backup, origin, ""
	}
	generate := func() (map[string][]byte, map[string]string, string) {
		got, err := GenerateGroup(g, in.CAKeyBits, in.Now)
		if err != nil {
			return nil, nil, err.Error()
		}
		origin := map[string]string{}
		for _, p := range g {
			origin[p] = "generated"
		}
		return got, origin, ""
	}
	recovered := func(problem string) (map[string][]byte, map[string]string, string) {
		switch {
		case in.Recovery == RecoveryRestore && hasBackup:
			return fromBackup()
		case in.Recovery == RecoveryRecreate:
			return generate()
		case in.Recovery == RecoveryRestore:
			return nil, nil, problem + "; --restore-ca: the backup in " + in.Backup.Dir + " does not hold it"
		}
		return nil, nil, problem + needsProcedure
	}
	switch {
	case len(unreadable) > 0:
		return recovered(node + "unreadable " + strings.Join(unreadable, ", "))
	case len(missing) == 0:
		live := map[string][]byte{}
		for _, p := range g {
			live[p] = in.Live[p]
		}
		if err := checkGroup(g, live); err != "" {
			return recovered(node + err)
		}
		if hasBackup {
			for _, p := range g {
				if !bytes.Equal(live[p], backup[p]) {
					return nil, nil, node + p + " differs from mk8s' backup " + in.Backup.path(p) +
						": if the CA was replaced on purpose, move the backup directory " + in.Backup.Dir + " aside so that mk8s adopts the live CA"
				}
			}
		}
		return live, nil, ""
	case hasBackup && (!in.Backup.Installed || in.Recovery == RecoveryRestore):
		// An interrupted first install (or the operator's restore): the files present
		// must be the backup's, the others are written from it.
		for _, p := range present {
			if !bytes.Equal(in.Live[p], backup[p]) {
				return nil, nil, node + p + " differs from mk8s' backup " + in.Backup.path(p)
			}
		}
		return fromBackup()
	case len(present) > 0:
		return recovered(node + "partial CA material: " + strings.Join(present, ", ") + " present but " + strings.Join(missing, ", ") + " missing")
	case hasBackup || running:
		why := "the cluster already runs"
		if hasBackup {
			why = "mk8s installed it (backup in " + in.Backup.Dir + ")"
		} else if len(in.Evidence) > 0 {
			why = "the cluster already runs (" + strings.Join(firstN(in.Evidence, 3), ", ") + ")"
		}
		return recovered(fmt.Sprintf("%s%s is missing but %s", node, strings.Join(missing, ", "), why))
	}
	return generate()
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

// checkGroup validates one group's files; "" when they are good.
func checkGroup(g []string, files map[string][]byte) string {
	switch g[0] {
	case SAKeyPath:
		if err := checkSA(files[SAKeyPath], files[SAPubPath]); err != nil {
			return err.Error()
		}
		return ""
	case EncryptionKeyPath:
		if err := checkEncryptionKey(files[EncryptionKeyPath]); err != nil {
			return err.Error()
		}
		return ""
	}
	for _, d := range CADefs() {
		if d.CertPath == g[0] {
			if _, err := ParseCA(d, files[d.CertPath], files[d.KeyPath]); err != nil {
				return err.Error()
			}
		}
	}
	return ""
}
