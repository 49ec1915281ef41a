package staticpod

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
)

// Options of Start.
type Options struct {
	// Binaries maps the program a container runs (the base name of its command's first
	// word, "etcd", "kube-apiserver") to the binary on this machine that stands in for
	// the image. The path must be visible in the host's mount namespace, which overlays
	// /etc, /var, /root, /opt and /usr/local on the machine's own.
	Binaries map[string]string
	// Container names the container to run; the pod's only one when empty.
	Container string
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL; 10s when zero.
	StopTimeout time.Duration
}

// Process is a running static pod container.
type Process struct {
	args     []string
	cmd      *exec.Cmd
	log      *tailBuffer
	exited   chan struct{}
	waitErr  error
	stopWait time.Duration
	stopOnce sync.Once
	stopErr  error
}

// Start reads the Pod manifest at manifestPath as the host sees it, and runs its
// container's command and args, with its environment, in the host's mount, network and
// UTS namespaces. Not in the host's PID namespace: a static pod without hostPID has its
// own, and this way the process is a direct child, stopped by its PID.
//
// It refuses what it cannot run faithfully: a volume mount whose path differs from its
// hostPath (the harness has no mount namespace per pod), a volume that is not a hostPath,
// a program with no stand-in binary.
func Start(ctx context.Context, h *hosts.Host, manifestPath string, opts Options) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	raw, err := h.ReadFile(manifestPath)
	if err != nil {
		return nil, err
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(raw, &pod); err != nil {
		return nil, fmt.Errorf("%s:%s: %w", h.Name, manifestPath, err)
	}
	c, err := container(&pod, opts.Container)
	if err != nil {
		return nil, fmt.Errorf("%s:%s: %w", h.Name, manifestPath, err)
	}
	if err := checkVolumes(&pod, c); err != nil {
		return nil, fmt.Errorf("%s:%s: %w", h.Name, manifestPath, err)
	}
	args := append(append([]string(nil), c.Command...), c.Args...)
	if len(args) == 0 {
		return nil, fmt.Errorf("%s:%s: container %s has no command (the image's entrypoint is not known here)", h.Name, manifestPath, c.Name)
	}
	program := path.Base(args[0])
	bin, ok := opts.Binaries[program]
	if !ok {
		return nil, fmt.Errorf("%s:%s: container %s runs %q, which has no stand-in binary in Options.Binaries", h.Name, manifestPath, c.Name, program)
	}
	if f, err := h.Open(bin); err != nil {
		return nil, fmt.Errorf("stand-in for %s is not visible on the host: %w", program, err)
	} else {
		f.Close()
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + h.Name}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			return nil, fmt.Errorf("%s:%s: container %s: env %s uses valueFrom, which needs a kubelet", h.Name, manifestPath, c.Name, e.Name)
		}
		env = append(env, e.Name+"="+e.Value)
	}
	pid1, err := h.PID1()
	if err != nil {
		return nil, err
	}
	dir := c.WorkingDir
	if dir == "" {
		dir = "/"
	}
	ns := []string{"--target", strconv.Itoa(pid1), "--mount", "--net", "--uts", "--wd=" + dir, "--"}
	cmd := exec.Command("nsenter", append(append(ns, bin), args[1:]...)...)
	cmd.Env = env
	p := &Process{args: args, cmd: cmd, log: &tailBuffer{max: 256 << 10}, exited: make(chan struct{}), stopWait: opts.StopTimeout}
	if p.stopWait == 0 {
		p.stopWait = 10 * time.Second
	}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	// Its own process group, so a signal to the test does not reach it first. No
	// Pdeathsig: it fires when the OS thread that forked exits, which the Go runtime
	// does at will, and would kill a healthy server mid-test. Callers Stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: starting %s: %w", h.Name, program, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// container picks the container to run.
func container(pod *corev1.Pod, name string) (*corev1.Container, error) {
	for i := range pod.Spec.Containers {
		if c := &pod.Spec.Containers[i]; c.Name == name || (name == "" && len(pod.Spec.Containers) == 1) {
			return c, nil
		}
	}
	if name == "" {
		return nil, fmt.Errorf("pod %s has %d containers: name one", pod.Name, len(pod.Spec.Containers))
	}
	return nil, fmt.Errorf("pod %s has no container %s", pod.Name, name)
}

// checkVolumes refuses mounts the harness would run differently from a kubelet.
func checkVolumes(pod *corev1.Pod, c *corev1.Container) error {
	vols := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		switch {
		case !ok:
			return fmt.Errorf("container %s mounts volume %s, which the pod does not declare", c.Name, m.Name)
		case v.HostPath == nil:
			return fmt.Errorf("volume %s is not a hostPath", m.Name)
		case path.Clean(v.HostPath.Path) != path.Clean(m.MountPath):
			return fmt.Errorf("volume %s: hostPath %s is mounted at %s; the harness runs on the host's own paths", m.Name, v.HostPath.Path, m.MountPath)
		case m.SubPath != "":
			return fmt.Errorf("volume %s: subPath is not supported", m.Name)
		}
	}
	return nil
}

// Args is the container's command line as the manifest states it (command then args).
func (p *Process) Args() []string { return append([]string(nil), p.args...) }

// PID is the process' PID on this machine.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Log is the tail of what the process wrote to stdout and stderr.
func (p *Process) Log() string { return p.log.String() }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// State says whether the process runs, or how it exited.
func (p *Process) State() string {
	select {
	case <-p.exited:
		if p.waitErr == nil {
			return "exited with status 0"
		}
		return p.waitErr.Error()
	default:
		return fmt.Sprintf("running as pid %d", p.PID())
	}
}

// Stop sends SIGTERM to the process, then SIGKILL after the stop timeout, and waits for
// it. A process that already exited is not an error; its exit status is not either
// (SIGTERM makes most servers exit non-zero).
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.stopErr = err
			return
		}
		select {
		case <-p.exited:
			return
		case <-time.After(p.stopWait):
		}
		_ = p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.stopErr = fmt.Errorf("pid %d survived SIGKILL", p.PID())
		}
	})
	return p.stopErr
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = bytes.Clone(t.b[over:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.b), "?")
}
