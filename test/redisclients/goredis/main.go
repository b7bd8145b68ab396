// Command goredis runs the Redis client compatibility script with go-redis
// against one distkv node's Redis port: one row of the matrix that
// test/e2e/redisclients_test.go drives. It is built twice: here, with the
// go-redis of distkv's own go.mod (any protocol), and in ../oldgoredis,
// its own module pinning an early go-redis v9 that always opens with
// HELLO 3 and gives up on any error but "unknown command". That module's
// main.go is a symbolic link to this file; each directory's client.go
// builds the client its go-redis version allows.
//
// The script: connect (and check the protocol the connection speaks),
// SET/GET/DEL, SET with EX (refused: distkv has no TTLs yet) and NX,
// MSET/MGET, INCR, SCAN, a pipeline, error replies (unknown command, a
// non-integer INCR, and WRONGTYPE with -hashes), then it prints RESTART
// and waits for a line on stdin while the harness restarts the node, then
// checks that the same client reconnects and reads what it wrote before.
// Each step prints "ok STEP"; the first failure prints "FAIL STEP: why"
// and exits 1; success ends with "PASS".
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// stepTimeout bounds each step; reconnectTimeout the wait for the
// restarted node.
const (
	stepTimeout      = 30 * time.Second
	reconnectTimeout = 60 * time.Second
	restartWait      = 3 * time.Minute
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7901", "the node's Redis address")
	proto := flag.Int("proto", 3, "RESP protocol version to ask for (2 or 3)")
	prefix := flag.String("prefix", "goredis:", "prefix of every key the script writes")
	hashes := flag.Bool("hashes", false, "the server has hashes: check WRONGTYPE")
	flag.Parse()
	fmt.Printf("VERSION %s\n", goRedisVersion())
	rc, err := newClient(*addr, *proto)
	if err != nil {
		fail("connect", err)
	}
	defer rc.Close()
	s := &script{rc: rc, proto: *proto, p: *prefix, hashes: *hashes}
	s.beforeRestart()
	fmt.Println("RESTART")
	if err := waitLine(restartWait); err != nil {
		fail("restart", err)
	}
	s.afterRestart()
	fmt.Println("PASS")
}

type script struct {
	rc     *redis.Client
	proto  int
	p      string
	hashes bool
}

func fail(step string, err error) {
	fmt.Printf("FAIL %s: %v\n", step, err)
	os.Exit(1)
}

// step runs f with a bounded context and reports it.
func step(name string, f func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		fail(name, err)
	}
	fmt.Printf("ok %s\n", name)
}

// eq checks a command's result: eq("GET", "v")(rc.Get(ctx, k).Result()).
func eq[T comparable](what string, exp T) func(got T, err error) error {
	return func(got T, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if got != exp {
			return fmt.Errorf("%s = %v, want %v", what, got, exp)
		}
		return nil
	}
}

// isNil checks that a command answered nil (redis.Nil).
func isNil(what string, err error) error {
	if !errors.Is(err, redis.Nil) {
		return fmt.Errorf("%s: %v, want a nil reply", what, err)
	}
	return nil
}

// isErr checks that err is exactly the error reply exp.
func isErr(what string, err error, exp string) error {
	if err == nil || err.Error() != exp {
		return fmt.Errorf("%s: error %v, want %q", what, err, exp)
	}
	return nil
}

