package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
)

func (a *app) newTxnCmd() *cobra.Command {
	var ifVersion, ifValue, ifAbsent, ifExists []string
	var puts, dels, gets, elsePuts, elseDels, elseGets []string
	cmd := &cobra.Command{
		Use:   "txn",
		Short: "Run an atomic transaction over keys on any shards",
		Long: `Run a transaction in a strong namespace: if every --if* comparison holds,
the --put, --delete and --get operations run, else the --else-* ones; all or
nothing, whichever shards the keys are on. In each branch the writes run
first, in the order given, then the gets (which see them).

  distkv txn --if-absent lock --put lock=me --put owner=me --else-get owner
  distkv txn --if alice=12 --if bob=7 --put alice=40 --put bob=60

A key locked by another transaction for longer than --timeout fails with a
conflict naming the key and the holder (exit 1).

Interactive transactions, step by step (seed 001's two-phase commit):

  id=$(distkv txn begin)
  distkv get --txn $id alice
  distkv put --txn $id alice 40
  distkv txn prepare $id      # every participant shard locks and records
  distkv txn commit $id       # or: distkv txn rollback $id
  distkv txn status $id`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var req api.TxnRequest
			for _, s := range ifVersion {
				k, v, ok := strings.Cut(s, "=")
				ver, err := strconv.ParseUint(v, 10, 64)
				if !ok || k == "" || err != nil {
					return usagef("--if wants KEY=VERSION (a number; 0 means absent), got %q", s)
				}
				req.Compare = append(req.Compare, api.TxnCompare{Key: k, Target: "version", Op: "=", Version: ver})
			}
			for _, s := range ifValue {
				k, v, ok := strings.Cut(s, "=")
				if !ok || k == "" {
					return usagef("--if-value wants KEY=VALUE, got %q", s)
				}
				req.Compare = append(req.Compare, api.TxnCompare{Key: k, Target: "value", Op: "=", Value: v})
			}
			for _, k := range ifAbsent {
				req.Compare = append(req.Compare, api.TxnCompare{Key: k, Target: "exists", Op: "=", Exists: false})
			}
			for _, k := range ifExists {
				req.Compare = append(req.Compare, api.TxnCompare{Key: k, Target: "exists", Op: "=", Exists: true})
			}
			var err error
			if req.Success, err = branch("", puts, dels, gets); err != nil {
				return err
			}
			if req.Failure, err = branch("else-", elsePuts, elseDels, elseGets); err != nil {
				return err
			}
			if len(req.Success)+len(req.Failure) == 0 {
				return usagef("a transaction needs at least one --put, --delete or --get (or --else-*)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			res, err := c.Txn(ctx, req)
			if err != nil {
				return &opError{op: "txn", ns: a.ns, err: err}
			}
			if a.json {
				return a.printJSON(res)
			}
			which := "failure (--else) branch ran: a comparison did not hold"
			if res.Succeeded {
				which = "success branch ran"
			}
			where := fmt.Sprintf("%d shard", res.Shards)
			if res.Shards != 1 {
				where += "s"
			}
			if res.Txn != "" {
				where += ", two-phase commit " + res.Txn
			}
			fmt.Fprintf(a.stdout, "committed: %s (%s)\n", which, where)
			for _, r := range res.Results {
				switch {
				case r.Op == "get" && !r.Found:
					fmt.Fprintf(a.stdout, "  get %s: not found\n", r.Key)
				case r.Op == "get":
					fmt.Fprintf(a.stdout, "  get %s = %s (version %d)\n", r.Key, display([]byte(r.Value)), r.Version)
				default:
					fmt.Fprintf(a.stdout, "  %s %s: version %d\n", r.Op, r.Key, r.Version)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&ifVersion, "if", nil, "KEY=VERSION: the key is at that version (0: absent)")
	f.StringArrayVar(&ifValue, "if-value", nil, "KEY=VALUE: the key holds that value")
	f.StringArrayVar(&ifAbsent, "if-absent", nil, "KEY: the key does not exist")
	f.StringArrayVar(&ifExists, "if-exists", nil, "KEY: the key exists")
	f.StringArrayVar(&puts, "put", nil, "KEY=VALUE to write if the comparisons hold")
	f.StringArrayVar(&dels, "delete", nil, "KEY to delete if the comparisons hold")
	f.StringArrayVar(&gets, "get", nil, "KEY to read if the comparisons hold")
	f.StringArrayVar(&elsePuts, "else-put", nil, "KEY=VALUE to write otherwise")
	f.StringArrayVar(&elseDels, "else-delete", nil, "KEY to delete otherwise")
	f.StringArrayVar(&elseGets, "else-get", nil, "KEY to read otherwise")
	a.addTxnSteps(cmd)
	return cmd
}

// branch builds a branch's operations: writes in order, then gets.
func branch(prefix string, puts, dels, gets []string) ([]api.TxnOp, error) {
	var ops []api.TxnOp
	for _, s := range puts {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usagef("--%sput wants KEY=VALUE, got %q", prefix, s)
		}
		ops = append(ops, api.TxnOp{Op: "put", Key: k, Value: v})
	}
	for _, k := range dels {
		ops = append(ops, api.TxnOp{Op: "delete", Key: k})
	}
	for _, k := range gets {
		ops = append(ops, api.TxnOp{Op: "get", Key: k})
	}
	return ops, nil
}
