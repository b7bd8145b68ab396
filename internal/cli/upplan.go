package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/distkv/distkv/internal/certs"
)

// Port layout of a local cluster with base port B: node i (1-based) serves
// HTTP on B+i, peers on B+100+i, and the optional front ends on B+200+i
// (Redis protocol) and B+300+i (FTP).
const (
	peerPortOffset  = 100
	redisPortOffset = 200
	ftpPortOffset   = 300
	maxUpNodes      = 99 // more would overlap the next port range
	defaultShards   = 16 // the server's default shard count
)

// upOptions are the flags of `distkv up`.
type upOptions struct {
	nodes    int
	dataDir  string
	inMemory bool
	basePort int
	shards   int
	faults   bool // --allow-fault-injection
	tls      bool // certificates in DATA-DIR/certs, TLS on every link
}

func (o upOptions) validate() error {
	switch {
	case o.nodes < 1 || o.nodes > maxUpNodes:
		return usagef("--nodes must be between 1 and %d, got %d", maxUpNodes, o.nodes)
	case o.basePort < 1 || o.basePort+ftpPortOffset+o.nodes > 65535:
		return usagef("--base-port %d puts node ports outside 1..65535", o.basePort)
	case o.shards < 1:
		return usagef("--shards must be at least 1, got %d", o.shards)
	case o.dataDir == "":
		return usagef("--data-dir must not be empty")
	}
	return nil
}

// serverFlags is the set of flags `distkv server --help` lists.
type serverFlags map[string]bool

var flagPattern = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)

// probeServerFlags runs `exe server --help` to learn which optional flags
// the server has, so that up passes them only to a server that takes them.
// A server that fails to print help has none.
func probeServerFlags(ctx context.Context, exe string) serverFlags {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "server", "--help")
	cmd.WaitDelay = time.Second
	out, _ := cmd.CombinedOutput()
	flags := serverFlags{}
	for _, m := range flagPattern.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	return flags
}

// optionalServerArgs are the flags (and environment) of node i that only
// some builds of `distkv server` take, each passed only when the server
// lists it: the shard count, fault injection, and the Redis and FTP front
// ends. Add new optional front ends here.
func optionalServerArgs(flags serverFlags, o upOptions, i int) (args, env []string) {
	port := func(offset int) string { return "127.0.0.1:" + strconv.Itoa(o.basePort+offset+i) }
	switch {
	case flags["shards"]:
		args = append(args, "--shards", strconv.Itoa(o.shards))
	case flags["shard-count"]:
		args = append(args, "--shard-count", strconv.Itoa(o.shards))
	case o.shards != defaultShards:
		env = append(env, "SHARD_COUNT="+strconv.Itoa(o.shards)) // seed 004's variable
	}
	if flags["allow-fault-injection"] {
		args = append(args, "--allow-fault-injection="+strconv.FormatBool(o.faults))
	}
	if flags["redis-addr"] {
		args = append(args, "--redis-addr", port(redisPortOffset))
	}
	if flags["ftp-addr"] && !o.tls { // FTP does not serve TLS yet
		args = append(args, "--ftp-addr", port(ftpPortOffset))
	}
	if a := textAddr(o, i); flags["text-addr"] && a != "" {
		args = append(args, "--text-addr", a)
	}
	return args, env
}

// Seed 000's servers listen on ports 3000-3002: the first three nodes of
// the default local cluster (base port 7700; other clusters, such as
// tests', would contend for the ports) serve its text protocol there when
// the ports are free.
const textBasePort, textPorts, defaultBasePort = 3000, 3, 7700

// textAddr is node i's seed 000 address, or "" if it has none.
func textAddr(o upOptions, i int) string {
	if i > textPorts || o.basePort != defaultBasePort {
		return ""
	}
	a := "127.0.0.1:" + strconv.Itoa(textBasePort+i-1)
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return ""
	}
	ln.Close()
	return a
}

