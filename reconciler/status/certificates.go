package status

import (
	"cmp"
	"slices"
	"time"

	"github.com/metalk8s/mk8s/hostsync/pki"
)

// SummarizeCertificates is the status of the certificates the host half reported;
// nil when it reported none (the hosts were not reached, or the PKI is not managed).
// Authorities are listed once per path: every node holds copies of some CAs.
func SummarizeCertificates(certs []pki.Certificate) *CertificatesStatus {
	if len(certs) == 0 {
		return nil
	}
	out := &CertificatesStatus{Count: len(certs)}
	for _, c := range certs {
		ref := CertificateRef{Node: c.Node, Path: c.Path, NotAfter: stamp(c.NotAfter)}
		if out.NextExpiry == nil || c.NotAfter.Before(out.NextExpiry.NotAfter.Time) {
			out.NextExpiry = &ref
		}
		if c.CA && !slices.ContainsFunc(out.Authorities, func(a CertificateRef) bool { return a.Path == c.Path }) {
			out.Authorities = append(out.Authorities, ref)
		}
	}
	if next, ok := pki.NextRenewal(certs); ok {
		t := stamp(next)
		out.NextRenewal = &t
	}
	slices.SortFunc(out.Authorities, func(a, b CertificateRef) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// RenewalDue reports whether the recorded next renewal is at or before now.
func (s *SiteStatus) RenewalDue(now time.Time) bool {
	c := s.Certificates
	return c != nil && c.NextRenewal != nil && !now.Before(c.NextRenewal.Time)
}
