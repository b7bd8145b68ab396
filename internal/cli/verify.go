package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/verify"
)

func (a *app) newVerifyCmd() *cobra.Command {
	var (
		cfg       verify.Config
		faults    string
		nodes     int
		seed      int64
		mode      string
		conflicts string
		pinned    bool
		withTLS   bool
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Run a workload under injected faults and check the history (linearizability, convergence, durability)",
		Long: `Run concurrent clients doing get/put/compare-and-set/delete while a seeded
schedule injects faults (partitions, freezes, kill -9 with restart, pauses,
delays, drops), then check: linearizability of every key's history
(porcupine; writes of unknown outcome count as possibly applied), that
every replica converges once the faults heal, and that every acknowledged
write is still there. Exit status 0 only for a clean verdict.

By default it starts its own local cluster (--nodes, in a temporary
directory); with --endpoints it verifies an existing cluster, whose nodes
must allow fault injection (kill and pause then need a local cluster).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seed == 0 {
				seed = time.Now().UnixNano() % 1_000_000
			}
			cfg.Seed = seed
			if faults != "" && faults != "all" {
				cfg.Faults = strings.Split(faults, ",")
			}
			cfg.Log = a.stdout
			if a.ns != "" && a.ns != "default" {
				cfg.Namespace = a.ns
			}
			if cmd.Flags().Changed("endpoints") {
				if withTLS {
					return usagef("--tls starts a local TLS cluster; for an existing one give --cacert (and --cert/--key)")
				}
				cfg.Endpoints = splitList(a.endpoints)
				tc, err := a.tlsConfig()
				if err != nil {
					return err
				}
				cfg.TLS = tc
				return a.runVerify(cmd.Context(), cfg)
			}
			if nodes < 3 {
				return usagef("--nodes must be at least 3 (a cluster that can lose one node), got %d", nodes)
			}
			if mode != "strong" && cfg.Namespace == "" {
				cfg.Namespace = mode
			}
			ns := api.Namespace{Name: cfg.Namespace, Mode: mode, Conflicts: conflicts}
			if pinned {
				if mode != "eventual" && mode != "causal" {
					return usagef("--pinned needs --mode eventual or causal (the pinned placement seed 004 uses), got %s", mode)
				}
				// Two shards, the nodes cut in order between them.
				ids := make([]keyspace.NodeID, nodes)
				for i := range ids {
					ids[i] = keyspace.NodeID(i + 1)
				}
				ns.Name = cmp.Or(cfg.Namespace, mode) + "-pinned"
				cfg.Namespace, ns.Shards, ns.Pinned = ns.Name, 2, string(keyspace.MakePinning(keyspace.CutIntoShards(ids, 2)))
			}
			return a.verifyLocal(cmd.Context(), cfg, nodes, ns, withTLS)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long the workload runs under faults")
	f.IntVar(&cfg.Clients, "clients", 8, "concurrent clients")
	f.IntVar(&cfg.Keys, "keys", 10, "keys the clients share (fewer keys, more contention); with --workload bank, the accounts")
	f.StringVar(&cfg.Workload, "workload", verify.WorkloadRegister, "register (single-key operations, checked for linearizability), bank (transfers in cross-shard transactions, checked by audits) or append (list-append interactive transactions, checked for strict serializability); bank and append need a strong namespace")
	f.StringVar(&faults, "faults", "all", "fault kinds: "+strings.Join(verify.AllFaults, ",")+" (all: every kind)")
	f.Int64Var(&seed, "seed", 0, "schedule and workload seed (0: pick one and print it)")
	f.StringVar(&cfg.Out, "out", "", "directory for the JSON report and, on a violation, the history's HTML visualization")
	f.IntVar(&nodes, "nodes", 3, "size of the local cluster started when --endpoints is not given")
	f.StringVar(&mode, "mode", "strong", "local cluster: the mode of the namespace to verify (--ns, created for the run): strong, eventual, causal or ca")
	f.BoolVar(&pinned, "pinned", false, "local cluster, eventual or causal --mode: pin the namespace's 2 shards to halves of the nodes (seed 004's shards); the membership fault then moves nodes between shards and reshards with new pinnings")
	f.BoolVar(&withTLS, "tls", false, "local cluster: start it with 'distkv up --tls' (TLS for clients, mutual TLS between nodes) and verify through TLS")
	f.StringVar(&conflicts, "conflicts", "siblings", "local cluster, eventual or causal --mode: lww or siblings")
	return cmd
}

func (a *app) runVerify(ctx context.Context, cfg verify.Config) error {
	rep, err := verify.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Print(a.stdout)
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(rep, "", "  ")
		path := filepath.Join(cfg.Out, fmt.Sprintf("report-seed%d.json", cfg.Seed))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "report: %s\n", path)
	}
	if !rep.Clean {
		return fmt.Errorf("verification found violations (seed %d; replay with --seed %d)", cfg.Seed, cfg.Seed)
	}
	return nil
}

// verifyLocal starts a local cluster of nodes processes (distkv up in a
// temporary directory), verifies it with process faults enabled, and stops
// it.
func (a *app) verifyLocal(ctx context.Context, cfg verify.Config, nodes int, ns api.Namespace, withTLS bool) error {
	// A signal ends the run through ctx, so the cluster started below
	// (in its own process group, out of the signal's reach) is stopped
	// and its directory removed, as on a normal end.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	exe, err := a.executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "distkv-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	base, err := freeBasePort(nodes)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "verify: starting a %d-node local cluster in %s (base port %d)\n", nodes, dir, base)
	upArgs := []string{"up", "--nodes", fmt.Sprint(nodes), "--base-port", fmt.Sprint(base),
		"--data-dir", dir, "--allow-fault-injection"}
	if withTLS {
		upArgs = append(upArgs, "--tls")
	}
	up := exec.Command(exe, upArgs...)
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := up.StdoutPipe()
	if err != nil {
		return err
	}
	up.Stderr = up.Stdout
	if err := up.Start(); err != nil {
		return err
	}
	defer stopUp(up)
	if err := waitUpReady(out, 60*time.Second); err != nil {
		return err
	}
	for i := 1; i <= nodes; i++ {
		cfg.Endpoints = append(cfg.Endpoints, fmt.Sprintf("127.0.0.1:%d", base+i))
	}
	if withTLS {
		t := localTLSFiles(dir)
		if cfg.TLS, err = client.TLSFromFiles(t.CACert, t.Cert, t.Key); err != nil {
			return err
		}
	}
	if ns.Name != "" {
		if ns.Mode == "strong" || ns.Mode == "ca" {
			ns.Conflicts = ""
		}
		c, err := client.New(client.Config{Endpoints: cfg.Endpoints, TLS: cfg.TLS})
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = c.CreateNamespace(cctx, api.Namespace{Name: ns.Name, Mode: ns.Mode, Shards: cmp.Or(ns.Shards, 8), Conflicts: ns.Conflicts, Pinned: ns.Pinned})
		cancel()
		if err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
		fmt.Fprintf(a.stdout, "verify: created %s namespace %q\n", ns.Mode, ns.Name)
	}
	quiet := &app{stdout: discard{}, stderr: discard{}, exe: exe, getenv: a.getenv, timeout: a.timeout}
	cfg.Procs = localProcs{a: quiet, dir: dir}
	res := make(chan error, 1)
	go func() { res <- a.runVerify(ctx, cfg) }()
	select {
	case err = <-res:
	case <-ctx.Done():
		// Interrupted: the run's last phases (settling, judging) would
		// wait out their own bounds on a cluster about to go; stop it now.
		err = fmt.Errorf("verify: interrupted (%w); stopping the cluster it started", context.Cause(ctx))
	}
	if err != nil && cfg.Out != "" {
		if n, cerr := keepNodeLogs(dir, cfg.Out); cerr != nil {
			fmt.Fprintf(a.stderr, "verify: could not keep the nodes' logs: %v\n", cerr)
		} else if n > 0 {
			fmt.Fprintf(a.stdout, "verify: %d node logs kept in %s\n", n, filepath.Join(cfg.Out, "logs"))
		}
	}
	return err
}

// keepNodeLogs copies each node's log (dir/<node>/node.log) to
// out/logs/<node>.log, so a failed run can be read after its cluster is
// gone.
func keepNodeLogs(dir, out string) (int, error) {
	logs, err := filepath.Glob(filepath.Join(dir, "*", "node.log"))
	if err != nil || len(logs) == 0 {
		return 0, err
	}
	dst := filepath.Join(out, "logs")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, err
	}
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(filepath.Dir(l))+".log"), b, 0o644); err != nil {
			return 0, err
		}
	}
	return len(logs), nil
}

// waitUpReady reads up's output until it reports the cluster ready.
func waitUpReady(out interface{ Read([]byte) (int, error) }, limit time.Duration) error {
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), "cluster ready") {
				ready <- nil
				for sc.Scan() { // keep draining so up never blocks on a full pipe
				}
				return
			}
		}
		ready <- fmt.Errorf("the local cluster did not start:\n%s", strings.Join(lines, "\n"))
	}()
	select {
	case err := <-ready:
		return err
	case <-time.After(limit):
		return fmt.Errorf("the local cluster was not ready after %v", limit)
	}
}

// stopUp interrupts up (which stops its nodes) and waits for it.
func stopUp(up *exec.Cmd) {
	_ = up.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = up.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-up.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// freeBasePort finds a base port whose node ports (HTTP, peer, Redis,
// FTP) for nodes nodes are all free.
func freeBasePort(nodes int) (int, error) {
	for try := 0; try < 100; try++ {
		o := upOptions{nodes: nodes, basePort: 20000 + rand.Intn(300)*100}
		plan := planCluster(o, "", "distkv", serverFlags{"redis-addr": true, "ftp-addr": true})
		if checkPorts(plan) == nil {
			return o.basePort, nil
		}
	}
	return 0, fmt.Errorf("found no free range of ports for %d nodes", nodes)
}

// localProcs controls the nodes of a local cluster through cluster.json.
type localProcs struct {
	a   *app
	dir string
}

func (p localProcs) Kill(ctx context.Context, id string) error { return p.a.nodeStop(p.dir, id, true) }

func (p localProcs) Restart(ctx context.Context, id string) error {
	return p.a.nodeStart(ctx, p.dir, id)
}

func (p localProcs) Pause(ctx context.Context, id string) error {
	return p.signal(id, syscall.SIGSTOP)
}

func (p localProcs) Resume(ctx context.Context, id string) error {
	return p.signal(id, syscall.SIGCONT)
}

func (p localProcs) signal(id string, sig syscall.Signal) error {
	pr, err := findProc(p.dir, id)
	if err != nil {
		return err
	}
	return pr.signal(sig)
}

// AddNode starts one more node that joins the local cluster (as `distkv
// node add` does) and returns its ID and client address: the membership
// fault's way to grow the cluster.
func (p localProcs) AddNode(ctx context.Context) (string, string, error) {
	before, err := readClusterFile(p.dir)
	if err != nil {
		return "", "", err
	}
	if err := p.a.nodeAdd(ctx, p.dir); err != nil {
		return "", "", err
	}
	after, err := readClusterFile(p.dir)
	if err != nil {
		return "", "", err
	}
	for _, n := range after.Nodes {
		if _, err := before.node(n.ID); err != nil {
			return n.ID, n.ClientAddr, nil
		}
	}
	return "", "", fmt.Errorf("node add reported success but cluster.json in %s lists no new node", p.dir)
}

// StopNode stops a node for good (it was removed from the cluster).
func (p localProcs) StopNode(ctx context.Context, id string) error {
	return p.a.nodeStop(p.dir, id, false)
}
