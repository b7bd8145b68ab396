package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// The cluster index: `distkv up` records the data directory of every
// cluster it starts in a small file under the user's state directory, so
// that `distkv node` and `distkv down`, run from anywhere, find the
// cluster whose nodes DISTKV_ENDPOINTS names. Each cluster has its own
// file (named by a hash of its directory), written whole by rename: two
// `up`s never contend for one file. cluster.json stays the truth: an
// entry only says where to look, and one whose cluster.json is gone is
// dropped when next read.

// clusterIndex is the directory of index entries.
type clusterIndex string

// indexEntry is one recorded cluster.
type indexEntry struct {
	DataDir string `json:"data_dir"`
	// Endpoints are the client addresses when up recorded the cluster,
	// for a human reading the file; lookups read cluster.json.
	Endpoints []string `json:"endpoints"`
}

// userClusterIndex is $XDG_STATE_HOME/distkv/clusters, or
// ~/.local/state/distkv/clusters when XDG_STATE_HOME is unset or not
// absolute (as the XDG base directory specification says).
func userClusterIndex(getenv func(string) string) (clusterIndex, error) {
	if s := getenv("XDG_STATE_HOME"); filepath.IsAbs(s) {
		return clusterIndex(filepath.Join(s, "distkv", "clusters")), nil
	}
	if h := getenv("HOME"); filepath.IsAbs(h) {
		return clusterIndex(filepath.Join(h, ".local", "state", "distkv", "clusters")), nil
	}
	return "", errors.New("neither XDG_STATE_HOME nor HOME is set to an absolute path")
}

func (ix clusterIndex) entryPath(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(string(ix), hex.EncodeToString(sum[:8])+".json")
}

// record adds or replaces the entry of the cluster in dataDir (absolute).
func (ix clusterIndex) record(dataDir string, endpoints []string) error {
	if err := os.MkdirAll(string(ix), 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(indexEntry{DataDir: dataDir, Endpoints: endpoints})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(string(ix), ".entry.tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), ix.entryPath(dataDir))
}

// dataDirs returns the recorded clusters' data directories that still hold
// a cluster.json, dropping the entries of the others.
func (ix clusterIndex) dataDirs() ([]string, error) {
	names, err := filepath.Glob(filepath.Join(string(ix), "*.json"))
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		var e indexEntry
		if json.Unmarshal(b, &e) != nil || !filepath.IsAbs(e.DataDir) {
			continue // not ours to delete: leave it for a human
		}
		if _, err := os.Stat(filepath.Join(e.DataDir, clusterFileName)); errors.Is(err, fs.ErrNotExist) {
			os.Remove(name)
			continue
		}
		dirs = append(dirs, e.DataDir)
	}
	slices.Sort(dirs)
	return slices.Compact(dirs), nil
}

// normalizeEndpoint makes addresses comparable: no scheme, no trailing
// slash, localhost as 127.0.0.1.
func normalizeEndpoint(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"http://", "https://"} {
		s = strings.TrimPrefix(s, p)
	}
	s = strings.TrimRight(s, "/")
	if rest, ok := strings.CutPrefix(s, "localhost:"); ok {
		s = "127.0.0.1:" + rest
	}
	return s
}

// listsEndpoints reports whether every endpoint is a client address of a
// node of f.
func (f *clusterFile) listsEndpoints(endpoints []string) bool {
	have := map[string]bool{}
	for _, n := range f.Nodes {
		have[normalizeEndpoint(n.ClientAddr)] = true
	}
	for _, e := range endpoints {
		if !have[normalizeEndpoint(e)] {
			return false
		}
	}
	return len(endpoints) > 0
}

// clusterQuery is what the local-cluster commands know of the cluster
// they are to manage.
type clusterQuery struct {
	flagDir string // --data-dir, "" when not given
	envDir  string // DISTKV_DATA_DIR
	// endpoints are --endpoints or DISTKV_ENDPOINTS; explicit says whether
	// either was given (else they are the defaults).
	endpoints []string
	explicit  bool
	index     clusterIndex // "" when the user has no state directory
	indexErr  error        // why index is ""
}

// locate returns the data directory of the cluster q describes, in this
// order: --data-dir; DISTKV_DATA_DIR; ./distkv-data when it holds a
// cluster and no endpoints were given; else the one cluster, among those
// in the index and ./distkv-data, whose nodes serve the endpoints. Its
// error names everything it tried.
func (q clusterQuery) locate() (string, error) {
	if q.flagDir != "" {
		return q.flagDir, nil
	}
	if q.envDir != "" {
		return q.envDir, nil
	}
	def, err := filepath.Abs(defaultDataDir)
	if err != nil {
		return "", err
	}
	_, statErr := os.Stat(filepath.Join(def, clusterFileName))
	if !q.explicit && statErr == nil {
		return defaultDataDir, nil
	}
	candidates := []string{}
	if statErr == nil {
		candidates = append(candidates, def)
	}
	tried := fmt.Sprintf("%s has no %s", defaultDataDir, clusterFileName)
	if statErr == nil {
		tried = fmt.Sprintf("%s is another cluster", defaultDataDir)
	}
	if q.index != "" {
		dirs, err := q.index.dataDirs()
		if err != nil {
			return "", fmt.Errorf("reading the cluster index %s: %w", q.index, err)
		}
		candidates = append(candidates, dirs...)
		tried += fmt.Sprintf(", and none of the %d cluster(s) recorded in %s", len(dirs), q.index)
	} else {
		tried += fmt.Sprintf(", and there is no cluster index (%v)", q.indexErr)
	}
	var matches []string
	for _, dir := range candidates {
		if f, err := readClusterFile(dir); err == nil && f.listsEndpoints(q.endpoints) && !slices.Contains(matches, dir) {
			matches = append(matches, dir)
		}
	}
	source := "the default endpoints"
	if q.explicit {
		source = "endpoints"
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", fmt.Errorf("%w found: no --data-dir given, %s is not set, %s lists %s %s; pass --data-dir or start one with 'distkv up'",
			errNoCluster, EnvDataDir, tried, source, strings.Join(q.endpoints, ","))
	}
	return "", fmt.Errorf("%s %s are served by %d local clusters (%s); pick one with --data-dir or %s",
		source, strings.Join(q.endpoints, ","), len(matches), strings.Join(matches, ", "), EnvDataDir)
}

// EnvDataDir names the local cluster's data directory for up, node and
// down.
const EnvDataDir = "DISTKV_DATA_DIR"

// clusterDir is the data directory of the local cluster that the node or
// down command cmd manages; flagDir is its --data-dir ("" when not given).
func (a *app) clusterDir(cmd *cobra.Command, flagDir string) (string, error) {
	q := clusterQuery{
		flagDir:   flagDir,
		envDir:    a.getenv(EnvDataDir),
		endpoints: splitList(a.endpoints),
		explicit:  a.getenv(EnvEndpoints) != "" || cmd.Flags().Changed("endpoints"),
	}
	q.index, q.indexErr = userClusterIndex(a.getenv)
	return q.locate()
}

// dataDirHelp is the help of the --data-dir flag of node and down.
const dataDirHelp = "the cluster's data directory, with cluster.json (default $" + EnvDataDir +
	", else the cluster 'distkv up' recorded with the nodes of --endpoints/$" + EnvEndpoints + ", else " + defaultDataDir + ")"
