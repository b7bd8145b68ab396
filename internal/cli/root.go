// Package cli is the distkv command line: the client subcommands, the
// interactive shell, and `up`/`node`, which run a local cluster as one OS
// process per node by exec'ing this same binary.
package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/distkv/distkv/client"
)

// DefaultEndpoints are the client addresses of the nodes `distkv up` starts
// with its defaults.
const DefaultEndpoints = "127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703"

// Environment variables read by the client commands.
const (
	EnvEndpoints = "DISTKV_ENDPOINTS"
)

// Stdio is where a command reads and writes.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// app is one run of the command line: its streams, global flags and the
// client built from them.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	endpoints string
	timeout   time.Duration
	ns        string
	json      bool
	// cacert, cert and key are the TLS files (etcdctl's flags).
	cacert, cert, key string

	// ran is set when a command's Run starts: an error before that is a
	// usage error (bad flag, wrong arguments, unknown command).
	ran bool
	cl  *client.Client
	// exe, when set, is the binary up and node start run (tests).
	exe string
}

// Execute runs the command line with the process's arguments, streams and
// environment, and returns the exit code.
func Execute() int {
	return Run(context.Background(), os.Args[1:], Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
}

// Run runs the command line with args (without the program name) and
// returns the exit code: 0, or one of the Exit constants after printing
// one line to std.Err.
func Run(ctx context.Context, args []string, std Stdio, getenv func(string) string) int {
	a := &app{stdin: std.In, stdout: std.Out, stderr: std.Err, getenv: getenv}
	return a.run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if !a.ran {
		err = asUsage(err)
	}
	a.errorf("%s", errorLine(err))
	return exitCode(err)
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "distkv",
		Short:         "distkv: a sharded, replicated key-value store",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	endpoints := DefaultEndpoints
	if e := a.getenv(EnvEndpoints); e != "" {
		endpoints = e
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpoints, "endpoints", endpoints, "comma-separated node addresses, host:port (env "+EnvEndpoints+")")
	pf.DurationVar(&a.timeout, "timeout", client.DefaultTimeout, "deadline of each operation, retries included")
	pf.StringVar(&a.ns, "ns", client.DefaultNamespace, "namespace")
	pf.BoolVar(&a.json, "json", false, "print JSON instead of text")
	pf.StringVar(&a.cacert, "cacert", a.getenv(EnvCACert), "CA certificate of a TLS cluster (PEM; env "+EnvCACert+"); endpoints then mean https")
	pf.StringVar(&a.cert, "cert", a.getenv(EnvCert), "client certificate for a cluster that requires one (PEM; env "+EnvCert+")")
	pf.StringVar(&a.key, "key", a.getenv(EnvKey), "the client certificate's key (PEM; env "+EnvKey+")")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(
		a.newGetCmd(), a.newPutCmd("put"), a.newPutCmd("upd"), a.newDelCmd(), a.newScanCmd(),
		a.newStatusCmd(), a.newDumpCmd(), a.newLocateCmd(), a.newNSCmd(),
		a.newShellCmd(), a.newUpCmd(), a.newNodeCmd(), a.newDownCmd(),
		a.newFaultCmd(), a.newVerifyCmd(), a.newRepairCmd(),
		a.newBenchCmd(),
		a.newWatchCmd(), a.newTxnCmd(),
		a.newCertsCmd(),
		newServerCmd(),
	)
	markRuns(root, a)
	return root
}

// markRuns wraps every command's Run so that a.ran is set when it starts.
func markRuns(c *cobra.Command, a *app) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error { a.ran = true; return run(cmd, args) }
	}
	if run := c.Run; run != nil {
		c.Run = func(cmd *cobra.Command, args []string) { a.ran = true; run(cmd, args) }
	}
	for _, sub := range c.Commands() {
		markRuns(sub, a)
	}
}

// client returns the client for the global flags, building it once.
func (a *app) client() (*client.Client, error) {
	if a.cl != nil {
		return a.cl.WithNamespace(a.ns), nil
	}
	if a.timeout <= 0 {
		return nil, usagef("--timeout must be positive, got %v", a.timeout)
	}
	tc, err := a.tlsConfig()
	if err != nil {
		return nil, err
	}
	cl, err := client.New(client.Config{Endpoints: splitList(a.endpoints), Timeout: a.timeout, RetryTimeout: a.timeout, TLS: tc})
	if err != nil {
		return nil, usagef("%s", strings.TrimPrefix(err.Error(), "client: "))
	}
	a.cl = cl
	return cl.WithNamespace(a.ns), nil
}

// Environment twins of the TLS flags.
const (
	EnvCACert = "DISTKV_CACERT"
	EnvCert   = "DISTKV_CERT"
	EnvKey    = "DISTKV_KEY"
)

// tlsConfig is the client TLS configuration of the global flags, nil
// when none is given.
func (a *app) tlsConfig() (*tls.Config, error) {
	if a.cacert == "" && a.cert == "" && a.key == "" {
		return nil, nil
	}
	tc, err := client.TLSFromFiles(a.cacert, a.cert, a.key)
	if err != nil {
		return nil, usagef("%s", strings.TrimPrefix(err.Error(), "client: "))
	}
	return tc, nil
}

// opCtx bounds one operation by --timeout.
func (a *app) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}

// printJSON writes v as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errorf prints one "distkv: ..." line to stderr.
func (a *app) errorf(format string, args ...any) {
	io.WriteString(a.stderr, "distkv: "+oneLine(fmt.Sprintf(format, args...))+"\n")
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
