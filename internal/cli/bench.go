package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/distkv/distkv/internal/bench"
)

// Default endpoints of `distkv bench` for the peers' targets.
const (
	defaultEtcdEndpoint  = "127.0.0.1:2379"
	defaultRedisEndpoint = "127.0.0.1:6379"
)

// benchShape holds the flags `bench` and `bench compare` share.
type benchShape struct {
	o                          bench.Options
	duration, warmup           time.Duration
	html                       string
	workloadSet, durationGiven bool
}

// addShapeFlags defines the workload-shape flags on f.
func addShapeFlags(f *pflag.FlagSet, s *benchShape) {
	f.Uint64Var(&s.o.Keys, "keys", bench.DefaultKeys, "number of distinct keys")
	f.IntVar(&s.o.KeySize, "key-size", bench.DefaultKeySize, "key size in bytes")
	f.IntVar(&s.o.ValueSize, "value-size", bench.DefaultValueSize, "value size in bytes")
	f.StringVar(&s.o.Dist, "dist", bench.DistUniform, "key distribution: uniform or zipfian (theta 0.99)")
	f.IntVar(&s.o.Clients, "clients", bench.DefaultClients, "concurrent clients (workers)")
	f.DurationVar(&s.duration, "duration", 10*time.Second, "measured time after the warmup (0: until --ops)")
	f.Int64Var(&s.o.Ops, "ops", 0, "stop after this many measured operations (0: no limit)")
	f.Float64Var(&s.o.Rate, "rate", 0, "fixed total rate in ops/s, latency measured from each op's due time (0: closed loop)")
	f.DurationVar(&s.warmup, "warmup", 2*time.Second, "unmeasured warmup before the measured part")
	f.StringVar(&s.o.Consistency, "consistency", bench.Linearizable, "reads: linearizable or stale")
	f.Uint64Var(&s.o.Seed, "seed", 1, "seed of the workers' random sources")
	f.StringVar(&s.html, "html", "", "also write a self-contained HTML report (inline SVG charts) to this file")
}

// options returns the shared options with the durations and --timeout.
func (s *benchShape) options(opTimeout time.Duration) bench.Options {
	o := s.o
	o.Duration, o.Warmup, o.OpTimeout = bench.Duration(s.duration), bench.Duration(s.warmup), bench.Duration(opTimeout)
	return o
}

func (a *app) newBenchCmd() *cobra.Command {
	var s benchShape
	var allowRemote bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test distkv, etcd or Redis with YCSB-style workloads",
		Long: `Run a workload against a store and report throughput, latency percentiles
(p50, p90, p99, p99.9, max, from HDR histograms) and errors by kind.

Workloads: load (insert keys 0..N-1 once), a (50% reads, 50% updates), b (95/5),
c (reads only), w (writes only). Hash workloads, --target redis only: hload (HSET
of a 10-field record at each key once), hset (HSET of one field of a record),
hgetall (HGETALL of a record). Transaction workloads: txn1 and txn4 (one
transaction writing 1 or 4 keys spread over the key space: distkv's /v1/txn,
etcd's Txn, Redis's MULTI/EXEC). Targets: distkv (HTTP API), etcd (v3 API), redis
(any Redis-protocol server, such as a distkv node's --redis-addr), over RESP2 or,
with --resp 3, RESP3.

By default each client sends its next operation when the previous one returns
(closed loop: measures throughput). With --rate R, operations are due at fixed
instants and latency is measured from when each was due, so a stall counts for
every operation it delays (no coordinated omission): use it for latency.

Endpoints must be on loopback (127.0.0.0/8, ::1) unless --allow-remote is given.
--json prints the result as JSON (schema "distkv-bench/1", documented in package
internal/bench). 'distkv bench compare' runs the same workloads against distkv,
etcd and Redis.`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := s.options(a.timeout)
			o.Endpoints = splitList(a.benchEndpoints(cmd, o.Target))
			o.Namespace = a.ns
			load := o.Workload == "load" || o.Workload == "hload"
			if load && !cmd.Flags().Changed("duration") {
				o.Duration = 0 // load ends by itself
			}
			if load && !cmd.Flags().Changed("warmup") {
				o.Warmup = 0 // measure every insert
			}
			return a.bench(cmd.Context(), o, s.html, allowRemote)
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.o.Target, "target", bench.TargetDistkv,
		"distkv, etcd or redis; without --endpoints, etcd is "+defaultEtcdEndpoint+" and redis "+defaultRedisEndpoint)
	f.StringVar(&s.o.Workload, "workload", "w", "load, a, b, c, w, or with --target redis hload, hset, hgetall")
	f.IntVar(&s.o.Protocol, "resp", 0, "with --target redis: the RESP version to speak, 2 or 3 (default 2)")
	f.BoolVar(&allowRemote, "allow-remote", false, "allow endpoints off this machine's loopback")
	addShapeFlags(f, &s)
	cmd.AddCommand(a.newBenchCompareCmd())
	return cmd
}

