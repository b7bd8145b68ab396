package main

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// newClient is a client of distkv's go-redis, which speaks the protocol
// asked for (HELLO proto on every connection).
func newClient(addr string, proto int) (*redis.Client, error) {
	if proto != 2 && proto != 3 {
		return nil, fmt.Errorf("protocol %d: want 2 or 3", proto)
	}
	return redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, DialTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}), nil
}
