package multiraft

import pb "go.etcd.io/raft/v3/raftpb"

// entryCache keeps a group's most recent log entries in memory, so sending
// new entries to followers and applying them does not read them back from
// the engine. It holds a contiguous run of indexes.
type entryCache struct {
	ents  []*pb.Entry // ents[i] has index first+i
	first uint64
	bytes int
}

// maxCacheBytes bounds one group's cache; older entries fall out first.
const maxCacheBytes = 4 << 20

func (c *entryCache) get(i uint64) *pb.Entry {
	if len(c.ents) == 0 || i < c.first || i >= c.first+uint64(len(c.ents)) {
		return nil
	}
	return c.ents[i-c.first]
}

// slice returns entries [lo, hi) limited by maxSize (at least one), if the
// cache holds lo.
func (c *entryCache) slice(lo, hi, maxSize uint64) ([]*pb.Entry, bool) {
	if len(c.ents) == 0 || lo < c.first || hi > c.first+uint64(len(c.ents)) {
		return nil, false
	}
	var out []*pb.Entry
	var size uint64
	for i := lo; i < hi; i++ {
		e := c.ents[i-c.first]
		size += uint64(len(e.GetData()))
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, e)
	}
	return out, true
}

// add records newly persisted entries, dropping any cached suffix they
// replace.
func (c *entryCache) add(ents []*pb.Entry) {
	if len(ents) == 0 {
		return
	}
	lo := ents[0].GetIndex()
	if len(c.ents) == 0 || lo < c.first || lo > c.first+uint64(len(c.ents)) {
		c.reset()
		c.first = lo
	} else {
		for _, e := range c.ents[lo-c.first:] {
			c.bytes -= len(e.GetData())
		}
		c.ents = c.ents[:lo-c.first]
	}
	for _, e := range ents {
		c.ents = append(c.ents, e)
		c.bytes += len(e.GetData())
	}
	for c.bytes > maxCacheBytes && len(c.ents) > 1 {
		c.bytes -= len(c.ents[0].GetData())
		c.ents[0] = nil
		c.ents = c.ents[1:]
		c.first++
	}
}

// dropThrough forgets entries up to and including index.
func (c *entryCache) dropThrough(index uint64) {
	for len(c.ents) > 0 && c.first <= index {
		c.bytes -= len(c.ents[0].GetData())
		c.ents[0] = nil
		c.ents = c.ents[1:]
		c.first++
	}
}

func (c *entryCache) reset() { *c = entryCache{} }
