// Package verify runs a workload against a distkv cluster while a seeded
// schedule injects faults, records every operation, and judges the
// history: linearizability (per key, with porcupine), convergence of every
// replica once the faults heal, and durability of every acknowledged write.
package verify

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"strings"
	"time"

	"github.com/distkv/distkv/client"
	"github.com/distkv/distkv/internal/lincheck"
)

// Fault kinds a schedule can use.
const (
	FaultPartition = "partition"
	FaultFreeze    = "freeze"
	FaultKill      = "kill"  // kill -9 a node (the leader of a probe key's shard), restart it
	FaultPause     = "pause" // SIGSTOP a node, SIGCONT it
	FaultDelay     = "delay"
	FaultDrop      = "drop"
	// FaultMembership changes the cluster's shape: adds a node (a local
	// cluster), removes one it added, changes the replication factor or
	// reshards the workload's namespace.
	FaultMembership = "membership"
)

// AllFaults lists every kind; network kinds work on any cluster, process
// kinds need Processes.
var AllFaults = []string{FaultPartition, FaultFreeze, FaultKill, FaultPause, FaultDelay, FaultDrop, FaultMembership}

func isProcessFault(k string) bool { return k == FaultKill || k == FaultPause }

// Processes controls the nodes' OS processes (a local cluster); node IDs
// are "n1", "n2"... Kill sends SIGKILL, Restart starts a killed node again
// from its data, Pause and Resume send SIGSTOP and SIGCONT.
type Processes interface {
	Kill(ctx context.Context, id string) error
	Restart(ctx context.Context, id string) error
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
}

// Config configures a run.
type Config struct {
	// Endpoints are the nodes' client addresses. Required.
	Endpoints []string
	// TLS, for a TLS cluster, configures the clients' connections.
	TLS *tls.Config
	// Procs, if set, enables kill and pause faults.
	Procs Processes
	// Faults are the kinds to use (default: every kind Procs allows).
	Faults []string
	// Duration is how long the workload runs under faults. Default 30s.
	Duration time.Duration
	// Clients and Keys shape the workload. Defaults 8 and 10.
	Clients, Keys int
	// Seed makes the schedule and the workload's choices reproducible.
	Seed int64
	// Out, if set, is a directory for the report and, on a violation,
	// porcupine's HTML visualization.
	Out string
	// Log receives progress lines. Default: discard.
	Log io.Writer
	// Namespace to use (default namespace when empty).
	Namespace string
	// Workload is "register" (default: single-key operations checked for
	// linearizability), "bank" (transfers in transactions across shards,
	// checked by audits; strong namespaces) or "append" (list-append
	// interactive transactions, checked for strict serializability by
	// package elle; strong namespaces).
	Workload string
}

func (c *Config) setDefaults() error {
	if len(c.Endpoints) == 0 {
		return errors.New("verify: no endpoints")
	}
	if c.Duration <= 0 {
		c.Duration = 30 * time.Second
	}
	if c.Clients <= 0 {
		c.Clients = 8
	}
	if c.Keys <= 0 {
		c.Keys = 10
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	switch c.Workload {
	case "":
		c.Workload = WorkloadRegister
	case WorkloadRegister, WorkloadBank, WorkloadAppend:
	default:
		return fmt.Errorf("verify: unknown workload %q (use %s, %s or %s)", c.Workload, WorkloadRegister, WorkloadBank, WorkloadAppend)
	}
	if c.Workload == WorkloadBank && c.Keys < 2 {
		return errors.New("verify: the bank workload needs at least 2 accounts (--keys)")
	}
	if len(c.Faults) == 0 {
		for _, k := range AllFaults {
			if c.Procs != nil || !isProcessFault(k) {
				c.Faults = append(c.Faults, k)
			}
		}
	}
	for _, k := range c.Faults {
		if !slices.Contains(AllFaults, k) {
			return fmt.Errorf("verify: unknown fault %q (use %s)", k, strings.Join(AllFaults, ", "))
		}
		if isProcessFault(k) && c.Procs == nil {
			return fmt.Errorf("verify: %s faults need control of the node processes (a local cluster, not --endpoints)", k)
		}
	}
	return nil
}

// Run executes a verification and returns its report. The error is for
// failures to run at all; a run that found violations returns a report
// whose Clean is false.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	cl, err := client.New(client.Config{Endpoints: cfg.Endpoints, Timeout: 2 * time.Second, RetryTimeout: 4 * time.Second, TLS: cfg.TLS})
	if err != nil {
		return nil, err
	}
	if cfg.Namespace != "" {
		cl = cl.WithNamespace(cfg.Namespace)
	}
	run := &runState{cfg: cfg, cl: cl, rec: lincheck.NewRecorder(), start: time.Now(),
		prefix: fmt.Sprintf("verify/%d-%d/", cfg.Seed, time.Now().UnixNano()%1e6), mode: "strong"}
	shown := "" // the mode as the log line names it
	if cfg.Namespace != "" {
		ns, err := cl.Namespace(ctx, cfg.Namespace)
		if err != nil {
			return nil, fmt.Errorf("verify: namespace %s: %w", cfg.Namespace, err)
		}
		run.mode = ns.Mode
		if ns.Mode == "ca" {
			// A strong namespace whose writes need every replica: checked
			// as strong (linearizability, durability); faults cost it more
			// availability.
			run.mode, shown = "strong", "ca (checked as strong)"
		}
	}
	if cfg.Workload != WorkloadRegister && run.mode != "strong" {
		return nil, fmt.Errorf("verify: the %s workload runs transactions, which need a strong namespace (%s is %s)", cfg.Workload, cfg.Namespace, run.mode)
	}
	switch cfg.Workload {
	case WorkloadBank:
		if err := run.setupBank(ctx); err != nil {
			return nil, err
		}
	case WorkloadAppend:
		run.appends = newAppendState(cfg.Keys)
	}
	fmt.Fprintf(cfg.Log, "verify: seed %d, %s namespace, %s workload, %d clients, %d keys, %v, faults %s\n",
		cfg.Seed, cmp.Or(shown, run.mode), cfg.Workload, cfg.Clients, cfg.Keys, cfg.Duration, strings.Join(cfg.Faults, ","))
	wctx, stop := context.WithCancel(ctx)
	done := run.startWorkload(wctx)
	nem := &nemesis{run: run, rng: rand.New(rand.NewSource(cfg.Seed))}
	nem.drive(ctx, cfg.Duration)
	stop()
	<-done
	nem.healAll(ctx)
	return run.judge(ctx)
}
