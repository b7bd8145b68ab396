package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

// shellScanMax is the most keys SCAN prints in the shell.
const shellScanMax = 1000

// write runs SET, UPD and PUT: "key value...", the words of an unquoted
// value joined by single spaces.
func (sh *shell) write(ctx context.Context, w io.Writer, name string, args []string, opts ...client.WriteOption) {
	if len(args) < 2 {
		fmt.Fprintf(w, "ERR usage: %s key value\n", name)
		return
	}
	key, value := args[0], strings.Join(args[1:], " ")
	if sh.tx != nil {
		if err := sh.tx.Put(ctx, key, []byte(value)); err != nil {
			sh.fail(w, "put", key, err)
			return
		}
		fmt.Fprintln(w, "QUEUED (applied at COMMIT)")
		return
	}
	wr, err := sh.c.Put(ctx, key, []byte(value), opts...)
	if err != nil {
		sh.fail(w, strings.ToLower(name), key, err)
		return
	}
	fmt.Fprintf(w, "OK (version %d)\n", wr.Version)
}

func (sh *shell) get(ctx context.Context, w io.Writer, args []string) {
	if len(args) != 1 {
		fmt.Fprintln(w, "ERR usage: GET key")
		return
	}
	var e *client.Entry
	var err error
	if sh.tx != nil {
		e, err = sh.tx.Get(ctx, args[0])
	} else {
		e, err = sh.c.Get(ctx, args[0])
	}
	if err != nil {
		sh.fail(w, "get", args[0], err)
		return
	}
	fmt.Fprintln(w, display(e.Value))
}

func (sh *shell) del(ctx context.Context, w io.Writer, args []string) {
	if len(args) != 1 {
		fmt.Fprintln(w, "ERR usage: DEL key")
		return
	}
	if sh.tx != nil {
		if err := sh.tx.Delete(ctx, args[0]); err != nil {
			sh.fail(w, "del", args[0], err)
			return
		}
		fmt.Fprintln(w, "QUEUED (applied at COMMIT)")
		return
	}
	wr, err := sh.c.Delete(ctx, args[0])
	if err != nil {
		sh.fail(w, "del", args[0], err)
		return
	}
	fmt.Fprintf(w, "OK (deleted version %d)\n", wr.Version)
}

// scan prints "key = value" lines, then a count.
func (sh *shell) scan(ctx context.Context, w io.Writer, args []string) {
	if len(args) > 1 {
		fmt.Fprintln(w, "ERR usage: SCAN [prefix]")
		return
	}
	prefix := ""
	if len(args) == 1 {
		prefix = args[0]
	}
	n := 0
	for e, err := range sh.c.ListAll(ctx, prefix, client.WithValues(), client.Limit(shellScanMax+1)) {
		if err != nil {
			sh.fail(w, "scan", prefix, err)
			return
		}
		if n == shellScanMax {
			fmt.Fprintf(w, "(first %d keys shown; distkv scan lists them all)\n", n)
			return
		}
		n++
		fmt.Fprintf(w, "%s = %s\n", display([]byte(e.Key)), display(e.Value))
	}
	fmt.Fprintf(w, "(%d keys)\n", n)
}

// status prints a one-line cluster summary.
func (sh *shell) status(ctx context.Context, w io.Writer, args []string) {
	if len(args) != 0 {
		fmt.Fprintln(w, "ERR usage: STATUS")
		return
	}
	cl, err := sh.c.Cluster(ctx)
	if err != nil {
		sh.fail(w, "status", "", err)
		return
	}
	fmt.Fprintln(w, statusLine(cl))
}

// statusLine summarises cl: "coordinator n1; nodes n1 alive, n2 dead; 16
// shards, all with a leader; 42 keys".
func statusLine(cl *api.Cluster) string {
	var nodes []string
	for _, n := range sortedNodes(cl.Nodes) {
		nodes = append(nodes, n.ID+" "+orDash(n.State))
	}
	leaderless, keys := 0, int64(0)
	for _, s := range cl.Shards {
		if s.Leader == "" {
			leaderless++
		}
		if s.Keys > 0 {
			keys += s.Keys
		}
	}
	leaders := "all with a leader"
	if leaderless > 0 {
		leaders = fmt.Sprintf("%d without a leader", leaderless)
	}
	line := fmt.Sprintf("coordinator %s; nodes %s; %d shards, %s; %d keys",
		orDash(cl.Coordinator), strings.Join(nodes, ", "), len(cl.Shards), leaders, keys)
	if len(cl.Faults) > 0 {
		line += fmt.Sprintf("; %d active fault(s)", len(cl.Faults))
	}
	return line
}