func (s *script) beforeRestart() {
	rc, k := s.rc, func(name string) string { return s.p + name }
	step("connect", func(ctx context.Context) error {
		return errors.Join(eq("PING", "PONG")(rc.Ping(ctx).Result()), s.checkProtocol(ctx))
	})
	step("set-get-del", func(ctx context.Context) error {
		return errors.Join(
			eq("SET", "OK")(rc.Set(ctx, k("a"), "1", 0).Result()),
			eq("GET", "1")(rc.Get(ctx, k("a")).Result()),
			eq("DEL", int64(1))(rc.Del(ctx, k("a"), k("none")).Result()),
			isNil("GET after DEL", rc.Get(ctx, k("a")).Err()),
			eq("DEL again", int64(0))(rc.Del(ctx, k("a")).Result()),
		)
	})
	step("set-ex-nx", func(ctx context.Context) error {
		return errors.Join(
			isErr("SET EX", rc.Set(ctx, k("ex"), "v", 10*time.Second).Err(), "ERR TTLs are not supported yet by distkv"),
			isNil("GET after a refused SET EX", rc.Get(ctx, k("ex")).Err()),
			eq("SET NX of a new key", "OK")(rc.Do(ctx, "SET", k("nx"), "first", "NX").Text()),
			isNil("SET NX of an existing key", rc.Do(ctx, "SET", k("nx"), "second", "NX").Err()),
			eq("SETNX of an existing key", false)(rc.SetNX(ctx, k("nx"), "third", 0).Result()),
			eq("GET", "first")(rc.Get(ctx, k("nx")).Result()),
		)
	})
	step("mset-mget", func(ctx context.Context) error {
		if err := rc.MSet(ctx, k("m1"), "a", k("m2"), "b").Err(); err != nil {
			return err
		}
		vals, err := rc.MGet(ctx, k("m1"), k("m2"), k("none")).Result()
		return eq("MGET", "[a b <nil>]")(fmt.Sprint(vals), err)
	})
	step("incr", func(ctx context.Context) error {
		var errs []error
		for i := int64(1); i <= 3; i++ {
			errs = append(errs, eq("INCR", i)(rc.Incr(ctx, k("n")).Result()))
		}
		return errors.Join(append(errs,
			eq("INCRBY", int64(13))(rc.IncrBy(ctx, k("n"), 10).Result()),
			isErr("INCR of a non-integer", rc.Incr(ctx, k("m1")).Err(), "ERR value is not an integer or out of range"))...)
	})
	step("scan", func(ctx context.Context) error {
		var written []string
		for i := range 25 {
			key := k(fmt.Sprintf("scan:%02d", i))
			if err := rc.Set(ctx, key, "v", 0).Err(); err != nil {
				return err
			}
			written = append(written, key)
		}
		var seen []string
		var cursor uint64
		for calls := 0; ; calls++ {
			if calls > 100 {
				return fmt.Errorf("SCAN did not end after %d calls", calls)
			}
			keys, next, err := rc.Scan(ctx, cursor, k("scan:*"), 7).Result()
			if err != nil {
				return err
			}
			seen = append(seen, keys...)
			if cursor = next; cursor == 0 {
				break
			}
		}
		slices.Sort(seen)
		return eq("SCAN's keys", strings.Join(written, ","))(strings.Join(seen, ","), nil)
	})
	step("pipeline", func(ctx context.Context) error {
		cmds, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for range 100 {
				p.Incr(ctx, k("pipe"))
			}
			p.Set(ctx, k("piped"), "x", 0)
			p.Get(ctx, k("piped"))
			return nil
		})
		if err != nil {
			return err
		}
		for i, c := range cmds[:100] {
			if v := c.(*redis.IntCmd).Val(); v != int64(i+1) {
				return fmt.Errorf("pipelined INCR %d = %d", i, v)
			}
		}
		return eq("pipelined GET", "x")(cmds[101].(*redis.StringCmd).Result())
	})
	step("errors", func(ctx context.Context) error {
		errs := []error{isErr("unknown command", rc.Do(ctx, "FOO", "a", "b").Err(),
			"ERR unknown command 'FOO', with args beginning with: 'a' 'b' ")}
		if s.hashes {
			errs = append(errs,
				eq("HSET", int64(1))(rc.HSet(ctx, k("h"), "f", "v").Result()),
				isErr("GET of a hash", rc.Get(ctx, k("h")).Err(), "WRONGTYPE Operation against a key holding the wrong kind of value"))
			hgetall := rc.HGetAll(ctx, k("h"))
			errs = append(errs, eq("HGETALL", "map[f:v]")(fmt.Sprint(hgetall.Val()), hgetall.Err()))
		}
		return errors.Join(append(errs, eq("PING after the errors", "PONG")(rc.Ping(ctx).Result()))...)
	})
	step("write-before-restart", func(ctx context.Context) error {
		return rc.Set(ctx, k("durable"), "before-restart", 0).Err()
	})
}

func (s *script) afterRestart() {
	rc, k := s.rc, func(name string) string { return s.p + name }
	step("reconnect", func(context.Context) error {
		deadline := time.Now().Add(reconnectTimeout)
		failures := 0
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, err := rc.Get(ctx, k("durable")).Result()
			cancel()
			if err == nil {
				fmt.Printf("reconnected after %d failed attempts\n", failures)
				return eq("GET after the restart", "before-restart")(v, nil)
			}
			failures++
			if time.Now().After(deadline) {
				return fmt.Errorf("no answer within %v of the restart (%d attempts): %w", reconnectTimeout, failures, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	step("after-restart", func(ctx context.Context) error {
		return errors.Join(
			eq("SET", "OK")(rc.Set(ctx, k("after"), "2", 0).Result()),
			eq("GET", "2")(rc.Get(ctx, k("after")).Result()),
			s.checkProtocol(ctx),
		)
	})
}

// checkProtocol checks that the connection speaks the protocol asked
// for, as the server sees it (CLIENT INFO's resp=).
func (s *script) checkProtocol(ctx context.Context) error {
	info, err := s.rc.Do(ctx, "CLIENT", "INFO").Text()
	if err != nil {
		return err
	}
	if !strings.Contains(info, fmt.Sprintf(" resp=%d", s.proto)) {
		return fmt.Errorf("CLIENT INFO = %q, want resp=%d", info, s.proto)
	}
	return nil
}

// waitLine waits for a line on stdin, at most limit.
func waitLine(limit time.Duration) error {
	done := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(os.Stdin).ReadString('\n')
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		return fmt.Errorf("no word from the harness after %v", limit)
	}
}

// goRedisVersion is the go-redis version this binary was built with.
func goRedisVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/redis/go-redis/v9" {
				return "go-redis " + d.Version
			}
		}
	}
	return "go-redis (unknown version)"
}
