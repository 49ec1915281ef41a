package seed

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/metalk8s/mk8s/reconciler/source/config"
	"github.com/metalk8s/mk8s/reconciler/source/verify"
)

// The seeded repository validates, and real `git verify-commit` accepts its first commit
// with only the OpenPGP public key.
func TestSeedRoundTripOpenPGP(t *testing.T) {
	k := newPGPKey(t, "Site Signer <signer@example.invalid>")
	dir := filepath.Join(t.TempDir(), "site")
	o := flagOptions(dir, k.private)
	o.AuthorName, o.AuthorEmail = "", "" // from the key's identity
	res, err := Seed(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Signer.Format != "openpgp" || res.Signer.Fingerprint != k.fingerprint {
		t.Fatalf("signer = %+v, want openpgp %s", res.Signer, k.fingerprint)
	}
	if !strings.Contains(res.Signer.PublicKey, "BEGIN PGP PUBLIC KEY BLOCK") {
		t.Fatalf("signer public key is not an armored public key: %q", res.Signer.PublicKey)
	}
	checkWorkTree(t, dir, res)
	author := run(t, nil, "git", "-C", dir, "log", "-1", "--format=%an <%ae>")
	if strings.TrimSpace(author) != "Site Signer <signer@example.invalid>" {
		t.Fatalf("author = %q, want the key's identity", author)
	}
	t.Run("verify-commit", func(t *testing.T) {
		status, fpr := verifyPGP(t, filepath.Join(dir, ".git"), "HEAD", k)
		if status != "G" || fpr != k.fingerprint {
			t.Fatalf("git: signature %s by %s, want G by %s", status, fpr, k.fingerprint)
		}
		// Another key must not verify it: the check above is not vacuous.
		other := newPGPKey(t, "Other <other@example.invalid>")
		home := gnupgHome(t)
		run(t, []string{"GNUPGHOME=" + home}, "gpg", "--batch", "--import", other.public)
		if out, err := runErr([]string{"GNUPGHOME=" + home}, "git", "-C", dir, "verify-commit", "HEAD"); err == nil {
			t.Fatalf("verify-commit with another key succeeded:\n%s", out)
		}
	})
	t.Run("validate", func(t *testing.T) { validateSite(t, dir) })
}

// Same with an OpenSSH key: an SSH signature, namespace git, that git verifies with an
// allowed_signers file.
func TestSeedRoundTripSSH(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	dir := filepath.Join(t.TempDir(), "site")
	res, err := Seed(context.Background(), flagOptions(dir, k.private))
	if err != nil {
		t.Fatal(err)
	}
	if res.Signer.Format != "ssh" || !strings.HasPrefix(res.Signer.Fingerprint, "SHA256:") {
		t.Fatalf("signer = %+v, want ssh SHA256:…", res.Signer)
	}
	checkWorkTree(t, dir, res)
	t.Run("verify-commit", func(t *testing.T) {
		out, err := verifySSH(t, filepath.Join(dir, ".git"), "HEAD", k)
		if err != nil || !strings.Contains(out, `Good "git" signature`) {
			t.Fatalf("git verify-commit: %v\n%s", err, out)
		}
		other := newSSHKey(t, "other@example.invalid")
		if out, err := verifySSH(t, filepath.Join(dir, ".git"), "HEAD", other); err == nil {
			t.Fatalf("verify-commit with another key succeeded:\n%s", out)
		}
	})
	t.Run("validate", func(t *testing.T) { validateSite(t, dir) })
}

// checkWorkTree checks a non-bare seed: the branch, a clean work tree holding exactly the
// committed files, an object store git fsck accepts, and the files the brief names.
func checkWorkTree(t *testing.T, dir string, res Result) {
	t.Helper()
	head := strings.TrimSpace(run(t, nil, "git", "-C", dir, "rev-parse", "HEAD"))
	if head != res.Commit {
		t.Fatalf("HEAD = %s, result says %s", head, res.Commit)
	}
	if b := strings.TrimSpace(run(t, nil, "git", "-C", dir, "symbolic-ref", "HEAD")); b != "refs/heads/main" {
		t.Fatalf("HEAD -> %s, want refs/heads/main", b)
	}
	if st := run(t, nil, "git", "-C", dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Fatalf("work tree not clean after seed:\n%s", st)
	}
	run(t, nil, "git", "-C", dir, "fsck", "--strict")
	ls := strings.Fields(run(t, nil, "git", "-C", dir, "ls-tree", "-r", "--name-only", "HEAD"))
	if !reflect.DeepEqual(ls, res.Files) {
		t.Fatalf("committed %v, result says %v", ls, res.Files)
	}
	want := []string{"README.md", "cluster.yaml", "nodes/bootstrap.yaml", "services/alertmanager.yaml",
		"services/dex.yaml", "services/grafana.yaml", "services/loki.yaml", "services/prometheus.yaml",
		"services/shell-ui.yaml", "services/ui.yaml", "solutions.yaml", "storageclasses/metalk8s.yaml"}
	if !reflect.DeepEqual(res.Files, want) {
		t.Fatalf("files = %v, want %v", res.Files, want)
	}
	if n := strings.TrimSpace(run(t, nil, "git", "-C", dir, "rev-list", "--count", "HEAD")); n != "1" {
		t.Fatalf("%s commits, want 1", n)
	}
}

// The bootstrap node is declared as after bootstrap.sh: roles bootstrap, etcd, infra,
// master; taints bootstrap and infra; the SSH annotations; the pinned host key.
func TestSeedBootstrapNode(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	dir := filepath.Join(t.TempDir(), "site")
	o := flagOptions(dir, k.private)
	o.Node.SSHUser = "metalk8s"
	o.Node.SSHPort = 2222
	if _, err := Seed(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var n struct {
		Metadata struct {
			Name        string
			Labels      map[string]string
			Annotations map[string]string
		}
		Spec struct {
			Taints []map[string]string
		}
	}
	readYAML(t, filepath.Join(dir, "nodes/bootstrap.yaml"), &n)
	wantLabels := map[string]string{"node-role.kubernetes.io/bootstrap": "", "node-role.kubernetes.io/etcd": "",
		"node-role.kubernetes.io/infra": "", "node-role.kubernetes.io/master": ""}
	if !maps.Equal(n.Metadata.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", n.Metadata.Labels, wantLabels)
	}
	wantTaints := []map[string]string{{"key": "node-role.kubernetes.io/bootstrap", "effect": "NoSchedule"},
		{"key": "node-role.kubernetes.io/infra", "effect": "NoSchedule"}}
	if !reflect.DeepEqual(n.Spec.Taints, wantTaints) {
		t.Errorf("taints = %v, want %v", n.Spec.Taints, wantTaints)
	}
	wantAnn := map[string]string{
		"metalk8s.scality.com/ssh-host":     "10.213.1.11",
		"metalk8s.scality.com/ssh-host-key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN7ZW4mVvUxrNMAxeamI1vKIYUDUIE6kpSotZhVDPzsB",
		"metalk8s.scality.com/ssh-key-path": "/etc/metalk8s/pki/salt-bootstrap",
		"metalk8s.scality.com/ssh-port":     "2222",
		"metalk8s.scality.com/ssh-sudo":     "true", // forced: the user is not root
		"metalk8s.scality.com/ssh-user":     "metalk8s",
	}
	if !maps.Equal(n.Metadata.Annotations, wantAnn) {
		t.Errorf("annotations = %v, want %v", n.Metadata.Annotations, wantAnn)
	}
}

// Every service file parses, holds its kind with the apiVersion the catalogue writes
// first, and an empty spec: the defaults apply until the operator uncomments something.
func TestSeedServiceFilesAreMinimalOverrides(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	dir := filepath.Join(t.TempDir(), "site")
	if _, err := Seed(context.Background(), flagOptions(dir, k.private)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"alertmanager": "AlertmanagerConfig", "dex": "DexConfig", "grafana": "GrafanaConfig",
		"loki": "LokiConfig", "prometheus": "PrometheusConfig", "shell-ui": "ShellUIConfig", "ui": "UIConfig"}
	for file, kind := range want {
		var doc map[string]any
		readYAML(t, filepath.Join(dir, "services", file+".yaml"), &doc)
		if doc["kind"] != kind || !reflect.DeepEqual(doc["spec"], map[string]any{}) || len(doc) != 3 {
			t.Errorf("services/%s.yaml = %v, want kind %s and spec {}", file, doc, kind)
		}
		// The commented examples are there: uncommenting them gives a document whose spec
		// holds the documented customisations.
		b, _ := os.ReadFile(filepath.Join(dir, "services", file+".yaml"))
		if !strings.Contains(string(b), "\n# spec:\n") {
			t.Errorf("services/%s.yaml has no commented example spec", file)
		}
	}
	for _, s := range []string{"replicas:", "inhibit_rules:", "webhook_configs:", "slack_configs:", "email_configs:",
		"retention_time:", "retention_size:", "enable_admin_api:", "node_filesystem_almost_out_of_space:",
		"extraRules:", "staticPasswords:", "staticClients:", "connectors:", "enablePasswordDB:",
		"retention_period:", "basePath:", "providerUrl:", "clientId:", "scopes:", "subLogin:", "main:"} {
		found := false
		for file := range want {
			b, _ := os.ReadFile(filepath.Join(dir, "services", file+".yaml"))
			for _, l := range strings.Split(string(b), "\n") {
				found = found || strings.HasPrefix(l, "#") && strings.Contains(l, s)
			}
		}
		if !found {
			t.Errorf("no service file documents %s", s)
		}
	}
}

// Uncommenting the examples of every service file gives valid overrides that the loader
// accepts (the examples are not just prose).
func TestSeedServiceExamplesUncommentToValidYAML(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	dir := filepath.Join(t.TempDir(), "site")
	if _, err := Seed(context.Background(), flagOptions(dir, k.private)); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"alertmanager", "dex", "grafana", "loki", "prometheus", "shell-ui", "ui"} {
		b, err := os.ReadFile(filepath.Join(dir, "services", file+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		i := strings.Index(text, "\n# spec:\n")
		head := strings.Replace(text[:i+1], "spec: {}\n", "", 1)
		var lines []string
		for _, l := range strings.Split(text[i+1:], "\n") {
			// Uncomment one level: "# x" -> "x"; keep the explanatory "#   # ..." lines as comments.
			lines = append(lines, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
		}
		// The operator puts a generated hash in place of the placeholder (this one is
		// site-example's).
		uncommented := strings.Replace(head+strings.Join(lines, "\n"), "$2y$14$<generated-password-hash>",
			"$2y$14$HFBk.ceF59XJa8qrhSrrguKZpUIQNZTt4nJ8TW54mSZv/5XDmY642", 1)
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(uncommented), &doc); err != nil {
			t.Fatalf("services/%s.yaml uncommented is not YAML: %v\n%s", file, err, uncommented)
		}
		if spec, _ := doc["spec"].(map[string]any); len(spec) == 0 {
			t.Errorf("services/%s.yaml uncommented has an empty spec: %v", file, doc)
		}
		if err := os.WriteFile(filepath.Join(dir, "services", file+".yaml"), []byte(uncommented), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// With every example in force, the site still validates (clear-text placeholders of
	// credentials are warnings, not errors).
	validateSite(t, dir)
}

// Without Force a seed into an existing repository is refused and changes nothing; with
// Force it replaces the repository.
func TestSeedRefusesExistingRepositoryWithoutForce(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	dir := filepath.Join(t.TempDir(), "site")
	first, err := Seed(context.Background(), flagOptions(dir, k.private))
	if err != nil {
		t.Fatal(err)
	}
	// A local edit that must survive the refused seed.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	o := flagOptions(dir, k.private)
	o.Node.Name = "other"
	_, err = Seed(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "already holds a git repository") {
		t.Fatalf("seed over a repository: err = %v, want a refusal naming --force", err)
	}
	if after := snapshot(t, dir); !maps.Equal(before, after) {
		t.Fatalf("a refused seed changed the directory")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".mk8s-seed-*")); len(leftovers) > 0 {
		t.Fatalf("temporary directories left behind: %v", leftovers)
	}

	o.Force = true
	second, err := Seed(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if second.Commit == first.Commit {
		t.Fatal("--force kept the old commit")
	}
	if _, err := os.Stat(filepath.Join(dir, "nodes/bootstrap.yaml")); !os.IsNotExist(err) {
		t.Fatalf("--force left the old node file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); !os.IsNotExist(err) {
		t.Fatalf("--force left a file of the old repository: %v", err)
	}
	checkWorkTreeFiles(t, dir, second, "nodes/other.yaml")
	if out, err := verifySSH(t, filepath.Join(dir, ".git"), "HEAD", k); err != nil {
		t.Fatalf("verify-commit after --force: %v\n%s", err, out)
	}
}

func checkWorkTreeFiles(t *testing.T, dir string, res Result, want string) {
	t.Helper()
	if st := run(t, nil, "git", "-C", dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Fatalf("work tree not clean:\n%s", st)
	}
	if got := strings.TrimSpace(run(t, nil, "git", "-C", dir, "rev-parse", "HEAD")); got != res.Commit {
		t.Fatalf("HEAD = %s, want %s", got, res.Commit)
	}
	if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
		t.Fatal(err)
	}
}

// A non-empty directory that is not a repository is refused even with Force.
func TestSeedRefusesNonRepositoryDirectory(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data"), []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	for _, force := range []bool{false, true} {
		o := flagOptions(dir, k.private)
		o.Force = force
		if _, err := Seed(context.Background(), o); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("force=%v: err = %v, want a refusal", force, err)
		}
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Fatal("a refused seed changed the directory")
	}
}

// An empty existing directory is fine.
func TestSeedIntoEmptyDirectory(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	dir := t.TempDir()
	res, err := Seed(context.Background(), flagOptions(dir, k.private))
	if err != nil {
		t.Fatal(err)
	}
	checkWorkTreeFiles(t, dir, res, "cluster.yaml")
}

// Bare gives a bare repository (no work tree) whose first commit verifies; its tree is
// the same as the non-bare seed's.
func TestSeedBare(t *testing.T) {
	k := newPGPKey(t, "Site Signer <signer@example.invalid>")
	base := t.TempDir()
	bare := filepath.Join(base, "site.git")
	o := flagOptions(bare, k.private)
	o.Bare = true
	res, err := Seed(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(run(t, nil, "git", "-C", bare, "rev-parse", "--is-bare-repository")); got != "true" {
		t.Fatalf("is-bare-repository = %s", got)
	}
	for _, f := range []string{"cluster.yaml", ".git", "nodes"} {
		if _, err := os.Stat(filepath.Join(bare, f)); !os.IsNotExist(err) {
			t.Fatalf("bare repository has %s", f)
		}
	}
	if got := strings.TrimSpace(run(t, nil, "git", "--git-dir", bare, "rev-parse", "refs/heads/main")); got != res.Commit {
		t.Fatalf("main = %s, want %s", got, res.Commit)
	}
	run(t, nil, "git", "--git-dir", bare, "fsck", "--strict")
	if status, fpr := verifyPGP(t, bare, "main", k); status != "G" || fpr != k.fingerprint {
		t.Fatalf("signature %s by %s", status, fpr)
	}
	// A clone has the seeded files, and they validate.
	clone := filepath.Join(base, "clone")
	run(t, nil, "git", "clone", "-q", bare, clone)
	nonBare := filepath.Join(base, "site")
	o.Bare, o.Dir = false, nonBare
	if _, err := Seed(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	bareTree := run(t, nil, "git", "--git-dir", bare, "rev-parse", "main^{tree}")
	if tree := run(t, nil, "git", "-C", nonBare, "rev-parse", "HEAD^{tree}"); tree != bareTree {
		t.Fatalf("bare tree %s differs from non-bare %s for the same inputs", bareTree, tree)
	}
	t.Run("validate", func(t *testing.T) { validateSite(t, clone) })
}

// The same inputs give the same files, tree and commit payload. With an SSH (Ed25519) key
// the commit hash is the same too; OpenPGP signatures carry a random salt notation
// (go-crypto's default, a protection against fault attacks on EdDSA), so only the signed
// payload is compared for them.
func TestSeedDeterministic(t *testing.T) {
	ssh := newSSHKey(t, "signer@example.invalid")
	pgp := newPGPKey(t, "Site Signer <signer@example.invalid>")
	when := time.Now().UTC().Truncate(time.Second)
	for _, key := range []string{ssh.private, pgp.private} {
		var commits, payloads []string
		var trees []map[string]string
		for i := 0; i < 2; i++ {
			dir := filepath.Join(t.TempDir(), "site")
			o := flagOptions(dir, key)
			o.Time = when
			res, err := Seed(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			commits = append(commits, res.Commit)
			payloads = append(payloads, unsignedPayload(run(t, nil, "git", "-C", dir, "cat-file", "commit", "HEAD")))
			files := map[string]string{}
			for _, f := range res.Files {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				files[f] = string(b)
			}
			trees = append(trees, files)
		}
		if !maps.Equal(trees[0], trees[1]) {
			t.Errorf("%s: two seeds wrote different files", key)
		}
		if payloads[0] != payloads[1] {
			t.Errorf("%s: two seeds made different commit payloads:\n%s\n%s", key, payloads[0], payloads[1])
		}
		if key == ssh.private && commits[0] != commits[1] {
			t.Errorf("%s: two seeds made commits %s and %s", key, commits[0], commits[1])
		}
	}
}

// unsignedPayload drops the gpgsig header (and its continuation lines) of a raw commit.
func unsignedPayload(raw string) string {
	var out []string
	inSig := false
	for _, l := range strings.Split(raw, "\n") {
		switch {
		case strings.HasPrefix(l, "gpgsig "):
			inSig = true
		case inSig && strings.HasPrefix(l, " "):
		default:
			inSig = false
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Bad values are refused with the flag named, before anything is written.
func TestSeedBadInputChangesNothing(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	cases := map[string]struct {
		mod  func(*Options)
		want string
	}{
		"cidr":      {func(o *Options) { o.Network.ControlPlaneCIDRs = []string{"10.213.1.0/33"} }, "--control-plane-cidr"},
		"host bits": {func(o *Options) { o.Network.WorkloadPlaneCIDRs = []string{"10.213.2.1/24"} }, "host bits"},
		"ssh host":  {func(o *Options) { o.Node.SSHHost = "10.213.9.9" }, "not in the control-plane network"},
		"ssh host zone": {func(o *Options) {
			o.Network.ControlPlaneCIDRs, o.Node.SSHHost = []string{"fd00:1::/64"}, "fd00:1::11%eth0"
		}, `--ssh-host: "fd00:1::11%eth0" is not an IP address`},
		"name":          {func(o *Options) { o.Node.Name = "Boot_Strap" }, "--name"},
		"host key":      {func(o *Options) { o.Node.SSHHostKey = "ssh-ed25519 notbase64" }, "--ssh-host-key"},
		"archive":       {func(o *Options) { o.Network.Archives = []string{"metalk8s.iso"} }, "--archive"},
		"overlap":       {func(o *Options) { o.Network.PodsCIDR = "10.213.0.0/16" }, "overlaps"},
		"metallb":       {func(o *Options) { b := true; o.Network.MetalLB = &b }, "--ingress-ip"},
		"no key":        {func(o *Options) { o.SigningKey = "" }, "--signing-key"},
		"public key":    {func(o *Options) { o.SigningKey = k.public }, "public key"},
		"missing key":   {func(o *Options) { o.SigningKey = "/nonexistent/key" }, "signing key"},
		"branch":        {func(o *Options) { o.Branch = "bad..branch" }, "--branch"},
		"version":       {func(o *Options) { o.PlatformVersion = "2.10" }, "--platform-version"},
		"mtu":           {func(o *Options) { o.Network.WorkloadPlaneMTU = 100 }, "--workload-plane-mtu"},
		"bootstrap cfg": {func(o *Options) { o.BootstrapConfig = "/nonexistent/bootstrap.yaml" }, "bootstrap config"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "site")
			o := flagOptions(dir, k.private)
			c.mod(&o)
			_, err := Seed(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one naming %q", err, c.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("a refused seed created %s", dir)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".mk8s-seed-*")); len(leftovers) > 0 {
				t.Fatalf("temporary directories left behind: %v", leftovers)
			}
		})
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Protected keys need their passphrase; with it, the commit verifies.
func TestSeedProtectedSigningKeys(t *testing.T) {
	t.Run("ssh", func(t *testing.T) {
		dir := t.TempDir()
		k := sshKey{private: filepath.Join(dir, "signer"), public: filepath.Join(dir, "signer.pub")}
		run(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret", "-C", "signer@example.invalid", "-f", k.private)
		b, _ := os.ReadFile(k.public)
		k.publicLine = strings.TrimSpace(string(b))
		site := filepath.Join(t.TempDir(), "site")
		o := flagOptions(site, k.private)
		if _, err := Seed(context.Background(), o); err == nil || !strings.Contains(err.Error(), "passphrase") {
			t.Fatalf("err = %v, want a passphrase error", err)
		}
		o.SigningKeyPassphrase = []byte("wrong")
		if _, err := Seed(context.Background(), o); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
			t.Fatalf("err = %v, want a wrong passphrase error", err)
		}
		o.SigningKeyPassphrase = []byte("s3cret")
		if _, err := Seed(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if out, err := verifySSH(t, filepath.Join(site, ".git"), "HEAD", k); err != nil {
			t.Fatalf("verify-commit: %v\n%s", err, out)
		}
	})
	t.Run("openpgp", func(t *testing.T) {
		home := gnupgHome(t)
		env := []string{"GNUPGHOME=" + home}
		// A low S2K count keeps the test fast; the protection is the same kind.
		if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte("s2k-count 65536\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		pass := []string{"--batch", "--pinentry-mode", "loopback", "--passphrase", "s3cret"}
		run(t, env, "gpg", append(pass, "--quick-gen-key", "Site Signer <signer@example.invalid>", "ed25519", "sign", "never")...)
		out := run(t, env, "gpg", "--batch", "--list-secret-keys", "--with-colons")
		var k pgpKey
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Split(l, ":"); len(f) > 9 && f[0] == "fpr" && k.fingerprint == "" {
				k.fingerprint = f[9]
			}
		}
		dir := t.TempDir()
		k.private, k.public = filepath.Join(dir, "signer.asc"), filepath.Join(dir, "signer.pub.asc")
		if err := os.WriteFile(k.private, []byte(run(t, env, "gpg", append(pass, "--armor", "--export-secret-keys", k.fingerprint)...)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(k.public, []byte(run(t, env, "gpg", "--batch", "--armor", "--export", k.fingerprint)), 0o644); err != nil {
			t.Fatal(err)
		}
		site := filepath.Join(t.TempDir(), "site")
		o := flagOptions(site, k.private)
		if _, err := Seed(context.Background(), o); err == nil || !strings.Contains(err.Error(), "passphrase") {
			t.Fatalf("err = %v, want a passphrase error", err)
		}
		o.SigningKeyPassphrase = []byte("wrong")
		if _, err := Seed(context.Background(), o); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
			t.Fatalf("err = %v, want a wrong passphrase error", err)
		}
		o.SigningKeyPassphrase = []byte("s3cret")
		if _, err := Seed(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if status, fpr := verifyPGP(t, filepath.Join(site, ".git"), "HEAD", k); status != "G" || fpr != k.fingerprint {
			t.Fatalf("signature %s by %s", status, fpr)
		}
	})
}

// Seeding on the bootstrap node itself: the SSH host is the local address in the
// control-plane network, and the machine's own ed25519 host key is pinned (read from
// disk, never learnt over the network). Loopback stands for the control plane here.
func TestSeedOnTheBootstrapNodeFindsLocalAddressAndHostKey(t *testing.T) {
	k := newSSHKey(t, "signer@example.invalid")
	dir := filepath.Join(t.TempDir(), "site")
	o := flagOptions(dir, k.private)
	o.Network.ControlPlaneCIDRs = []string{"127.0.0.0/8"}
	o.Network.WorkloadPlaneCIDRs = nil
	o.Node.SSHHost, o.Node.SSHHostKey = "", ""
	res, err := Seed(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var n struct {
		Metadata struct{ Annotations map[string]string }
	}
	readYAML(t, filepath.Join(dir, "nodes/bootstrap.yaml"), &n)
	if h := n.Metadata.Annotations["metalk8s.scality.com/ssh-host"]; !strings.HasPrefix(h, "127.") {
		t.Fatalf("ssh-host = %q, want the loopback address", h)
	}
	local, err := os.ReadFile(LocalHostKeyFile)
	if err != nil {
		if !strings.Contains(strings.Join(res.Warnings, "\n"), "no SSH host key pinned") {
			t.Fatalf("no host key on this machine and no warning: %q", res.Warnings)
		}
		return
	}
	want, err := hostKeyLine(string(local))
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Metadata.Annotations["metalk8s.scality.com/ssh-host-key"]; got != want {
		t.Fatalf("ssh-host-key = %q, want this machine's %q", got, want)
	}
}

// With ReconcilerConfig, the reconciler's own configuration is written, the reconciler's
// loader accepts it, it follows the seeded repository, and the trust file it names lets
// real git verify the first commit.
func TestSeedWritesReconcilerConfig(t *testing.T) {
	t.Run("ssh", func(t *testing.T) {
		k := newSSHKey(t, "signer@example.invalid")
		base := t.TempDir()
		bare := filepath.Join(base, "site.git")
		o := flagOptions(bare, k.private)
		o.Bare, o.ReconcilerConfig = true, filepath.Join(base, "etc/mk8s/reconciler.yaml")
		res, err := Seed(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		cfg, diags := config.Load(o.ReconcilerConfig)
		if diags.HasErrors() {
			t.Fatalf("reconciler config refused:\n%v", diags.Err())
		}
		if cfg.Source.URL != bare || cfg.Source.Ref != "main" || cfg.Trust.Mode != "range" {
			t.Fatalf("config = %+v", cfg)
		}
		if want := []string{o.ReconcilerConfig, cfg.Trust.AllowedSignersFile}; !reflect.DeepEqual(res.ReconcilerFiles, want) {
			t.Fatalf("reconciler files = %v, want %v", res.ReconcilerFiles, want)
		}
		mk8sVerifies(t, cfg, res.Commit, "ssh")
		out, err := runErr(nil, "git", "--git-dir", bare, "-c", "gpg.ssh.allowedSignersFile="+cfg.Trust.AllowedSignersFile,
			"verify-commit", "main")
		if err != nil || !strings.Contains(out, `Good "git" signature for signer@example.invalid`) {
			t.Fatalf("verify-commit with the written allowed_signers: %v\n%s", err, out)
		}

		// A second seed does not overwrite the configuration without Force.
		before := snapshot(t, filepath.Dir(o.ReconcilerConfig))
		o2 := flagOptions(filepath.Join(base, "other.git"), k.private)
		o2.Bare, o2.ReconcilerConfig = true, o.ReconcilerConfig
		if _, err := Seed(context.Background(), o2); err == nil || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("err = %v, want a refusal", err)
		}
		if !maps.Equal(before, snapshot(t, filepath.Dir(o.ReconcilerConfig))) {
			t.Fatal("a refused seed changed the reconciler configuration")
		}
		if _, err := os.Stat(o2.Dir); !os.IsNotExist(err) {
			t.Fatal("a refused seed created the repository")
		}
	})
	t.Run("openpgp", func(t *testing.T) {
		k := newPGPKey(t, "Site Signer <signer@example.invalid>")
		base := t.TempDir()
		dir := filepath.Join(base, "site")
		o := flagOptions(dir, k.private)
		o.ReconcilerConfig = filepath.Join(base, "reconciler.yaml")
		res, err := Seed(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		cfg, diags := config.Load(o.ReconcilerConfig)
		if diags.HasErrors() {
			t.Fatalf("reconciler config refused:\n%v", diags.Err())
		}
		if cfg.Source.URL != filepath.Join(dir, ".git") || len(cfg.Trust.OpenPGPKeyFiles) != 1 {
			t.Fatalf("config = %+v", cfg)
		}
		mk8sVerifies(t, cfg, res.Commit, "openpgp")
		written := pgpKey{public: cfg.Trust.OpenPGPKeyFiles[0], fingerprint: k.fingerprint}
		if status, fpr := verifyPGP(t, cfg.Source.URL, "main", written); status != "G" || fpr != k.fingerprint {
			t.Fatalf("signature %s by %s with the written trust file", status, fpr)
		}
	})
}

// mk8sVerifies checks the commit with the reconciler's own verifier and the trust the
// configuration names.
func mk8sVerifies(t *testing.T, cfg *config.Config, commit, format string) {
	t.Helper()
	trust, err := verify.LoadTrust(verify.TrustOptions{OpenPGPKeyFiles: cfg.Trust.OpenPGPKeyFiles,
		AllowedSignersFile: cfg.Trust.AllowedSignersFile})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(cfg.Source.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := trust.Commit(c)
	if err != nil || signed.Format != format {
		t.Fatalf("mk8s verify: %+v, %v", signed, err)
	}
}
