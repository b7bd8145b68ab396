package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distkv/distkv/internal/frontend/httpapi"
	"github.com/distkv/distkv/internal/keyspace"
	"github.com/distkv/distkv/internal/kv"
	"github.com/distkv/distkv/internal/membership"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Run serves one node until ctx ends, then shuts down gracefully: it stops
// taking requests, hands its leaderships to followers, and closes. Logs go
// to logw.
func Run(ctx context.Context, o Options, logw io.Writer) error {
	logger, err := newLogger(o.LogLevel, o.LogFormat, logw)
	if err != nil {
		return err
	}
	cfg, err := o.Config()
	if err != nil {
		return err
	}
	cfg.Logger = logger
	ln, err := net.Listen("tcp", cfg.ClientAddr)
	if err != nil {
		return fmt.Errorf("listening for clients on %s: %w", cfg.ClientAddr, err)
	}
	ln = cfg.TLS.wrapClientListener(ln)
	cfg.TLS.watch(ctx, logger)
	n, err := New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           n.HTTPHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	n.log.Info("serving HTTP", "client_addr", ln.Addr().String(), "scheme", cfg.TLS.clientScheme())
	fe, err := n.startFrontends(o)
	if err != nil {
		_ = srv.Close()
		_ = n.Kill()
		return err
	}

	select {
	case <-ctx.Done():
		n.log.Info("shutting down (signal)")
	case err := <-served:
		n.log.Error("HTTP server failed", "err", err)
	}
	// Stop within the 10 s a supervisor (distkv up, Docker) waits before
	// SIGKILL. Hand off leaderships first, while peers can still reach us
	// -- bounded: when a whole cluster stops at once, leaderships bounce
	// between nodes that are all leaving -- then stop taking client
	// requests and close.
	handoff, cancel := context.WithTimeout(context.Background(), shutdownHandoff)
	if err := n.host.TransferAllLeadership(handoff); err != nil {
		n.log.Warn("leadership handoff incomplete", "err", err)
	}
	cancel()
	n.hub.Close() // ends watch streams, which Shutdown would wait for
	fe.close()
	drain, cancel := context.WithTimeout(context.Background(), shutdownDrain)
	muxClosed := make(chan struct{})
	go func() { defer close(muxClosed); n.CloseMux(drain) }()
	_ = srv.Shutdown(drain)
	<-muxClosed
	cancel()
	n.log.Info("node stopping")
	err = n.closeAll(nil)
	n.log.Info("node stopped")
	return err
}

// Shutdown budget: leadership handoff, then draining client requests.
const (
	shutdownHandoff = 4 * time.Second
	shutdownDrain   = 3 * time.Second
)

// HTTPHandler returns the node's HTTP API: the v1 API, metrics, and the
// endpoints of the node's other components.
// Requests on multiplexed connections (api.MuxPath) run through the same
// handler; CloseMux ends those connections.
func (n *Node) HTTPHandler() http.Handler {
	ms := httpapi.NewMuxServer(int64(n.kv.Limits().MaxValue), n.log)
	root := n.sysID(n.frozenGate(httpapi.New(httpapi.Config{
		KV: n.KV(), Cluster: n, Logger: n.log,
		Metrics:    promhttp.HandlerFor(n.Metrics(), promhttp.HandlerOpts{}),
		Registerer: n.Metrics(),
		Extra:      n.extraRoutes,
		Mux:        ms,
		Txn:        n,
		Sessions:   n.txn,
	})))
	ms.SetRoot(root)
	n.muxMu.Lock()
	n.muxServers = append(n.muxServers, ms)
	n.muxMu.Unlock()
	return root
}

// CloseMux stops taking requests on multiplexed connections, lets those in
// flight finish until ctx ends, and closes the connections.
func (n *Node) CloseMux(ctx context.Context) {
	n.muxMu.Lock()
	servers := n.muxServers
	n.muxMu.Unlock()
	for _, ms := range servers {
		ms.Close(ctx)
	}
}

// extraRoutes registers endpoints beyond the core API.
func (n *Node) extraRoutes(mux *http.ServeMux) {
	n.faultRoutes(mux)
	n.watchRoutes(mux)
	n.leaderlessRoutes(mux)
	n.compatRoutes(mux)
	if n.cfg.EnablePprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "", "info":
		lv = slog.LevelInfo
	case "debug":
		lv = slog.LevelDebug
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("log level must be debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format must be text or json, got %q", format)
}

