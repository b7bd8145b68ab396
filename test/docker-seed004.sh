#!/usr/bin/env bash
# Seed 004's Docker scenario, run as its README runs it: a subnet
# 10.10.0.0/16 named asg4net and six containers alice..frank on
# 10.10.0.2-7, port 8090 published on 8082-8087, started with only
# SHARD_COUNT, SOCKET_ADDRESS and VIEW (the image's default command).
# Then: the view and the shards, 600 keys written with causal metadata and
# counted alike at every node, a reshard to 3, carol cut off the network
# (she leaves every view; writes go on) and reconnected (she is back and
# has them), and a seventh container, grace, started without SHARD_COUNT,
# added to shard 1 and holding its keys. Every wait is bounded; the
# containers and the network are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

NET=asg4net
NAMES=(alice bob carol dave erin frank)
VIEW=10.10.0.2:8090,10.10.0.3:8090,10.10.0.4:8090,10.10.0.5:8090,10.10.0.6:8090,10.10.0.7:8090

cleanup() {
  status=$?
  if [ $status -ne 0 ]; then
    for c in "${NAMES[@]}" grace; do echo "--- $c"; docker logs --tail 30 "$c" 2>&1 || true; done
  fi
  for c in "${NAMES[@]}" grace; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  docker network rm "$NET" >/dev/null 2>&1 || true
  exit $status
}
trap cleanup EXIT

step() { echo "== $*"; }

step "seed 004: build the image"
make build >/dev/null
docker build -q -t distkv:latest . >/dev/null

for c in "${NAMES[@]}" grace; do docker rm -f "$c" >/dev/null 2>&1 || true; done
docker network rm "$NET" >/dev/null 2>&1 || true

step "seed 004: docker network create --subnet=10.10.0.0/16 $NET; six containers as its README runs them"
docker network create --subnet=10.10.0.0/16 "$NET" >/dev/null
for i in 0 1 2 3 4 5; do
  docker run --rm -d -p "$((8082 + i)):8090" --net="$NET" --ip="10.10.0.$((2 + i))" --name="${NAMES[$i]}" \
    -e SHARD_COUNT=2 -e SOCKET_ADDRESS="10.10.0.$((2 + i)):8090" -e VIEW="$VIEW" distkv:latest >/dev/null
done

python3 - <<'EOF'
import json, subprocess, time, urllib.request, urllib.error

HOST = {f"10.10.0.{2+i}:8090": f"127.0.0.1:{8082+i}" for i in range(7)}
NODES = list(HOST)[:6]

