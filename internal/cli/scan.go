package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

// scanFlushEvery is how many table rows scan buffers to align columns.
const scanFlushEvery = 256

func (a *app) newScanCmd() *cobra.Command {
	var (
		limit       int
		values      bool
		consistency string
	)
	cmd := &cobra.Command{
		Use:   "scan [PREFIX]",
		Short: "List the keys starting with PREFIX (all keys without one), in key order",
		Long: "List the keys starting with PREFIX in key order, across all shards, following\n" +
			"the server's cursors. Prints KEY VERSION [VALUE] rows, or JSON lines with --json.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("scan takes at most one PREFIX, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return usagef("--limit must be 0 (no limit) or more, got %d", limit)
			}
			opts := []client.ListOption{client.Limit(limit)}
			if values {
				opts = append(opts, client.WithValues())
			}
			switch consistency {
			case api.Linearizable:
			case api.Stale:
				opts = append(opts, client.Stale())
			default:
				return usagef("--consistency must be %s or %s, got %q", api.Linearizable, api.Stale, consistency)
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			return a.scan(cmd, prefix, values, opts)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "stop after this many keys (0: no limit)")
	cmd.Flags().BoolVar(&values, "values", false, "print values too")
	cmd.Flags().StringVar(&consistency, "consistency", api.Linearizable, "linearizable or stale")
	return cmd
}

// scan prints the listing. Each page is bounded by --timeout, not the
// whole listing.
func (a *app) scan(cmd *cobra.Command, prefix string, values bool, opts []client.ListOption) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	enc := json.NewEncoder(a.stdout)
	if !a.json {
		if values {
			fmt.Fprintln(tw, "KEY\tVERSION\tVALUE")
		} else {
			fmt.Fprintln(tw, "KEY\tVERSION")
		}
	}
	n := 0
	for e, err := range c.ListAll(cmd.Context(), prefix, opts...) {
		if err != nil {
			tw.Flush()
			return &opError{op: "scan", key: prefix, ns: a.ns, err: err}
		}
		n++
		switch {
		case a.json:
			kv := api.NewKV(e.Key, e.Value, e.Version)
			if err := enc.Encode(kv); err != nil {
				return err
			}
		case values:
			fmt.Fprintf(tw, "%s\t%d\t%s\n", display([]byte(e.Key)), e.Version, display(e.Value))
		default:
			fmt.Fprintf(tw, "%s\t%d\n", display([]byte(e.Key)), e.Version)
		}
		if n%scanFlushEvery == 0 {
			tw.Flush()
		}
	}
	tw.Flush()
	if !a.json && isTerminal(a.stdout) {
		fmt.Fprintf(a.stdout, "(%d keys)\n", n)
	}
	return nil
}
