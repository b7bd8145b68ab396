package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// CompareSchema names the JSON layout of a Comparison.
const CompareSchema = "distkv-bench-compare/1"

// Defaults of CompareOptions.
var (
	DefaultCompareWorkloads = []string{"w", "c", "hset", "hgetall"}
	DefaultCompareRuns      = 3
)

// Fsync probe shape: 200 synced 4 KiB appends.
const (
	fsyncProbeWrites = 200
	fsyncProbeBytes  = 4096
)

// CompareOptions configures Compare.
type CompareOptions struct {
	// Base is the workload shape shared by every run: keys, sizes,
	// distribution, clients, duration, warmup, rate, consistency, op
	// timeout, seed. Its Target, Endpoints, Namespace and Workload are set
	// per run.
	Base Options
	// Cells are the names of the cells to run (nil: all, see CellNames).
	Cells []string
	// Workloads run in every cell, in order (nil:
	// DefaultCompareWorkloads); the hash workloads (hset, hgetall) only in
	// the cells that have them. If one reads, the keys are loaded first,
	// once per store, with workload load (reported, not compared); before
	// a hash workload, the records are loaded with hload.
	Workloads []string
	// Runs is how many times each workload runs against each store; the
	// report gives the median (zero: DefaultCompareRuns).
	Runs int
	// Dir is where a temporary directory for the stores' data is made
	// ("": the system's temporary directory). The fsync probe writes
	// there too.
	Dir string
	// StartCluster starts local distkv clusters. Required.
	StartCluster ClusterStarter
	// Installer finds or installs the peers' binaries.
	Installer Installer
	// Say reports progress, one line at a time (nil: silent).
	Say func(format string, args ...any)
	// Progress, if set, returns the progress callback of one run, and a
	// function called when the run ends.
	Progress func(label string) (update func(Progress), done func())
}

// Comparison is the outcome of Compare, as `distkv bench compare --json`
// prints it.
type Comparison struct {
	Schema    string        `json:"schema"`
	Started   time.Time     `json:"started"`
	Machine   Machine       `json:"machine"`
	Options   Options       `json:"config"` // the Base options
	Workloads []string      `json:"workloads"`
	Runs      int           `json:"runs"`
	Cells     []*CellResult `json:"cells"`
}

// Machine describes where the comparison ran.
type Machine struct {
	CPUs  int        `json:"cpus"`
	Fsync FsyncProbe `json:"fsync"`
}

// CellResult is one cell: distkv and its peer, their runs alternating.
type CellResult struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Workloads are the workloads the cell ran, of the comparison's, by
	// run label: "c", and "c@resp3" for c's runs over RESP3 in a cell
	// that runs both protocols.
	Workloads []string   `json:"workloads,omitempty"`
	Distkv    SideResult `json:"distkv"`
	Peer      SideResult `json:"peer"`
	// Ratios are distkv's figures over the peer's, by workload, for the
	// workloads both sides ran.
	Ratios map[string]Ratios `json:"ratios"`
	// RESP3, in a cell that ran its workloads over both protocols, are
	// each side's RESP3 figures over its RESP2 figures, by workload.
	RESP3 map[string]ProtocolRatios `json:"resp3_over_resp2,omitempty"`
}

// SideResult is one store's runs in a cell.
type SideResult struct {
	System string `json:"system"` // "distkv", "etcd" or "redis"
	Desc   string `json:"desc"`
	// Skipped says why this side did not run, or failed part way.
	Skipped string  `json:"skipped,omitempty"`
	Load    *Result `json:"load,omitempty"`
	// HashLoad is the loading of the hash workloads' records (hload).
	HashLoad  *Result         `json:"hash_load,omitempty"`
	Workloads []*WorkloadRuns `json:"workloads"`
}

// WorkloadRuns is one workload's runs against one store, and their
// medians.
type WorkloadRuns struct {
	// Workload is the run label: the workload's name, with "@resp3" for
	// its runs over RESP3 (each run's Options say its protocol).
	Workload string    `json:"workload"`
	Median   Figures   `json:"median"`
	Runs     []*Result `json:"runs"`
}

