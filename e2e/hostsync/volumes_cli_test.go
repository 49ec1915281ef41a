package hostsynce2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/e2e/harness/kubeenv"
	"github.com/metalk8s/mk8s/hostsync/volume"
	"github.com/metalk8s/mk8s/reconciler/change"
)

// volumeSite writes a one-node site (node-1: bootstrap, etcd, master, node) with the
// metalk8s StorageClass (ext4) and the given Volume documents, name → spec body.
func volumeSite(t *testing.T, dir string, l *hosts.Lab, vols map[string]string) {
	t.Helper()
	h := l.Hosts[0]
	files := map[string]string{
		"cluster.yaml": labClusterYAML(l, "node-1", ""),
		"nodes/node-1.yaml": fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels:
    node-role.kubernetes.io/bootstrap: ""
    node-role.kubernetes.io/etcd: ""
    node-role.kubernetes.io/master: ""
    node-role.kubernetes.io/node: ""
  annotations:
    metalk8s.scality.com/ssh-host: %s
    metalk8s.scality.com/ssh-host-key: %q
    metalk8s.scality.com/ssh-key-path: %s
`, h.IP, h.HostKey, l.KeyPath),
		"storageclasses/metalk8s.yaml": `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: metalk8s
provisioner: kubernetes.io/no-provisioner
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
mountOptions: [rw]
parameters:
  fsType: ext4
  mkfsOptions: '["-m", "0"]'
`,
	}
	if err := os.RemoveAll(filepath.Join(dir, "volumes")); err != nil {
		t.Fatal(err)
	}
	for name, spec := range vols {
		files["volumes/"+name+".yaml"] = fmt.Sprintf(`apiVersion: storage.metalk8s.scality.com/v1alpha1
kind: Volume
metadata:
  name: %s
spec:
  nodeName: node-1
  storageClassName: metalk8s
  mode: Filesystem
%s  template:
    metadata:
      labels:
        app.kubernetes.io/name: %s
`, name, spec, name)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func sparseVol(size string) string { return "  sparseLoopDevice:\n    size: " + size + "\n" }
func rawVol(dev string) string     { return "  rawBlockDevice:\n    devicePath: " + dev + "\n" }

// volumeCLI runs the mk8s binary for a site of the lab and the cluster.
type volumeCLI struct {
	t    *testing.T
	bin  string
	args []string
}

// startVolumeCLI starts an API server and one lab host, builds mk8s, and returns them
// with a site directory and the CLI that plans and reconciles it (-o json).
func startVolumeCLI(t *testing.T, ctx context.Context) (*kubeenv.Env, *hosts.Lab, string, volumeCLI) {
	t.Helper()
	env := kubeenv.StartT(t)
	l := startLab(t, ctx, hosts.Options{Hosts: 1})
	dir := t.TempDir()
	return env, l, dir, volumeCLI{t: t, bin: buildMk8s(t), args: []string{"--dir", dir, "--kubeconfig", env.Kubeconfig,
		"--ssh-netns", l.CtlNS, "--packages", "probe-only", "--state-dir", t.TempDir(), "-o", "json"}}
}

func (c volumeCLI) run(verb ...string) (string, int) {
	c.t.Helper()
	return runBin(c.t, c.bin, append(verb, c.args...)...)
}

// result decodes a -o json result: every entry, and the failed ones.
func result(t *testing.T, out string) change.Set {
	t.Helper()
	var res struct {
		Changes change.Set `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not the JSON result: %v\n%s", err, out)
	}
	return res.Changes
}

// has reports whether set has an entry whose subject starts with prefix, with action a.
func has(set change.Set, prefix string, a change.Action) bool {
	return slices.ContainsFunc(set, func(e change.Entry) bool { return strings.HasPrefix(e.Subject, prefix) && e.Action == a })
}

