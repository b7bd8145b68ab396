#!/usr/bin/env bash
# Docker end-to-end test: build the image FROM scratch around the static
# binary, start the seed-004-style compose cluster, and check that it serves
# and recovers: write through one node and read through another; kill a
# container, keep writing, restart it and check it caught up; pause one
# (docker pause) and disconnect one from the network, with the same checks;
# then a fourth container joins, n2 is drained and removed, and every
# acknowledged key is read through every remaining node.
# Every wait is bounded; everything it starts is torn down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=distkv-e2e
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose -p "$PROJECT")
elif command -v docker-compose >/dev/null; then COMPOSE=(docker-compose -p "$PROJECT")
else echo "neither 'docker compose' nor docker-compose is installed"; exit 1; fi

N1=127.0.0.1:18082 N2=127.0.0.1:18083 N3=127.0.0.1:18084 N6=127.0.0.1:18087
NET="${PROJECT}_distkv"

cleanup() {
  status=$?
  if [ $status -ne 0 ]; then
    echo "--- failure: container logs (last 40 lines each)"
    for c in distkv-n1 distkv-n2 distkv-n3 distkv-n6; do echo "--- $c"; docker logs --tail 40 "$c" 2>&1 || true; done
  fi
  docker unpause distkv-n3 >/dev/null 2>&1 || true
  "${COMPOSE[@]}" --profile grow down -v --remove-orphans >/dev/null 2>&1 || true
  exit $status
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

# wait_ready ADDR: /readyz answers 200 within 90s.
wait_ready() {
  for _ in $(seq 1 180); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$1/readyz")" = 200 ]; then return 0; fi
    sleep 0.5
  done
  fail "$1 not ready after 90s"
}

# put ADDR KEY VALUE: succeeds (2xx) within 30s. 503 (nothing done) and
# connection errors are retried; so is 504 (outcome unknown), which is safe
# here because writing the same value again has the same effect.
put() {
  for _ in $(seq 1 60); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 10 -X PUT --data-binary "$3" "http://$1/v1/kv/$2" || true)
    case "$code" in 200|201) return 0 ;; 503|504|000) sleep 0.5 ;; *) fail "PUT $2 via $1: HTTP $code" ;; esac
  done
  fail "PUT $2 via $1 kept failing"
}

# expect_value ADDR KEY VALUE [stale]: the node returns VALUE within 30s.
expect_value() {
  q=""; [ "${4:-}" = stale ] && q="?consistency=stale"
  for _ in $(seq 1 60); do
    got=$(curl -s "http://$1/v1/kv/$2$q" || true)
    [ "$got" = "$3" ] && return 0
    sleep 0.5
  done
  fail "GET $2 via $1: got '$got', want '$3'"
}

step "build the binary and the image"
make build >/dev/null
docker build -q -t distkv:latest . >/dev/null

step "start the 3-node cluster"
"${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
"${COMPOSE[@]}" up -d
for a in $N1 $N2 $N3; do wait_ready "$a"; done
node=$(curl -s -D - -o /dev/null "http://$N2/healthz" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-distkv-node"{print $2}')
[ "$node" = n2 ] || fail "X-Distkv-Node of the second node is '$node', want n2"

step "write through n1, read through n2 and n3"
put $N1 hello world
expect_value $N2 hello world
expect_value $N3 hello world

step "kill n2, keep writing, restart it, check it caught up"
docker kill distkv-n2 >/dev/null
for i in $(seq 1 30); do put $N1 "outage-$i" "v$i"; done
docker start distkv-n2 >/dev/null
wait_ready $N2
for i in 1 15 30; do expect_value $N2 "outage-$i" "v$i" stale; done
expect_value $N2 outage-30 v30

step "pause n3 (docker pause), keep writing, unpause, check"
docker pause distkv-n3 >/dev/null
for i in $(seq 1 20); do put $N1 "paused-$i" "p$i"; done
docker unpause distkv-n3 >/dev/null
wait_ready $N3
for i in 1 20; do expect_value $N3 "paused-$i" "p$i" stale; done

step "disconnect n3 from the network, keep writing, reconnect, check"
docker network disconnect "$NET" distkv-n3
for i in $(seq 1 20); do put $N2 "cut-$i" "c$i"; done
docker network connect --ip 10.10.0.4 "$NET" distkv-n3
wait_ready $N3
for i in 1 20; do expect_value $N3 "cut-$i" "c$i" stale; done

step "every acknowledged write is readable through every node"
for a in $N1 $N2 $N3; do
  for i in $(seq 1 30); do expect_value "$a" "outage-$i" "v$i"; done
  for i in $(seq 1 20); do expect_value "$a" "paused-$i" "p$i"; expect_value "$a" "cut-$i" "c$i"; done
done
# wait_status PATTERN: `distkv status` (through n1) shows a line matching
# PATTERN within 120s.
wait_status() {
  for _ in $(seq 1 240); do
    if DISTKV_ENDPOINTS=$N1 bin/distkv status 2>/dev/null | grep -Eq "$1"; then return 0; fi
    sleep 0.5
  done
  DISTKV_ENDPOINTS=$N1 bin/distkv status || true
  fail "distkv status never showed '$1'"
}

step "a fourth container (n6) joins and receives replicas"
"${COMPOSE[@]}" --profile grow up -d n6
wait_ready $N6
wait_status '^n6 +active'
wait_status '^default/[0-9]+ +[^ ]+ +([^ ]+,)?n6(,[^ ]+)? '   # n6 holds a replica (the shard table's REPLICAS column)
for i in $(seq 1 20); do put $N6 "grown-$i" "g$i"; done

step "drain and remove n2, then stop its container"
DISTKV_ENDPOINTS=$N1 bin/distkv node remove n2 --wait --wait-timeout 120s
docker stop distkv-n2 >/dev/null

step "every acknowledged write is readable through n1, n3 and n6"
for a in $N1 $N3 $N6; do
  expect_value "$a" hello world
  for i in $(seq 1 30); do expect_value "$a" "outage-$i" "v$i"; done
  for i in $(seq 1 20); do expect_value "$a" "paused-$i" "p$i"; expect_value "$a" "cut-$i" "c$i"; expect_value "$a" "grown-$i" "g$i"; done
done
echo "docker end-to-end: OK"
