package e2e

// The Redis-protocol and FTP front ends of a real `distkv up` cluster,
// driven by the tools people use: go-redis, redis-cli, redis-benchmark,
// an FTP client library and curl. Node i serves Redis on basePort+200+i
// and FTP on basePort+300+i. The external tools are skipped only when
// they are not installed (.ci/run installs them).

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/redis/go-redis/v9"
)

func (c *cluster) redisAddr(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.basePort+200+i) }
func (c *cluster) redisPort(i int) string { return strconv.Itoa(c.basePort + 200 + i) }
func (c *cluster) ftpAddr(i int) string   { return fmt.Sprintf("127.0.0.1:%d", c.basePort+300+i) }

// redisClient is a go-redis client of node i, closed with the test.
func (c *cluster) redisClient(i int) *redis.Client {
	rc := redis.NewClient(&redis.Options{Addr: c.redisAddr(i), Protocol: 2,
		DialTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 15 * time.Second})
	c.t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// needTool skips the test when an external program is not installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian: apt-get install %s); .ci/run installs it", name, map[string]string{
			"redis-cli": "redis-tools", "redis-benchmark": "redis-tools", "curl": "curl", "chromium": "chromium"}[name])
	}
	return p
}

// runTool runs an external program with stdin, bounded by limit, and
// fails the test if it does not exit 0.
func runTool(t *testing.T, limit time.Duration, stdin io.Reader, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(string(out), 20))
	}
	return string(out)
}

// TestRedisGoClientThreeNodes writes through one node's Redis port and
// reads through the others': any node answers for any key, linearizably.
func TestRedisGoClientThreeNodes(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r1, r2, r3 := c.redisClient(1), c.redisClient(2), c.redisClient(3)
	if err := r1.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
		t.Fatalf("SET through n1: %v", err)
	}
	for i, rc := range []*redis.Client{r2, r3} {
		if got, err := rc.Get(ctx, "greeting").Result(); err != nil || got != "hello" {
			t.Fatalf("GET through n%d = %q, %v", i+2, got, err)
		}
	}
	for i := range 12 { // INCR round-robin over the nodes
		if err := []*redis.Client{r1, r2, r3}[i%3].Incr(ctx, "hits").Err(); err != nil {
			t.Fatalf("INCR %d: %v", i, err)
		}
	}
	if n, err := r2.Get(ctx, "hits").Int(); err != nil || n != 12 {
		t.Fatalf("hits = %d, %v; want 12", n, err)
	}
	if err := r3.MSet(ctx, "m1", "a", "m2", "b", "m3", "c").Err(); err != nil {
		t.Fatal(err)
	}
	if vals, err := r1.MGet(ctx, "m1", "m2", "m3", "none").Result(); err != nil ||
		fmt.Sprint(vals) != "[a b c <nil>]" {
		t.Fatalf("MGET through n1 = %v, %v", vals, err)
	}
	if n, err := r2.Del(ctx, "greeting", "m1", "none").Result(); err != nil || n != 2 {
		t.Fatalf("DEL = %d, %v; want 2", n, err)
	}
	if err := r3.Get(ctx, "greeting").Err(); err != redis.Nil {
		t.Fatalf("GET after DEL through n3: %v, want redis.Nil", err)
	}
	if e, err := c.clientOf(1).Get(ctx, "m2"); err != nil || string(e.Value) != "b" {
		t.Fatalf("HTTP read of a key written over Redis: %v %v", e, err)
	}
}

