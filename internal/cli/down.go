package cli

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) newDownCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster, whether or not its 'distkv up' still runs",
		Long: "Ask the cluster's 'distkv up' to stop its nodes (SIGTERM), then stop every node\n" +
			"of cluster.json that still runs, and any process serving a node's data\n" +
			"directory: SIGTERM, then SIGKILL after 10s. Exits non-zero, naming them, when\n" +
			"processes still run. The cluster is found as for 'distkv node'.",
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := a.clusterDir(cmd, dir)
			if err != nil {
				return err
			}
			return a.down(d)
		},
	}
	cmd.Flags().StringVar(&dir, "data-dir", "", dataDirHelp)
	return cmd
}

// down asks a running `distkv up` to stop its cluster (SIGTERM), then stops
// whatever process of the cluster still runs.
func (a *app) down(dir string) error {
	f, err := readClusterFile(dir)
	if err != nil {
		return err
	}
	out := newLockedWriter(a.stdout)
	var upErr error
	askedUp := f.upRunning()
	if askedUp {
		if upErr = stopUpProcess(f, out); upErr == nil {
			out.say("distkv up (pid %d) has stopped", f.UpPID)
		}
	}
	var stopErr error
	err = updateClusterFile(dir, func(f *clusterFile) error {
		live := clusterProcs(f, nil)
		if len(live) == 0 && !askedUp {
			out.say("no node is running")
		}
		stopErr = stopCluster(out.say, f, nil, upStopGrace, (<-chan struct{})(nil))
		if stopErr == nil && len(live) > 0 {
			out.say("all nodes stopped")
		}
		if !f.upRunning() {
			f.setUp(procIdentity{})
		}
		return nil
	})
	return errors.Join(upErr, stopErr, err)
}

// stopUpProcess SIGTERMs f's `distkv up`, which stops its nodes, and waits
// downUpTimeout for it to exit.
func stopUpProcess(f *clusterFile, out *lockedWriter) error {
	out.say("asking distkv up (pid %d) to stop its cluster", f.UpPID)
	pin, err := pinProcess(f.UpPID)
	if err != nil {
		return nil // gone already
	}
	defer pin.close()
	if !f.upRunning() {
		return nil
	}
	if err := pin.signal(syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling distkv up (pid %d): %w", f.UpPID, err)
	}
	for deadline := time.Now().Add(downUpTimeout); f.upRunning(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("distkv up (pid %d) still runs %v after SIGTERM", f.UpPID, downUpTimeout)
		}
	}
	return nil
}
