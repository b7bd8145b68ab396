package cli

import (
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) newDownCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster in DATA-DIR, whether or not its 'distkv up' still runs",
		Args:  argNames(),
		RunE:  func(*cobra.Command, []string) error { return a.down(dir) },
	}
	cmd.Flags().StringVar(&dir, "data-dir", defaultDataDir, "the cluster's data directory (with cluster.json)")
	return cmd
}

// down asks a running `distkv up` to stop its cluster (SIGTERM), then stops
// whatever node of cluster.json still runs.
func (a *app) down(dir string) error {
	f, err := readClusterFile(dir)
	if err != nil {
		return err
	}
	out := newLockedWriter(a.stdout)
	if f.UpPID > 0 && isDistkv(procCmdline(f.UpPID), "up") {
		out.say("asking distkv up (pid %d) to stop its cluster", f.UpPID)
		syscall.Kill(f.UpPID, syscall.SIGTERM)
		for deadline := time.Now().Add(downUpTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if !isDistkv(procCmdline(f.UpPID), "up") {
				break
			}
		}
	}
	var stopErr error
	err = updateClusterFile(dir, func(f *clusterFile) error {
		ps := runningProcs(f)
		if len(ps) == 0 {
			out.say("no node is running")
		}
		stopErr = stopProcs(out.say, ps, upStopGrace, (<-chan struct{})(nil))
		for i := range f.Nodes {
			if !(proc{f.Nodes[i].ID, f.Nodes[i].PID}).running() {
				f.Nodes[i].PID = 0
			}
		}
		if !isDistkv(procCmdline(f.UpPID), "up") {
			f.UpPID = 0
		}
		return nil
	})
	if stopErr != nil {
		return stopErr
	}
	return err
}
