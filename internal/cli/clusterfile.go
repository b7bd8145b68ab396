package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/distkv/distkv/client"
)

// Files `distkv up` keeps in its data directory.
const (
	clusterFileName = "cluster.json"
	lockFileName    = "cluster.json.lock"
)

// lockTimeout bounds the wait for another distkv command's lock on
// cluster.json.
const lockTimeout = 10 * time.Second

// clusterFile is cluster.json: the nodes of a local cluster started by
// `distkv up`, for `distkv node` and `distkv down` to find them.
type clusterFile struct {
	// UpPID is the `distkv up` process that owns the cluster; 0 once it
	// has stopped the nodes. UpStartTime, UpExeDev and UpExeIno identify
	// it as procIdentity does a node.
	UpPID       int          `json:"up_pid,omitempty"`
	UpStartTime uint64       `json:"up_start_time,omitempty"`
	UpExeDev    uint64       `json:"up_exe_dev,omitempty"`
	UpExeIno    uint64       `json:"up_exe_ino,omitempty"`
	Nodes       []nodeRecord `json:"nodes"`
}

// up is the identity of the cluster's `distkv up`.
func (f *clusterFile) up() procIdentity {
	return procIdentity{PID: f.UpPID, StartTime: f.UpStartTime, ExeDev: f.UpExeDev, ExeIno: f.UpExeIno}
}

// setUp records id as the cluster's `distkv up`.
func (f *clusterFile) setUp(id procIdentity) {
	f.UpPID, f.UpStartTime, f.UpExeDev, f.UpExeIno = id.PID, id.StartTime, id.ExeDev, id.ExeIno
}

// upRunning reports whether the cluster's `distkv up` still runs: the
// recorded process, still running `up` (any other process that got its
// PID is not it). This process is never reported: it may be the up itself,
// or a command run in-process by a test.
func (f *clusterFile) upRunning() bool {
	id := f.up()
	return id.PID > 0 && id.PID != os.Getpid() && id.matches() && hasArg(procCmdline(id.PID), "up")
}

// nodeRecord is one node of a local cluster.
type nodeRecord struct {
	ID string `json:"id"`
	// The node's process (pid, start_time, exe_dev, exe_ino); its PID is
	// 0 when it was stopped by distkv.
	procIdentity
	ClientAddr string `json:"client_addr"`
	PeerAddr   string `json:"peer_addr"`
	DataDir    string `json:"data_dir"`
	// Args is the node's argv; Args[0] is the binary that last started it.
	// `distkv node start` reruns Args[1:] with its own binary.
	Args []string `json:"args"`
	// Env is added to the inherited environment when the node starts.
	Env []string `json:"env,omitempty"`
	// Log is the file the node's output is appended to.
	Log string `json:"log"`
	// Added is set for a node that 'distkv node add' joined to the
	// running cluster (its Args hold --join, not --peers).
	Added bool `json:"added,omitempty"`
	// TLS, for a cluster started with 'distkv up --tls', names the files
	// a client of the node uses.
	TLS *localTLS `json:"tls,omitempty"`
}

// localTLS is a local TLS cluster's client side: the CA its nodes'
// certificates chain to and a client certificate.
type localTLS struct {
	CACert string `json:"ca_cert"`
	Cert   string `json:"cert"`
	Key    string `json:"key"`
}

// scheme is how clients reach the node: https in a TLS cluster.
func (n nodeRecord) scheme() string {
	if n.TLS != nil {
		return "https"
	}
	return "http"
}

// clientFor is a client of nodes (which share one TLS setup, if any).
func clientFor(nodes []nodeRecord, timeout time.Duration) (*client.Client, error) {
	cfg := client.Config{Endpoints: clientAddrs(nodes), Timeout: timeout}
	if len(nodes) > 0 && nodes[0].TLS != nil {
		t := nodes[0].TLS
		tc, err := client.TLSFromFiles(t.CACert, t.Cert, t.Key)
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	return client.New(cfg)
}

// node returns the record of node id.
func (f *clusterFile) node(id string) (*nodeRecord, error) {
	var ids []string
	for i := range f.Nodes {
		if f.Nodes[i].ID == id {
			return &f.Nodes[i], nil
		}
		ids = append(ids, f.Nodes[i].ID)
	}
	return nil, fmt.Errorf("no node %q in this cluster (nodes: %v)", id, ids)
}

// errNoCluster is wrapped by readClusterFile when dir has no cluster.json.
var errNoCluster = errors.New("no local cluster")

// readClusterFile reads dir's cluster.json. It needs no lock: the file is
// only ever replaced whole, by rename.
func readClusterFile(dir string) (*clusterFile, error) {
	path := filepath.Join(dir, clusterFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (no %s; start one with 'distkv up --data-dir %s')", errNoCluster, dir, clusterFileName, dir)
	}
	if err != nil {
		return nil, err
	}
	var f clusterFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s is not valid: %w", path, err)
	}
	return &f, nil
}

// updateClusterFile runs fn on dir's cluster.json (empty when there is none)
// under an exclusive lock, then replaces the file with fn's result, unless
// fn fails.
func updateClusterFile(dir string, fn func(*clusterFile) error) error {
	unlock, err := lockDir(dir, lockTimeout)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := readClusterFile(dir)
	if errors.Is(err, errNoCluster) {
		f, err = &clusterFile{}, nil
	}
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	return writeClusterFile(dir, f)
}

// writeClusterFile replaces dir's cluster.json atomically: a reader sees
// the old file or the new one, never a part. The caller holds the lock.
func writeClusterFile(dir string, f *clusterFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+clusterFileName+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, clusterFileName))
}

// lockDir takes the exclusive flock of dir's lock file, waiting at most
// timeout for another holder (a distkv process, or another goroutine: each
// call opens its own file description).
func lockDir(dir string, timeout time.Duration) (unlock func(), err error) {
	path := filepath.Join(dir, lockFileName)
	lf, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
				lf.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			lf.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			lf.Close()
			return nil, fmt.Errorf("%s is held by another distkv command (waited %v)", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
