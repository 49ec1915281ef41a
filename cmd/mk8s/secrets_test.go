package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/reconciler/secrets"
	"github.com/metalk8s/mk8s/reconciler/status"
)

// ageValue encrypts plaintext to r as an operator does (age -r … | base64 -w0).
func ageValue(t *testing.T, r age.Recipient, plaintext string) string {
	t.Helper()
	v, err := secrets.Encrypt(plaintext, r)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ageIdentityFile writes a fresh age identity in the age-keygen format.
func ageIdentityFile(t *testing.T, mode os.FileMode) (*age.X25519Identity, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "age.key")
	if err := os.WriteFile(p, []byte("# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return id, p
}

// secretSite copies site-example into a directory the test may edit.
func secretSite(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(siteExample)); err != nil {
		t.Fatal(err)
	}
	return dst
}

const secretPasswordField = "spec.notification.config.receivers[0].webhook_configs[0].http_config.basic_auth.password"

// setPassword gives the Alertmanager receiver of the site a basic-auth password, the
// value given (line 19 of services/alertmanager.yaml), replacing the previous one.
func setPassword(t *testing.T, dir, value string) {
	t.Helper()
	p := filepath.Join(dir, "services", "alertmanager.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if i := strings.Index(s, "              http_config:"); i >= 0 {
		j := strings.Index(s, "      inhibit_rules:")
		s = s[:i] + s[j:]
	}
	old := "              send_resolved: true\n"
	if !strings.Contains(s, old) {
		t.Fatalf("%s: no %q", p, old)
	}
	s = strings.Replace(s, old, old+"              http_config:\n                basic_auth:\n                  username: ops\n                  password: "+value+"\n", 1)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The reconciler decrypts ENC[AGE,…] credentials into the service ConfigMap; the same
// secret encrypted again changes nothing; a plan never shows the secret nor its
// ciphertext; without the identity, or with another one, or with a key file others can
// read, plan and reconcile fail naming file, line and field, and write nothing.
func TestEncryptedCredentials(t *testing.T) {
	env := kubeenv.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, key := ageIdentityFile(t, 0o600)
	dir := secretSite(t)
	base := []string{"--dir", dir, "--kubeconfig", env.Kubeconfig, "--objects-only"}
	withKey := append([]string{"--age-identity", key}, base...)
	const secret = "Rec31ver-pa55word"
	enc1 := ageValue(t, id.Recipient(), secret)
	setPassword(t, dir, enc1)

	readCM := func() (string, string) {
		t.Helper()
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: "metalk8s-monitoring", Name: "metalk8s-alertmanager-config"}, &cm); err != nil {
			t.Fatal(err)
		}
		return cm.Data["config.yaml"], cm.ResourceVersion
	}

	if out, errOut, err := runMk8s(append([]string{"reconcile", "--once"}, withKey...)...); err != nil {
		t.Fatalf("reconcile: %v\n%s%s", err, out, errOut)
	}
	cfg, rv := readCM()
	if !strings.Contains(cfg, "password: "+secret) || strings.Contains(cfg, "ENC[") {
		t.Fatalf("config.yaml does not hold the decrypted password:\n%s", cfg)
	}
	// validate has no identity and needs none.
	if out, errOut, err := runMk8s("validate", dir); err != nil {
		t.Errorf("validate of a site with an encrypted value: %v\n%s%s", err, out, errOut)
	}

	// The same secret, encrypted again (another ciphertext): nothing is written.
	enc2 := ageValue(t, id.Recipient(), secret)
	setPassword(t, dir, enc2)
	if out, _, err := runMk8s(append([]string{"plan", "--exit-code"}, withKey...)...); err != nil {
		t.Errorf("plan after re-encryption: exit %d, want 0 (no change)\n%s", exitCodeOf(err), out)
	}
	out, errOut, err := runMk8s(append([]string{"reconcile", "--once", "-vv"}, withKey...)...)
	if err != nil || !strings.HasPrefix(out, "Reconcile: 0 created, 0 configured,") {
		t.Fatalf("reconcile after re-encryption: %v\n%s%s", err, out, errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Errorf("reconcile -vv shows the secret:\n%s%s", out, errOut)
	}
	if _, rv2 := readCM(); rv2 != rv {
		t.Fatalf("re-encrypting the same secret rewrote the ConfigMap (resourceVersion %s -> %s)", rv, rv2)
	}

	// A new secret: the plan shows a change but neither secret nor any ciphertext.
	const newSecret = "N3w-rotated-pa55word"
	enc3 := ageValue(t, id.Recipient(), newSecret)
	setPassword(t, dir, enc3)
	for _, format := range []string{"text", "markdown", "json", "yaml"} {
		// -vv: the debug log goes to errOut, which must not show the secret either.
		out, errOut, err := runMk8s(append([]string{"plan", "--exit-code", "-vv", "-o", format}, withKey...)...)
		if exitCodeOf(err) != 2 {
			t.Errorf("plan -o %s: exit %d, want 2\n%s%s", format, exitCodeOf(err), out, errOut)
		}
		all := out + errOut
		if format == "text" && !strings.Contains(all, "password: '*** (before)'") {
			t.Errorf("plan does not show the password as changed and masked:\n%s", all)
		}
		if !strings.Contains(all, "metalk8s-alertmanager-config") {
			t.Errorf("plan -o %s does not show the Alertmanager ConfigMap:\n%s", format, all)
		}
		for _, leak := range []string{secret, newSecret, "ENC[", enc1[8:40], enc2[8:40], enc3[8:40]} {
			if strings.Contains(all, leak) {
				t.Errorf("plan -o %s shows %q:\n%s", format, leak, all)
			}
		}
	}

	// Failures: file:line: field, nothing written, no secret in the error.
	_, other := ageIdentityFile(t, 0o600)
	_, open := ageIdentityFile(t, 0o644)
	where := "services/alertmanager.yaml:19: " + secretPasswordField + ": "
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"no identity", nil, where + "is encrypted but the reconciler has no age identity; give the reconciler its age identity: secrets.ageIdentityFile in /etc/mk8s/reconciler.yaml (mk8s run), or --age-identity FILE"},
		{"wrong identity", []string{"--age-identity", other}, where + "cannot be decrypted: not encrypted to the reconciler's age identity (" + other + ")"},
		{"identity readable by others", []string{"--age-identity", open}, "--age-identity: age identity " + open + ": permissions 0644 are too open"},
	} {
		for _, cmd := range [][]string{{"plan", "--exit-code"}, {"reconcile", "--once"}} {
			out, errOut, err := runMk8s(append(append(cmd, tc.flags...), base...)...)
			if exitCodeOf(err) != 1 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s: exit %d, error %v\nwant %q", tc.name, cmd[0], exitCodeOf(err), err, tc.want)
				continue
			}
			all := out + errOut + err.Error()
			for _, leak := range []string{secret, newSecret, enc3[8:40]} {
				if strings.Contains(all, leak) {
					t.Errorf("%s %s shows %q:\n%s", tc.name, cmd[0], leak, all)
				}
			}
		}
		if cfg2, rv2 := readCM(); rv2 != rv || cfg2 != cfg {
			t.Errorf("%s: the ConfigMap was written (resourceVersion %s -> %s)", tc.name, rv, rv2)
		}
	}
}

