// Package iso reads and writes the ISO-9660 images that carry a site repository into an
// air-gapped datacenter, without mounting them (go-diskfs gives an fs.FS over the image).
//
// An image holds a bare repository (by default /repo.git), a SHA256SUMS manifest covering
// every other file of the image, and SHA256SUMS.sig, a detached signature of the manifest
// (OpenPGP armored, or an SSH signature with namespace "mk8s-iso") by a key the
// reconciler trusts.
//
// The same image with standard tools (what `mk8s iso build` does in pure Go):
//
//	git clone --bare --no-local SITE staging/repo.git
//	cd staging && find repo.git -type f -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS
//	ssh-keygen -Y sign -f KEY -n mk8s-iso SHA256SUMS     # writes SHA256SUMS.sig
//	# or: gpg --armor --detach-sign -o SHA256SUMS.sig SHA256SUMS
//	xorriso -as mkisofs -R -J -joliet-long -V MK8S-SITE -o site.iso .
//
// It owns the image format: open, check integrity, extract, build. It must not verify
// commits, fetch or touch the local site repository: the source package does that.
package iso
