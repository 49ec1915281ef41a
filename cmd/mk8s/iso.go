package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/metalk8s/mk8s/reconciler/source"
	"github.com/metalk8s/mk8s/reconciler/source/config"
	"github.com/metalk8s/mk8s/reconciler/source/iso"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
)

// newISOCmd groups the air-gap commands: a signed site repository carried on an ISO image.
func newISOCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "iso",
		Short: "Carry a signed site repository into an air-gapped site on an ISO image",
		Long: `An mk8s ISO image carries a bare site repository (/repo.git), a SHA256SUMS manifest
covering every file of the image, and SHA256SUMS.sig, a detached signature of the manifest
(OpenPGP armored, or an SSH signature with namespace "mk8s-iso") by a key the reconciler
configuration trusts. Images are read without mounting.

Equivalent image with standard tools:
  git clone --bare --no-local SITE staging/repo.git
  cd staging && find repo.git -type f -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS
  ssh-keygen -Y sign -f KEY -n mk8s-iso SHA256SUMS        # writes SHA256SUMS.sig
  xorriso -as mkisofs -R -J -joliet-long -V MK8S-SITE -o site.iso .`,
	}
	cmd.AddCommand(newISOImportCmd(g, false), newISOImportCmd(g, true), newISOBuildCmd(g))
	return cmd
}

// isoImportOptions are the flags of `iso import` and `iso inspect`.
type isoImportOptions struct {
	configPath string
	repo       string
	ref        string
	repoInISO  string
}

func newISOImportCmd(g *globals, dryRun bool) *cobra.Command {
	o := &isoImportOptions{}
	cmd := &cobra.Command{
		Use:   "import ISO",
		Short: "Verify an ISO image and fast-forward the local site repository from it",
		Long: `import checks the image's SHA256SUMS manifest and its signature by a trusted key, verifies
every commit from the local branch head to the image's branch head (signatures by trusted
keys, fast-forward only), then copies the objects and moves the local branch. A refused
image changes nothing.`,
		Example: `  mk8s iso import /media/site.iso
  mk8s iso import --config /etc/mk8s/reconciler.yaml --repo /var/lib/mk8s/site.git site.iso`,
		Args: cobra.ExactArgs(1),
	}
	if dryRun {
		cmd.Use = "inspect ISO"
		cmd.Short = "Print an ISO image's content and verification result without changing anything"
		cmd.Long = "inspect runs every check import runs and prints the result; it writes nothing."
		cmd.Example = "  mk8s iso inspect site.iso -o json"
	}
	cmd.Flags().StringVar(&o.configPath, "config", config.DefaultPath, "reconciler configuration (trusted keys, local repository)")
	cmd.Flags().StringVar(&o.repo, "repo", "", "local bare site repository (default: source.url of the configuration when it is a local path)")
	cmd.Flags().StringVar(&o.ref, "ref", "", "branch (default: source.ref of the configuration)")
	cmd.Flags().StringVar(&o.repoInISO, "repo-in-iso", iso.DefaultRepo, "directory of the bare repository inside the image")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runISOImport(cmd.Context(), g, o, args[0], dryRun)
	}
	return cmd
}

