package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUserClusterIndex(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_STATE_HOME": "/s", "HOME": "/h"}, "/s/distkv/clusters"},
		{map[string]string{"XDG_STATE_HOME": "rel", "HOME": "/h"}, "/h/.local/state/distkv/clusters"},
		{map[string]string{"HOME": "/h"}, "/h/.local/state/distkv/clusters"},
	}
	for _, tc := range cases {
		if ix, err := userClusterIndex(env(tc.env)); err != nil || string(ix) != tc.want {
			t.Errorf("userClusterIndex(%v) = %q, %v; want %q", tc.env, ix, err, tc.want)
		}
	}
	if _, err := userClusterIndex(env(nil)); err == nil {
		t.Error("no XDG_STATE_HOME nor HOME: no error")
	}
}

// cluster writes a cluster.json with nodes serving addrs in a new
// directory and returns it.
func cluster(t *testing.T, addrs ...string) string {
	t.Helper()
	dir := t.TempDir()
	f := &clusterFile{}
	for i, a := range addrs {
		f.Nodes = append(f.Nodes, nodeRecord{ID: "n" + string(rune('1'+i)), ClientAddr: a})
	}
	writeCluster(t, dir, f)
	return dir
}

func TestLocateCluster(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./distkv-data
	ix := clusterIndex(filepath.Join(t.TempDir(), "distkv", "clusters"))
	a := cluster(t, "127.0.0.1:7701", "127.0.0.1:7702")
	b := cluster(t, "127.0.0.1:9901", "127.0.0.1:7702")
	gone := cluster(t, "127.0.0.1:5501")
	for _, dir := range []string{a, b, gone} {
		if err := ix.record(dir, nil); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(gone, clusterFileName))
	q := func(endpoints ...string) clusterQuery {
		return clusterQuery{endpoints: endpoints, explicit: true, index: ix}
	}
	found := []struct {
		q    clusterQuery
		want string
	}{
		{clusterQuery{flagDir: "flag", envDir: "env"}, "flag"},
		{clusterQuery{envDir: "env", endpoints: []string{"127.0.0.1:9901"}, explicit: true, index: ix}, "env"},
		{q("127.0.0.1:7701"), a},
		{q("http://localhost:7701/", "127.0.0.1:7702"), a},
		{q("127.0.0.1:9901"), b},
	}
	for _, tc := range found {
		if got, err := tc.q.locate(); err != nil || got != tc.want {
			t.Errorf("locate(%+v) = %q, %v; want %q", tc.q, got, err, tc.want)
		}
	}
	// The entry of the cluster whose cluster.json is gone was dropped.
	if dirs, err := ix.dataDirs(); err != nil || len(dirs) != 2 {
		t.Errorf("index after a lookup: %q, %v", dirs, err)
	}
	if _, err := q("127.0.0.1:7702").locate(); err == nil || !strings.Contains(err.Error(), "served by 2 local clusters") {
		t.Errorf("ambiguous endpoints: %v", err)
	}
	_, err := q("127.0.0.1:1").locate()
	for _, want := range []string{"no local cluster found", "no --data-dir given", EnvDataDir + " is not set",
		"./distkv-data has no cluster.json", "none of the 2 cluster(s) recorded in " + string(ix), "endpoints 127.0.0.1:1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unknown endpoints: %v; lacks %q", err, want)
		}
	}
	if _, err := (clusterQuery{endpoints: []string{"127.0.0.1:1"}, explicit: true, indexErr: os.ErrNotExist}).locate(); err == nil ||
		!strings.Contains(err.Error(), "there is no cluster index") {
		t.Errorf("without an index: %v", err)
	}

	// ./distkv-data wins when no endpoints were given, and is one of the
	// candidates when they were.
	os.Mkdir(defaultDataDir, 0o755)
	writeCluster(t, defaultDataDir, &clusterFile{Nodes: []nodeRecord{{ID: "n1", ClientAddr: "127.0.0.1:4401"}}})
	if got, err := (clusterQuery{endpoints: []string{"127.0.0.1:7701"}, index: ix}).locate(); err != nil || got != defaultDataDir {
		t.Errorf("default endpoints with ./distkv-data: %q, %v", got, err)
	}
	if got, err := q("127.0.0.1:4401").locate(); err != nil || !strings.HasSuffix(got, "distkv-data") {
		t.Errorf("endpoints of ./distkv-data: %q, %v", got, err)
	}
	if got, err := q("127.0.0.1:9901").locate(); err != nil || got != b {
		t.Errorf("endpoints of another cluster with ./distkv-data there: %q, %v", got, err)
	}
}