// benchEndpoints is --endpoints, or the target's usual local address
// when it was not given (distkv: DISTKV_ENDPOINTS or the up cluster).
func (a *app) benchEndpoints(cmd *cobra.Command, target string) string {
	if cmd.Flags().Changed("endpoints") {
		return a.endpoints
	}
	switch target {
	case bench.TargetEtcd:
		return defaultEtcdEndpoint
	case bench.TargetRedis:
		return defaultRedisEndpoint
	}
	return a.endpoints
}

func (a *app) bench(ctx context.Context, o bench.Options, htmlPath string, allowRemote bool) error {
	o, err := o.Validate()
	if err != nil {
		return usagef("%v", err)
	}
	switch {
	case o.Target == bench.TargetEtcd && o.Namespace != "" && o.Namespace != "default":
		return usagef("--ns is a distkv namespace: not available with --target etcd")
	case o.Target == bench.TargetRedis && o.Consistency == bench.Stale:
		return usagef("--consistency stale is not available with --target redis")
	}
	if err := bench.CheckLoopback(ctx, net.DefaultResolver, o.Endpoints, allowRemote); err != nil {
		return usagef("%v", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := bench.NewDriver(ctx, o)
	if err != nil {
		return err
	}
	defer d.Close()
	update, done := a.progressBar(o.Target + " " + o.Workload)
	res, runErr := bench.Run(ctx, o, d, update)
	done()
	if res != nil {
		if err := a.writeBenchResult(res, htmlPath); err != nil {
			return err
		}
	}
	switch {
	case runErr != nil:
		return fmt.Errorf("interrupted: %w", runErr)
	case res.Ops == 0 && res.TotalErrors() > 0:
		return fmt.Errorf("no operation succeeded (%d failed)", res.TotalErrors())
	}
	return nil
}

func (a *app) writeBenchResult(res *bench.Result, htmlPath string) error {
	if a.json {
		if err := bench.WriteJSON(a.stdout, res); err != nil {
			return err
		}
	} else if err := bench.WriteText(a.stdout, res); err != nil {
		return err
	}
	if htmlPath == "" {
		return nil
	}
	return writeFile(htmlPath, func(f *os.File) error { return bench.WriteHTML(f, res) })
}

// progressBar returns a run's progress callback and the function that
// clears it: a bar on stderr when stderr is a terminal, else nothing.
func (a *app) progressBar(label string) (update func(bench.Progress), done func()) {
	if !isTerminal(a.stderr) {
		return nil, func() {}
	}
	bar := bench.NewProgressBar(a.stderr, label)
	return bar.Update, bar.Clear
}

// writeFile creates path and fills it with fill.
func writeFile(path string, fill func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// benchCluster starts local distkv clusters for `bench compare` the way
// `distkv up` does (planCluster, startNodes, waitReady, shutdown), on the
// first free block of ports from 17700, without fault injection.
func (a *app) benchCluster(out *lockedWriter) bench.ClusterStarter {
	return func(ctx context.Context, spec bench.ClusterSpec) (*bench.Cluster, error) {
		exe, err := a.executable()
		if err != nil {
			return nil, err
		}
		nodes, err := planFreeCluster(ctx, spec, exe)
		if err != nil {
			return nil, err
		}
		exits := make(chan nodeExit, len(nodes))
		var started []*exec.Cmd
		err = updateClusterFile(spec.Dir, func(f *clusterFile) error {
			if started, err = startNodes(nodes, exits); err != nil {
				return err
			}
			*f = clusterFile{UpPID: os.Getpid(), Nodes: nodes}
			return nil
		})
		if err != nil {
			return nil, err
		}
		stop := func() error { return shutdown(spec.Dir, nodes, started, nil, out) }
		if err := a.waitReady(ctx, nodes, exits, nil, out); err != nil {
			stop()
			if errors.Is(err, errInterrupted) {
				err = ctx.Err()
			}
			return nil, err
		}
		cl := &bench.Cluster{HTTP: clientAddrs(nodes), Stop: stop}
		for _, n := range nodes {
			cl.PIDs = append(cl.PIDs, n.PID)
			if addr := argValue(n.Args, "--redis-addr"); addr != "" {
				cl.Redis = append(cl.Redis, addr)
			}
		}
		return cl, nil
	}
}

// planFreeCluster plans spec's cluster on the first base port (17700,
// 18700, ...) whose ports are all free.
func planFreeCluster(ctx context.Context, spec bench.ClusterSpec, exe string) ([]nodeRecord, error) {
	flags := probeServerFlags(ctx, exe)
	for base := 17700; base+ftpPortOffset+spec.Nodes <= 65535; base += 1000 {
		o := upOptions{nodes: spec.Nodes, dataDir: spec.Dir, inMemory: spec.InMemory, basePort: base, shards: defaultShards}
		nodes := planCluster(o, spec.Dir, exe, flags)
		if checkPorts(nodes) == nil {
			return nodes, nil
		}
	}
	return nil, fmt.Errorf("no free block of loopback ports for a %d-node cluster", spec.Nodes)
}

// argValue is the value following flag in args, or "".
func argValue(args []string, flag string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}

func (a *app) newBenchCompareCmd() *cobra.Command {
	var s benchShape
	var cells, workloads []string
	var runs int
	var dataDir string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Run the same workloads against local distkv clusters, etcd and Redis; report medians and ratios",
		Long: `Measure the machine's fsync latency, then, cell by cell, start a fresh local
distkv cluster and its peer on loopback, load the keys into each (if a workload
reads), run each workload --runs times against each, one run at a time and
alternating between the two (so background load weighs on both alike), stop
them, and report the median figures and the distkv/peer ratios. Cells:
  etcd3      distkv 3-node durable cluster (3 replicas, HTTP) vs etcd, 3 members
  etcd1      distkv 1-node durable cluster, namespace bench1 with 1 replica (HTTP)
             vs etcd, 1 member
  redis-mem  distkv 3-node --in-memory cluster via its Redis front end vs
             redis-server with no persistence (--save "" --appendonly no); the
             one cell that also runs the hash workloads hset and hgetall (on
             records of 10 fields, loaded first), and that runs every workload
             over RESP2 and again over RESP3 (labelled w@resp3...), the two
             interleaved on the same deployments
  redis-aof  distkv 3-node durable cluster via its Redis front end vs
             redis-server --appendonly yes --appendfsync always
  eventual   distkv 3-node --in-memory cluster, eventual namespace (3 replicas,
             quorum reads and writes) via its Redis front end vs Redis, no persistence
  causal     distkv 3-node --in-memory cluster, causal namespace (3 replicas)
             over HTTP with session tokens vs Redis, no persistence
  eventual5-r3, eventual5-all
             distkv 5-node --in-memory cluster, eventual namespace with replicas
             3 (consistent hashing) and replicas all (full replication) via its
             Redis front end, each vs Redis, no persistence
The peers come from Debian's etcd-server and redis-server packages; missing ones
are installed with apt-get (as root; otherwise their cells' peer side is skipped).
Only processes this command started are stopped, by PID (SIGTERM, SIGKILL after
10s), also on Ctrl-C. Data lives in a temporary directory under --data-dir.`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("cells") {
				cells = nil
			}
			return a.benchCompare(cmd.Context(), bench.CompareOptions{
				Base: s.options(a.timeout), Cells: cells, Workloads: workloads, Runs: runs, Dir: dataDir,
			}, s.html)
		},
	}
	f := cmd.Flags()
	addShapeFlags(f, &s)
	f.StringSliceVar(&cells, "cells", bench.CellNames(), "cells to run, comma-separated")
	f.StringSliceVar(&workloads, "workloads", bench.DefaultCompareWorkloads, "workloads to run in every cell (a, b, c, w; hset and hgetall run in redis-mem only)")
	f.IntVar(&runs, "runs", bench.DefaultCompareRuns, "runs of each workload per store; the report gives medians")
	f.StringVar(&dataDir, "data-dir", os.TempDir(), "where the temporary data directory is made (its file system is the one fsync-probed)")
	return cmd
}

func (a *app) benchCompare(ctx context.Context, co bench.CompareOptions, htmlPath string) error {
	if co.Runs < 1 {
		return usagef("--runs must be at least 1, got %d", co.Runs)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	out := newLockedWriter(a.stderr)
	co.StartCluster = a.benchCluster(out)
	co.Say = out.say
	co.Installer = bench.Installer{Say: out.say}
	co.Progress = a.progressBar
	if err := co.Validate(); err != nil {
		return usagef("%v", err)
	}
	cmp, err := bench.Compare(ctx, co)
	if cmp == nil {
		return err
	}
	if a.json {
		if werr := bench.WriteJSON(a.stdout, cmp); werr != nil {
			return werr
		}
	} else if werr := bench.WriteCompareText(a.stdout, cmp); werr != nil {
		return werr
	}
	if htmlPath != "" {
		if werr := writeFile(htmlPath, func(f *os.File) error { return bench.WriteCompareHTML(f, cmp) }); werr != nil {
			return werr
		}
	}
	if err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	return nil
}
