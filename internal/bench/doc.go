// Package bench is distkv's load generator: YCSB-style workloads run
// against distkv (HTTP, through package client), etcd (v3 gRPC) or
// anything speaking the Redis protocol (RESP2, or RESP3 with
// Options.Protocol 3), with latencies kept in HDR
// histograms, and reports as a table, JSON or a self-contained HTML page;
// and Compare, which runs the same workloads against a local distkv
// cluster and against etcd and Redis, one run at a time, and reports
// medians and ratios.
//
// # Workloads and keys
//
// Workload load inserts keys 0..N-1 once; a is 50% reads and 50%
// updates, b 95/5, c read only, w write only. Key i is "k" followed by i
// zero-padded to the key size. Keys are chosen uniformly or from a Zipf
// law of skew 0.99 (Gray et al.'s generator, as in YCSB), key 0 the most
// popular. Values are random letters, fixed per worker.
//
// The hash workloads (Redis protocol only) use keys that begin with "r"
// instead of "k", each a record: a hash of RecordFields fields f0..f9 of
// one value each: hload writes
// every record whole once (one HSET of all fields), hset writes one
// field of a record chosen uniformly (one HSET of one field), hgetall
// reads a whole record (HGETALL). Compare runs them in the cells that
// have them (redis-mem), after loading the records.
//
// # Closed loop and fixed rate
//
// By default each of the C workers (clients) issues its next operation
// as soon as the previous one returns: a closed loop, which measures
// throughput. Its latencies understate what users see when the store
// stalls, because a stalled worker stops issuing operations — the
// operations it would have issued meanwhile are never measured
// ("coordinated omission"). With a rate R, operations are due at fixed
// instants (operation j at j/R, spread over the workers, see Schedule)
// and each latency is measured from the operation's due time, so waiting
// behind a stall counts. Latency percentiles that matter come from
// fixed-rate runs below saturation.
//
// # Measurement
//
// Operations due during the warmup are run but not measured. Each
// worker records into its own histograms (3 significant digits) and into
// a per-second histogram (2 digits) merged into the run's series once a
// second. Reads of missing keys succeed and are counted as misses;
// failures are counted by kind (timeout, unavailable, outcome_unknown,
// other) and do not enter the latencies.
//
// # JSON
//
// `distkv bench --json` prints a Result: schema "distkv-bench/1";
// config (the Options: target, endpoints, namespace, consistency,
// workload, keys, key_size, value_size, dist, clients, duration, ops,
// rate, warmup, op_timeout, seed; durations as Go duration strings);
// mode ("closed-loop" or "fixed-rate"); started; interrupted; elapsed_s;
// ops; ops_per_sec; misses; errors (by kind, every kind present);
// error_samples (first message per kind); latency (keyed by "all",
// "read", "write": count, min_us, mean_us, p50_us, p90_us, p99_us,
// p999_us, max_us); series (per second: t, ops, errors, ops_per_sec,
// p50_us, p99_us, max_us).
//
// `distkv bench compare --json` prints a Comparison: schema
// "distkv-bench-compare/1"; started; machine (cpus; fsync: dir, writes,
// bytes_per_write, p50_us, p99_us, max_us); config (the shared Options);
// workloads; runs; and cells, each with name, title, distkv and peer
// (system, desc, skipped, load: the Result of loading the keys, and
// workloads: per workload its median Figures and every run's Result),
// and ratios by workload (throughput, p50, p99: distkv over peer).
//
// # Safety
//
// CheckLoopback refuses endpoints off this machine's loopback unless
// told otherwise. Compare starts its peers on free loopback ports with
// data in a temporary directory and stops exactly the processes it
// started, by PID (Proc).
package bench
