package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// Timeouts of `distkv node` and `distkv down`.
const (
	nodeStopTimeout   = 15 * time.Second // a SIGTERMed node exits
	nodeKillTimeout   = 5 * time.Second  // a SIGKILLed node is gone
	nodeHealthTimeout = 30 * time.Second // a restarted node answers /healthz
	downUpTimeout     = 20 * time.Second // a SIGTERMed `distkv up` stops its nodes
)

func (a *app) newNodeCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Stop, start, kill, pause, resume, add or remove a node",
		Long: "Manage the nodes of the local cluster that 'distkv up' started, found through\n" +
			"its cluster.json: in --data-dir, else $" + EnvDataDir + ", else in the cluster\n" +
			"'distkv up' recorded (in $XDG_STATE_HOME/distkv/clusters) whose nodes serve\n" +
			"--endpoints/$" + EnvEndpoints + ", else in " + defaultDataDir + ". Only processes that are\n" +
			"that node's 'distkv server' (same start time, binary, --id and --data-dir as\n" +
			"recorded) are ever signalled; a command that cannot stop a node says so and\n" +
			"exits non-zero.",
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for 'distkv node' (%s)", args[0], nodeSubcommands)
			}
			return usagef("node needs a subcommand: %s", nodeSubcommands)
		},
	}
	cmd.PersistentFlags().StringVar(&dir, "data-dir", "", dataDirHelp)
	// in runs fn with the data directory of the cluster cmd manages.
	in := func(fn func(cmd *cobra.Command, dir string, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			d, err := a.clusterDir(cmd, dir)
			if err != nil {
				return err
			}
			return fn(cmd, d, args)
		}
	}
	var kill bool
	stop := &cobra.Command{
		Use:   "stop ID",
		Short: "Stop a node gracefully (SIGTERM, SIGKILL if it still runs after 15s; at once with --kill)",
		Args:  argNames("ID"),
		RunE: in(func(_ *cobra.Command, dir string, args []string) error {
			return a.nodeStop(dir, nodeID(args[0]), kill)
		}),
	}
	stop.Flags().BoolVar(&kill, "kill", false, "SIGKILL instead of SIGTERM")
	start := &cobra.Command{
		Use:   "start ID",
		Short: "Restart a stopped node in the background with its recorded arguments",
		Args:  argNames("ID"),
		RunE: in(func(cmd *cobra.Command, dir string, args []string) error {
			return a.nodeStart(cmd.Context(), dir, nodeID(args[0]))
		}),
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the nodes of the local cluster and whether they run",
		Args:  argNames(),
		RunE:  in(func(_ *cobra.Command, dir string, _ []string) error { return a.nodeList(dir) }),
	}
	add := &cobra.Command{
		Use:   "add",
		Short: "Start one more node that joins the running local cluster",
		Long: "Start node nK (K one past the highest node number used in the data directory)\n" +
			"as a process of this binary that joins the running cluster through its running\n" +
			"nodes (distkv server --join), with the flags the other nodes got and ports\n" +
			"continuing theirs (nK serves HTTP on BASE+K, peers on BASE+100+K, ...). It is\n" +
			"recorded in cluster.json, so 'distkv node', 'distkv down' and Ctrl-C of\n" +
			"'distkv up' manage it like the others. Waits until it answers /healthz.",
		Args: argNames(),
		RunE: in(func(cmd *cobra.Command, dir string, _ []string) error { return a.nodeAdd(cmd.Context(), dir) }),
	}
	cmd.AddCommand(stop, start, list,
		a.nodeSignalCmd(in, "kill", "Kill a node (SIGKILL) and wait for it to be gone", syscall.SIGKILL, "killed"),
		a.nodeSignalCmd(in, "pause", "Freeze a node (SIGSTOP)", syscall.SIGSTOP, "paused"),
		a.nodeSignalCmd(in, "resume", "Unfreeze a paused node (SIGCONT)", syscall.SIGCONT, "resumed"),
		add,
		a.newNodeRemoveCmd(),
	)
	return cmd
}

// nodeSubcommands lists the subcommands of `distkv node` for its errors.
const nodeSubcommands = "stop, start, kill, pause, resume, list or add"

// inClusterDir wraps a node subcommand so that it runs in the data
// directory of the cluster it manages.
type inClusterDir func(fn func(cmd *cobra.Command, dir string, args []string) error) func(*cobra.Command, []string) error

func (a *app) nodeSignalCmd(in inClusterDir, name, short string, sig syscall.Signal, done string) *cobra.Command {
	return &cobra.Command{
		Use:   name + " ID",
		Short: short,
		Args:  argNames("ID"),
		RunE: in(func(_ *cobra.Command, dir string, args []string) error {
			return a.nodeSignal(dir, nodeID(args[0]), sig, done)
		}),
	}
}

// nodeSignal sends sig to node id and checks that it took effect.
func (a *app) nodeSignal(dir, id string, sig syscall.Signal, done string) error {
	p, err := findProc(dir, id)
	if err != nil {
		return err
	}
	if err := p.signal(sig); err != nil {
		return err
	}
	switch sig {
	case syscall.SIGKILL:
		if left := waitGone(waitList(p), nodeKillTimeout, (<-chan struct{})(nil)); len(left) > 0 {
			return cannotStop(left, fmt.Sprintf("%v after SIGKILL", nodeKillTimeout), nil)
		}
		if err := clearPID(dir, p); err != nil {
			return err
		}
	case syscall.SIGSTOP, syscall.SIGCONT: // delivered asynchronously
		if !waitPaused(p, sig == syscall.SIGSTOP, nodeKillTimeout) {
			return fmt.Errorf("%s did not become %s within %v", p, done, nodeKillTimeout)
		}
	}
	fmt.Fprintf(a.stdout, "%s %s\n", p, done)
	return nil
}

