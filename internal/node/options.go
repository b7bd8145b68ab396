package node

import "time"

// Options is everything `distkv server` can be told, from flags or their
// environment twins. Run turns it into a Config and serves.
type Options struct {
	// ID is this node's ID ("n1" or "1").
	ID string
	// ClientAddr is the HTTP listen address.
	ClientAddr string
	// PeerAddr is the node-to-node listen address.
	PeerAddr string
	// Peers is the initial cluster: "n1=host:port,n2=host:port,..." with
	// each node's peer address.
	Peers string
	// DataDir holds the node's data.
	DataDir string
	// InMemory keeps data in memory only.
	InMemory bool
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string
	LogFormat string

	// Seed 004 compatibility: SOCKET_ADDRESS is this node's client
	// address, VIEW every node's client address (comma separated, the same
	// list on every node), SHARD_COUNT the default namespace's shards.
	// Node IDs are positions in VIEW (n1 is the first); a node's peer
	// address is its client address with the port plus PeerPortOffset.
	SocketAddress string
	View          string
	ShardCount    int

	// DefaultReplicas is the default namespace's replication factor at
	// bootstrap ("3" or "all").
	DefaultReplicas string
	// DefaultMode is the default namespace's mode at bootstrap: strong
	// (default), eventual, causal or ca; seed 001's MODE values CP, AP and
	// CA mean strong, eventual with W=1 and R=2, and ca.
	DefaultMode string

	// Compat lists the seed projects' interfaces to serve on the client
	// address (comma separated): seed001 (sysdist), seed002 (the
	// replication manager; needs CompatToken), seed003 (the UTM datastore).
	Compat string
	// TextAddr, when set, serves seed 000's TCP line protocol there.
	TextAddr string
	// CompatToken is the bearer token seed 002's routes require (its
	// API_TOKEN).
	CompatToken string

	// RedisAddr and FTPAddr, when set, start the Redis-protocol and FTP
	// front ends there. FTPUser/FTPPassword are required for FTP off
	// loopback.
	RedisAddr, FTPAddr   string
	FTPUser, FTPPassword string

	// AllowFaultInjection enables the /v1/admin/faults endpoints.
	AllowFaultInjection bool

	// EnablePprof serves Go's profiler under /debug/pprof/ on the client
	// address.
	EnablePprof bool

	// TLS names the certificate files; none means no TLS.
	TLS TLSOptions

	// Limits.
	MaxKeyBytes   int
	MaxValueBytes int

	// Join lists members' client addresses to ask for admission when the
	// data directory is new ("host:port,host:port"): the node joins that
	// cluster instead of bootstrapping one from Peers.
	Join string
	// DeadNodeTimeout is how long a node may be silent before the
	// coordinator re-creates its replicas elsewhere (0 never).
	DeadNodeTimeout time.Duration
	// RebalanceMoves bounds the replica moves under way at once, and
	// RebalanceMovesPerNode those any one node takes part in.
	RebalanceMoves, RebalanceMovesPerNode int
}

// PeerPortOffset is added to a client port to find the peer port when only
// client addresses are given (seed 004's SOCKET_ADDRESS/VIEW).
const PeerPortOffset = 1000