// planCluster describes the o.nodes nodes of a local cluster in dir, to be
// started with the binary exe.
func planCluster(o upOptions, dir, exe string, flags serverFlags) []nodeRecord {
	addr := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	var peers []string
	for i := 1; i <= o.nodes; i++ {
		peers = append(peers, fmt.Sprintf("n%d=%s", i, addr(o.basePort+peerPortOffset+i)))
	}
	nodes := make([]nodeRecord, o.nodes)
	for i := 1; i <= o.nodes; i++ {
		n := &nodes[i-1]
		n.ID = "n" + strconv.Itoa(i)
		n.ClientAddr = addr(o.basePort + i)
		n.PeerAddr = addr(o.basePort + peerPortOffset + i)
		n.DataDir = filepath.Join(dir, n.ID)
		n.Log = filepath.Join(n.DataDir, "node.log")
		n.Args = []string{exe, "server",
			"--id", n.ID,
			"--client-addr", n.ClientAddr,
			"--peer-addr", n.PeerAddr,
			"--peers", strings.Join(peers, ","),
			"--data-dir", n.DataDir,
		}
		if o.inMemory {
			n.Args = append(n.Args, "--in-memory")
		}
		args, env := optionalServerArgs(flags, o, i)
		n.Args = append(n.Args, args...)
		n.Env = env
		if o.tls {
			n.Args = append(n.Args, tlsServerArgs(dir)...)
			n.TLS = localTLSFiles(dir)
		}
	}
	return nodes
}

// A local TLS cluster's certificates live in DATA-DIR/certs: its CA, one
// node certificate for 127.0.0.1 that every node serves and presents to
// its peers (nodes added later reuse it), and a client certificate, root.
const localCertsDir, localNodeCert, localClientUser = "certs", "local", "root"

func tlsServerArgs(dir string) []string {
	cd := filepath.Join(dir, localCertsDir)
	cert, key := certs.NodeFiles(cd, localNodeCert)
	ca := filepath.Join(cd, certs.CACert)
	return []string{"--tls-cert", cert, "--tls-key", key, "--client-ca", ca,
		"--peer-cert", cert, "--peer-key", key, "--peer-ca", ca}
}

func localTLSFiles(dir string) *localTLS {
	cd := filepath.Join(dir, localCertsDir)
	cert, key := certs.ClientFiles(cd, localClientUser)
	return &localTLS{CACert: filepath.Join(cd, certs.CACert), Cert: cert, Key: key}
}

// makeLocalCerts creates DATA-DIR/certs' CA and certificates, keeping a CA
// made by an earlier run (so clients configured then still work).
func makeLocalCerts(dir string) error {
	cd := filepath.Join(dir, localCertsDir)
	if _, err := os.Stat(filepath.Join(cd, certs.CAKey)); err != nil {
		if err := certs.InitCA(cd, 10*365*24*time.Hour); err != nil {
			return err
		}
	}
	if _, _, err := certs.Node(cd, localNodeCert, []string{"127.0.0.1", "localhost", "::1"}, time.Time{}, 365*24*time.Hour); err != nil {
		return err
	}
	_, _, err := certs.Client(cd, localClientUser, time.Time{}, 365*24*time.Hour)
	return err
}

// checkPorts fails when a port the nodes will listen on is taken, before
// anything starts.
func checkPorts(nodes []nodeRecord) error {
	for _, n := range nodes {
		for _, addr := range listenAddrs(n) {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("%s's address %s is in use; stop what listens there or pick another --base-port", n.ID, addr)
			}
			l.Close()
		}
	}
	return nil
}

// listenAddrs are the addresses in n's flags: the client and peer
// addresses and those of the optional front ends (every --*-addr).
func listenAddrs(n nodeRecord) []string {
	addrs := []string{n.ClientAddr, n.PeerAddr}
	for i := 0; i+1 < len(n.Args); i++ {
		a := n.Args[i]
		if strings.HasPrefix(a, "--") && strings.HasSuffix(a, "-addr") && a != "--client-addr" && a != "--peer-addr" {
			addrs = append(addrs, n.Args[i+1])
			i++
		}
	}
	return addrs
}