// Figures are the medians of a workload's runs, each figure the median of
// that figure over the runs (so p99 and throughput may come from
// different runs). Errors adds up every run's errors.
type Figures struct {
	Runs       int     `json:"runs"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	P50Micros  float64 `json:"p50_us"`
	P90Micros  float64 `json:"p90_us"`
	P99Micros  float64 `json:"p99_us"`
	P999Micros float64 `json:"p999_us"`
	MaxMicros  float64 `json:"max_us"`
	Errors     int64   `json:"errors"`
	// ForeignCPU is the median share of the machine's CPU that processes
	// other than the benchmark and the store used during a run (-1:
	// unknown). Anything well above 0 means the figures were disturbed.
	ForeignCPU float64 `json:"foreign_cpu"`
}

// Ratios compare distkv with its peer: throughput above 1 and latency
// below 1 favour distkv.
type Ratios struct {
	Throughput float64 `json:"throughput"` // distkv ops/s over the peer's
	P50        float64 `json:"p50"`        // distkv p50 over the peer's
	P99        float64 `json:"p99"`
}

// Compare runs every workload of co against distkv and against its peer
// in each cell, on fresh deployments, one run at a time, alternating
// between the two stores (see runCell). It returns what it measured even when ctx ends early (with
// ctx's error); every process it started is stopped before it returns.
func Compare(ctx context.Context, co CompareOptions) (*Comparison, error) {
	co, cells, err := co.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(co.Dir, "distkv-bench-compare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmp := &Comparison{Schema: CompareSchema, Started: time.Now(), Options: co.Base, Workloads: co.Workloads, Runs: co.Runs}
	cmp.Machine.CPUs = runtime.NumCPU()
	if cmp.Machine.Fsync, err = ProbeFsync(dir, fsyncProbeWrites, fsyncProbeBytes); err != nil {
		return nil, fmt.Errorf("fsync probe: %w", err)
	}
	co.say("%d CPUs; %s", cmp.Machine.CPUs, cmp.Machine.Fsync)
	var progs []string
	for _, c := range cells {
		if !slices.Contains(progs, c.PeerProg) {
			progs = append(progs, c.PeerProg)
		}
	}
	paths, missing := co.Installer.Ensure(ctx, progs...)
	for i, c := range cells {
		cellDir := filepath.Join(dir, fmt.Sprintf("%d-%s", i+1, c.Name))
		cmp.Cells = append(cmp.Cells, co.runCell(ctx, c, cellDir, paths[c.PeerProg], missing[c.PeerProg]))
		if ctx.Err() != nil {
			return cmp, ctx.Err()
		}
	}
	return cmp, nil
}

// Validate checks co before anything starts; Compare checks it too.
func (co CompareOptions) Validate() error {
	_, _, err := co.withDefaults()
	return err
}

func (co CompareOptions) withDefaults() (CompareOptions, []cellDef, error) {
	if co.StartCluster == nil {
		return co, nil, fmt.Errorf("bench: CompareOptions.StartCluster is required")
	}
	if co.Workloads == nil {
		co.Workloads = DefaultCompareWorkloads
	}
	if co.Runs == 0 {
		co.Runs = DefaultCompareRuns
	}
	if co.Runs < 0 {
		return co, nil, fmt.Errorf("runs must be positive")
	}
	base := co.Base
	base.Endpoints = []string{"127.0.0.1:1"} // validated here, replaced per run
	for _, w := range co.Workloads {
		base.Workload, base.Target = w, co.Base.Target
		if wl, err := ParseWorkload(w); err == nil && wl.Hash {
			base.Target = TargetRedis // run in the cells that drive Redis
		}
		if _, err := base.Validate(); err != nil {
			return co, nil, err
		}
		if w == "load" || w == "hload" {
			return co, nil, fmt.Errorf("workloads load and hload are run before the workloads that need them; compare a, b, c, w, hset or hgetall")
		}
	}
	co.Base, _ = co.Base.Validate()
	cells, err := selectCells(co.Cells)
	return co, cells, err
}

func (co CompareOptions) say(format string, args ...any) {
	if co.Say != nil {
		co.Say(format, args...)
	}
}

// runCell runs cell c. Both stores are deployed (distkv first) and
// loaded, then the runs alternate — distkv's first run, the peer's first
// run, distkv's second... — so that whatever else loads the machine
// weighs on both alike; the idle store's own background work shows in
// the other's "other CPU". The peer is skipped, with the reason
// peerMissing, when its binary is missing.
func (co CompareOptions) runCell(ctx context.Context, c cellDef, dir, peerBin, peerMissing string) *CellResult {
	cr := &CellResult{Name: c.Name, Title: c.Title, Workloads: c.labels(co.Workloads), Ratios: map[string]Ratios{}}
	co.say("== cell %s: %s", c.Name, c.Title)
	cr.Distkv.System, cr.Peer.System = "distkv", c.peerSystem()
	sides := []*side{
		{cell: c.Name, res: &cr.Distkv, deploy: func() (*Deployment, error) {
			return deployDistkv(ctx, co.StartCluster, c, filepath.Join(dir, "distkv"))
		}},
		{cell: c.Name, res: &cr.Peer, deploy: func() (*Deployment, error) {
			peerDir := filepath.Join(dir, cr.Peer.System)
			if err := os.MkdirAll(peerDir, 0o755); err != nil {
				return nil, err
			}
			return c.Peer(ctx, peerBin, peerDir)
		}},
	}
	if peerMissing != "" {
		cr.Peer.Skipped = peerMissing
		co.say("skipping %s in cell %s: %s", cr.Peer.System, c.Name, peerMissing)
		sides = sides[:1]
	}
	defer func() {
		for _, s := range sides {
			co.stopSide(s)
		}
	}()
	for _, s := range sides {
		co.startSide(ctx, s, cr.Workloads)
	}
	for _, group := range labelGroups(cr.Workloads) {
		co.runWorkload(ctx, sides, group...)
	}
	for _, d := range cr.Distkv.Workloads {
		for _, p := range cr.Peer.Workloads {
			if d.Workload == p.Workload && d.Median.Runs > 0 && p.Median.Runs > 0 {
				cr.Ratios[d.Workload] = ratios(d.Median, p.Median)
			}
		}
	}
	if c.RESP3 {
		cr.RESP3 = resp3Ratios(cr)
	}
	return cr
}
