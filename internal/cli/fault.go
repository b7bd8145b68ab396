package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

// newFaultCmd is `distkv fault`: inject and heal faults cluster-wide. Each
// fault is installed on every node the cluster map lists (a node enforces
// the rules that involve its own links), so a node that cannot be reached
// is reported but does not stop the others.
func (a *app) newFaultCmd() *cobra.Command {
	var dur time.Duration
	cmd := &cobra.Command{
		Use:   "fault",
		Short: "Inject faults into the cluster's transport: freeze, partition, delay, drop, heal",
		Long: `Inject faults inside every node's peer transport (no root, iptables or tc
needed). Nodes must run with --allow-fault-injection (distkv up enables it).

  distkv fault freeze n2 [--for 10s]    n2 stops all peer and client traffic
  distkv fault unfreeze n2
  distkv fault isolate n2               n2 is cut from its peers (clients still served)
  distkv fault partition n1,n2 n3       groups that cannot reach each other
  distkv fault cut n1 n2                one direction only: n1's messages to n2 are lost
  distkv fault delay [n3] 200ms [--jitter 50ms]   added latency (all links without a node)
  distkv fault drop 0.2 [--node n2]     drop 20% of messages
  distkv fault heal                     remove every fault
  distkv fault list                     the active faults, node by node

--for makes a fault heal itself after that long.`,
	}
	cmd.PersistentFlags().DurationVar(&dur, "for", 0, "heal the fault after this long (0: until healed)")
	add := func(use, short string, args cobra.PositionalArgs, build func(args []string) (api.FaultRequest, error)) *cobra.Command {
		sub := &cobra.Command{
			Use: use, Short: short, Args: args,
			RunE: func(c *cobra.Command, args []string) error {
				req, err := build(args)
				if err != nil {
					return asUsage(err)
				}
				if dur < 0 {
					return usagef("--for must not be negative")
				}
				if dur > 0 {
					req.For = dur.String()
				}
				return a.applyFault(c.Context(), req)
			},
		}
		cmd.AddCommand(sub)
		return sub
	}
	nodes := func(kind string) func([]string) (api.FaultRequest, error) {
		return func(args []string) (api.FaultRequest, error) {
			return api.FaultRequest{Kind: kind, Nodes: nodeIDs(args)}, nil
		}
	}
	add("freeze NODE...", "Freeze nodes: no peer or client traffic in or out", cobra.MinimumNArgs(1), nodes(api.FaultFreeze))
	add("unfreeze NODE...", "Undo a freeze", cobra.MinimumNArgs(1), nodes(api.FaultUnfreeze))
	add("isolate NODE...", "Cut nodes from all their peers", cobra.MinimumNArgs(1), nodes(api.FaultIsolate))
	add("partition GROUP GROUP...", "Split the cluster: nodes in different groups (n1,n2 n3) cannot reach each other",
		cobra.MinimumNArgs(2), func(args []string) (api.FaultRequest, error) {
			req := api.FaultRequest{Kind: api.FaultPartition}
			for _, g := range args {
				req.Groups = append(req.Groups, nodeIDs(strings.Split(g, ",")))
			}
			return req, nil
		})
	add("cut FROM TO", "Lose every message FROM sends TO (one direction)", cobra.ExactArgs(2),
		func(args []string) (api.FaultRequest, error) {
			return api.FaultRequest{Kind: api.FaultCut, From: nodeID(args[0]), To: nodeID(args[1])}, nil
		})
	var jitter time.Duration
	delay := add("delay [NODE] DELAY", "Add latency to a node's messages (every link without a node)", cobra.RangeArgs(1, 2),
		func(args []string) (api.FaultRequest, error) {
			req := api.FaultRequest{Kind: api.FaultDelay}
			if len(args) == 2 {
				req.Nodes = []string{nodeID(args[0])}
			}
			d, err := time.ParseDuration(args[len(args)-1])
			if err != nil || d <= 0 {
				return req, fmt.Errorf("delay must be a positive duration such as 200ms, got %q", args[len(args)-1])
			}
			req.Delay = d.String()
			if jitter > 0 {
				req.Jitter = jitter.String()
			}
			return req, nil
		})
	delay.Flags().DurationVar(&jitter, "jitter", 0, "random extra delay, up to this much")
	var dropNode string
	drop := add("drop PROBABILITY", "Drop a fraction (0..1) of messages, of one node's links with --node", cobra.ExactArgs(1),
		func(args []string) (api.FaultRequest, error) {
			p, err := strconv.ParseFloat(args[0], 64)
			if err != nil || p < 0 || p > 1 {
				return api.FaultRequest{}, fmt.Errorf("drop probability must be between 0 and 1, got %q", args[0])
			}
			req := api.FaultRequest{Kind: api.FaultDrop, Prob: p}
			if dropNode != "" {
				req.Nodes = []string{nodeID(dropNode)}
			}
			return req, nil
		})
	drop.Flags().StringVar(&dropNode, "node", "", "only this node's links")
	cmd.AddCommand(&cobra.Command{
		Use:   "plant NODE KEY VALUE",
		Short: "Put a stale, divergent value on one replica of a leaderless key, without replication",
		Long: "Put a divergent value of KEY on NODE's replica only (seed 001's trick value), in an\n" +
			"eventual or causal namespace (--ns). It is older than every real write, so a read with\n" +
			"--r all (read repair) or the next anti-entropy round (or distkv repair) undoes it;\n" +
			"distkv get --consistency stale --endpoints NODE shows it until then.",
		Args: cobra.ExactArgs(3),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(c.Context())
			defer cancel()
			// Any node can place it: the request names the target replica.
			err = cl.Plant(ctx, cl.Endpoints()[0], api.PlantRequest{Namespace: a.ns, Node: nodeID(args[0]), Key: args[1], Value: args[2]})
			if err != nil {
				return &opError{op: "plant", key: args[1], ns: a.ns, err: err}
			}
			fmt.Fprintf(a.stdout, "OK planted %q on %s's replica of %q\n", args[2], nodeID(args[0]), args[1])
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "heal", Short: "Remove every fault on every node", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return a.healFaults(c.Context()) },
	})
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the active faults, node by node", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return a.listFaults(c.Context()) },
	})
	return cmd
}

