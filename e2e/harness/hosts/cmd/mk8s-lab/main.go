// Command mk8s-lab starts a lab of SSH hosts (package e2e/harness/hosts) for the demo and
// for manual runs, writes its description as JSON, and tears everything down on SIGINT
// or SIGTERM. Run mk8s against it from the controller namespace:
//
//	mk8s-lab -hosts 3 -state /tmp/lab.json &
//	ip netns exec "$(jq -r .ctlNS /tmp/lab.json)" mk8s reconcile ...
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/metalk8s/mk8s/e2e/harness/hosts"
)

type hostJSON struct {
	Name    string `json:"name"`
	IP      string `json:"ip"`
	NS      string `json:"netns"`
	HostKey string `json:"hostKey"`
	Systemd bool   `json:"systemd"`
}

type labJSON struct {
	CtlNS    string     `json:"ctlNS"`
	Subnet   string     `json:"subnet"`
	KeyPath  string     `json:"keyPath"`
	SudoUser string     `json:"sudoUser,omitempty"`
	Hosts    []hostJSON `json:"hosts"`
}

func main() {
	n := flag.Int("hosts", 3, "namespace sshd hosts")
	nspawn := flag.Int("nspawn", 0, "systemd-nspawn hosts (real systemd)")
	sudo := flag.String("sudo-user", "", "also create this user with passwordless sudo")
	dir := flag.String("dir", "", "state directory (default: a new temporary directory, removed at exit)")
	state := flag.String("state", "", "write the lab description (JSON) here; stdout when empty")
	flag.Parse()
	if err := run(*n, *nspawn, *sudo, *dir, *state); err != nil {
		fmt.Fprintln(os.Stderr, "mk8s-lab:", err)
		os.Exit(1)
	}
}

func run(n, nspawn int, sudo, dir, state string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	l, err := hosts.New(ctx, hosts.Options{Hosts: n, SudoUser: sudo, Dir: dir})
	if err != nil {
		return err
	}
	defer l.Close()
	for i := 1; i <= nspawn; i++ {
		if _, err := l.AddNspawn(ctx, fmt.Sprintf("s%d", i)); err != nil {
			return err
		}
	}
	out := labJSON{CtlNS: l.CtlNS, Subnet: fmt.Sprintf("10.213.%d.0/24", l.Subnet), KeyPath: l.KeyPath, SudoUser: sudo}
	for _, h := range l.Hosts {
		out.Hosts = append(out.Hosts, hostJSON{Name: h.Name, IP: h.IP, NS: h.NS, HostKey: h.HostKey, Systemd: h.Nspawn})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	if state == "" {
		fmt.Println(string(b))
	} else if err := os.WriteFile(state, append(b, '\n'), 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
