package cli

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/client"
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
		Short: "Stop, start, kill, pause or resume one node of the local cluster",
		Long: "Manage one node of the local cluster that 'distkv up' started, found through\n" +
			"DATA-DIR/cluster.json. Only processes that are that node's 'distkv server' are\n" +
			"ever signalled.",
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for 'distkv node' (stop, start, kill, pause, resume or list)", args[0])
			}
			return usagef("node needs a subcommand: stop, start, kill, pause, resume or list")
		},
	}
	cmd.PersistentFlags().StringVar(&dir, "data-dir", defaultDataDir, "the cluster's data directory (with cluster.json)")
	var kill bool
	stop := &cobra.Command{
		Use:   "stop ID",
		Short: "Stop a node gracefully (SIGTERM; SIGKILL with --kill) and wait for it to exit",
		Args:  argNames("ID"),
		RunE:  func(cmd *cobra.Command, args []string) error { return a.nodeStop(dir, nodeID(args[0]), kill) },
	}
	stop.Flags().BoolVar(&kill, "kill", false, "SIGKILL instead of SIGTERM")
	start := &cobra.Command{
		Use:   "start ID",
		Short: "Restart a stopped node in the background with its recorded arguments",
		Args:  argNames("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.nodeStart(cmd.Context(), dir, nodeID(args[0]))
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the nodes of the local cluster and whether they run",
		Args:  argNames(),
		RunE:  func(*cobra.Command, []string) error { return a.nodeList(dir) },
	}
	cmd.AddCommand(stop, start, list,
		a.nodeSignalCmd(&dir, "kill", "Kill a node (SIGKILL) and wait for it to be gone", syscall.SIGKILL, "killed"),
		a.nodeSignalCmd(&dir, "pause", "Freeze a node (SIGSTOP)", syscall.SIGSTOP, "paused"),
		a.nodeSignalCmd(&dir, "resume", "Unfreeze a paused node (SIGCONT)", syscall.SIGCONT, "resumed"),
	)
	return cmd
}

func (a *app) nodeSignalCmd(dir *string, name, short string, sig syscall.Signal, done string) *cobra.Command {
	return &cobra.Command{
		Use:   name + " ID",
		Short: short,
		Args:  argNames("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := findProc(*dir, nodeID(args[0]))
			if err != nil {
				return err
			}
			if err := p.signal(sig); err != nil {
				return err
			}
			switch sig {
			case syscall.SIGKILL:
				if left := waitGone(waitList(p), nodeKillTimeout, (<-chan struct{})(nil)); len(left) > 0 {
					return fmt.Errorf("%s is still there %v after SIGKILL", p, nodeKillTimeout)
				}
				if err := clearPID(*dir, p); err != nil {
					return err
				}
			case syscall.SIGSTOP, syscall.SIGCONT: // delivered asynchronously
				if !waitPaused(p, sig == syscall.SIGSTOP, nodeKillTimeout) {
					return fmt.Errorf("%s did not become %s within %v", p, done, nodeKillTimeout)
				}
			}
			fmt.Fprintf(a.stdout, "%s %s\n", p, done)
			return nil
		},
	}
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
	return proc{n.ID, n.PID}, nil
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
		if n, err := f.node(p.id); err == nil && n.PID == p.pid {
			n.PID = 0
		}
		return nil
	})
}

func (a *app) nodeStop(dir, id string, kill bool) error {
	p, err := findProc(dir, id)
	if err != nil {
		return err
	}
	if !p.running() {
		fmt.Fprintf(a.stdout, "%s is not running\n", id)
		return nil
	}
	sig, timeout := syscall.SIGTERM, nodeStopTimeout
	if kill {
		sig, timeout = syscall.SIGKILL, nodeKillTimeout
	} else {
		p.signal(syscall.SIGCONT) // a paused node cannot handle SIGTERM
	}
	if err := p.signal(sig); err != nil {
		return err
	}
	if left := waitGone(waitList(p), timeout, (<-chan struct{})(nil)); len(left) > 0 {
		return fmt.Errorf("%s still runs %v after %v; 'distkv node stop --kill %s' forces it", p, timeout, sig, id)
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
		if (proc{n.ID, n.PID}).running() {
			rec, already = *n, true
			return nil
		}
		if len(n.Args) < 2 {
			return fmt.Errorf("cluster.json records no arguments for %s", id)
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
	p := proc{rec.ID, rec.PID}
	if already {
		fmt.Fprintf(a.stdout, "%s is already running\n", p)
		return nil
	}
	if err := waitHealthy(ctx, rec); err != nil {
		printLogTail(newLockedWriter(a.stdout), rec, 10)
		return err
	}
	fmt.Fprintf(a.stdout, "%s started, healthy at http://%s (log %s)\n", p, rec.ClientAddr, rec.Log)
	return nil
}

// waitHealthy waits for n's /healthz, failing early if its process exits.
func waitHealthy(ctx context.Context, n nodeRecord) error {
	c, err := client.New(client.Config{Endpoints: []string{n.ClientAddr}, Timeout: time.Second})
	if err != nil {
		return err
	}
	p := proc{n.ID, n.PID}
	for deadline := time.Now().Add(nodeHealthTimeout); ; {
		if !p.running() {
			return fmt.Errorf("%s exited right after starting; its log is %s", p, n.Log)
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := c.Health(hctx, n.ClientAddr)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s started but its /healthz did not answer within %v (%s); its log is %s", p, nodeHealthTimeout, describe(err), n.Log)
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
		p := proc{n.ID, n.PID}
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