func runISOImport(ctx context.Context, g *globals, o *isoImportOptions, image string, dryRun bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, diags := config.Load(o.configPath)
	if diags.HasErrors() {
		return &exitError{code: exitCodeError, err: diags.Err()}
	}
	repo, ref := o.repo, o.ref
	if repo == "" {
		if config.URLKind(cfg.Source.URL) != config.KindLocal {
			return &exitError{code: exitCodeError, err: fmt.Errorf("%s: source.url %q is not a local repository; pass --repo", cfg.File, cfg.Source.URL)}
		}
		repo = cfg.Source.URL
	}
	if ref == "" {
		ref = cfg.Source.Ref
	}
	trust, err := verify.LoadTrust(verify.TrustOptions{OpenPGPKeyFiles: cfg.Trust.OpenPGPKeyFiles, AllowedSignersFile: cfg.Trust.AllowedSignersFile})
	if err != nil {
		return &exitError{code: exitCodeError, err: fmt.Errorf("%s: %w", cfg.File, err)}
	}
	g.logger().Info("checking image", "iso", image, "repo", repo, "ref", ref, "dryRun", dryRun)
	res, err := source.Import(ctx, source.ImportOptions{
		ISO: image, RepoInISO: o.repoInISO, Repo: repo, Ref: ref, Mode: verify.Mode(cfg.Trust.Mode), Trust: trust, DryRun: dryRun,
	})
	if err != nil {
		return &exitError{code: exitCodeError, err: err}
	}
	return printData(g.stdout, g.output, res, func(w io.Writer) error { return printImport(w, res, repo, dryRun) })
}

func printImport(w io.Writer, res *source.ImportResult, repo string, dryRun bool) error {
	m := res.Manifest
	fmt.Fprintf(w, "image %s: %d files, manifest verified: %s key %s (%s)\n", res.ISO, res.Files, m.Format, m.Key, m.Signer)
	from := res.From
	if from == "" {
		from = "(none)"
	}
	fmt.Fprintf(w, "branch %s: local %s, image %s\n", res.Ref, short(from), short(res.To))
	fmt.Fprintf(w, "%d commits verified:\n", len(res.Commits))
	for _, c := range res.Commits {
		fmt.Fprintf(w, "  %s %s  [%s %s %s]\n", short(c.Commit), c.Subject, c.Format, c.Key, c.Signer)
	}
	switch {
	case dryRun:
		fmt.Fprintf(w, "nothing changed (inspect)\n")
	case res.Imported:
		fmt.Fprintf(w, "imported: %s %s fast-forwarded %s..%s (%d objects)\n", repo, res.Ref, short(from), short(res.To), res.Objects)
	default:
		fmt.Fprintf(w, "up to date: %s %s is already at %s\n", repo, res.Ref, short(res.To))
	}
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func newISOBuildCmd(g *globals) *cobra.Command {
	opts := iso.BuildOptions{}
	cmd := &cobra.Command{
		Use:   "build --repo DIR --signing-key KEY -o OUT.iso",
		Short: "Write an ISO image carrying a bare site repository and its signed manifest",
		Long: `build writes a Rock Ridge + Joliet ISO-9660 image (pure Go) holding the bare repository
as /repo.git, SHA256SUMS over every file and SHA256SUMS.sig. KEY is an unencrypted OpenSSH
private key (SSH signature, namespace "mk8s-iso") or an armored OpenPGP secret key.`,
		Example: `  mk8s iso build --repo /srv/git/site.git --signing-key ~/.ssh/id_ed25519 --image site.iso`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			sums, err := iso.Build(ctx, opts)
			if err != nil {
				return &exitError{code: exitCodeError, err: err}
			}
			res := struct {
				Image    string `json:"image"`
				Repo     string `json:"repo"`
				Files    int    `json:"files"`
				Manifest string `json:"manifest"`
			}{opts.Output, "/" + opts.RepoName, len(sums), iso.ManifestName}
			return printData(g.stdout, g.output, res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "wrote %s: %s, %d files covered by %s and signed\n", res.Image, res.Repo, res.Files, res.Manifest)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&opts.RepoDir, "repo", "", "bare site repository to carry")
	cmd.Flags().StringVar(&opts.SigningKeyFile, "signing-key", "", "private key signing the manifest (OpenSSH or armored OpenPGP)")
	cmd.Flags().StringVar(&opts.Output, "image", "", "image file to write (must not exist)")
	cmd.Flags().StringVar(&opts.RepoName, "repo-name", iso.DefaultRepo, "directory of the repository inside the image")
	cmd.Flags().StringVar(&opts.VolumeID, "volume-id", "MK8S-SITE", "ISO volume label")
	for _, f := range []string{"repo", "signing-key", "image"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}