def call(node, method, path, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{HOST[node]}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

def eventually(what, check, secs=60):
    deadline, last = time.time() + secs, None
    while time.time() < deadline:
        try:
            ok, last = check()
            if ok:
                return
        except (OSError, ValueError) as e:
            last = repr(e)
        time.sleep(0.5)
    raise SystemExit(f"FAIL: {what} within {secs}s; last: {last}")

def expect(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")

def ready(node):
    with urllib.request.urlopen(f"http://{HOST[node]}/readyz", timeout=5) as r:
        return r.status == 200, r.status

for n in NODES:
    eventually(f"{n} ready", lambda: ready(n), 90)
    eventually(f"{n} sees all six", lambda: (len(call(n, "GET", "/view")[1]["view"]) == 6, call(n, "GET", "/view")))
print("== seed 004: six nodes up, every view has six")

st, b = call(NODES[3], "GET", "/shard/ids")
expect(st == 200 and b["shard-ids"] == [1, 2], f"shard ids: {st} {b}")
expect(call(NODES[5], "GET", "/shard/members/1")[1]["shard-members"] == NODES[:3], "shard 1 is alice, bob, carol")
expect(call(NODES[0], "GET", "/shard/members/2")[1]["shard-members"] == NODES[3:], "shard 2 is dave, erin, frank")

meta = None
for k in range(600):
    st, b = call(NODES[k % 6], "PUT", f"/kvs/key{k}", {"value": f"v{k}", "causal-metadata": meta})
    expect(st == 201 and b["result"] == "created", f"PUT key{k}: {st} {b}")
    meta = b["causal-metadata"]
st, b = call(NODES[2], "PUT", "/kvs/key0", {"value": "v0", "causal-metadata": meta})
expect(st == 200 and b["result"] == "replaced", f"PUT key0 again: {st} {b}")
meta = b["causal-metadata"]
print("== seed 004: 600 keys written through the six nodes")

def counts(node, shards):
    return [call(node, "GET", f"/shard/key-count/{s}")[1]["shard-key-count"] for s in range(1, shards + 1)]

def agreed(shards, nodes):
    cs = [counts(n, shards) for n in nodes]
    return all(c == cs[0] for c in cs) and sum(cs[0]) == 600, cs

eventually("key counts agree at every node", lambda: agreed(2, NODES), 30)
c = counts(NODES[0], 2)
expect(all(0.75 * 300 <= x <= 1.25 * 300 for x in c), f"counts {c} within 25% of 300")
print(f"== seed 004: key counts {c} at every node")

for k in range(0, 600, 7):
    st, b = call(NODES[(k + 3) % 6], "GET", f"/kvs/key{k}", {"causal-metadata": meta})
    expect(st == 200 and b["value"] == f"v{k}", f"GET key{k}: {st} {b}")

st, b = call(NODES[1], "PUT", "/shard/reshard", {"shard-count": 4})
expect(st == 400 and "Not enough nodes" in b["error"], f"reshard to 4: {st} {b}")
t = time.time()
st, b = call(NODES[1], "PUT", "/shard/reshard", {"shard-count": 3}, timeout=90)
expect(st == 200 and b["result"] == "resharded", f"reshard to 3: {st} {b}")
print(f"== seed 004: resharded 2 -> 3 in {time.time() - t:.1f}s")
members = [call(NODES[4], "GET", f"/shard/members/{s}")[1]["shard-members"] for s in (1, 2, 3)]
expect(sorted(sum(members, [])) == sorted(NODES) and all(len(m) == 2 for m in members), f"members {members}")
eventually("key counts agree after the reshard", lambda: agreed(3, NODES), 30)
for k in range(0, 600, 5):
    st, b = call(NODES[k % 6], "GET", f"/kvs/key{k}", {"causal-metadata": meta})
    expect(st == 200 and b["value"] == f"v{k}", f"after the reshard GET key{k}: {st} {b}")

carol = NODES[2]
subprocess.run(["docker", "network", "disconnect", "asg4net", "carol"], check=True)
for n in NODES[:2] + NODES[3:]:
    eventually(f"{n} drops carol from its view", lambda: (carol not in call(n, "GET", "/view")[1]["view"], call(n, "GET", "/view")), 30)
for k in range(20):
    st, b = call(NODES[[0, 1, 3, 4, 5][k % 5]], "PUT", f"/kvs/down{k}", {"value": "d", "causal-metadata": meta})
    expect(st == 201, f"PUT down{k} with carol away: {st} {b}")
    meta = b["causal-metadata"]
subprocess.run(["docker", "network", "connect", "--ip", "10.10.0.4", "asg4net", "carol"], check=True)
for n in NODES:
    eventually(f"{n} sees carol back", lambda: (len(call(n, "GET", "/view")[1]["view"]) == 6, call(n, "GET", "/view")), 60)
for k in range(20):
    eventually(f"carol serves down{k}", lambda: (call(carol, "GET", f"/kvs/down{k}", {"causal-metadata": meta})[1].get("value") == "d",
                                                 call(carol, "GET", f"/kvs/down{k}", {"causal-metadata": meta})), 20)
print("== seed 004: carol cut off (left every view), reconnected (back, with the writes made meanwhile)")

grace = "10.10.0.8:8090"
subprocess.run(["docker", "run", "--rm", "-d", "-p", "8088:8090", "--net=asg4net", "--ip=10.10.0.8", "--name=grace",
                "-e", f"SOCKET_ADDRESS={grace}", "-e", "VIEW=" + ",".join(NODES + [grace]), "distkv:latest"],
               check=True, stdout=subprocess.DEVNULL)
eventually("grace answers, in no shard yet", lambda: (call(grace, "GET", "/shard/node-shard-id")[1]["node-shard-id"] is None,
                                                  call(grace, "GET", "/shard/node-shard-id")), 90)
eventually("grace is in alice's view", lambda: (grace in call(NODES[0], "GET", "/view")[1]["view"], call(NODES[0], "GET", "/view")), 30)
st, b = call(NODES[0], "PUT", "/shard/add-member/1", {"socket-address": grace}, timeout=90)
expect(st == 200 and b["result"] == "node added to shard", f"add-member: {st} {b}")
expect(call(grace, "GET", "/shard/node-shard-id")[1]["node-shard-id"] == 1, "grace's shard is 1")
want = call(NODES[0], "GET", "/shard/key-count/1")[1]["shard-key-count"]
def held():
    with urllib.request.urlopen(f"http://{HOST[grace]}/v1/admin/dump", timeout=30) as r:
        lines = [json.loads(l) for l in r.read().splitlines() if l.strip()]
    n = sum(1 for e in lines if e["namespace"] == "default" and not e.get("deleted"))
    return n == want, f"{n} of {want}"
eventually("grace holds shard 1's keys", held, 30)
print(f"== seed 004: grace added to shard 1 and holds its {want} keys")
EOF
echo "docker seed 004: OK"
