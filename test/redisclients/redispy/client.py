"""The Redis client compatibility script with redis-py, against one distkv
node's Redis port: a row of the matrix test/e2e/redisclients_test.go
drives, with Debian's python3-redis. It does what ../goredis/main.go does,
step for step, and speaks the same line protocol with the harness: "ok
STEP" per step, RESTART then a line on stdin while the node restarts,
PASS at the end; the first failure prints "FAIL STEP: why" and exits 1.
Asked for a protocol this redis-py cannot speak (protocol= came in
redis-py 5.0), it prints UNSUPPORTED and exits 2.
"""

import argparse
import inspect
import select
import sys
import time

import redis

STEP_TIMEOUT = 30  # seconds, per command (socket timeouts)
RECONNECT_TIMEOUT = 60
RESTART_WAIT = 180


def fail(step, why):
    print("FAIL %s: %s" % (step, why), flush=True)
    sys.exit(1)


def step(name, f):
    try:
        f()
    except Exception as e:  # every failure ends the script, named
        fail(name, "%s: %s" % (type(e).__name__, e))
    print("ok " + name, flush=True)


def eq(what, got, want):
    if got != want:
        raise AssertionError("%s = %r, want %r" % (what, got, want))


def is_err(what, f, want):
    try:
        got = f()
    except redis.ResponseError as e:
        eq(what + " error", str(e), want)
        return
    raise AssertionError("%s = %r, want the error %r" % (what, got, want))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--protocol", type=int, default=2)
    ap.add_argument("--prefix", default="redispy:")
    ap.add_argument("--hashes", action="store_true", help="the server has hashes: check WRONGTYPE")
    a = ap.parse_args()
    print("VERSION redis-py %s" % redis.__version__, flush=True)
    kw = dict(host="127.0.0.1", port=a.port, socket_timeout=STEP_TIMEOUT, socket_connect_timeout=5,
              decode_responses=True)
    if "protocol" in inspect.signature(redis.Redis.__init__).parameters:
        kw["protocol"] = a.protocol
    elif a.protocol != 2:
        print("UNSUPPORTED redis-py %s speaks RESP2 only (protocol= came in redis-py 5.0)" % redis.__version__,
              flush=True)
        sys.exit(2)
    r = redis.Redis(**kw)
    p = a.prefix

    def connect():
        eq("PING", r.ping(), True)
        info = r.execute_command("CLIENT", "INFO")
        if " resp=%d" % a.protocol not in info:
            raise AssertionError("CLIENT INFO = %r, want resp=%d" % (info, a.protocol))

    step("connect", connect)

    def set_get_del():
        eq("SET", r.set(p + "a", "1"), True)
        eq("GET", r.get(p + "a"), "1")
        eq("DEL", r.delete(p + "a", p + "none"), 1)
        eq("GET after DEL", r.get(p + "a"), None)
        eq("DEL again", r.delete(p + "a"), 0)

    step("set-get-del", set_get_del)

    def set_ex_nx():
        is_err("SET EX", lambda: r.set(p + "ex", "v", ex=10), "TTLs are not supported yet by distkv")
        eq("GET after a refused SET EX", r.get(p + "ex"), None)
        eq("SET NX of a new key", r.set(p + "nx", "first", nx=True), True)
        eq("SET NX of an existing key", r.set(p + "nx", "second", nx=True), None)
        eq("SETNX of an existing key", r.setnx(p + "nx", "third"), False)
        eq("GET", r.get(p + "nx"), "first")

    step("set-ex-nx", set_ex_nx)

    def mset_mget():
        eq("MSET", r.mset({p + "m1": "a", p + "m2": "b"}), True)
        eq("MGET", r.mget(p + "m1", p + "m2", p + "none"), ["a", "b", None])

    step("mset-mget", mset_mget)

    def incr():
        for i in (1, 2, 3):
            eq("INCR", r.incr(p + "n"), i)
        eq("INCRBY", r.incrby(p + "n", 10), 13)
        is_err("INCR of a non-integer", lambda: r.incr(p + "m1"), "value is not an integer or out of range")

    step("incr", incr)

    def scan():
        written = sorted(p + "scan:%02d" % i for i in range(25))
        for k in written:
            r.set(k, "v")
        eq("SCAN's keys", sorted(r.scan_iter(match=p + "scan:*", count=7)), written)

    step("scan", scan)

    def pipeline():
        pipe = r.pipeline(transaction=False)  # no MULTI: INCR cannot be queued in a distkv transaction
        for _ in range(100):
            pipe.incr(p + "pipe")
        pipe.set(p + "piped", "x")
        pipe.get(p + "piped")
        res = pipe.execute()
        eq("pipelined INCRs", res[:100], list(range(1, 101)))
        eq("pipelined SET, GET", res[100:], [True, "x"])

    step("pipeline", pipeline)

    def errors():
        is_err("unknown command", lambda: r.execute_command("FOO", "a", "b"),
               "unknown command 'FOO', with args beginning with: 'a' 'b' ")
        if a.hashes:
            eq("HSET", r.hset(p + "h", "f", "v"), 1)
            try:
                r.get(p + "h")
                raise AssertionError("GET of a hash answered")
            except redis.ResponseError as e:
                eq("GET of a hash", str(e), "WRONGTYPE Operation against a key holding the wrong kind of value")
            eq("HGETALL", r.hgetall(p + "h"), {"f": "v"})
        eq("PING after the errors", r.ping(), True)

    step("errors", errors)
    step("write-before-restart", lambda: r.set(p + "durable", "before-restart"))

    print("RESTART", flush=True)
    ready, _, _ = select.select([sys.stdin], [], [], RESTART_WAIT)
    if not ready or not sys.stdin.readline():
        fail("restart", "no word from the harness after %ds" % RESTART_WAIT)

    def reconnect():
        deadline = time.monotonic() + RECONNECT_TIMEOUT
        failures = 0
        while True:
            try:
                v = r.get(p + "durable")
                print("reconnected after %d failed attempts" % failures, flush=True)
                eq("GET after the restart", v, "before-restart")
                return
            except (redis.ConnectionError, redis.TimeoutError) as e:
                failures += 1
                if time.monotonic() > deadline:
                    raise AssertionError("no answer within %ds of the restart (%d attempts): %s"
                                         % (RECONNECT_TIMEOUT, failures, e))
                time.sleep(0.2)

    step("reconnect", reconnect)

    def after_restart():
        eq("SET", r.set(p + "after", "2"), True)
        eq("GET", r.get(p + "after"), "2")
        connect()

    step("after-restart", after_restart)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
