package cli

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

// maxStdinValue bounds a value read from stdin; the server's own limit is
// smaller and answers with a clear too_large error.
const maxStdinValue = 64 << 20

// kvJSON is a key printed with --json.
type kvJSON struct {
	api.KV
	Node string `json:"node,omitempty"`
}

// writeJSON is a write result printed with --json.
type writeJSON struct {
	api.WriteResult
	Node string `json:"node,omitempty"`
}

func (a *app) newGetCmd() *cobra.Command {
	var consistency, r, txnID string
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value",
		Long: "Print a key's value, as is (followed by a newline on a terminal).\n" +
			"Exits 3 when the key does not exist.",
		Args: argNames("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if txnID != "" {
				if cmd.Flags().Changed("consistency") || r != "" {
					return usagef("--txn reads are linearizable and checked at prepare; --consistency and --r do not apply")
				}
				return a.txnGet(cmd, txnID, args[0])
			}
			var opts []client.ReadOption
			switch consistency {
			case api.Linearizable:
			case api.Stale:
				opts = append(opts, client.Stale())
			default:
				return usagef("--consistency must be %s or %s, got %q", api.Linearizable, api.Stale, consistency)
			}
			if r != "" {
				opts = append(opts, client.ReadQuorum(r))
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			e, err := c.Get(ctx, args[0], opts...)
			if err != nil {
				return &opError{op: "get", key: args[0], ns: a.ns, err: err}
			}
			if a.json {
				kv := api.NewKV(e.Key, e.Value, e.Version)
				kv.Context = e.Context
				for _, s := range e.Siblings {
					v, enc := api.EncodeValue(s)
					kv.Siblings = append(kv.Siblings, api.Value{Value: v, Encoding: enc})
				}
				return a.printJSON(kvJSON{kv, e.Node})
			}
			if len(e.Siblings) > 1 {
				// Concurrent writes kept as siblings: show them all, and the
				// context that resolves them.
				fmt.Fprintf(a.stdout, "%d siblings (concurrent writes):\n", len(e.Siblings))
				for i, s := range e.Siblings {
					fmt.Fprintf(a.stdout, "  %d: %s\n", i+1, display(s))
				}
				fmt.Fprintf(a.stdout, "resolve with: distkv put %s VALUE --context %s\n", args[0], e.Context)
				return nil
			}
			a.stdout.Write(e.Value)
			if isTerminal(a.stdout) && !bytes.HasSuffix(e.Value, []byte("\n")) {
				io.WriteString(a.stdout, "\n")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&consistency, "consistency", api.Linearizable, "linearizable or stale (any replica may answer)")
	cmd.Flags().StringVar(&txnID, "txn", "", "read inside this interactive transaction (see distkv txn begin)")
	cmd.Flags().StringVar(&r, "r", "", "eventual namespaces: replicas that must answer (a number, one, quorum, all)")
	return cmd
}

// newPutCmd builds "put" (an upsert, conditional with flags) or "upd"
// (update-only).
func (a *app) newPutCmd(name string) *cobra.Command {
	var createOnly, updateOnly bool
	var version uint64
	var w, causalCtx, txnID string
	cmd := &cobra.Command{
		Use:   name + " KEY VALUE",
		Short: "Write a key (VALUE '-' reads it from stdin)",
		Args:  argNames("KEY", "VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []client.WriteOption
			switch {
			case createOnly:
				opts = append(opts, client.CreateOnly())
			case updateOnly || name == "upd":
				opts = append(opts, client.UpdateOnly())
			}
			if cmd.Flags().Changed("version") {
				opts = append(opts, client.IfVersion(version))
			}
			opts = append(opts, leaderlessWriteOpts(w, causalCtx)...)
			value, err := a.valueArg(args[1])
			if err != nil {
				return err
			}
			if txnID != "" {
				if len(opts) > 0 || name == "upd" {
					return usagef("--txn takes a plain put: its reads are checked at prepare instead")
				}
				return a.txnWrite(cmd, txnID, args[0], value, false)
			}
			return a.put(cmd, args[0], value, opts)
		},
	}
	if name == "upd" {
		cmd.Short = "Update an existing key (fails with exit 3 when it does not exist)"
	} else {
		cmd.Flags().BoolVar(&createOnly, "create-only", false, "fail (exit 4) if the key exists")
		cmd.Flags().BoolVar(&updateOnly, "update-only", false, "fail (exit 3) if the key does not exist")
	}
	cmd.Flags().Uint64Var(&version, "version", 0, "write only if the key is at this version (compare-and-set; exit 4 otherwise)")
	addLeaderlessWriteFlags(cmd, &w, &causalCtx)
	if name != "upd" {
		cmd.Flags().StringVar(&txnID, "txn", "", "buffer the write in this interactive transaction (see distkv txn begin)")
		cmd.MarkFlagsMutuallyExclusive("create-only", "update-only", "version")
	}
	return cmd
}

func (a *app) put(cmd *cobra.Command, key string, value []byte, opts []client.WriteOption) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx, cancel := a.opCtx(cmd.Context())
	defer cancel()
	wr, err := c.Put(ctx, key, value, opts...)
	if err != nil {
		return &opError{op: cmd.Name(), key: key, ns: a.ns, err: err}
	}
	if a.json {
		return a.printJSON(writeJSON{api.WriteResult{Key: wr.Key, Version: wr.Version, Created: wr.Created}, wr.Node})
	}
	created := ""
	if wr.Created {
		created = " (created)"
	}
	if wr.Context != "" {
		fmt.Fprintf(a.stdout, "OK context=%s\n", wr.Context)
		return nil
	}
	fmt.Fprintf(a.stdout, "OK version=%d%s\n", wr.Version, created)
	return nil
}