// TestRedisTools drives one node with redis-cli (single commands, INFO,
// --pipe of 10,000 commands) and redis-benchmark with pipelining.
func TestRedisTools(t *testing.T) {
	cli := needTool(t, "redis-cli")
	c := startCluster(t, 3)
	port := c.redisPort(1)
	rcli := func(args ...string) string {
		return strings.TrimSpace(runTool(t, time.Minute, nil, cli, append([]string{"-p", port}, args...)...))
	}
	if out := rcli("SET", "cli:a", "hello"); out != "OK" {
		t.Fatalf("SET: %q", out)
	}
	if out := strings.TrimSpace(runTool(t, time.Minute, nil, cli, "-p", c.redisPort(2), "GET", "cli:a")); out != "hello" {
		t.Fatalf("GET through n2: %q", out)
	}
	for want := 1; want <= 2; want++ {
		if out := rcli("INCR", "cli:n"); out != strconv.Itoa(want) {
			t.Fatalf("INCR: %q, want %d", out, want)
		}
	}
	// Key counts come from every shard's status report: poll briefly.
	waitFor(t, 20*time.Second, "INFO keyspace to count 2 keys", func() bool {
		return strings.Contains(rcli("INFO", "keyspace"), "db0:keys=2,")
	})

	var pipe bytes.Buffer
	for i := range 10000 {
		k, v := fmt.Sprintf("pipe:%05d", i), fmt.Sprintf("v%d", i)
		fmt.Fprintf(&pipe, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
	}
	out := runTool(t, 5*time.Minute, &pipe, cli, "-p", port, "--pipe")
	if !strings.Contains(out, "errors: 0, replies: 10000") {
		t.Fatalf("redis-cli --pipe:\n%s", out)
	}
	waitFor(t, 20*time.Second, "DBSIZE to reach 10002", func() bool {
		n, err := strconv.Atoi(rcli("DBSIZE"))
		return err == nil && n >= 10002
	})
	if out := strings.TrimSpace(runTool(t, time.Minute, nil, cli, "-p", c.redisPort(3), "GET", "pipe:09999")); out != "v9999" {
		t.Fatalf("GET pipe:09999 through n3: %q", out)
	}

	bench := needTool(t, "redis-benchmark")
	out = runTool(t, 5*time.Minute, nil, bench, "-p", c.redisPort(2), "-t", "set,get", "-P", "16", "-n", "20000", "-q")
	checkBenchmark(t, out)
}

// benchResult is a final line of redis-benchmark -q: "SET: 3539.20
// requests per second, p50=208.511 msec".
var benchResult = regexp.MustCompile(`(?m)^\s*(SET|GET): ([0-9.]+) requests per second`)

// checkBenchmark fails unless redis-benchmark finished both tests and
// reported no error. Throughput is logged, never asserted.
func checkBenchmark(t *testing.T, out string) {
	t.Helper()
	// -q redraws progress with \r; the results end each test's line.
	lines := strings.ReplaceAll(out, "\r", "\n")
	for _, bad := range []string{"ERR", "Error", "error"} {
		if strings.Contains(lines, bad) {
			t.Fatalf("redis-benchmark reported an error:\n%s", tail(lines, 20))
		}
	}
	got := map[string]string{}
	for _, m := range benchResult.FindAllStringSubmatch(lines, -1) {
		got[m[1]] = m[2]
	}
	if got["SET"] == "" || got["GET"] == "" {
		t.Fatalf("redis-benchmark did not report both SET and GET:\n%s", tail(lines, 20))
	}
	t.Logf("redis-benchmark -P 16 on a loaded test machine: SET %s req/s, GET %s req/s", got["SET"], got["GET"])
}

// ftpClient logs in to node i's FTP server (a loopback listener without
// credentials accepts any).
func (c *cluster) ftpClient(i int) *ftp.ServerConn {
	c.t.Helper()
	fc, err := ftp.Dial(c.ftpAddr(i), ftp.DialWithTimeout(30*time.Second))
	if err != nil {
		c.t.Fatalf("FTP dial n%d: %v", i, err)
	}
	if err := fc.Login("anonymous", "e2e"); err != nil {
		c.t.Fatalf("FTP login n%d: %v", i, err)
	}
	c.t.Cleanup(func() { _ = fc.Quit() })
	return fc
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFTPFrontEnd uploads a file of several chunks through one node,
// lists and downloads it through another, renames and deletes it, while a
// WebSocket watcher of the files namespace on a third node sees each
// change as an event on the file's path.
func TestFTPFrontEnd(t *testing.T) {
	c := startCluster(t, 3)
	f1, f2 := c.ftpClient(1), c.ftpClient(2)
	if _, err := f1.List("/"); err != nil { // first use creates the files namespace
		t.Fatalf("LIST: %v", err)
	}
	w := dialWatch(t, c, 3, "ws", "ns=files&prefix=")
	data := randomBytes(t, 5<<18+12345) // five 256 KiB chunks and a bit
	if err := f1.Stor("report.bin", bytes.NewReader(data)); err != nil {
		t.Fatalf("STOR through n1: %v", err)
	}
	w.expect(t, "put", "report.bin")
	entries, err := f2.List("/")
	if err != nil || len(entries) != 1 || entries[0].Name != "report.bin" || entries[0].Size != uint64(len(data)) {
		t.Fatalf("LIST through n2 = %v, %v; want report.bin of %d bytes", entryNames(entries), err, len(data))
	}
	if got := ftpRead(t, f2, "report.bin"); !bytes.Equal(got, data) {
		t.Fatalf("RETR through n2: %d bytes differ from the %d uploaded", len(got), len(data))
	}
	if err := f2.Rename("report.bin", "final.bin"); err != nil {
		t.Fatalf("RNFR/RNTO through n2: %v", err)
	}
	w.expectAll(t, []string{"put final.bin", "delete report.bin"})
	f3 := c.ftpClient(3)
	if names, err := f3.NameList("/"); err != nil || strings.Join(names, ",") != "final.bin" {
		t.Fatalf("NLST through n3 after rename = %v, %v", names, err)
	}
	if got := ftpRead(t, f3, "final.bin"); !bytes.Equal(got, data) {
		t.Fatal("the renamed file's content changed")
	}
	if err := f1.Delete("final.bin"); err != nil {
		t.Fatalf("DELE through n1: %v", err)
	}
	w.expect(t, "delete", "final.bin")
	if entries, err := f2.List("/"); err != nil || len(entries) != 0 {
		t.Fatalf("LIST after delete = %v, %v", entryNames(entries), err)
	}
}

func ftpRead(t *testing.T, fc *ftp.ServerConn, path string) []byte {
	t.Helper()
	r, err := fc.Retr(path)
	if err != nil {
		t.Fatalf("RETR %s: %v", path, err)
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("RETR %s: %v", path, err)
	}
	return b
}

func entryNames(es []*ftp.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s(%d)", e.Name, e.Size))
	}
	return out
}

// TestFTPWithCurl uploads, downloads and lists with curl's ftp:// support.
func TestFTPWithCurl(t *testing.T) {
	curl := needTool(t, "curl")
	c := startCluster(t, 3)
	src := filepath.Join(t.TempDir(), "x.txt")
	data := append([]byte("hello from curl\n"), randomBytes(t, 300<<10)...)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	base := func(i int) string { return "ftp://" + c.ftpAddr(i) + "/" }
	runTool(t, 2*time.Minute, nil, curl, "-sS", "--fail", "-T", src, base(1)+"x.txt")
	got := runTool(t, 2*time.Minute, nil, curl, "-sS", "--fail", base(2)+"x.txt")
	if got != string(data) {
		t.Fatalf("curl download through n2: %d bytes, want the %d uploaded", len(got), len(data))
	}
	if list := runTool(t, time.Minute, nil, curl, "-sS", "--fail", base(3)); !strings.Contains(list, "x.txt") ||
		!strings.Contains(list, strconv.Itoa(len(data))) {
		t.Fatalf("curl listing through n3 lacks x.txt of %d bytes:\n%s", len(data), list)
	}
	if names := runTool(t, time.Minute, nil, curl, "-sS", "--fail", "--list-only", base(1)); strings.TrimSpace(names) != "x.txt" {
		t.Fatalf("curl --list-only: %q", names)
	}
}