// nodeID accepts "2" for "n2".
func nodeID(s string) string {
	if _, err := strconv.Atoi(s); err == nil {
		return "n" + s
	}
	return s
}

// findProc returns node id's recorded process in dir's cluster.json.
func findProc(dir, id string) (proc, error) {
	f, err := readClusterFile(dir)
	if err != nil {
		return proc{}, err
	}
	n, err := f.node(id)
	if err != nil {
		return proc{}, err
	}
	return n.proc(), nil
}

func waitList(p proc) []proc { return []proc{p} }

// waitPaused waits until p's paused state is want, for at most timeout.
func waitPaused(p proc, want bool, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); p.paused() != want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) || !p.running() {
			return false
		}
	}
	return true
}

// clearPID records that p no longer runs, unless its node was restarted.
func clearPID(dir string, p proc) error {
	return updateClusterFile(dir, func(f *clusterFile) error {
		if n, err := f.node(p.id); err == nil && n.procIdentity == p.procIdentity {
			n.procIdentity = procIdentity{}
		}
		return nil
	})
}

// nodeStop stops node id: SIGTERM, then SIGKILL if it still runs after
// nodeStopTimeout; with kill, SIGKILL at once. It fails, naming the
// process, when the node still runs after all.
func (a *app) nodeStop(dir, id string, kill bool) error {
	p, err := findProc(dir, id)
	if err != nil {
		return err
	}
	if !p.running() {
		fmt.Fprintf(a.stdout, "%s is not running\n", id)
		return nil
	}
	say := newLockedWriter(a.stdout).say
	var left []proc
	var sigErr error
	after := fmt.Sprintf("after SIGTERM and, %v later, SIGKILL", nodeStopTimeout)
	if kill {
		left, sigErr = killProcs(say, waitList(p))
		after = fmt.Sprintf("%v after SIGKILL", procKillTimeout)
	} else {
		left, sigErr = stopProcs(say, waitList(p), nodeStopTimeout, (<-chan struct{})(nil))
	}
	if len(left) > 0 {
		return cannotStop(left, after, sigErr)
	}
	if err := clearPID(dir, p); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s stopped\n", p)
	return nil
}

// nodeStart restarts node id in the background, in its own session, with
// the arguments recorded in cluster.json and this binary, then waits for
// its /healthz.
func (a *app) nodeStart(ctx context.Context, dir, id string) error {
	exe, err := a.executable()
	if err != nil {
		return err
	}
	if _, err := findProc(dir, id); err != nil {
		return err
	}
	var rec nodeRecord
	already := false
	err = updateClusterFile(dir, func(f *clusterFile) error {
		n, err := f.node(id)
		if err != nil {
			return err
		}
		if n.proc().running() {
			rec, already = *n, true
			return nil
		}
		if len(n.Args) < 2 {
			return fmt.Errorf("cluster.json records no arguments for %s", id)
		}
		for _, p := range strayProcs(f) {
			if p.id == id {
				return fmt.Errorf("%s is served by pid %d, which cluster.json does not record; 'distkv down' stops it", id, p.PID)
			}
		}
		n.Args = append([]string{exe}, n.Args[1:]...)
		cmd, err := startNode(n, &syscall.SysProcAttr{Setsid: true})
		if err != nil {
			return err
		}
		cmd.Process.Release() // it outlives this command
		rec = *n
		return nil
	})
	if err != nil {
		return err
	}
	p := rec.proc()
	if already {
		fmt.Fprintf(a.stdout, "%s is already running\n", p)
		return nil
	}
	if err := waitHealthy(ctx, rec, nodeHealthTimeout); err != nil {
		printLogTail(newLockedWriter(a.stdout), rec, 10)
		return err
	}
	fmt.Fprintf(a.stdout, "%s started, healthy at http://%s (log %s)\n", p, rec.ClientAddr, rec.Log)
	return nil
}

// errExited is wrapped by waitHealthy when the node's process exits.
var errExited = errors.New("exited right after starting")

// waitHealthy waits for n's /healthz for at most timeout, failing early if
// its process exits.
func waitHealthy(ctx context.Context, n nodeRecord, timeout time.Duration) error {
	c, err := clientFor([]nodeRecord{n}, time.Second)
	if err != nil {
		return err
	}
	p := n.proc()
	for deadline := time.Now().Add(timeout); ; {
		// Not p.running(): for an instant after exec, a process's command
		// line reads empty. Its identity is set by then.
		if !p.matches() {
			return fmt.Errorf("%s %w; its log is %s", p, errExited, n.Log)
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := c.Health(hctx, n.ClientAddr)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s started but its /healthz did not answer within %v (%s); it still runs, 'distkv node stop %s' stops it; its log is %s", p, timeout, describe(err), p.id, n.Log)
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func (a *app) nodeList(dir string) error {
	f, err := readClusterFile(dir)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(f)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tPID\tCLIENT\tPEER\tLOG")
	for _, n := range f.Nodes {
		p := n.proc()
		state, pid := "stopped", "-"
		if p.running() {
			state, pid = "running", strconv.Itoa(n.PID)
			if p.paused() {
				state = "paused"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, state, pid, n.ClientAddr, n.PeerAddr, n.Log)
	}
	return tw.Flush()
}