// addLeaderlessWriteFlags adds --w and --context, which apply to eventual
// and causal namespaces.
func addLeaderlessWriteFlags(cmd *cobra.Command, w, ctx *string) {
	cmd.Flags().StringVar(w, "w", "", "eventual namespaces: replicas that must store the write (a number, one, quorum, all)")
	cmd.Flags().StringVar(ctx, "context", "", "leaderless namespaces: the causal context read (from get --json), to supersede siblings")
}

func leaderlessWriteOpts(w, ctx string) []client.WriteOption {
	var opts []client.WriteOption
	if w != "" {
		opts = append(opts, client.WriteQuorum(w))
	}
	if ctx != "" {
		opts = append(opts, client.WithContext(ctx))
	}
	return opts
}

// valueArg is a VALUE argument: itself, or stdin's contents for "-".
func (a *app) valueArg(v string) ([]byte, error) {
	if v != "-" {
		return []byte(v), nil
	}
	b, err := io.ReadAll(io.LimitReader(a.stdin, maxStdinValue+1))
	if err != nil {
		return nil, fmt.Errorf("reading the value from stdin: %w", err)
	}
	if len(b) > maxStdinValue {
		return nil, fmt.Errorf("value on stdin is over %d bytes", maxStdinValue)
	}
	return b, nil
}

func (a *app) newDelCmd() *cobra.Command {
	var version uint64
	var w, causalCtx, txnID string
	cmd := &cobra.Command{
		Use:     "del KEY",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete a key (exit 3 when it does not exist)",
		Args:    argNames("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []client.WriteOption
			if cmd.Flags().Changed("version") {
				opts = append(opts, client.IfVersion(version))
			}
			opts = append(opts, leaderlessWriteOpts(w, causalCtx)...)
			if txnID != "" {
				if len(opts) > 0 {
					return usagef("--txn takes a plain delete: its reads are checked at prepare instead")
				}
				return a.txnWrite(cmd, txnID, args[0], nil, true)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(cmd.Context())
			defer cancel()
			wr, err := c.Delete(ctx, args[0], opts...)
			if err != nil {
				return &opError{op: "del", key: args[0], ns: a.ns, err: err}
			}
			if a.json {
				return a.printJSON(writeJSON{api.WriteResult{Key: wr.Key, Version: wr.Version}, wr.Node})
			}
			if wr.Context != "" {
				fmt.Fprintf(a.stdout, "OK deleted (context=%s)\n", wr.Context)
				return nil
			}
			fmt.Fprintf(a.stdout, "OK deleted version=%d\n", wr.Version)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&version, "version", 0, "delete only if the key is at this version (exit 4 otherwise)")
	cmd.Flags().StringVar(&txnID, "txn", "", "buffer the delete in this interactive transaction (see distkv txn begin)")
	addLeaderlessWriteFlags(cmd, &w, &causalCtx)
	return cmd
}

// argNames requires exactly the named positional arguments.
func argNames(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			want := strings.Join(names, " ")
			if want == "" {
				want = "no arguments"
			}
			return usagef("%s takes %s, got %d argument(s) (see '%s --help')",
				cmd.Name(), want, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// display renders a key or value for a table or a shell reply: as is when
// it is non-empty printable UTF-8, else Go-quoted.
func display(b []byte) string {
	s := string(b)
	notPrint := func(r rune) bool { return !unicode.IsPrint(r) }
	if s != "" && utf8.ValidString(s) && strings.IndexFunc(s, notPrint) < 0 {
		return s
	}
	return strconv.Quote(s)
}
