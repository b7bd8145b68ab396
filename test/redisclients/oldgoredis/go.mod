// The old-go-redis row of the Redis client compatibility matrix
// (test/e2e/redisclients_test.go), in its own module so its pinned
// go-redis stays out of distkv's go.mod and go.sum. go-redis v9.0.0
// through v9.0.3 open every connection with HELLO 3 and give up on any
// error but "unknown command" (v9.0.4 falls back to RESP2); v9.0.3 is the
// last of them.
module github.com/distkv/distkv/test/redisclients/oldgoredis

go 1.22

require github.com/redis/go-redis/v9 v9.0.3

require (
	github.com/cespare/xxhash/v2 v2.2.0 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
)