// Config validates the options and builds the node configuration,
// loading the certificate files it names.
func (o Options) Config() (Config, error) {
	cfg, err := o.config()
	if err != nil {
		return Config{}, err
	}
	if cfg.TLS, err = o.TLS.build(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (o Options) config() (Config, error) {
	if o.View != "" || o.SocketAddress != "" {
		return o.seed004Config()
	}
	id, err := keyspace.ParseNodeID(o.ID)
	if err != nil {
		return Config{}, fmt.Errorf("--id: %w", err)
	}
	cfg := Config{ID: id, ClientAddr: o.ClientAddr, PeerAddr: o.PeerAddr, RedisAddr: o.RedisAddr, FTPAddr: o.FTPAddr, DataDir: o.DataDir, InMemory: o.InMemory,
		DefaultShards: o.ShardCount, AllowFaultInjection: o.AllowFaultInjection, EnablePprof: o.EnablePprof,
		Limits: kv.Limits{MaxKey: o.MaxKeyBytes, MaxValue: o.MaxValueBytes}}
	if cfg.ClientAddr == "" || cfg.PeerAddr == "" {
		return Config{}, errors.New("--client-addr and --peer-addr are required (or SOCKET_ADDRESS and VIEW)")
	}
	if cfg.DataDir == "" && !cfg.InMemory {
		return Config{}, errors.New("--data-dir is required unless --in-memory")
	}
	if cfg.Peers, err = parsePeers(o.Peers); err != nil {
		return Config{}, err
	}
	if err := o.applyReplicas(&cfg); err != nil {
		return Config{}, err
	}
	if err := o.applyMembership(&cfg); err != nil {
		return Config{}, err
	}
	return cfg, o.applyCompat(&cfg)
}

// CompatInterfaces are the seed interfaces --compat accepts on the client
// address (seed 000's is a listener of its own: --text-addr).
var CompatInterfaces = []string{"seed001", "seed002", "seed003", "seed004"}

func (o Options) applyCompat(cfg *Config) error {
	for _, c := range strings.Split(o.Compat, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		switch {
		case c == "":
		case slices.Contains(CompatInterfaces, c):
			if !slices.Contains(cfg.Compat, c) {
				cfg.Compat = append(cfg.Compat, c)
			}
		default:
			return fmt.Errorf("--compat: unknown interface %q (use %s; seed 000's is --text-addr)", c, strings.Join(CompatInterfaces, ", "))
		}
	}
	cfg.CompatToken = o.CompatToken
	if slices.Contains(cfg.Compat, "seed002") && o.CompatToken == "" {
		return errors.New("--compat seed002 needs --compat-token (or API_TOKEN): its routes answer only requests bearing it")
	}
	return nil
}

// applyMembership sets the join list, the dead-node timeout (0 turns
// replacement off) and the rebalancing bounds.
func (o Options) applyMembership(cfg *Config) error {
	for _, a := range strings.Split(o.Join, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("--join: %q is not host:port", a)
		}
		cfg.Join = append(cfg.Join, a)
	}
	if len(cfg.Join) > 0 && o.Peers != "" {
		return errors.New("--join and --peers are exclusive: --peers bootstraps a new cluster, --join enters a running one")
	}
	switch {
	case o.DeadNodeTimeout < 0:
		return fmt.Errorf("--dead-node-timeout must not be negative, got %s", o.DeadNodeTimeout)
	case o.DeadNodeTimeout == 0:
		cfg.DeadNodeTimeout = -1 // never
	default:
		cfg.DeadNodeTimeout = o.DeadNodeTimeout
	}
	if o.RebalanceMoves < 0 || o.RebalanceMovesPerNode < 0 {
		return errors.New("--rebalance-moves and --rebalance-moves-per-node must not be negative")
	}
	cfg.Rebalance.MaxMoves, cfg.Rebalance.MaxMovesPerNode = o.RebalanceMoves, o.RebalanceMovesPerNode
	return nil
}

func (o Options) applyReplicas(cfg *Config) error {
	mode, err := ParseDefaultMode(o.DefaultMode)
	if err != nil {
		return err
	}
	cfg.DefaultMode = mode
	if o.DefaultReplicas == "" {
		return nil
	}
	r, err := keyspace.ParseReplication(o.DefaultReplicas)
	if err != nil {
		return fmt.Errorf("--default-replicas: %w", err)
	}
	cfg.DefaultReplicas = r
	return nil
}

// ParseDefaultMode reads --default-mode: strong, eventual, causal or ca,
// or seed 001's MODE values CP (strong), AP (eventual, W=1, R=2, as the
// seed sets them) and CA (ca). "" is strong.
func ParseDefaultMode(s string) (keyspace.Namespace, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return keyspace.Namespace{}, nil
	case "ca":
		return keyspace.Namespace{Mode: keyspace.ModeStrong, AllReplicas: true}, nil
	case "cp":
		return keyspace.Namespace{Mode: keyspace.ModeStrong}, nil
	case "ap":
		return keyspace.Namespace{Mode: keyspace.ModeEventual, W: 1, R: 2}, nil
	}
	m, err := keyspace.ParseMode(s)
	if err != nil {
		return keyspace.Namespace{}, fmt.Errorf("--default-mode: %w (or ca; seed 001's MODE: CA, CP or AP)", err)
	}
	return keyspace.Namespace{Mode: m}, nil
}

