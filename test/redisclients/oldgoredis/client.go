package main

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// newClient is a client of the pinned go-redis v9.0.3, which has no
// protocol option: every connection opens with HELLO 3 and fails on any
// error reply but "ERR unknown command".
func newClient(addr string, proto int) (*redis.Client, error) {
	if proto != 3 {
		return nil, fmt.Errorf("go-redis v9.0.3 always asks for RESP3, not %d", proto)
	}
	return redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}), nil
}