func nodeIDs(args []string) []string {
	out := make([]string, len(args))
	for i, s := range args {
		out[i] = nodeID(s)
	}
	return out
}

// clusterEndpoints lists the members with their client addresses. Each
// endpoint gets a short attempt: a frozen node holds requests (as a node
// cut off by a firewall would), and the lookup should move on to the next
// endpoint well within --timeout.
func (a *app) clusterEndpoints(ctx context.Context, _ *client.Client) ([]api.Node, error) {
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	attempt := min(a.timeout, time.Second)
	tc, err := a.tlsConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.New(client.Config{Endpoints: splitList(a.endpoints), Timeout: attempt, RetryTimeout: a.timeout, TLS: tc})
	if err != nil {
		return nil, asUsage(err)
	}
	cl, err := c.Cluster(ctx)
	if err != nil {
		return nil, &opError{op: "reading the cluster map", err: err}
	}
	return sortedNodes(cl.Nodes), nil
}

// eachNode runs fn against every node and reports which failed; it fails
// only if no node could be reached.
func (a *app) eachNode(ctx context.Context, what string, fn func(ctx context.Context, c *client.Client, addr string) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	nodes, err := a.clusterEndpoints(ctx, c)
	if err != nil {
		return err
	}
	var ok, failed []string
	for _, n := range nodes {
		if n.ClientAddr == "" {
			failed = append(failed, n.ID+" (no address known)")
			continue
		}
		nctx, cancel := a.opCtx(ctx)
		err := fn(nctx, c, n.ClientAddr)
		cancel()
		if err != nil {
			if errorsIsForbidden(err) {
				return fmt.Errorf("%s: %s refused: fault injection is not enabled there (start nodes with --allow-fault-injection)", what, n.ID)
			}
			failed = append(failed, fmt.Sprintf("%s (%v)", n.ID, describe(err)))
			continue
		}
		ok = append(ok, n.ID)
	}
	if len(ok) == 0 {
		return fmt.Errorf("%s: no node could be reached: %s", what, strings.Join(failed, "; "))
	}
	fmt.Fprintf(a.stdout, "OK %s on %s\n", what, strings.Join(ok, ", "))
	if len(failed) > 0 {
		fmt.Fprintf(a.stderr, "warning: not applied on %s\n", strings.Join(failed, "; "))
	}
	return nil
}

func errorsIsForbidden(err error) bool {
	var ce *client.Error
	return errors.As(err, &ce) && ce.Code == api.CodeForbidden
}

func (a *app) applyFault(ctx context.Context, req api.FaultRequest) error {
	return a.eachNode(ctx, describeFault(req), func(ctx context.Context, c *client.Client, addr string) error {
		_, err := c.AddFault(ctx, addr, req)
		return err
	})
}

func (a *app) healFaults(ctx context.Context) error {
	return a.eachNode(ctx, "heal", func(ctx context.Context, c *client.Client, addr string) error {
		_, err := c.HealFaults(ctx, addr)
		return err
	})
}

func (a *app) listFaults(ctx context.Context) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tID\tKIND\tDETAIL")
	rows := 0
	err := a.eachNodeQuiet(ctx, func(ctx context.Context, c *client.Client, addr string) error {
		fl, err := c.Faults(ctx, addr)
		if err != nil {
			return err
		}
		for _, f := range fl.Faults {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", fl.Node, f.ID, f.Kind, faultDetail(f))
			rows++
		}
		return nil
	})
	tw.Flush()
	if err == nil && rows == 0 {
		fmt.Fprintln(a.stdout, "(no active faults)")
	}
	return err
}

// eachNodeQuiet is eachNode without the "OK ... on" line.
func (a *app) eachNodeQuiet(ctx context.Context, fn func(ctx context.Context, c *client.Client, addr string) error) error {
	out := a.stdout
	a.stdout = discard{}
	defer func() { a.stdout = out }()
	return a.eachNode(ctx, "list faults", fn)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func describeFault(r api.FaultRequest) string {
	s := r.Kind
	switch {
	case len(r.Groups) > 0:
		var gs []string
		for _, g := range r.Groups {
			gs = append(gs, strings.Join(g, ","))
		}
		s += " " + strings.Join(gs, " | ")
	case r.From != "":
		s += " " + r.From + " -> " + r.To
	case len(r.Nodes) > 0:
		s += " " + strings.Join(r.Nodes, ",")
	}
	if r.Delay != "" {
		s += " " + r.Delay
	}
	if r.Prob > 0 {
		s += " " + strconv.FormatFloat(r.Prob, 'g', -1, 64)
	}
	if r.For != "" {
		s += " for " + r.For
	}
	return s
}