// parsePeers reads "n1=host:port,n2=host:port".
func parsePeers(s string) ([]membership.Member, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []membership.Member
	for _, part := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || addr == "" {
			return nil, fmt.Errorf("--peers: %q is not id=host:port", part)
		}
		id, err := keyspace.ParseNodeID(name)
		if err != nil {
			return nil, fmt.Errorf("--peers: %w", err)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--peers: %s: %w", name, err)
		}
		out = append(out, membership.Member{ID: id, PeerAddr: addr})
	}
	return out, nil
}

// seed004Config derives a configuration from SOCKET_ADDRESS, VIEW and
// SHARD_COUNT, as seed 004's nodes start. Peer ports are client ports plus
// PeerPortOffset. With SHARD_COUNT, every node of VIEW bootstraps the
// cluster (node IDs follow the order of VIEW) and the default namespace is
// causal with SHARD_COUNT shards pinned to VIEW cut into that many runs of
// consecutive nodes (seed 004's shards: alice, bob, carol | dave, erin,
// frank). Without it the node joins the cluster the rest of VIEW runs and
// waits to be added to a shard (PUT /shard/add-member); its ID is the one
// the cluster has for its address, or the next free one. Seed 004's API
// is served on the client address.
func (o Options) seed004Config() (Config, error) {
	if o.View == "" || o.SocketAddress == "" {
		return Config{}, errors.New("SOCKET_ADDRESS and VIEW must be set together")
	}
	var cfg Config
	var view []string
	for _, addr := range strings.Split(o.View, ",") {
		if addr = strings.TrimSpace(addr); addr != "" && !slices.Contains(view, addr) {
			view = append(view, addr)
		}
	}
	for i, addr := range view {
		peer, err := offsetPort(addr, PeerPortOffset)
		if err != nil {
			return Config{}, fmt.Errorf("VIEW: %w", err)
		}
		id := keyspace.NodeID(i + 1)
		cfg.Peers = append(cfg.Peers, membership.Member{ID: id, PeerAddr: peer, ClientAddr: addr})
		if addr == o.SocketAddress {
			cfg.ID, cfg.ClientAddr, cfg.PeerAddr = id, addr, peer
		} else {
			cfg.Join = append(cfg.Join, addr)
		}
	}
	if cfg.ID == 0 {
		return Config{}, fmt.Errorf("SOCKET_ADDRESS %s is not in VIEW %s", o.SocketAddress, o.View)
	}
	cfg.DataDir, cfg.InMemory = o.DataDir, o.InMemory || o.DataDir == ""
	cfg.RedisAddr, cfg.FTPAddr = o.RedisAddr, o.FTPAddr
	cfg.AllowFaultInjection, cfg.EnablePprof = o.AllowFaultInjection, o.EnablePprof
	cfg.Limits = kv.Limits{MaxKey: o.MaxKeyBytes, MaxValue: o.MaxValueBytes}
	if o.PeerAddr != "" {
		cfg.PeerAddr = o.PeerAddr
	}
	if err := o.applyReplicas(&cfg); err != nil {
		return Config{}, err
	}
	if o.ShardCount == 0 {
		// A node added later: it joins, and the cluster numbers it.
		cfg.Peers, cfg.ID, cfg.AssignID = nil, 0, true
		if len(cfg.Join) == 0 {
			return Config{}, errors.New("SHARD_COUNT is not set and VIEW names no other node to join")
		}
	} else {
		cfg.Join = nil
		cfg.DefaultShards = o.ShardCount
	}
	if o.ShardCount > 0 && o.ShardCount <= len(view) {
		// Seed 004's store: causal, its shards disjoint runs of VIEW. More
		// shards than nodes cannot be seed 004's (every shard is a set of
		// nodes): the cluster is then an ordinary one, placed on the ring,
		// strong unless --default-mode says otherwise.
		if o.DefaultMode == "" {
			cfg.DefaultMode = keyspace.Namespace{Mode: keyspace.ModeCausal}
		}
		ids := make([]keyspace.NodeID, len(view))
		for i := range ids {
			ids[i] = keyspace.NodeID(i + 1)
		}
		cfg.DefaultPinned = keyspace.MakePinning(keyspace.CutIntoShards(ids, o.ShardCount))
		if o.DefaultReplicas == "" {
			cfg.DefaultReplicas = keyspace.Replication{N: (len(view) + o.ShardCount - 1) / o.ShardCount}
		}
	}
	if !strings.Contains(o.Compat, "seed004") {
		o.Compat = strings.Trim(o.Compat+",seed004", ",")
	}
	return cfg, o.applyCompat(&cfg)
}

func offsetPort(addr string, off int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p+off > 65535 {
		return "", fmt.Errorf("bad port in %s", addr)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+off)), nil
}
