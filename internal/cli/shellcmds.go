package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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
	e, err := sh.c.Get(ctx, args[0])
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
