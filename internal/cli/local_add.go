package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nodeAddTimeout bounds the wait for an added node's /healthz, which it
// answers once the cluster has admitted it (the server itself gives up
// joining after 30s).
const nodeAddTimeout = 60 * time.Second

// nodeAdd starts one more node of the local cluster in dir, joining the
// running cluster, records it in cluster.json and waits until it answers
// /healthz.
func (a *app) nodeAdd(ctx context.Context, dir string) error {
	exe, err := a.executable()
	if err != nil {
		return err
	}
	if _, err := readClusterFile(dir); err != nil {
		return err
	}
	var rec nodeRecord
	var endpoints []string
	err = updateClusterFile(dir, func(f *clusterFile) error {
		if rec, err = planAddition(f, exe); err != nil {
			return err
		}
		if err := checkPorts([]nodeRecord{rec}); err != nil {
			return err
		}
		cmd, err := startNode(&rec, &syscall.SysProcAttr{Setsid: true})
		if err != nil {
			return err
		}
		cmd.Process.Release() // it outlives this command
		f.Nodes = append(f.Nodes, rec)
		endpoints = clientAddrs(f.Nodes)
		return nil
	})
	if err != nil {
		return err
	}
	out := newLockedWriter(a.stdout)
	out.say("started %s (pid %d), joining the cluster through %s; waiting up to %v for it to answer",
		rec.ID, rec.PID, flagValue(rec.Args, "--join"), nodeAddTimeout)
	if err := waitHealthy(ctx, rec, nodeAddTimeout); err != nil {
		printLogTail(out, rec, 10)
		if errors.Is(err, errExited) {
			// It never joined: forget it, keeping its log for a look.
			err = errors.Join(err, forgetNode(dir, rec))
		}
		return err
	}
	out.say("%s joined: the cluster moves replicas to it in the background", rec.ID)
	out.say("  %s", describeEndpoints(rec))
	out.say("recorded in %s; 'distkv node stop %s', 'distkv down' and Ctrl-C of 'distkv up' stop it", filepath.Join(dir, clusterFileName), rec.ID)
	out.say("all endpoints: export %s=%s", EnvEndpoints, strings.Join(endpoints, ","))
	return nil
}

// describeEndpoints is one line of n's ID, addresses, PID and log.
func describeEndpoints(n nodeRecord) string {
	s := fmt.Sprintf("%-4s %s://%s  peer %s", n.ID, n.scheme(), n.ClientAddr, n.PeerAddr)
	if v := flagValue(n.Args, "--redis-addr"); v != "" {
		s += "  redis " + v
	}
	if v := flagValue(n.Args, "--ftp-addr"); v != "" {
		s += "  ftp " + v
	}
	return s + fmt.Sprintf("  pid %d  log %s", n.PID, n.Log)
}

// forgetNode removes rec, an added node that never ran, from dir's
// cluster.json, unless it was restarted meanwhile.
func forgetNode(dir string, rec nodeRecord) error {
	return updateClusterFile(dir, func(f *clusterFile) error {
		for i, n := range f.Nodes {
			if n.ID == rec.ID && n.procIdentity == rec.procIdentity {
				f.Nodes = append(f.Nodes[:i], f.Nodes[i+1:]...)
				break
			}
		}
		return nil
	})
}

// planAddition describes the next node of f's cluster, to be started with
// exe: it joins through the running nodes, and takes a running node's
// flags with its own ID, data directory and ports.
func planAddition(f *clusterFile, exe string) (nodeRecord, error) {
	running := runningProcs(f)
	if len(running) == 0 {
		return nodeRecord{}, errors.New("no node of the cluster is running, so a new node has nothing to join; start the cluster with 'distkv up' or a node with 'distkv node start'")
	}
	var join []string
	for _, p := range running {
		n, _ := f.node(p.id)
		join = append(join, n.ClientAddr)
	}
	tmpl, err := templateNode(f)
	if err != nil {
		return nodeRecord{}, err
	}
	parent := filepath.Dir(tmpl.DataDir)
	k := nextNodeNumber(f, parent)
	if k > maxUpNodes {
		return nodeRecord{}, fmt.Errorf("node n%d would be past the %d nodes a local cluster's port layout has room for", k, maxUpNodes)
	}
	return addedNode(*tmpl, k, parent, exe, join)
}