// mk8s run loads secrets.ageIdentityFile of the reconciler config at start, and refuses
// a key file that group or others can read before doing anything.
func TestRunRefusesOpenAgeIdentity(t *testing.T) {
	base := t.TempDir()
	_, cfgPath, _ := seedForRun(t, base)
	_, key := ageIdentityFile(t, 0o640)
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("secrets:\n  ageIdentityFile: " + key + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	kc := writeKubeconfig(t, "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n"+
		"users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetArgs([]string{"run", "--config", cfgPath, "--kubeconfig", kc, "--listen", "127.0.0.1:0", "--objects-only"})
	err = root.ExecuteContext(ctx)
	want := cfgPath + ": secrets.ageIdentityFile: age identity " + key + ": permissions 0640 are too open"
	if exitCodeOf(err) != 1 || !strings.Contains(err.Error(), want) {
		t.Fatalf("run: exit %d, error %v\nwant %q", exitCodeOf(err), err, want)
	}
}

// The daemon decrypts with secrets.ageIdentityFile of its config: a revision whose
// credential it cannot decrypt is recorded failed in the Site status, naming the field
// and neither the secret nor its ciphertext; the next revision, encrypted to its key,
// is applied with the plaintext in the ConfigMap.
func TestRunDecryptsWithTheConfiguredIdentity(t *testing.T) {
	env := kubeenv.StartT(t)
	base := t.TempDir()
	bare, cfgPath, key := seedForRun(t, base)
	id, idFile := ageIdentityFile(t, 0o600)
	other, _ := ageIdentityFile(t, 0o600)
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("secrets:\n  ageIdentityFile: " + idFile + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	startRun(t, cfgPath, env.Kubeconfig)
	c, err := status.NewClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	first := "main@sha1:" + gitOut(t, bare, "rev-parse", "main")
	waitSite(t, c, "seeded site applied", func(s *status.Site) bool {
		return s.IsReady() && s.Status.LastAppliedRevision == first
	})

	work := filepath.Join(base, "work")
	gitOut(t, base, "clone", "-q", bare, work)
	const secret = "Da3mon-receiver-pa55"
	push := func(value, msg string) string {
		t.Helper()
		doc := "apiVersion: addons.metalk8s.scality.com\nkind: AlertmanagerConfig\nspec:\n  notification:\n    config:\n" +
			"      receivers:\n        - name: ops\n          webhook_configs:\n            - url: https://hooks.example.invalid/a\n" +
			"              http_config:\n                basic_auth:\n                  username: ops\n                  password: " + value + "\n"
		if err := os.MkdirAll(filepath.Join(work, "services"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "services", "alertmanager.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		gitOut(t, work, "add", ".")
		gitAs(t, work, "Signer", "signer@example.invalid", "-c", "gpg.format=ssh", "-c", "user.signingkey="+key+".pub", "commit", "-q", "-S", "-m", msg)
		gitOut(t, work, "push", "-q", "origin", "main")
		return "main@sha1:" + gitOut(t, work, "rev-parse", "HEAD")
	}

	wrong := ageValue(t, other.Recipient(), secret)
	bad := push(wrong, "a password encrypted to another key")
	site := waitSite(t, c, "undecryptable revision refused", func(s *status.Site) bool {
		r := s.Status.Condition(status.ConditionReady)
		return r != nil && r.Status == "False" && s.Status.LastAttemptedRevision == bad
	})
	msg := site.Status.Condition(status.ConditionReady).Message
	if !strings.Contains(msg, "services/alertmanager.yaml:13: "+secretPasswordField+": cannot be decrypted") {
		t.Errorf("Site status does not name file, line and field: %s", msg)
	}
	var raw bytes.Buffer
	if out, err := env.RunKubectl(context.Background(), "get", "sites", "-o", "yaml"); err == nil {
		raw.Write(out)
	} else {
		t.Fatal(err)
	}
	for _, leak := range []string{secret, wrong[8:40]} {
		if strings.Contains(raw.String(), leak) {
			t.Errorf("the Site shows %q:\n%s", leak, raw.String())
		}
	}
	if site.Status.LastAppliedRevision != first {
		t.Errorf("applied revision %s, want %s", site.Status.LastAppliedRevision, first)
	}

	good := push(ageValue(t, id.Recipient(), secret), "the password encrypted to the reconciler")
	waitSite(t, c, "decryptable revision applied", func(s *status.Site) bool {
		return s.IsReady() && s.Status.LastAppliedRevision == good
	})
	k, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := k.Get(context.Background(), client.ObjectKey{Namespace: "metalk8s-monitoring", Name: "metalk8s-alertmanager-config"}, &cm); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["config.yaml"], "password: "+secret) {
		t.Fatalf("config.yaml:\n%s", cm.Data["config.yaml"])
	}
}
