package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/client"
)

func (a *app) newRepairCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "repair",
		Short: "Run an anti-entropy round now on every node's eventual-namespace replicas",
		Long: "Make every node compare the Merkle trees of its eventual-namespace shard replicas\n" +
			"with every other replica's, and exchange the keys that differ (what the periodic\n" +
			"anti-entropy does a little at a time).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			total := 0
			err := a.eachNode(cmd.Context(), "repair", func(ctx context.Context, c *client.Client, addr string) error {
				rr, err := c.Repair(ctx, addr)
				if err == nil {
					total += rr.Keys
				}
				return err
			})
			if err == nil {
				fmt.Fprintf(a.stdout, "%d keys exchanged\n", total)
			}
			return err
		},
	}
}
