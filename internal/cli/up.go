package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// Timeouts of `distkv up`.
const (
	readyTimeout = 60 * time.Second // every node's /readyz answers 200
	upStopGrace  = 10 * time.Second // SIGTERM to SIGKILL at shutdown
)

// defaultDataDir is where up, node and down keep a local cluster.
const defaultDataDir = "./distkv-data"

func (a *app) newUpCmd() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a local cluster, one OS process per node, until Ctrl-C",
		Long: "Start --nodes nodes n1..nN as separate processes of this binary (node i serves\n" +
			"HTTP on 127.0.0.1:BASE+i and peers on BASE+100+i), wait until all are ready,\n" +
			"print their endpoints and the coordinator, record them in DATA-DIR/cluster.json\n" +
			"and keep running. Ctrl-C (or SIGTERM, SIGHUP) stops every node listed there,\n" +
			"including nodes restarted by 'distkv node start' or added by 'distkv node add'\n" +
			"meanwhile: SIGTERM, then SIGKILL after 10s; up exits non-zero naming any it\n" +
			"could not stop. A node is recognised by its process's start time and binary\n" +
			"(device and inode, whatever the binary is called) and by its --id and\n" +
			"--data-dir, so a PID reused by another process is never signalled.\n" +
			"Node output goes to DATA-DIR/nI/node.log. The cluster is also recorded in\n" +
			"$XDG_STATE_HOME/distkv/clusters (~/.local/state/distkv/clusters), so that\n" +
			"'distkv node' and 'distkv down' find it from any directory by its endpoints\n" +
			"($" + EnvEndpoints + "), or by $" + EnvDataDir + ". 'distkv node' stops, restarts\n" +
			"and adds single nodes; 'distkv down' stops a cluster whose 'up' was killed.",
		Args: argNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return a.up(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.nodes, "nodes", 3, "number of nodes")
	dataDir := defaultDataDir
	if d := a.getenv(EnvDataDir); d != "" {
		dataDir = d
	}
	f.StringVar(&o.dataDir, "data-dir", dataDir, "directory for the nodes' data, logs and cluster.json (env "+EnvDataDir+")")
	f.BoolVar(&o.inMemory, "in-memory", false, "keep data in memory only")
	f.IntVar(&o.basePort, "base-port", defaultBasePort, "node i serves HTTP on base+i, peers on base+100+i")
	f.IntVar(&o.shards, "shards", defaultShards, "shards of the default namespace")
	f.BoolVar(&o.faults, "allow-fault-injection", true, "enable the nodes' fault injection endpoints")
	f.BoolVar(&o.tls, "tls", false, "TLS for clients and mutual TLS between nodes, with a CA and certificates made in DATA-DIR/certs (no FTP)")
	return cmd
}

// nodeExit reports that a node started by up exited.
type nodeExit struct {
	id  string
	err error
}

