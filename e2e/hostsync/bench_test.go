package hostsynce2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
	"github.com/metalk8s/mk8s/hostsync"
	"github.com/metalk8s/mk8s/hostsync/resource"
	"github.com/metalk8s/mk8s/hostsync/roles"
	"github.com/metalk8s/mk8s/schema"
)

// benchSite is a 10-node site on a lab: a bootstrap node, two more control-plane nodes,
// seven workers.
func benchSite(l *hosts.Lab) *schema.Site {
	var nodes []schema.Node
	for i, h := range l.Hosts {
		r := []string{schema.RoleNode}
		switch {
		case i == 0:
			r = []string{schema.RoleBootstrap, schema.RoleEtcd, schema.RoleMaster}
		case i < 3:
			r = []string{schema.RoleEtcd, schema.RoleMaster}
		}
		nodes = append(nodes, nodeOf(l, fmt.Sprintf("node-%02d", i+1), h, r...))
	}
	return labSite(l, nodes...)
}

type ansibleFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
	Mode    string `json:"mode"`
}

type ansibleDir struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
}

// ansibleVars turns a node's rendered files and directories into the variables of the
// playbook, with static pods rendered exactly as mk8s writes them on a fresh host.
func ansibleVars(t *testing.T, site *schema.Site, node string) ([]ansibleFile, []ansibleDir) {
	rs, err := roles.Render(site, node, roles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	desired := map[string]string{}
	for _, r := range rs {
		if f, ok := r.(*resource.File); ok {
			desired[f.Path] = resource.SHA256(f.Content)
		}
	}
	var files []ansibleFile
	var dirs []ansibleDir
	for _, r := range rs {
		switch r := r.(type) {
		case *resource.File:
			files = append(files, ansibleFile{r.Path, string(r.Content), fmt.Sprintf("%04o", r.Mode)})
		case *resource.StaticPod:
			sums := make([]string, len(r.ConfigFiles))
			for i, c := range r.ConfigFiles {
				sums[i] = desired[c]
				if sums[i] == "" {
					sums[i] = "absent"
				}
			}
			files = append(files, ansibleFile{r.Path, string(r.Render(sums)), fmt.Sprintf("%04o", r.Mode)})
		case *resource.Directory:
			dirs = append(dirs, ansibleDir{r.Path, fmt.Sprintf("%04o", r.Mode)})
		}
	}
	// mk8s creates missing parent directories (mkdir -p, 0755); ansible's copy does not,
	// so the playbook creates them first.
	have := map[string]bool{"/": true}
	for _, d := range dirs {
		have[d.Path] = true
	}
	var parents []ansibleDir
	for _, f := range files {
		for d := filepath.Dir(f.Path); !have[d]; d = filepath.Dir(d) {
			have[d] = true
			parents = append(parents, ansibleDir{d, "0755"})
		}
	}
	sort.Slice(parents, func(i, j int) bool { return len(parents[i].Path) < len(parents[j].Path) })
	return files, append(dirs, parents...)
}

const playbook = `- hosts: all
  gather_facts: false
  tasks:
  - name: directories
    ansible.builtin.file:
      path: "{{ item.path }}"
      state: directory
      owner: root
      group: root
      mode: "{{ item.mode }}"
    loop: "{{ mk8s_dirs }}"
    loop_control: {label: "{{ item.path }}"}
  - name: files
    ansible.builtin.copy:
      dest: "{{ item.path }}"
      content: "{{ item.content }}"
      owner: root
      group: root
      mode: "{{ item.mode }}"
    loop: "{{ mk8s_files }}"
    loop_control: {label: "{{ item.path }}"}
`

var digestRE = regexp.MustCompile(`config-digest: "[0-9a-f]{32}"`)

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestBenchHostsVsAnsible converges the same files and directories on 10 namespace hosts
// with mk8s and with ansible-playbook (over ssh, from the controller namespace), first
// convergence and no-op, and prints the timings. It runs only under hack/bench-hosts.sh.
func TestBenchHostsVsAnsible(t *testing.T) {
	if os.Getenv("MK8S_BENCH_HOSTS") == "" {
		t.Skip("benchmark: run hack/bench-hosts.sh")
	}
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatal("ansible-playbook not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	// The ansible no-op runs once: one run of it takes minutes on this machine.
	n, noops, ansibleNoops := 10, 3, 1
	if v, err := strconv.Atoi(os.Getenv("MK8S_BENCH_HOSTS_N")); err == nil && v > 0 {
		n = v
	}
	labM := startLab(t, ctx, hosts.Options{Hosts: n})
	labA := startLab(t, ctx, hosts.Options{Hosts: n})

	// mk8s: plan + apply, each run with new connections, as one reconcile does.
	siteM := benchSite(labM)
	run := func() (time.Duration, int) {
		t0 := time.Now()
		p, err := hostsync.Plan(ctx, siteM, planOpts(labM))
		if err != nil {
			t.Fatal(err)
		}
		res, err := hostsync.Apply(ctx, p, hostsync.ApplyOptions{HostConcurrency: n})
		p.Close()
		if err != nil {
			t.Fatalf("mk8s: %v", err)
		}
		return time.Since(t0), len(changed(res))
	}
	mFirst, mChanged := run()
	t.Logf("mk8s first convergence: %s", mFirst)
	var mNoop []time.Duration
	for range noops {
		d, c := run()
		if c != 0 {
			t.Fatalf("mk8s no-op changed %d resources", c)
		}
		mNoop = append(mNoop, d)
	}

	// ansible: the same directories and files, same concurrency (forks), pinned host keys.
	siteA := benchSite(labA)
	dir := t.TempDir()
	var known strings.Builder
	inv := map[string]any{}
	hostsVars := map[string]any{}
	for i, h := range labA.Hosts {
		files, dirs := ansibleVars(t, siteA, siteA.Nodes[i].Name)
		hostsVars[siteA.Nodes[i].Name] = map[string]any{
			"ansible_host": h.IP, "ansible_user": "root", "ansible_ssh_private_key_file": labA.KeyPath,
			"ansible_python_interpreter": "/usr/bin/python3",
			"mk8s_files":                 files, "mk8s_dirs": dirs,
		}
		fmt.Fprintf(&known, "%s %s\n", h.IP, h.HostKey)
	}
	inv["all"] = map[string]any{"hosts": hostsVars, "vars": map[string]any{
		"ansible_ssh_common_args": "-o UserKnownHostsFile=" + filepath.Join(dir, "known_hosts") + " -o StrictHostKeyChecking=yes",
	}}
	invJSON, _ := json.Marshal(inv)
	for name, body := range map[string]string{"inventory.json": string(invJSON), "play.yml": playbook, "known_hosts": known.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ansible := func() (time.Duration, string) {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", labA.CtlNS, "ansible-playbook", "-f", fmt.Sprint(n),
			"-i", filepath.Join(dir, "inventory.json"), filepath.Join(dir, "play.yml"))
		cmd.Env = append(os.Environ(), "ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"), "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0")
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(t0)
		if err != nil {
			t.Fatalf("ansible-playbook: %v\n%s", err, out)
		}
		recap := string(out)
		if i := strings.Index(recap, "PLAY RECAP"); i >= 0 {
			recap = recap[i:]
		}
		return d, recap
	}
	aFirst, recap := ansible()
	t.Logf("ansible first convergence: %s", aFirst)
	if !strings.Contains(recap, "changed=") {
		t.Fatalf("ansible recap: %s", recap)
	}
	var aNoop []time.Duration
	for range ansibleNoops {
		d, recap := ansible()
		if strings.Contains(recap, "changed=1") || strings.Contains(recap, "changed=2") {
			t.Fatalf("ansible no-op changed something: %s", recap)
		}
		aNoop = append(aNoop, d)
	}

	// Both tools left the same bytes on the same node.
	for i := range labM.Hosts {
		files, _ := ansibleVars(t, siteA, siteA.Nodes[i].Name)
		var paths []string
		for _, f := range files {
			paths = append(paths, f.Path)
		}
		sort.Strings(paths)
		script := "for f in " + strings.Join(paths, " ") + "; do echo \"== $f $(stat -c '%a %U:%G' $f)\"; cat $f; done"
		a, err := labM.Run(ctx, labM.Hosts[i], script)
		if err != nil {
			t.Fatal(err)
		}
		b, err := labA.Run(ctx, labA.Hosts[i], script)
		if err != nil {
			t.Fatal(err)
		}
		// The labs have different subnets: addresses differ, and so do the config
		// digests of manifests that mount files holding them.
		a = digestRE.ReplaceAllString(strings.ReplaceAll(a, fmt.Sprintf("10.213.%d.", labM.Subnet), "LAB."), "config-digest: DIGEST")
		b = digestRE.ReplaceAllString(strings.ReplaceAll(b, fmt.Sprintf("10.213.%d.", labA.Subnet), "LAB."), "config-digest: DIGEST")
		if a != b {
			d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(a), B: difflib.SplitLines(b), FromFile: "mk8s", ToFile: "ansible", Context: 1})
			t.Fatalf("node %d: mk8s and ansible left different files:\n%s", i+1, d)
		}
	}

	fmt.Printf("\nhosts: %d namespace sshd hosts, %d resources created or configured per host on average in the first convergence\n", n, mChanged/n)
	fmt.Printf("%-28s %12s %12s %8s\n", "case", "mk8s", "ansible", "ratio")
	fmt.Printf("%-28s %12s %12s %7.1fx\n", "first convergence", mFirst.Round(time.Millisecond), aFirst.Round(time.Millisecond), aFirst.Seconds()/mFirst.Seconds())
	mn, an := median(mNoop), median(aNoop)
	fmt.Printf("%-28s %12s %12s %7.1fx\n", fmt.Sprintf("no-op (mk8s median of %d)", noops), mn.Round(time.Millisecond), an.Round(time.Millisecond), an.Seconds()/mn.Seconds())
	fmt.Printf("mk8s no-op runs: %v\nansible no-op runs: %v\n", mNoop, aNoop)
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at the end: %s", l)
	}
}
