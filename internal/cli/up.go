package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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
			"including nodes restarted meanwhile by 'distkv node start'. Node output goes\n" +
			"to DATA-DIR/nI/node.log. 'distkv node' stops and restarts single nodes;\n" +
			"'distkv down' stops a cluster whose 'up' was killed.",
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
	f.StringVar(&o.dataDir, "data-dir", defaultDataDir, "directory for the nodes' data, logs and cluster.json")
	f.BoolVar(&o.inMemory, "in-memory", false, "keep data in memory only")
	f.IntVar(&o.basePort, "base-port", 7700, "node i serves HTTP on base+i, peers on base+100+i")
	f.IntVar(&o.shards, "shards", defaultShards, "shards of the default namespace")
	f.BoolVar(&o.faults, "allow-fault-injection", true, "enable the nodes' fault injection endpoints")
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
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	out := newLockedWriter(a.stdout)

	nodes := planCluster(o, dir, exe, probeServerFlags(ctx, exe))
	if err := checkPorts(nodes); err != nil {
		return err
	}
	offsets := make([]int64, len(nodes)) // where this run's log lines start
	for i, n := range nodes {
		offsets[i] = fileSize(n.Log)
	}
	exits := make(chan nodeExit, len(nodes))
	var started []*exec.Cmd
	err = updateClusterFile(dir, func(f *clusterFile) error {
		if err := refuseLive(dir, f); err != nil {
			return err
		}
		if started, err = startNodes(nodes, exits); err != nil {
			return err
		}
		*f = clusterFile{UpPID: os.Getpid(), Nodes: nodes}
		return nil
	})
	if err != nil {
		for _, c := range started { // recorded nowhere: stop them here
			c.Process.Kill()
		}
		return err
	}

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
		waitForStop(ctx, exits, sigs, out)
	}
	stopTail()
	stopErr := shutdown(dir, nodes, started, sigs, out)
	if stopErr == nil {
		out.say("all nodes stopped")
	}
	return errors.Join(runErr, stopErr)
}

// refuseLive fails when f, dir's cluster.json, names a running `distkv up`
// or running nodes.
func refuseLive(dir string, f *clusterFile) error {
	if f.UpPID > 0 && f.UpPID != os.Getpid() && isDistkv(procCmdline(f.UpPID), "up") {
		return fmt.Errorf("a cluster is already running from %s ('distkv up', pid %d); stop it with Ctrl-C there or 'distkv down --data-dir %s'", dir, f.UpPID, dir)
	}
	if live := runningProcs(f); len(live) > 0 {
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
	n.PID = cmd.Process.Pid
	return cmd, nil
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

// shutdown stops every running node listed in dir's cluster.json, and any
// node up started that still runs, holding the file's lock so that no node
// restarts meanwhile. A second signal skips the grace period.
func shutdown(dir string, nodes []nodeRecord, started []*exec.Cmd, sigs <-chan os.Signal, out *lockedWriter) error {
	var stopErr error
	err := updateClusterFile(dir, func(f *clusterFile) error {
		ps := runningProcs(f)
		for i, c := range started {
			p := proc{nodes[i].ID, c.Process.Pid}
			if p.running() && !containsProc(ps, p) {
				ps = append(ps, p)
			}
		}
		stopErr = stopProcs(out.say, ps, upStopGrace, sigs)
		for i := range f.Nodes {
			if !(proc{f.Nodes[i].ID, f.Nodes[i].PID}).running() {
				f.Nodes[i].PID = 0
			}
		}
		if f.UpPID == os.Getpid() {
			f.UpPID = 0
		}
		return nil
	})
	return errors.Join(stopErr, err)
}

func containsProc(ps []proc, p proc) bool {
	for _, q := range ps {
		if q.pid == p.pid {
			return true
		}
	}
	return false
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
