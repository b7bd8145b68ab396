package cli

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
)

// Namespace modes and conflict policies accepted by `ns create`.
var (
	nsModes     = []string{"strong", "eventual", "causal", "ca"}
	nsConflicts = []string{"lww", "siblings"}
)

func (a *app) newNSCreateCmd() *cobra.Command {
	var ns api.Namespace
	var replicas string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a namespace",
		Long: "Create a namespace. Unset settings take the server's defaults (strong, 3\n" +
			"replicas, 16 shards). Creating a namespace that exists with the same settings\n" +
			"succeeds; with other settings it fails with exit 4.",
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns.Name = args[0]
			ns.Replicas = api.Replicas(replicas)
			if err := validateNamespace(ns); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			created, err := c.CreateNamespace(ctx, ns)
			if err != nil {
				return &opError{op: "create namespace", ns: ns.Name, err: err}
			}
			if created {
				fmt.Fprintf(a.stdout, "OK namespace %q created\n", ns.Name)
			} else {
				fmt.Fprintf(a.stdout, "OK namespace %q already exists with these settings\n", ns.Name)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ns.Mode, "mode", "", "strong, eventual, causal, or ca (strong, and every write needs every replica: seed 001's CA)")
	f.StringVar(&replicas, "replicas", "", "replication factor: a number, or all")
	f.IntVar(&ns.Shards, "shards", 0, "number of shards")
	f.IntVar(&ns.R, "r", 0, "read quorum (eventual and causal namespaces)")
	f.IntVar(&ns.W, "w", 0, "write quorum (eventual and causal namespaces)")
	f.StringVar(&ns.Conflicts, "conflicts", "", "lww or siblings (eventual and causal namespaces)")
	return cmd
}

// validateNamespace checks the forms of ns's settings; the server checks
// that they make sense together.
func validateNamespace(ns api.Namespace) error {
	if ns.Mode != "" && !slices.Contains(nsModes, ns.Mode) {
		return usagef("--mode must be one of %v, got %q", nsModes, ns.Mode)
	}
	if r := string(ns.Replicas); r != "" && r != string(api.All) {
		if n, err := strconv.Atoi(r); err != nil || n < 1 {
			return usagef("--replicas must be a positive number or all, got %q", r)
		}
	}
	if ns.Shards < 0 || ns.R < 0 || ns.W < 0 {
		return usagef("--shards, --r and --w must be positive")
	}
	if ns.Conflicts != "" && !slices.Contains(nsConflicts, ns.Conflicts) {
		return usagef("--conflicts must be one of %v, got %q", nsConflicts, ns.Conflicts)
	}
	return nil
}
