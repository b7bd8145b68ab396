package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

// Changing the cluster's shape from the command line: `node remove`,
// `ns set --replicas`, `ns reshard --shards`. Each records the change and
// returns; with --wait it then follows the moves until the change has
// settled (or --wait-timeout passes: exit 5, the change carries on).

// settlePoll is how often --wait looks at the cluster.
const settlePoll = 500 * time.Millisecond

func (a *app) newNodeRemoveCmd() *cobra.Command {
	var wait bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "Drain a node (move its replicas and leaderships away), then remove it from the cluster",
		Long: "Drain a node and remove it from the cluster: its replicas and leaderships move to\n" +
			"the other nodes first, so no shard drops below its replication factor. The node's\n" +
			"process may exit once it shows as removed. Works on any cluster (DISTKV_ENDPOINTS).",
		Args: argNames("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			id := nodeID(args[0])
			ctx, cancel := a.opCtx(cmd.Context())
			ch, err := c.RemoveMember(ctx, id)
			cancel()
			if err != nil {
				return &opError{op: "remove node " + id, err: err}
			}
			fmt.Fprintf(a.stdout, "OK %s is %s (epoch %d)\n", ch.Member.ID, ch.Member.State, ch.Epoch)
			if !wait {
				return nil
			}
			return a.waitSettled(cmd.Context(), c, waitTimeout, id+" removed", func(cl *api.Cluster) bool {
				for _, n := range cl.Nodes {
					if n.ID == id {
						return n.Membership == api.MemberRemoved
					}
				}
				return true // gone from the map altogether
			})
		},
	}
	addWaitFlags(cmd, &wait, &waitTimeout)
	return cmd
}

func (a *app) newNSSetCmd() *cobra.Command {
	var replicas string
	var wait bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "set NAME --replicas N",
		Short: "Change a namespace's replication factor online (a number, or all)",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if replicas == "" {
				return usagef("ns set needs --replicas (a number, or all)")
			}
			if n, err := strconv.Atoi(replicas); replicas != "all" && (err != nil || n < 1) {
				return usagef("--replicas must be a positive number or all, got %q", replicas)
			}
			return a.updateNamespace(cmd.Context(), args[0], api.NamespaceUpdate{Replicas: api.Replicas(replicas)}, wait, waitTimeout)
		},
	}
	cmd.Flags().StringVar(&replicas, "replicas", "", "the new replication factor: a number, or all")
	addWaitFlags(cmd, &wait, &waitTimeout)
	return cmd
}

func (a *app) newNSReshardCmd() *cobra.Command {
	var shards int
	var wait bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "reshard NAME --shards N",
		Short: "Change a namespace's shard count online; only the keys that must move do",
		Long: "Change a namespace's shard count while it serves. Strong namespaces stay\n" +
			"linearizable throughout (writes to a shard being split or merged pause briefly);\n" +
			"eventual and causal namespaces hand their keys over with hinted handoff and\n" +
			"anti-entropy. One reshard per namespace runs at a time.",
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if shards < 1 {
				return usagef("ns reshard needs --shards N (a positive number)")
			}
			return a.updateNamespace(cmd.Context(), args[0], api.NamespaceUpdate{Shards: shards}, wait, waitTimeout)
		},
	}
	cmd.Flags().IntVar(&shards, "shards", 0, "the new number of shards")
	addWaitFlags(cmd, &wait, &waitTimeout)
	return cmd
}

func addWaitFlags(cmd *cobra.Command, wait *bool, timeout *time.Duration) {
	cmd.Flags().BoolVar(wait, "wait", false, "follow the moves until the change has settled")
	cmd.Flags().DurationVar(timeout, "wait-timeout", 10*time.Minute, "how long --wait waits")
}

func (a *app) updateNamespace(ctx context.Context, name string, u api.NamespaceUpdate, wait bool, waitTimeout time.Duration) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	octx, cancel := a.opCtx(ctx)
	ch, err := c.UpdateNamespace(octx, name, u)
	cancel()
	if err != nil {
		return &opError{op: "change namespace " + name, ns: name, err: err}
	}
	if len(ch.Started) == 0 {
		fmt.Fprintf(a.stdout, "OK namespace %q unchanged (epoch %d)\n", name, ch.Epoch)
		return nil
	}
	for _, s := range ch.Started {
		fmt.Fprintf(a.stdout, "OK namespace %q: %s (epoch %d)\n", name, s, ch.Epoch)
	}
	if !wait {
		return nil
	}
	return a.waitSettled(ctx, c, waitTimeout, "namespace "+name+" settled", func(cl *api.Cluster) bool {
		for _, ns := range cl.Namespaces {
			if ns.Name == name && ns.Reshard != nil {
				return false
			}
		}
		for _, mv := range cl.Moves {
			if mv.Namespace == name {
				return false
			}
		}
		return true
	})
}

// waitSettled polls the cluster until done holds, printing the moves
// under way whenever they change, for at most timeout.
func (a *app) waitSettled(ctx context.Context, c *client.Client, timeout time.Duration, what string, done func(*api.Cluster) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bar := a.progressFormat()
	last := ""
	for {
		cctx, ccancel := a.opCtx(ctx)
		cl, err := c.Cluster(cctx)
		ccancel()
		if err == nil && done(cl) {
			fmt.Fprintf(a.stdout, "OK %s (epoch %d)\n", what, cl.Epoch)
			return nil
		}
		if err == nil {
			line := movesLine(cl, bar)
			if line != last {
				fmt.Fprintln(a.stdout, line)
				last = line
			}
		}
		select {
		case <-ctx.Done():
			return &opError{op: fmt.Sprintf("waiting %s for %s (the change carries on; see 'distkv status')", timeout, what), err: context.DeadlineExceeded}
		case <-time.After(settlePoll):
		}
	}
}

// movesLine summarises the moves and reshards under way on one line.
func movesLine(cl *api.Cluster, bar func(float64) string) string {
	s := fmt.Sprintf("epoch %d: %d move(s)", cl.Epoch, len(cl.Moves))
	for _, mv := range cl.Moves {
		s += fmt.Sprintf("; %s/%d %s->%s %s %s", mv.Namespace, mv.Shard, orDash(mv.From), orDash(mv.To), orDash(mv.Step), bar(mv.Progress))
	}
	for _, ns := range cl.Namespaces {
		if r := ns.Reshard; r != nil {
			s += fmt.Sprintf("; reshard %s %d->%d %s", ns.Name, r.From, r.To, r.Phase)
		}
	}
	return s
}