// use switches namespace once the cluster confirms it exists.
func (sh *shell) use(ctx context.Context, w io.Writer, args []string) {
	if len(args) != 1 {
		fmt.Fprintln(w, "ERR usage: USE namespace")
		return
	}
	ns := args[0]
	if ns != client.DefaultNamespace {
		if _, err := sh.c.Namespace(ctx, ns); err != nil {
			sh.fail(w, "use", "", &opError{op: "use", ns: ns, err: err})
			return
		}
	}
	sh.c = sh.c.WithNamespace(ns)
	fmt.Fprintf(w, "OK (namespace %s)\n", ns)
}

// fail writes the one-line reply for err: "(not found)" for a missing key,
// else "ERR code: message".
func (sh *shell) fail(w io.Writer, op, key string, err error) {
	var oe *opError
	if !errors.As(err, &oe) {
		oe = &opError{op: op, key: key, ns: sh.c.NamespaceName(), err: err}
	}
	if errors.Is(err, client.ErrNotFound) {
		fmt.Fprintln(w, "(not found)")
		return
	}
	code, msg := "error", describe(err)
	var ce *client.Error
	switch {
	case errors.As(err, &ce) && ce.Code != "":
		code, msg = ce.Code, ce.Message
		if ce.Node != "" {
			msg += " (" + ce.Node + ")"
		}
	case errors.Is(err, client.ErrNoEndpoint):
		code = "unreachable"
	}
	if specific, ok := oe.specific(); ok {
		msg = specific
	}
	fmt.Fprintf(w, "ERR %s: %s\n", code, oneLine(msg))
}

// txnStep runs BEGIN [ttl], PREPARE, COMMIT and ROLLBACK.
func (sh *shell) txnStep(ctx context.Context, w io.Writer, name string, args []string) {
	if name == "BEGIN" {
		if sh.tx != nil {
			fmt.Fprintf(w, "ERR usage: transaction %s is open (COMMIT or ROLLBACK it first)\n", sh.tx.ID)
			return
		}
		var ttl time.Duration
		if len(args) > 1 {
			fmt.Fprintln(w, "ERR usage: BEGIN [ttl, such as 30s]")
			return
		}
		if len(args) == 1 {
			d, err := time.ParseDuration(args[0])
			if err != nil || d <= 0 {
				fmt.Fprintf(w, "ERR usage: BEGIN [ttl]: %q is not a duration such as 30s\n", args[0])
				return
			}
			ttl = d
		}
		tx, err := sh.c.Begin(ctx, ttl)
		if err != nil {
			sh.fail(w, "begin", "", err)
			return
		}
		sh.tx = tx
		fmt.Fprintf(w, "OK (transaction %s)\n", tx.ID)
		return
	}
	if len(args) != 0 {
		fmt.Fprintf(w, "ERR usage: %s takes no arguments\n", name)
		return
	}
	if sh.tx == nil {
		fmt.Fprintf(w, "ERR usage: %s without a transaction (BEGIN opens one)\n", name)
		return
	}
	var st *api.TxnState
	var err error
	switch name {
	case "PREPARE":
		st, err = sh.tx.Prepare(ctx)
	case "COMMIT":
		st, err = sh.tx.Commit(ctx)
	default:
		st, err = sh.tx.Rollback(ctx)
	}
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.OutcomeUnknown {
			// Still prepared, perhaps committed: COMMIT again learns which.
			sh.fail(w, strings.ToLower(name), "", err)
			return
		}
		if cur, serr := sh.tx.Status(ctx); serr == nil && (cur.State == api.TxnAborted || cur.State == api.TxnCommitted) {
			sh.tx = nil
		}
		sh.fail(w, strings.ToLower(name), "", err)
		return
	}
	switch st.State {
	case api.TxnPrepared:
		fmt.Fprintf(w, "OK (prepared on %d shards; COMMIT or ROLLBACK)\n", len(st.Participants))
	case api.TxnCommitted:
		sh.tx = nil
		var vs []string
		for _, r := range st.Results {
			vs = append(vs, fmt.Sprintf("%s version %d", r.Key, r.Version))
		}
		fmt.Fprintf(w, "OK (committed %s: %s)\n", st.Txn, strings.Join(vs, ", "))
	default:
		sh.tx = nil
		fmt.Fprintf(w, "OK (rolled back %s)\n", st.Txn)
	}
}
