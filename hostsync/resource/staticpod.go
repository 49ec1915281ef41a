package resource

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"strings"
)

// DigestPlaceholder is replaced in a static pod manifest by the config digest.
const DigestPlaceholder = "@@MK8S_CONFIG_DIGEST@@"

// StaticPod is a manifest in /etc/kubernetes/manifests whose annotation
// metalk8s.scality.com/config-digest carries the digest of the files the pod mounts, as
// MetalK8s computes it: md5 of the sha256 of each file joined with "-". The files mk8s
// manages count with the content it is about to write; the others (certificates, keys)
// with their live checksum. A changed file changes the manifest, and kubelet restarts
// the pod.
type StaticPod struct {
	File
	ConfigFiles []string
}

// ID implements Resource.
func (s *StaticPod) ID() string { return "StaticPod " + s.Path }

// DesiredFile implements Desired: the content is only known once probed.
func (s *StaticPod) DesiredFile() (string, []byte) { return s.Path, s.Content }

// StatPaths implements Batched.
func (s *StaticPod) StatPaths() []string { return []string{s.Path} }

// SumPaths implements Batched: the manifest and the files it mounts.
func (s *StaticPod) SumPaths() []string { return append([]string{s.Path}, s.ConfigFiles...) }

// Digest computes the config digest from the checksums of the config files.
func Digest(sums []string) string {
	h := md5.Sum([]byte(strings.Join(sums, "-")))
	return hex.EncodeToString(h[:])
}

// Render returns the manifest with the digest filled in.
func (s *StaticPod) Render(sums []string) []byte {
	return bytes.ReplaceAll(s.Content, []byte(DigestPlaceholder), []byte(Digest(sums)))
}

// Decide implements Resource.
func (s *StaticPod) Decide(_ string, c *Context) Step {
	sums := make([]string, len(s.ConfigFiles))
	for i, f := range s.ConfigFiles {
		if d, ok := c.Desired[f]; ok {
			sums[i] = d
		} else if live, ok := c.Sum[f]; ok {
			sums[i] = live
		} else {
			sums[i] = "absent"
		}
	}
	content := s.Render(sums)
	c.Desired[s.Path] = SHA256(content)
	return s.File.decide(c.fileFacts(s.Path), c, content)
}
