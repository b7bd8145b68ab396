package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/distkv/distkv/internal/node"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newServerCmd is `distkv server`: run one node. Every flag has an
// environment twin, DISTKV_ plus the flag name in capitals with dashes as
// underscores (--client-addr: DISTKV_CLIENT_ADDR); a flag given on the
// command line wins. Seed 004's SOCKET_ADDRESS, VIEW and SHARD_COUNT are
// read too.
// serverGCPercent is the server's GOGC unless the environment sets one.
const serverGCPercent = 200

func newServerCmd() *cobra.Command {
	var o node.Options
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run one distkv node",
		Long: `Run one distkv node until SIGINT or SIGTERM, then shut down gracefully
(leaderships are handed to followers first).

A new cluster is bootstrapped from --peers, the same list on every node:
  distkv server --id n1 --client-addr 127.0.0.1:7701 --peer-addr 127.0.0.1:7801 \
    --peers n1=127.0.0.1:7801,n2=127.0.0.1:7802,n3=127.0.0.1:7803 --data-dir data/n1

A node joins a running cluster through any member's client address:
  distkv server --id n4 --client-addr 127.0.0.1:7704 --peer-addr 127.0.0.1:7804 \
    --join 127.0.0.1:7701 --data-dir data/n4

Or as in seed 004, from the environment: SOCKET_ADDRESS (this node's client
address), VIEW (every node's client address, the same list everywhere) and
SHARD_COUNT. Nodes are then numbered by their place in VIEW, and peer ports
are client ports + 1000.

Every flag also reads DISTKV_<FLAG> (e.g. DISTKV_DATA_DIR). Go's garbage
collector runs with GOGC=200 unless the environment sets GOGC.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return asUsage(err)
			}
			if err := applySeed004Env(&o); err != nil {
				return asUsage(err)
			}
			if _, err := o.Config(); err != nil {
				return asUsage(err)
			}
			if os.Getenv("GOGC") == "" {
				// Half as many collections for about 60 MB more heap per
				// node under write load: 7% more writes/s on 2 cores.
				debug.SetGCPercent(serverGCPercent)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return node.Run(ctx, o, os.Stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ID, "id", "", "this node's ID (n1, n2, ...)")
	f.StringVar(&o.ClientAddr, "client-addr", "", "HTTP listen address (host:port)")
	f.StringVar(&o.PeerAddr, "peer-addr", "", "node-to-node listen address (host:port)")
	f.StringVar(&o.Peers, "peers", "", "initial cluster: id=peer-host:port,... (this node included)")
	f.StringVar(&o.DataDir, "data-dir", "", "data directory")
	f.BoolVar(&o.InMemory, "in-memory", false, "keep all data in memory (acknowledged = in memory on a majority)")
	f.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.LogFormat, "log-format", "text", "text or json")
	f.IntVar(&o.ShardCount, "shards", 0, "shards of the default namespace at bootstrap (default 16; env SHARD_COUNT too)")
	f.StringVar(&o.DefaultReplicas, "default-replicas", "", "replicas of the default namespace at bootstrap: a number or all (default 3)")
	f.StringVar(&o.DefaultMode, "default-mode", "", "mode of the default namespace at bootstrap: strong (default), eventual, causal or ca; env MODE=CA|CP|AP too (seed 001: ca, strong, eventual with W=1 R=2)")
	f.StringVar(&o.Compat, "compat", "", "serve seed projects' interfaces on the client address too: seed001 (sysdist; on with env MODE too), seed002 (replication manager; needs --compat-token), seed003 (UTM datastore), comma separated")
	f.StringVar(&o.CompatToken, "compat-token", "", "the bearer token seed 002's routes require (env API_TOKEN too)")
	f.StringVar(&o.TextAddr, "text-addr", "", "serve seed 000's TCP line protocol (SET, UPD, GET, DEL) here (host:port)")
	f.StringVar(&o.RedisAddr, "redis-addr", "", "serve the Redis protocol (RESP2 and RESP3) here (host:port)")
	f.StringVar(&o.FTPAddr, "ftp-addr", "", "serve files over FTP here (host:port)")
	f.StringVar(&o.FTPUser, "ftp-user", "", "FTP user (required with --ftp-password off loopback)")
	f.StringVar(&o.FTPPassword, "ftp-password", "", "FTP password")
	f.BoolVar(&o.AllowFaultInjection, "allow-fault-injection", false, "enable the fault-injection endpoints (/v1/admin/faults)")
	f.BoolVar(&o.EnablePprof, "enable-pprof", false, "serve Go's profiler at /debug/pprof/ on the client address")
	f.StringVar(&o.Join, "join", "", "join a running cluster through any member's client address (host:port,...) instead of bootstrapping")
	f.DurationVar(&o.DeadNodeTimeout, "dead-node-timeout", 5*time.Minute, "re-create a dead node's replicas elsewhere after this long (0 never)")
	f.IntVar(&o.RebalanceMoves, "rebalance-moves", 4, "replica moves the coordinator runs at once")
	f.IntVar(&o.RebalanceMovesPerNode, "rebalance-moves-per-node", 2, "replica moves any one node takes part in at once")
	f.StringVar(&o.TLS.Cert, "tls-cert", "", "TLS certificate of the client listeners (HTTP, Redis, text), PEM; reloaded on change or SIGHUP")
	f.StringVar(&o.TLS.Key, "tls-key", "", "the --tls-cert certificate's key, PEM")
	f.StringVar(&o.TLS.ClientCA, "client-ca", "", "CA that client certificates must chain to, PEM")
	f.BoolVar(&o.TLS.ClientCertAuth, "client-cert-auth", false, "require a client certificate signed by --client-ca")
	f.StringVar(&o.TLS.PeerCert, "peer-cert", "", "this node's certificate for mutual TLS with its peers, PEM")
	f.StringVar(&o.TLS.PeerKey, "peer-key", "", "the --peer-cert certificate's key, PEM")
	f.StringVar(&o.TLS.PeerCA, "peer-ca", "", "CA that peers' certificates must chain to (others are refused and logged), PEM")
	f.IntVar(&o.MaxKeyBytes, "max-key-bytes", 4<<10, "largest key accepted")
	f.IntVar(&o.MaxValueBytes, "max-value-bytes", 1<<20, "largest value accepted")
	return cmd
}

// applyEnv sets every flag not given on the command line from its
// DISTKV_ environment twin.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "DISTKV_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

// applySeed004Env reads seed 004's variables; SHARD_COUNT yields to
// --shards.
func applySeed004Env(o *node.Options) error {
	if v := os.Getenv("SHARD_COUNT"); v != "" && o.ShardCount == 0 {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("SHARD_COUNT must be a positive integer, got %q", v)
		}
		o.ShardCount = n
	}
	if v := os.Getenv("MODE"); v != "" && o.DefaultMode == "" {
		// Seed 001's variable: CA, CP or AP.
		if _, err := node.ParseDefaultMode(v); err != nil {
			return fmt.Errorf("MODE must be CA, CP or AP (or a distkv mode), got %q", v)
		}
		o.DefaultMode = v
		if !strings.Contains(o.Compat, "seed001") {
			o.Compat = strings.Trim(o.Compat+",seed001", ",") // MODE means a seed 001 user
		}
	}
	if v := os.Getenv("API_TOKEN"); v != "" && o.CompatToken == "" {
		o.CompatToken = v // seed 002's variable
	}
	if v := os.Getenv("SOCKET_ADDRESS"); v != "" {
		o.SocketAddress = v
	}
	if v := os.Getenv("VIEW"); v != "" {
		o.View = v
	}
	return nil
}
