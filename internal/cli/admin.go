package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

func (a *app) newDumpCmd() *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "dump --node ID",
		Short: "Print the keys one node holds locally (JSON lines with --json)",
		Long: "Print the keys one node holds in its local replicas, whichever shards it\n" +
			"serves. The node's address is looked up with GET /v1/cluster on any endpoint;\n" +
			"--node also takes a host:port directly.",
		Args: argNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if node == "" {
				return usagef("dump needs --node ID (see 'distkv status' for the IDs)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			addr, err := a.nodeAddr(cmd.Context(), c, node)
			if err != nil {
				return err
			}
			return a.dump(cmd.Context(), c, node, addr)
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "the node's ID (n1), or its host:port")
	return cmd
}

// nodeAddr finds node's client address in the cluster map; a host:port
// that is no node ID is used as is.
func (a *app) nodeAddr(ctx context.Context, c *client.Client, node string) (string, error) {
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	cl, err := c.Cluster(ctx)
	if err != nil {
		return "", &opError{op: "looking up node " + node, err: err}
	}
	var ids []string
	for _, n := range sortedNodes(cl.Nodes) {
		if n.ID == node {
			if n.ClientAddr == "" {
				return "", fmt.Errorf("the cluster map has no client address for node %s", node)
			}
			return dialable(n.ClientAddr), nil
		}
		ids = append(ids, n.ID)
	}
	if _, _, err := net.SplitHostPort(node); err == nil {
		return node, nil
	}
	return "", fmt.Errorf("no node %q in the cluster (nodes: %s)", node, strings.Join(ids, ", "))
}

// dialable turns a listen address on all interfaces into a loopback one.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

func (a *app) dump(ctx context.Context, c *client.Client, node, addr string) error {
	enc := json.NewEncoder(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	if !a.json {
		fmt.Fprintln(tw, "SHARD\tKEY\tVERSION\tLEADER\tVALUE")
	}
	n := 0
	err := c.Dump(ctx, addr, func(e api.DumpEntry) error {
		n++
		if a.json {
			return enc.Encode(e)
		}
		v, err := api.DecodeValue(e.Value, e.Encoding)
		if err != nil {
			v = []byte(e.Value)
		}
		leader := ""
		if e.Leader {
			leader = "*"
		}
		fmt.Fprintf(tw, "%s/%d\t%s\t%d\t%s\t%s\n", e.Namespace, e.Shard, display([]byte(e.Key)), e.Version, leader, display(v))
		if n%scanFlushEvery == 0 {
			return tw.Flush()
		}
		return nil
	})
	tw.Flush()
	if err != nil {
		return &opError{op: "dump " + node, err: err}
	}
	if !a.json && isTerminal(a.stdout) {
		fmt.Fprintf(a.stdout, "(%d keys on %s; * where it leads the shard)\n", n, node)
	}
	return nil
}

func (a *app) newLocateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "locate KEY",
		Short: "Show the shard, replicas and leader of a key",
		Args:  argNames("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			loc, err := c.Locate(ctx, args[0])
			if err != nil {
				return &opError{op: "locate", key: args[0], ns: a.ns, err: err}
			}
			if a.json {
				return a.printJSON(loc)
			}
			fmt.Fprintf(a.stdout, "key %q: namespace %s, shard %d (group %s), leader %s, replicas %s\n",
				loc.Key, loc.Namespace, loc.Shard, orDash(loc.Group), orDash(loc.Leader), strings.Join(loc.Replicas, ","))
			return nil
		},
	}
}

func (a *app) newNSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ns",
		Short: "Create, list, show, change and reshard namespaces",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for 'distkv ns' (create, list, show, set or reshard)", args[0])
			}
			return usagef("ns needs a subcommand: create, list, show, set or reshard")
		},
	}
	cmd.AddCommand(a.newNSCreateCmd(), a.newNSListCmd(), a.newNSShowCmd(), a.newNSSetCmd(), a.newNSReshardCmd())
	return cmd
}

func (a *app) newNSListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the namespaces",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			nss, err := c.Namespaces(ctx)
			if err != nil {
				return &opError{op: "list namespaces", err: err}
			}
			if a.json {
				return a.printJSON(api.NamespaceList{Namespaces: nss})
			}
			a.printNamespaces(nss)
			return nil
		},
	}
}

func (a *app) newNSShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one namespace's settings",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			ns, err := c.Namespace(ctx, args[0])
			if err != nil {
				return &opError{op: "show namespace", ns: args[0], err: err}
			}
			if a.json {
				return a.printJSON(ns)
			}
			a.printNamespaces([]api.Namespace{*ns})
			return nil
		},
	}
}

func (a *app) printNamespaces(nss []api.Namespace) {
	nss = slices.Clone(nss)
	slices.SortFunc(nss, func(x, y api.Namespace) int { return strings.Compare(x.Name, y.Name) })
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tMODE\tREPLICAS\tSHARDS\tR\tW\tCONFLICTS")
	for _, ns := range nss {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", ns.Name, ns.ID, orDash(ns.Mode), orDash(string(ns.Replicas)),
			ns.Shards, intOrDash(ns.R), intOrDash(ns.W), orDash(ns.Conflicts))
	}
	tw.Flush()
}

func intOrDash(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}