func (a *app) up(ctx context.Context, o upOptions) error {
	dir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	exe, err := a.executable()
	if err != nil {
		return err
	}
	self, err := captureIdentity(os.Getpid())
	if err != nil {
		return fmt.Errorf("reading this process's identity in /proc: %w", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	out := newLockedWriter(a.stdout)

	flags := probeServerFlags(ctx, exe)
	if o.tls {
		if !flags["peer-cert"] {
			return fmt.Errorf("--tls: %s's server takes no certificate flags", exe)
		}
		if err := makeLocalCerts(dir); err != nil {
			return fmt.Errorf("--tls: making the certificates: %w", err)
		}
	}
	nodes := planCluster(o, dir, exe, flags)
	if err := checkPorts(nodes); err != nil {
		return err
	}
	offsets := make([]int64, len(nodes)) // where this run's log lines start
	for i, n := range nodes {
		offsets[i] = fileSize(n.Log)
	}
	exits := make(chan nodeExit, len(nodes))
	var started []*exec.Cmd
	var added []nodeRecord
	err = updateClusterFile(dir, func(f *clusterFile) error {
		if err := refuseLive(dir, f); err != nil {
			return err
		}
		if started, err = startNodes(nodes, exits); err != nil {
			return err
		}
		added = addedNodes(f, nodes)
		*f = clusterFile{Nodes: append(slices.Clone(nodes), added...)}
		f.setUp(self)
		return nil
	})
	if err != nil {
		for _, c := range started { // recorded nowhere: stop them here
			c.Process.Kill()
		}
		return err
	}
	a.recordInIndex(dir, nodes, out)

	tailCtx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	for i, n := range nodes {
		go tailLog(tailCtx, n, offsets[i], out)
	}
	out.say("started %d nodes (logs in %s/nI/node.log); waiting for them to be ready", len(nodes), dir)
	begin := time.Now()
	runErr := a.waitReady(ctx, nodes, exits, sigs, out)
	if errors.Is(runErr, errInterrupted) {
		runErr = nil
	} else if runErr == nil {
		a.printCluster(ctx, nodes, time.Since(begin), dir, out)
		for _, n := range added {
			out.say("%s (added by 'distkv node add') is recorded but not started: 'distkv node start %s' starts it", n.ID, n.ID)
		}
		waitForStop(ctx, exits, sigs, out)
	}
	stopTail()
	stopErr := shutdown(dir, nodes, started, sigs, out)
	if stopErr == nil {
		out.say("all nodes stopped")
	}
	return errors.Join(runErr, stopErr)
}

// addedNodes returns the nodes of f, a cluster.json being replaced by a
// new up's nodes, that 'distkv node add' added and the new up does not
// start: they stay recorded, stopped, for 'distkv node start'.
func addedNodes(f *clusterFile, nodes []nodeRecord) []nodeRecord {
	var added []nodeRecord
	for _, n := range f.Nodes {
		if n.Added && !slices.ContainsFunc(nodes, func(m nodeRecord) bool { return m.ID == n.ID }) {
			n.procIdentity = procIdentity{}
			added = append(added, n)
		}
	}
	return added
}

// recordInIndex records the cluster in the user's cluster index; without
// it the cluster is still found by its data directory.
func (a *app) recordInIndex(dir string, nodes []nodeRecord, out *lockedWriter) {
	ix, err := userClusterIndex(a.getenv)
	if err == nil {
		err = ix.record(dir, clientAddrs(nodes))
	}
	if err != nil {
		out.say("warning: could not record the cluster in the cluster index (%v); from other directories, pass --data-dir %s", err, dir)
	}
}

// refuseLive fails when f, dir's cluster.json, names a running `distkv up`
// or running nodes, or when unrecorded processes serve its nodes' data
// directories.
func refuseLive(dir string, f *clusterFile) error {
	if f.upRunning() {
		return fmt.Errorf("a cluster is already running from %s ('distkv up', pid %d); stop it with Ctrl-C there or 'distkv down --data-dir %s'", dir, f.UpPID, dir)
	}
	if live := clusterProcs(f, nil); len(live) > 0 {
		return fmt.Errorf("a cluster in %s is already running (%s); stop it with 'distkv down --data-dir %s'", dir, joinProcs(live), dir)
	}
	return nil
}

// startNodes starts every node in its own process group (so a Ctrl-C in
// the terminal reaches only up), appending its output to its log; it
// fills in the PIDs and reports exits on exits. On failure it kills those
// it started.
func startNodes(nodes []nodeRecord, exits chan<- nodeExit) ([]*exec.Cmd, error) {
	var cmds []*exec.Cmd
	for i := range nodes {
		n := &nodes[i]
		cmd, err := startNode(n, &syscall.SysProcAttr{Setpgid: true})
		if err != nil {
			for _, c := range cmds {
				c.Process.Kill()
			}
			return nil, err
		}
		cmds = append(cmds, cmd)
		go func(id string) { exits <- nodeExit{id, cmd.Wait()} }(n.ID)
	}
	return cmds, nil
}

// startNode starts n.Args with n.Env, output appended to n.Log, and sets
// n.PID.
func startNode(n *nodeRecord, attr *syscall.SysProcAttr) (*exec.Cmd, error) {
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "--- %s: distkv starting %s\n", time.Now().Format(time.RFC3339), n.ID)
	cmd := exec.Command(n.Args[0], n.Args[1:]...)
	cmd.Env = append(os.Environ(), n.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", n.ID, err)
	}
	n.procIdentity = startedIdentity(cmd.Process.Pid, n.Args[0])
	return cmd, nil
}

// startedIdentity is the identity of pid, a child just started from exe.
// A child that already exited (a zombie until reaped) is recorded by its
// PID and the binary's identity, which a zombie does not match.
func startedIdentity(pid int, exe string) procIdentity {
	if id, err := captureIdentity(pid); err == nil {
		return id
	}
	id := procIdentity{PID: pid}
	var st syscall.Stat_t
	if syscall.Stat(exe, &st) == nil {
		id.ExeDev, id.ExeIno = uint64(st.Dev), uint64(st.Ino)
	}
	return id
}

// waitForStop reports node exits until a signal arrives or ctx ends.
func waitForStop(ctx context.Context, exits <-chan nodeExit, sigs <-chan os.Signal, out *lockedWriter) {
	for {
		select {
		case sig := <-sigs:
			out.say("%v: stopping the cluster", sig)
			return
		case <-ctx.Done():
			return
		case ex := <-exits:
			out.say("%s exited (%v); 'distkv node start %s' restarts it", ex.id, exitReason(ex.err), ex.id)
		}
	}
}

func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// shutdown stops every running node listed in dir's cluster.json, any
// node up started that still runs, and any unrecorded process serving a
// node's data directory, holding the file's lock so that no node restarts
// meanwhile. A second signal skips the grace period. It fails, naming
// them, when processes still run afterwards.
func shutdown(dir string, nodes []nodeRecord, started []*exec.Cmd, sigs <-chan os.Signal, out *lockedWriter) error {
	var ours []proc
	for i := range started {
		ours = append(ours, nodes[i].proc())
	}
	var stopErr error
	err := updateClusterFile(dir, func(f *clusterFile) error {
		stopErr = stopCluster(out.say, f, ours, upStopGrace, sigs)
		if f.UpPID == os.Getpid() {
			f.setUp(procIdentity{})
		}
		return nil
	})
	return errors.Join(stopErr, err)
}

// stopCluster stops every process of f's cluster (see clusterProcs),
// clears the PIDs of the nodes that no longer run, and then checks: it
// fails naming every process of the cluster that still runs. The caller
// holds the lock of f.
func stopCluster[T any](w func(format string, args ...any), f *clusterFile, extra []proc, grace time.Duration, abort <-chan T) error {
	_, sigErr := stopProcs(w, clusterProcs(f, extra), grace, abort)
	for i := range f.Nodes {
		if !f.Nodes[i].proc().running() {
			f.Nodes[i].procIdentity = procIdentity{}
		}
	}
	if left := clusterProcs(f, extra); len(left) > 0 {
		return cannotStop(left, "after SIGTERM and SIGKILL", sigErr)
	}
	return nil
}

// executable is the binary that nodes run: this one.
func (a *app) executable() (string, error) {
	if a.exe != "" {
		return a.exe, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find this program's binary to start nodes: %w", err)
	}
	return exe, nil
}
