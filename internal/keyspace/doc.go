// Package keyspace decides where data lives: namespaces and their
// configuration, the shard a key belongs to, the consistent-hash ring of
// nodes, and the placement of each shard's replicas on that ring.
package keyspace