func kubectlJSON(t *testing.T, ctx context.Context, env *kubeenv.Env, out any, args ...string) {
	t.Helper()
	b, err := env.RunKubectl(ctx, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("kubectl %v: %v\n%s", args, err, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

type volumeObj struct {
	Metadata struct {
		UID        string   `json:"uid"`
		Finalizers []string `json:"finalizers"`
	} `json:"metadata"`
	Status struct {
		Phase      string `json:"phase"`
		DeviceName string `json:"deviceName"`
		Conditions []struct {
			Type, Status, Reason, Message string
		} `json:"conditions"`
	} `json:"status"`
}

func (v volumeObj) message() string {
	for _, c := range v.Status.Conditions {
		if c.Type == "Ready" {
			return c.Reason + ": " + c.Message
		}
	}
	return ""
}

type pvObj struct {
	Spec struct {
		Local struct {
			Path string `json:"path"`
		} `json:"local"`
		NodeAffinity struct {
			Required struct {
				NodeSelectorTerms []struct {
					MatchExpressions []struct {
						Key    string   `json:"key"`
						Values []string `json:"values"`
					} `json:"matchExpressions"`
				} `json:"nodeSelectorTerms"`
			} `json:"required"`
		} `json:"nodeAffinity"`
		StorageClassName string `json:"storageClassName"`
	} `json:"spec"`
}

func (p pvObj) node() string {
	for _, t := range p.Spec.NodeAffinity.Required.NodeSelectorTerms {
		for _, e := range t.MatchExpressions {
			if e.Key == "kubernetes.io/hostname" && len(e.Values) == 1 {
				return e.Values[0]
			}
		}
	}
	return ""
}

// Volumes through the real binary, on a real host with real loop devices and a real
// API server, every step shown by `mk8s plan` before `mk8s reconcile` takes it: a
// sparse and a raw (loop-backed) Volume prepared with their UID as filesystem UUID,
// their PersistentVolumes on /dev/disk/by-uuid/<uid> bound to the node, a second run
// with nothing to do; a device holding a foreign filesystem refused and untouched;
// a removed Volume whose PersistentVolume is bound kept, then released once free.
func TestVolumesThroughTheCLI(t *testing.T) {
	ctx := testCtx(t)
	env, l, dir, cli := startVolumeCLI(t, ctx)
	h := l.Hosts[0]
	raw, _ := machineLoop(t, 96<<20)
	vols := map[string]string{"node-1-sparse": sparseVol("64Mi"), "node-1-raw": rawVol(raw)}
	volumeSite(t, dir, l, vols)

	// The plan of a first install: the storage steps of each Volume, its
	// PersistentVolume and its status, before anything exists.
	out, code := cli.run("plan", "--exit-code")
	if code != 2 {
		t.Fatalf("plan exited %d, want 2:\n%s", code, out)
	}
	plan := result(t, out)
	for _, want := range []struct {
		prefix string
		action change.Action
	}{
		{"SparseFile " + volume.SparseDir + "/<uid of Volume/node-1-sparse>", change.Created},
		{"LoopDevice " + volume.SparseDir + "/<uid of Volume/node-1-sparse>", change.Created},
		{"Filesystem node-1-sparse (ext4, UUID <uid of Volume/node-1-sparse>)", change.Created},
		{"Filesystem node-1-raw (ext4, UUID <uid of Volume/node-1-raw>)", change.Created},
		{"PersistentVolume/node-1-sparse", change.Created},
		{"PersistentVolume/node-1-raw", change.Created},
	} {
		if !has(plan, want.prefix, want.action) {
			t.Errorf("the plan lacks %s %s:\n%v", want.prefix, want.action, plan)
		}
	}
	if b := blkidOn(t, ctx, l, h, raw); b != "" {
		t.Fatalf("the plan touched %s: %s", raw, b)
	}

	out, code = cli.run("reconcile", "--once")
	if code != 0 {
		t.Fatalf("reconcile exited %d:\n%s", code, out)
	}
	for name, dev := range map[string]string{"node-1-sparse": "$(losetup -n -O NAME -j " + volume.SparseDir + "/$UID)", "node-1-raw": raw} {
		var v volumeObj
		kubectlJSON(t, ctx, env, &v, "get", "volume", name)
		uid := v.Metadata.UID
		if v.Status.Phase != "Available" || v.Status.DeviceName == "" || !slices.Contains(v.Metadata.Finalizers, "storage.metalk8s.scality.com/volume-protection") {
			t.Errorf("Volume/%s: %+v", name, v)
		}
		if b := blkidOn(t, ctx, l, h, strings.ReplaceAll(dev, "$UID", uid)); !strings.Contains(b, "UUID="+uid+"\n") || !strings.Contains(b, "TYPE=ext4\n") {
			t.Errorf("Volume/%s: blkid %s", name, b)
		}
		var pv pvObj
		kubectlJSON(t, ctx, env, &pv, "get", "pv", name)
		if pv.Spec.Local.Path != "/dev/disk/by-uuid/"+uid || pv.node() != "node-1" || pv.Spec.StorageClassName != "metalk8s" {
			t.Errorf("PersistentVolume/%s: %+v", name, pv)
		}
	}
	if out, code := cli.run("plan", "--exit-code"); code != 0 {
		t.Fatalf("plan after the reconcile exited %d, want 0 (nothing to do):\n%s", code, out)
	}

	// A Volume on a device that holds someone else's filesystem: the plan says it will
	// be refused, the reconcile refuses it, the device is untouched, the others stay.
	foreign, foreignFile := machineLoop(t, 64<<20)
	if b, err := exec.Command("mkfs.ext4", "-q", "-U", foreignUID, foreign).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, b)
	}
	sum := sha256File(t, foreignFile)
	vols["node-1-foreign"] = rawVol(foreign)
	volumeSite(t, dir, l, vols)
	out, code = cli.run("plan")
	if code != 1 || !has(result(t, out), "Filesystem node-1-foreign", change.Failed) || !strings.Contains(out, foreignUID) {
		t.Fatalf("plan of a foreign device exited %d:\n%s", code, out)
	}
	out, code = cli.run("reconcile", "--once")
	if code != 1 || !strings.Contains(out, foreignUID) {
		t.Fatalf("reconcile of a foreign device exited %d:\n%s", code, out)
	}
	var fv volumeObj
	kubectlJSON(t, ctx, env, &fv, "get", "volume", "node-1-foreign")
	if fv.Status.Phase != "Failed" || !strings.Contains(fv.message(), "refusing to format") {
		t.Errorf("Volume/node-1-foreign: %+v", fv.Status)
	}
	if _, err := env.RunKubectl(ctx, "get", "pv", "node-1-foreign"); err == nil {
		t.Error("a PersistentVolume for the refused Volume")
	}
	if sha256File(t, foreignFile) != sum {
		t.Fatal("the foreign device changed")
	}
	// Removed from the site, it goes; its device keeps its filesystem.
	delete(vols, "node-1-foreign")
	volumeSite(t, dir, l, vols)
	if out, code := cli.run("reconcile", "--once"); code != 0 {
		t.Fatalf("reconcile without the refused Volume exited %d:\n%s", code, out)
	}
	if _, err := env.RunKubectl(ctx, "get", "volume", "node-1-foreign"); err == nil || sha256File(t, foreignFile) != sum {
		t.Fatalf("the refused Volume is still there (%v), or its device changed", err)
	}

	// The raw Volume removed while a claim holds its PersistentVolume: kept, and said
	// so in the plan and in its status; its filesystem untouched.
	bindPV(t, ctx, env, "node-1-raw", true)
	delete(vols, "node-1-raw")
	volumeSite(t, dir, l, vols)
	out, _ = cli.run("plan")
	if !has(result(t, out), "Volume/node-1-raw", change.Skipped) || !strings.Contains(out, "Bound") {
		t.Fatalf("plan of a bound Volume's removal:\n%s", out)
	}
	if out, code := cli.run("reconcile", "--once"); code != 0 {
		t.Fatalf("reconcile of a bound Volume's removal exited %d:\n%s", code, out)
	}
	var rv volumeObj
	kubectlJSON(t, ctx, env, &rv, "get", "volume", "node-1-raw")
	if rv.Status.Phase != "Available" || !strings.Contains(rv.message(), "is bound to PersistentVolumeClaim metalk8s-monitoring/data-0") {
		t.Errorf("Volume/node-1-raw kept for its claim: %+v", rv.Status)
	}
	if b := blkidOn(t, ctx, l, h, raw); !strings.Contains(b, "UUID="+rv.Metadata.UID) {
		t.Fatalf("the bound Volume's filesystem was touched: %s", b)
	}
	var kept struct {
		Metadata struct {
			DeletionTimestamp string `json:"deletionTimestamp"`
		} `json:"metadata"`
		Status struct {
			Phase string `json:"phase"`
		} `json:"status"`
	}
	kubectlJSON(t, ctx, env, &kept, "get", "pv", "node-1-raw")
	if kept.Metadata.DeletionTimestamp != "" || kept.Status.Phase != "Bound" {
		t.Errorf("the bound PersistentVolume was touched: %+v", kept)
	}
	// The claim is gone: the plan shows the release, the reconcile performs it.
	bindPV(t, ctx, env, "node-1-raw", false)
	out, _ = cli.run("plan")
	plan = result(t, out)
	for _, want := range []struct {
		prefix string
		action change.Action
	}{{"Volume/node-1-raw", change.Deleted}, {"PersistentVolume/node-1-raw", change.Deleted}, {"Wipe " + raw, change.Deleted}} {
		if !has(plan, want.prefix, want.action) {
			t.Errorf("the plan of the release lacks %s %s:\n%v", want.prefix, want.action, plan)
		}
	}
	if out, code := cli.run("reconcile", "--once"); code != 0 {
		t.Fatalf("reconcile of the release exited %d:\n%s", code, out)
	}
	if _, err := env.RunKubectl(ctx, "get", "volume", "node-1-raw"); err == nil {
		t.Error("the released Volume is still there")
	}
	if b := blkidOn(t, ctx, l, h, raw); b != "" {
		t.Errorf("the released device still holds: %s", b)
	}
	if out, code := cli.run("plan", "--exit-code"); code != 0 {
		t.Fatalf("plan after the release exited %d, want 0:\n%s", code, out)
	}
}

// bindPV gives the PersistentVolume a claim and the phase Bound (what the PV controller
// does for a pod's claim), or takes them away.
func bindPV(t *testing.T, ctx context.Context, env *kubeenv.Env, name string, bound bool) {
	t.Helper()
	patch, phase := `{"spec":{"claimRef":{"kind":"PersistentVolumeClaim","namespace":"metalk8s-monitoring","name":"data-0"}}}`, "Bound"
	if !bound {
		patch, phase = `{"spec":{"claimRef":null}}`, "Available"
	}
	if out, err := env.RunKubectl(ctx, "patch", "pv", name, "--type=merge", "-p", patch); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := env.RunKubectl(ctx, "patch", "pv", name, "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"`+phase+`"}}`); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// hangingWebhook is an admission webhook that holds every request it gets until
// released: the reconciler creating a PersistentVolume waits in it, where the test
// kills it.
type hangingWebhook struct {
	srv     *httptest.Server
	called  chan struct{}
	release chan struct{}
	once    sync.Once
}

func startHangingWebhook(t *testing.T) *hangingWebhook {
	w := &hangingWebhook{called: make(chan struct{}), release: make(chan struct{})}
	w.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var review struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Request    struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &review)
		w.once.Do(func() { close(w.called) })
		select {
		case <-w.release:
		case <-r.Context().Done():
		}
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(rw, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%q,"allowed":false,"status":{"message":"the test's webhook"}}}`, review.Request.UID)
	}))
	t.Cleanup(func() {
		select {
		case <-w.release:
		default:
			close(w.release)
		}
		w.srv.Close()
	})
	return w
}

// configuration is the ValidatingWebhookConfiguration sending PersistentVolume
// creations to the webhook.
func (w *hangingWebhook) configuration() string {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.srv.Certificate().Raw})
	return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: mk8s-test-hold-persistentvolumes
webhooks:
  - name: hold.persistentvolumes.mk8s.invalid
    clientConfig:
      url: %s/validate
      caBundle: %s
    rules:
      - apiGroups: [""]
        apiVersions: [v1]
        operations: [CREATE]
        resources: [persistentvolumes]
    failurePolicy: Fail
    sideEffects: None
    admissionReviewVersions: [v1]
    timeoutSeconds: 30
`, w.srv.URL, base64.StdEncoding.EncodeToString(ca))
}

