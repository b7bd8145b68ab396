package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

// Interactive transactions from the command line, one step per command
// (seed 001's propose / commit / rollback scripts):
//
//	id=$(distkv txn begin)
//	distkv put --txn $id alice 40
//	distkv txn prepare $id
//	distkv txn commit $id

func (a *app) addTxnSteps(txn *cobra.Command) {
	var ttl time.Duration
	begin := &cobra.Command{
		Use:   "begin",
		Short: "Open an interactive transaction and print its ID",
		Long: `Open an interactive transaction on one node and print its ID. Then
read and write inside it with get/put/del --txn ID, and finish it with
txn prepare, txn commit or txn rollback. Reads are checked at prepare: if a
key read has changed since, the transaction aborts (exit 4). Writes are
buffered until the commit. A transaction not committed within --ttl is
rolled back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			tx, err := c.Begin(ctx, ttl)
			if err != nil {
				return &opError{op: "txn begin", ns: a.ns, err: err}
			}
			if a.json {
				st, err := tx.Status(ctx)
				if err != nil {
					return &opError{op: "txn begin", ns: a.ns, err: err}
				}
				return a.printJSON(st)
			}
			fmt.Fprintln(a.stdout, tx.ID)
			return nil
		},
	}
	begin.Flags().DurationVar(&ttl, "ttl", 0, "how long the transaction may stay open before it is rolled back (default 60s, at most 10m)")
	txn.AddCommand(begin)
	for _, step := range []struct{ name, short string }{
		{"prepare", "Lock the transaction's keys on every shard and check its reads (phase 1)"},
		{"commit", "Commit the transaction (preparing it first if it is not prepared)"},
		{"rollback", "Roll the transaction back and release its locks"},
		{"status", "Show the transaction's state, reads, writes and participant shards"},
	} {
		txn.AddCommand(&cobra.Command{
			Use:   step.name + " ID",
			Short: step.short,
			Args:  argNames("ID"),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx, cancel := a.opCtx(cmd.Context())
				defer cancel()
				tx, err := a.resumeTxn(ctx, args[0])
				if err != nil {
					return err
				}
				var st *api.TxnState
				switch step.name {
				case "prepare":
					st, err = tx.Prepare(ctx)
				case "commit":
					st, err = tx.Commit(ctx)
				case "rollback":
					st, err = tx.Rollback(ctx)
				default:
					st, err = tx.Status(ctx)
				}
				if err != nil {
					return &opError{op: "txn " + step.name, ns: a.ns, err: err}
				}
				if a.json {
					return a.printJSON(st)
				}
				printTxnState(a.stdout, st)
				return nil
			},
		})
	}
}

func (a *app) resumeTxn(ctx context.Context, id string) (*client.Tx, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	tx, err := c.ResumeTxn(ctx, id)
	if err != nil {
		return nil, &opError{op: "txn", ns: a.ns, err: err}
	}
	return tx, nil
}

// printTxnState prints an interactive transaction's state for people.
func printTxnState(w io.Writer, st *api.TxnState) {
	fmt.Fprintf(w, "transaction %s: %s (namespace %s, on %s, ttl %v)\n", st.Txn, st.State, st.Namespace, st.Node,
		time.Duration(st.TTLMillis)*time.Millisecond)
	if st.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", st.Reason)
	}
	for _, r := range st.Reads {
		fmt.Fprintf(w, "  read  %s at version %d\n", r.Key, r.Version)
	}
	for _, op := range st.Writes {
		if op.Op == "put" {
			fmt.Fprintf(w, "  put   %s = %s\n", op.Key, display([]byte(op.Value)))
		} else {
			fmt.Fprintf(w, "  del   %s\n", op.Key)
		}
	}
	for _, p := range st.Participants {
		role := ""
		if p.Record {
			role = " (transaction record: the commit point)"
		}
		keys := strings.Join(p.Keys, " ")
		if keys == "" {
			keys = "(no keys)"
		}
		fmt.Fprintf(w, "  shard %d (group %d)%s: %s\n", p.Shard, p.Group, role, keys)
	}
	for _, r := range st.Results {
		fmt.Fprintf(w, "  %s %s: version %d\n", r.Op, r.Key, r.Version)
	}
}

// txnGet prints key's value as transaction id reads it.
func (a *app) txnGet(cmd *cobra.Command, id, key string) error {
	ctx, cancel := a.opCtx(cmd.Context())
	defer cancel()
	tx, err := a.resumeTxn(ctx, id)
	if err != nil {
		return err
	}
	e, err := tx.Get(ctx, key)
	if err != nil {
		return &opError{op: "get", key: key, ns: a.ns, err: err}
	}
	if a.json {
		return a.printJSON(kvJSON{api.NewKV(e.Key, e.Value, e.Version), e.Node})
	}
	a.stdout.Write(e.Value)
	if isTerminal(a.stdout) && !bytes.HasSuffix(e.Value, []byte("\n")) {
		io.WriteString(a.stdout, "\n")
	}
	return nil
}

// txnWrite buffers a put (or a delete) of key in transaction id.
func (a *app) txnWrite(cmd *cobra.Command, id, key string, value []byte, del bool) error {
	ctx, cancel := a.opCtx(cmd.Context())
	defer cancel()
	tx, err := a.resumeTxn(ctx, id)
	if err != nil {
		return err
	}
	op := "put"
	if del {
		op = "del"
		err = tx.Delete(ctx, key)
	} else {
		err = tx.Put(ctx, key, value)
	}
	if err != nil {
		return &opError{op: op, key: key, ns: a.ns, err: err}
	}
	if a.json {
		return a.printJSON(api.WriteResult{Key: key, Txn: id})
	}
	fmt.Fprintf(a.stdout, "OK buffered in transaction %s (applied at commit)\n", id)
	return nil
}
