package shardsm

// versionCacheSize bounds each strong shard's version cache. At about
// 70 bytes an entry (key, version, map overhead) a full cache costs
// roughly 0.5 MiB per shard.
const versionCacheSize = 8192

// versionCache remembers the current version of a shard's recently written
// or read keys, so that applying a write usually need not read the engine
// (a point read through the batch, the memtables and the tables was the
// largest cost of applying a write). Version 0 records a key known to be
// absent.
//
// It is owned by the Raft loop, like the state machine. Within a cycle it
// only grows, so every key written by the cycle's batch is in it: a miss
// therefore means the batch did not write the key and the engine's value
// is current. It is trimmed back to its bound when the cycle commits, and
// cleared when a snapshot replaces the shard's state.
type versionCache struct {
	m   map[string]uint64
	max int
}

func newVersionCache(max int) *versionCache {
	return &versionCache{m: make(map[string]uint64), max: max}
}

// get returns key's version (0: absent) and whether the cache knows it.
func (c *versionCache) get(key []byte) (version uint64, ok bool) {
	version, ok = c.m[string(key)]
	return version, ok
}

// set records key's version; 0 records it as absent.
func (c *versionCache) set(key []byte, version uint64) { c.m[string(key)] = version }

// trim evicts arbitrary entries (Go's map order is randomized) until the
// cache is within its bound again.
func (c *versionCache) trim() {
	excess := len(c.m) - c.max
	if excess <= 0 {
		return
	}
	for k := range c.m {
		delete(c.m, k)
		if excess--; excess == 0 {
			return
		}
	}
}

func (c *versionCache) clear() { clear(c.m) }
