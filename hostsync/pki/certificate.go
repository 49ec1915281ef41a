package pki

import (
	"crypto/x509"
	"time"
)

// Certificate is one certificate a node holds (a CA, a leaf, or the client certificate
// a kubeconfig embeds), as status, metrics and the daemon's renewal timer see it.
type Certificate struct {
	Node     string    `json:"node"`
	Path     string    `json:"path"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"notAfter"`
	// RenewAt is when a reconcile re-issues it (when renew of its lifetime is left);
	// zero for a CA, which mk8s never renews on its own.
	RenewAt time.Time `json:"renewAt,omitzero"`
	CA      bool      `json:"ca,omitempty"`
}

// DescribeCertificate reports c, held by node at path, renewed when renew (a fraction of its
// lifetime) is left.
func DescribeCertificate(node, path string, c *x509.Certificate, renew float64) Certificate {
	out := Certificate{Node: node, Path: path, Subject: c.Subject.String(), Issuer: c.Issuer.CommonName, NotAfter: c.NotAfter.UTC(), CA: c.IsCA}
	if !c.IsCA {
		life := c.NotAfter.Sub(c.NotBefore)
		out.RenewAt = c.NotAfter.Add(-time.Duration(renew * float64(life))).UTC()
	}
	return out
}

// NextRenewal is the earliest RenewAt of certs, and false when none is renewable.
func NextRenewal(certs []Certificate) (time.Time, bool) {
	var next time.Time
	for _, c := range certs {
		if !c.RenewAt.IsZero() && (next.IsZero() || c.RenewAt.Before(next)) {
			next = c.RenewAt
		}
	}
	return next, !next.IsZero()
}
