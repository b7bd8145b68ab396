package bench

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Targets: what a run drives.
const (
	TargetDistkv = "distkv" // distkv's HTTP API, through package client
	TargetEtcd   = "etcd"   // etcd v3 over gRPC
	TargetRedis  = "redis"  // the Redis protocol: Redis, or a distkv node's --redis-addr
)

// Read consistencies of --consistency.
const (
	Linearizable = "linearizable"
	Stale        = "stale"
)

// Defaults of the zero Options fields, from the issue: 100 clients, 16 B
// keys, 100 B values, 100,000 keys.
const (
	DefaultKeys      = 100000
	DefaultKeySize   = 16
	DefaultValueSize = 100
	DefaultClients   = 100
	DefaultOpTimeout = 5 * time.Second
	// ClientsPerEtcdConn is how many workers share one etcd gRPC
	// connection, the ratio etcd's own benchmark docs use (1000 clients
	// over 100 connections).
	ClientsPerEtcdConn = 10
)

// Options is one run: what to drive and how. The zero value of each
// numeric field takes its default; Workload, Dist, Target and
// Consistency default to "w", "uniform", "distkv" and "linearizable".
// It is echoed as the "config" of the JSON result.
type Options struct {
	Target    string   `json:"target"`
	Endpoints []string `json:"endpoints"`
	// Namespace is the distkv namespace ("" or "default": the default
	// one). With the redis target it is selected with NS on each
	// connection, which only distkv's Redis front end understands.
	Namespace   string `json:"namespace,omitempty"`
	Consistency string `json:"consistency"`
	// Protocol is the RESP version the redis target's connections speak:
	// 2 (the default) or 3 (each connection opens with HELLO 3). Other
	// targets have none.
	Protocol int `json:"protocol,omitempty"`

	Workload  string `json:"workload"`
	Keys      uint64 `json:"keys"`
	KeySize   int    `json:"key_size"`
	ValueSize int    `json:"value_size"`
	Dist      string `json:"dist"`

	Clients int `json:"clients"`
	// Duration is the measured time after Warmup. Zero runs until Ops
	// operations are measured, or, for workload load, until every key is
	// written; with both set, the first limit reached ends the run.
	Duration Duration `json:"duration"`
	Ops      int64    `json:"ops,omitempty"`
	// Rate, when positive, is the fixed total rate in operations per
	// second (open loop, see the package documentation); zero runs each
	// client closed loop, as fast as the store answers.
	Rate float64 `json:"rate,omitempty"`
	// Warmup runs the workload unmeasured before the measured part.
	Warmup    Duration `json:"warmup"`
	OpTimeout Duration `json:"op_timeout"`
	// Seed seeds the workers' random sources (worker i uses Seed+i).
	Seed uint64 `json:"seed"`
}

// Duration is a time.Duration that reads and writes JSON as text ("10s").
type Duration time.Duration

// MarshalJSON writes d as a string in time.Duration's format.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string in time.Duration's format.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// withDefaults returns o with its zero fields set to their defaults.
func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Target, TargetDistkv)
	if o.Target == TargetRedis && o.Protocol == 0 {
		o.Protocol = 2
	}
	def(&o.Consistency, Linearizable)
	def(&o.Workload, "w")
	def(&o.Dist, DistUniform)
	if o.Keys == 0 {
		o.Keys = DefaultKeys
	}
	if o.KeySize == 0 {
		o.KeySize = DefaultKeySize
	}
	if o.ValueSize == 0 {
		o.ValueSize = DefaultValueSize
	}
	if o.Clients == 0 {
		o.Clients = DefaultClients
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = Duration(DefaultOpTimeout)
	}
	return o
}

// Validate returns o with defaults applied, or the first problem with it,
// worded for the command line.
func (o Options) Validate() (Options, error) {
	o = o.withDefaults()
	w, err := ParseWorkload(o.Workload)
	if err != nil {
		return o, err
	}
	if _, err := NewKeyChooser(o.Dist, 1); err != nil {
		return o, err
	}
	switch {
	case !slices.Contains([]string{TargetDistkv, TargetEtcd, TargetRedis}, o.Target):
		return o, fmt.Errorf("unknown target %q (want distkv, etcd or redis)", o.Target)
	case o.Consistency != Linearizable && o.Consistency != Stale:
		return o, fmt.Errorf("unknown consistency %q (want linearizable or stale)", o.Consistency)
	case len(o.Endpoints) == 0:
		return o, fmt.Errorf("no endpoints")
	case o.KeySize < MinKeySize(o.Keys):
		return o, fmt.Errorf("key size %d is too small for %d keys (need at least %d bytes)", o.KeySize, o.Keys, MinKeySize(o.Keys))
	case o.ValueSize < 0 || o.Clients < 0 || o.Ops < 0 || o.Rate < 0 || o.Duration < 0 || o.Warmup < 0 || o.OpTimeout < 0:
		return o, fmt.Errorf("sizes, counts, rates and durations must not be negative")
	case w.Hash && o.Target != TargetRedis:
		return o, fmt.Errorf("workload %s uses hashes: it needs --target redis", w.Name)
	case o.Target != TargetRedis && o.Protocol != 0:
		return o, fmt.Errorf("--resp (the RESP protocol version) is for --target redis only")
	case o.Target == TargetRedis && o.Protocol != 2 && o.Protocol != 3:
		return o, fmt.Errorf("RESP protocol version %d: want 2 or 3", o.Protocol)
	case o.Duration == 0 && o.Ops == 0 && !w.Load:
		return o, fmt.Errorf("give a duration or an operation count (only workload load ends by itself)")
	case o.Rate > 0 && o.Rate < float64(o.Clients)/3600:
		return o, fmt.Errorf("rate %.3g/s is too low for %d clients (each would wait over an hour)", o.Rate, o.Clients)
	}
	return o, nil
}

// String renders d as time.Duration does ("10s").
func (d Duration) String() string { return time.Duration(d).String() }