// templateNode is the node whose flags an added node copies: the first
// with a node number, a data directory and arguments, preferring one
// started by up.
func templateNode(f *clusterFile) (*nodeRecord, error) {
	var found *nodeRecord
	for i := range f.Nodes {
		n := &f.Nodes[i]
		if _, ok := nodeNumber(n.ID); !ok || len(n.Args) < 2 || !filepath.IsAbs(n.DataDir) {
			continue
		}
		if !n.Added {
			return n, nil
		}
		if found == nil {
			found = n
		}
	}
	if found == nil {
		return nil, errors.New("cluster.json records no node (nI with arguments and a data directory) to model a new node on")
	}
	return found, nil
}

// nodeNumber is K of node ID nK.
func nodeNumber(id string) (int, bool) {
	digits, ok := strings.CutPrefix(id, "n")
	k, err := strconv.Atoi(digits)
	return k, ok && err == nil && k > 0 && strconv.Itoa(k) == digits
}

// nextNodeNumber is one past the highest node number recorded in f or
// used by a directory nK in parent: a new node never takes the ID, or the
// data, of a node that was there before.
func nextNodeNumber(f *clusterFile, parent string) int {
	highest := 0
	for _, n := range f.Nodes {
		if k, ok := nodeNumber(n.ID); ok {
			highest = max(highest, k)
		}
	}
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if k, ok := nodeNumber(e.Name()); ok && e.IsDir() {
			highest = max(highest, k)
		}
	}
	return highest + 1
}

// addedNode is node nK modelled on tmpl: the same flags, with its own
// --id and --data-dir (parent/nK), every --*-addr port moved by K minus
// tmpl's number (so nK's ports continue the cluster's numbering), and
// --join instead of --peers.
func addedNode(tmpl nodeRecord, k int, parent, exe string, join []string) (nodeRecord, error) {
	ti, _ := nodeNumber(tmpl.ID)
	n := nodeRecord{ID: "n" + strconv.Itoa(k), DataDir: filepath.Join(parent, "n"+strconv.Itoa(k)), Added: true}
	n.Log = filepath.Join(n.DataDir, "node.log")
	n.Env, n.TLS = tmpl.Env, tmpl.TLS
	n.Args = []string{exe, "server"}
	for i := 2; i < len(tmpl.Args); i++ {
		name, value, inline := strings.Cut(tmpl.Args[i], "=")
		switch {
		case name == "--id", name == "--data-dir", name == "--peers", name == "--join",
			strings.HasPrefix(name, "--") && strings.HasSuffix(name, "-addr"):
		default:
			n.Args = append(n.Args, tmpl.Args[i]) // a flag or value copied as is
			continue
		}
		if !inline {
			if i+1 >= len(tmpl.Args) {
				return nodeRecord{}, fmt.Errorf("%s's arguments end in %s without a value", tmpl.ID, name)
			}
			i++
			value = tmpl.Args[i]
		}
		switch name {
		case "--id":
			value = n.ID
		case "--data-dir":
			value = n.DataDir
		case "--peers", "--join":
			continue
		default:
			addr, err := shiftPort(value, k-ti)
			if err != nil {
				return nodeRecord{}, fmt.Errorf("%s of %s: %w", name, tmpl.ID, err)
			}
			value = addr
		}
		n.Args = append(n.Args, name, value)
	}
	if !hasArg(n.Args, "--id") {
		n.Args = append(n.Args, "--id", n.ID)
	}
	if !hasArg(n.Args, "--data-dir") {
		n.Args = append(n.Args, "--data-dir", n.DataDir)
	}
	n.Args = append(n.Args, "--join", strings.Join(join, ","))
	n.ClientAddr, n.PeerAddr = flagValue(n.Args, "--client-addr"), flagValue(n.Args, "--peer-addr")
	if n.ClientAddr == "" || n.PeerAddr == "" {
		return nodeRecord{}, fmt.Errorf("%s's recorded arguments lack --client-addr or --peer-addr", tmpl.ID)
	}
	return n, nil
}

// shiftPort moves the port of host:port by delta.
func shiftPort(addr string, delta int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", fmt.Errorf("port %q is not a number", port)
	}
	if p+delta < 1 || p+delta > 65535 {
		return "", fmt.Errorf("port %d is outside 1..65535", p+delta)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+delta)), nil
}