// The reconciler killed (SIGKILL) between the filesystem it made and the
// PersistentVolume it was creating: the next reconcile creates the PersistentVolume on
// the same filesystem, without formatting it again (what was written in it is there).
func TestVolumeReconcilerKilledBetweenMkfsAndPersistentVolume(t *testing.T) {
	ctx := testCtx(t)
	env, l, dir, cli := startVolumeCLI(t, ctx)
	h := l.Hosts[0]
	raw, _ := machineLoop(t, 64<<20)
	volumeSite(t, dir, l, map[string]string{"node-1-data": rawVol(raw)})

	hook := startHangingWebhook(t)
	if out, err := env.RunKubectlStdin(ctx, []byte(hook.configuration()), "apply", "-f", "-"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	cmd := exec.Command(cli.bin, append([]string{"reconcile", "--once"}, cli.args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hook.called:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the reconciler never created the PersistentVolume")
	}
	// The reconciler waits in the PersistentVolume's creation: kill it there.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	close(hook.release)
	if out, err := env.RunKubectl(ctx, "delete", "validatingwebhookconfiguration", "mk8s-test-hold-persistentvolumes"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	var v volumeObj
	kubectlJSON(t, ctx, env, &v, "get", "volume", "node-1-data")
	uid := v.Metadata.UID
	if b := blkidOn(t, ctx, l, h, raw); !strings.Contains(b, "UUID="+uid) {
		t.Fatalf("killed before mkfs, not after: blkid %q", b)
	}
	if _, err := env.RunKubectl(ctx, "get", "pv", "node-1-data"); err == nil {
		t.Fatal("the PersistentVolume exists: the reconciler was not killed before creating it")
	}
	// Something written in the filesystem between the two runs.
	if out, err := l.Run(ctx, h, "mkdir -p /mnt/mk8s-t && mount "+raw+" /mnt/mk8s-t && echo kept > /mnt/mk8s-t/marker && umount /mnt/mk8s-t"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	out, code := cli.run("reconcile", "--once")
	if code != 0 {
		t.Fatalf("the next reconcile exited %d:\n%s", code, out)
	}
	res := result(t, out)
	if !has(res, "Filesystem node-1-data", change.Unchanged) || !has(res, "PersistentVolume/node-1-data", change.Created) {
		t.Fatalf("the next reconcile: %v", res)
	}
	if out, err := l.Run(ctx, h, "mount -o ro "+raw+" /mnt/mk8s-t && cat /mnt/mk8s-t/marker; umount /mnt/mk8s-t"); err != nil || strings.TrimSpace(out) != "kept" {
		t.Fatalf("the filesystem was made again: marker %q %v", out, err)
	}
	kubectlJSON(t, ctx, env, &v, "get", "volume", "node-1-data")
	if v.Status.Phase != "Available" {
		t.Fatalf("Volume/node-1-data: %+v", v.Status)
	}
}

// A raw Volume moved to another device in the site after it was prepared: the API
// server refuses the edit, and nothing is done on the node either. The new device is
// not formatted with the Volume's UUID (a second filesystem of that UUID, which udev
// could pick as the PersistentVolume's /dev/disk/by-uuid path), the old one keeps its
// filesystem, plan and reconcile fail naming the file and the field.
func TestVolumeMovedToAnotherDeviceThroughTheCLI(t *testing.T) {
	ctx := testCtx(t)
	env, l, dir, cli := startVolumeCLI(t, ctx)
	h := l.Hosts[0]
	first, _ := machineLoop(t, 64<<20)
	second, _ := machineLoop(t, 64<<20)
	volumeSite(t, dir, l, map[string]string{"node-1-raw": rawVol(first)})
	if out, code := cli.run("reconcile", "--once"); code != 0 {
		t.Fatalf("reconcile exited %d:\n%s", code, out)
	}
	var v volumeObj
	kubectlJSON(t, ctx, env, &v, "get", "volume", "node-1-raw")

	volumeSite(t, dir, l, map[string]string{"node-1-raw": rawVol(second)})
	for _, verb := range []string{"plan", "reconcile"} {
		args := []string{verb}
		if verb == "reconcile" {
			args = append(args, "--once")
		}
		out, code := cli.run(args...)
		if code != 1 || !strings.Contains(out, "volumes/node-1-raw.yaml:") || !strings.Contains(out, "spec.rawBlockDevice.devicePath") {
			t.Errorf("%s of the move exited %d, want 1 and an error naming the file and the field:\n%s", verb, code, out)
		}
	}
	if b := blkidOn(t, ctx, l, h, second); b != "" {
		t.Fatalf("the new device was formatted: %s", b)
	}
	if b := blkidOn(t, ctx, l, h, first); !strings.Contains(b, "UUID="+v.Metadata.UID+"\n") {
		t.Fatalf("the Volume's device lost its filesystem: %s", b)
	}
	var after volumeObj
	kubectlJSON(t, ctx, env, &after, "get", "volume", "node-1-raw")
	if after.Metadata.UID != v.Metadata.UID || after.Status.Phase != "Available" {
		t.Fatalf("Volume/node-1-raw: %+v", after)
	}
}

// The plan of a first install with two sparse Volumes on one node: their UIDs do not
// exist yet, and each Volume's storage steps are shown, under its own name, rather than
// one Volume's taken for the other's.
func TestVolumePlanOfTwoNewSparseVolumesOnANode(t *testing.T) {
	ctx := testCtx(t)
	_, l, dir, cli := startVolumeCLI(t, ctx)
	volumeSite(t, dir, l, map[string]string{"node-1-a": sparseVol("64Mi"), "node-1-b": sparseVol("64Mi")})
	out, code := cli.run("plan", "--exit-code")
	if code != 2 {
		t.Fatalf("plan exited %d, want 2:\n%s", code, out)
	}
	plan := result(t, out)
	for _, name := range []string{"node-1-a", "node-1-b"} {
		for _, prefix := range []string{"SparseFile " + volume.SparseDir + "/<uid of Volume/" + name + ">",
			"LoopDevice " + volume.SparseDir + "/<uid of Volume/" + name + ">",
			"Filesystem " + name + " (ext4, UUID <uid of Volume/" + name + ">)"} {
			if !has(plan, prefix, change.Created) {
				t.Errorf("the plan lacks %s created:\n%v", prefix, plan)
			}
		}
	}
}
