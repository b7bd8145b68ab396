package e2e

// The Redis client compatibility matrix (README, "Redis clients and
// protocols"): real clients, each in the protocols it speaks, against n1
// of a real `distkv up` cluster, across a restart of n1.
//
// Every client runs the same script: connect (checking, with CLIENT INFO,
// the protocol the server sees), SET/GET/DEL, SET with EX (refused: no
// TTLs yet) and NX, MSET/MGET, INCR, SCAN, a pipeline, error replies
// (unknown command, a non-integer INCR; WRONGTYPE and HGETALL when the
// build has hashes), a write; then n1 restarts and the client must
// reconnect and read that write. The go-redis and redis-py scripts are
// processes (test/redisclients) that stop at RESTART until told to go on,
// so all clients share one restart; redis-cli and redis-benchmark are
// driven from here. A client that is not installed is skipped with the
// reason printed; .ci/run installs them all.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// matrixRow is one client in one protocol, and how it did.
type matrixRow struct {
	client, version, proto string
	result                 string // "pass", "skip: why", "FAIL: why"
}

func (r *matrixRow) failed() bool { return strings.HasPrefix(r.result, "FAIL") }

func TestRedisClientMatrix(t *testing.T) {
	dir := t.TempDir()
	var rows []*matrixRow
	row := func(client, version, proto string) *matrixRow {
		r := &matrixRow{client: client, version: version, proto: proto}
		rows = append(rows, r)
		return r
	}

	// Build the Go scripts before the cluster starts.
	cur2, cur3 := row("go-redis", "", "RESP2"), row("go-redis", "", "RESP3")
	pinned := row("go-redis (old pin, HELLO 3 without fallback)", "v9.0.3", "RESP3")
	goCurrent := filepath.Join(dir, "goredis")
	if out, err := goBuild("../..", goCurrent, "./test/redisclients/goredis"); err != nil {
		t.Fatalf("building test/redisclients/goredis: %v\n%s", err, out)
	}
	goPinned := filepath.Join(dir, "oldgoredis")
	if why := buildPinned(t, goPinned); why != "" {
		pinned.result = "skip: " + why
	}
	py, pyWhy := findRedisPy()

	c := startCluster(t, 3)
	addr, port := c.redisAddr(1), c.redisPort(1)
	hashes := hasCommand(t, addr, "hset")
	if !hashes {
		t.Log("this build has no hashes: WRONGTYPE and HGETALL are not checked")
	}
	hashFlag := func(flag string) []string {
		if hashes {
			return []string{flag}
		}
		return nil
	}

	var scripts []*scriptClient
	run := func(r *matrixRow, prog string, args ...string) {
		scripts = append(scripts, startScript(t, r, prog, args...))
	}
	run(cur2, goCurrent, append([]string{"-addr", addr, "-proto", "2", "-prefix", "goredis2:"}, hashFlag("-hashes")...)...)
	run(cur3, goCurrent, append([]string{"-addr", addr, "-proto", "3", "-prefix", "goredis3:"}, hashFlag("-hashes")...)...)
	if pinned.result == "" {
		run(pinned, goPinned, append([]string{"-addr", addr, "-proto", "3", "-prefix", "oldgoredis:"}, hashFlag("-hashes")...)...)
	}
	py2, py3 := row("redis-py (Debian python3-redis)", "", "RESP2"), row("redis-py (Debian python3-redis)", "", "RESP3")
	for _, r := range []*matrixRow{py2, py3} {
		if py == "" {
			r.result = "skip: " + pyWhy
			continue
		}
		run(r, py, append([]string{"../redisclients/redispy/client.py", "--port", port, "--protocol", r.proto[4:],
			"--prefix", "redispy" + r.proto[4:] + ":"}, hashFlag("--hashes")...)...)
	}

	// redis-cli, one process per command and one interactive session
	// that lives across the restart; redis-benchmark.
	cliVersion, cliWhy := toolVersion("redis-cli")
	var clis []*cliRow
	for _, proto := range []string{"RESP2", "RESP3"} {
		r := row("redis-cli", cliVersion, proto)
		if cliWhy != "" {
			r.result = "skip: " + cliWhy
			continue
		}
		cr := &cliRow{t: t, row: r, port: port, resp3: proto == "RESP3", hashes: hashes, p: "cli" + proto[4:] + ":"}
		cr.before()
		clis = append(clis, cr)
	}
	benchVersion, benchWhy := toolVersion("redis-benchmark")
	for _, proto := range []string{"RESP2", "RESP3"} {
		r := row("redis-benchmark", benchVersion, proto)
		if benchWhy != "" {
			r.result = "skip: " + benchWhy
			continue
		}
		r.result = runBenchmark(port, proto == "RESP3")
	}

	for _, s := range scripts {
		s.waitRestart()
	}
	t.Log("restarting n1")
	c.mustCLI("node", "stop", "n1", "--data-dir", c.dir)
	c.mustCLI("node", "start", "n1", "--data-dir", c.dir)
	for _, s := range scripts {
		s.resume()
	}
	for _, cr := range clis {
		cr.after()
	}
	for _, s := range scripts {
		s.finish()
	}

	var table strings.Builder
	table.WriteString("| client | version | protocol | result |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", r.client, r.version, r.proto, r.result)
	}
	t.Logf("Redis client compatibility matrix:\n%s", table.String())
	for _, r := range rows {
		if r.failed() {
			t.Errorf("%s %s %s: %s", r.client, r.version, r.proto, r.result)
		}
	}
}

// goBuild builds pkg in directory dir into out.
func goBuild(dir, out, pkg string) ([]byte, error) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	return cmd.CombinedOutput()
}

// buildPinned builds the old go-redis script from its own module. A
// module that cannot be downloaded (no network, no module cache) skips
// the row with the reason; a build failure fails the test.
func buildPinned(t *testing.T, out string) (skip string) {
	const dir = "../redisclients/oldgoredis"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dl := exec.CommandContext(ctx, "go", "mod", "download")
	dl.Dir = dir
	dl.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if b, err := dl.CombinedOutput(); err != nil {
		return fmt.Sprintf("cannot download go-redis v9.0.3 from the Go module proxy: %v: %s", err, tail(string(b), 3))
	}
	if b, err := goBuild(dir, out, "."); err != nil {
		t.Fatalf("building %s: %v\n%s", dir, err, b)
	}
	return ""
}

// findRedisPy finds a Python 3 that imports Debian's python3-redis (in
// /usr/bin/python3's dist-packages, whatever python3 is first on PATH).
func findRedisPy() (string, string) {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import redis").Run() == nil {
			return p, ""
		}
	}
	return "", "no python3 with the redis module (Debian: apt-get install python3-redis); .ci/run installs it"
}

// toolVersion is "7.0.15" for redis-cli or redis-benchmark, or why the
// tool is missing.
func toolVersion(name string) (string, string) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", name + " is not installed (Debian: apt-get install redis-tools); .ci/run installs it"
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		return "", fmt.Sprintf("%s --version: %v", name, err)
	}
	f := strings.Fields(string(out)) // "redis-cli 7.0.15" / "redis-benchmark 7.0.15"
	return f[len(f)-1], ""
}

// hasCommand asks the server whether it knows a command.
func hasCommand(t *testing.T, addr, name string) bool {
	rc := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	infos, err := rc.Do(ctx, "COMMAND", "INFO", name).Slice()
	if err != nil {
		t.Fatalf("COMMAND INFO %s: %v", name, err)
	}
	return len(infos) == 1 && infos[0] != nil
}

// scriptClient is a running client script of test/redisclients.
type scriptClient struct {
	t         *testing.T
	row       *matrixRow
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	out       lockedBuffer
	atRestart chan struct{} // closed at the RESTART line
	done      chan error    // the exit
	cancel    context.CancelFunc
}

// scriptLimit bounds a script's whole run.
const scriptLimit = 5 * time.Minute

func startScript(t *testing.T, row *matrixRow, prog string, args ...string) *scriptClient {
	ctx, cancel := context.WithTimeout(context.Background(), scriptLimit)
	s := &scriptClient{t: t, row: row, atRestart: make(chan struct{}), done: make(chan error, 1), cancel: cancel}
	s.cmd = exec.CommandContext(ctx, prog, args...)
	s.cmd.WaitDelay = 5 * time.Second
	s.cmd.Stderr = &s.out
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", prog, err)
	}
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		restart := sync.OnceFunc(func() { close(s.atRestart) })
		for sc.Scan() {
			s.out.WriteString(sc.Text() + "\n")
			if sc.Text() == "RESTART" {
				restart()
			}
		}
		s.done <- s.cmd.Wait()
	}()
	return s
}

// waitRestart waits until the script reaches RESTART or ends.
func (s *scriptClient) waitRestart() {
	select {
	case <-s.atRestart:
	case err := <-s.done:
		s.done <- err // finish reads it again
	case <-time.After(2 * time.Minute):
		s.cancel()
	}
}

// resume tells the script the node is back.
func (s *scriptClient) resume() { _, _ = io.WriteString(s.stdin, "go\n") }

// finish waits for the script and records its row.
func (s *scriptClient) finish() {
	var err error
	select {
	case err = <-s.done:
		s.done <- err // for the cleanup
	case <-time.After(3 * time.Minute):
		s.cancel()
		err = errors.New("still running after 3 minutes")
	}
	out := s.out.String()
	s.t.Logf("%s %s:\n%s", s.row.client, s.row.proto, out)
	var last string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(line, "VERSION "):
			f := strings.Fields(line)
			s.row.version = f[len(f)-1]
		case strings.HasPrefix(line, "UNSUPPORTED "):
			s.row.result = "skip: " + strings.TrimPrefix(line, "UNSUPPORTED ")
		case strings.HasPrefix(line, "FAIL "):
			s.row.result = "FAIL: " + strings.TrimPrefix(line, "FAIL ")
		}
		last = line
	}
	switch {
	case s.row.result != "":
	case err == nil && last == "PASS":
		s.row.result = "pass"
	default:
		s.row.result = fmt.Sprintf("FAIL: exit %v, last line %q", err, last)
	}
}

// cliRow drives redis-cli in one protocol: one process per command, and
// an interactive session (under script(1), so redis-cli sees a terminal
// and loads COMMAND DOCS for its help) that stays open across the
// restart and must reconnect by itself.
type cliRow struct {
	t      *testing.T
	row    *matrixRow
	port   string
	resp3  bool
	hashes bool
	p      string // key prefix
	sess   *cliSession
}

func (r *cliRow) args(cmd ...string) []string {
	a := []string{"-p", r.port}
	if r.resp3 {
		a = append(a, "-3")
	}
	return append(a, cmd...)
}

// cli runs one redis-cli command and returns its output, trimmed.
func (r *cliRow) cli(stdin io.Reader, cmd ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "redis-cli", r.args(cmd...)...)
	c.Stdin = stdin
	c.WaitDelay = 5 * time.Second
	out, err := c.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("redis-cli %s: %v", strings.Join(cmd, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// expect runs commands and compares each output with its expectation.
func (r *cliRow) expect(step string, pairs ...[]string) error {
	for _, p := range pairs {
		cmd, want := p[:len(p)-1], p[len(p)-1]
		got, err := r.cli(nil, cmd...)
		if err != nil {
			return fmt.Errorf("%s: %v", step, err)
		}
		if got != want {
			return fmt.Errorf("%s: %s = %q, want %q", step, strings.Join(cmd, " "), got, want)
		}
	}
	return nil
}

func (r *cliRow) before() {
	p := r.p
	resp := "resp=2"
	if r.resp3 {
		resp = "resp=3"
	}
	steps := []func() error{
		func() error {
			info, err := r.cli(nil, "CLIENT", "INFO")
			if err == nil && !strings.Contains(info, " "+resp) {
				err = fmt.Errorf("connect: CLIENT INFO = %q, want %s", info, resp)
			}
			return errors.Join(err, r.expect("connect", []string{"PING", "PONG"}))
		},
		func() error {
			return r.expect("set-get-del", []string{"SET", p + "a", "1", "OK"}, []string{"GET", p + "a", "1"},
				[]string{"DEL", p + "a", p + "none", "1"}, []string{"GET", p + "a", ""}, []string{"DEL", p + "a", "0"})
		},
		func() error {
			return r.expect("set-ex-nx", []string{"SET", p + "ex", "v", "EX", "10", "ERR TTLs are not supported yet by distkv"},
				[]string{"GET", p + "ex", ""}, []string{"SET", p + "nx", "first", "NX", "OK"},
				[]string{"SET", p + "nx", "second", "NX", ""}, []string{"GET", p + "nx", "first"})
		},
		func() error {
			return r.expect("mset-mget", []string{"MSET", p + "m1", "a", p + "m2", "b", "OK"},
				[]string{"MGET", p + "m1", p + "none", p + "m2", "a\n\nb"})
		},
		func() error {
			return r.expect("incr", []string{"INCR", p + "n", "1"}, []string{"INCR", p + "n", "2"},
				[]string{"INCRBY", p + "n", "10", "12"}, []string{"INCR", p + "m1", "ERR value is not an integer or out of range"})
		},
		func() error {
			mset := []string{"MSET"}
			var written []string
			for i := range 25 {
				k := fmt.Sprintf("%sscan:%02d", p, i)
				mset, written = append(mset, k, "v"), append(written, k)
			}
			if err := r.expect("scan", append(mset, "OK")); err != nil {
				return err
			}
			out, err := r.cli(nil, "--scan", "--pattern", p+"scan:*")
			keys := strings.Fields(out)
			slices.Sort(keys)
			if err == nil && !slices.Equal(keys, written) {
				err = fmt.Errorf("scan: --scan found %v, want %v", keys, written)
			}
			return err
		},
		func() error {
			// --pipe sends no HELLO of its own: the RESP3 row sends one first.
			var in strings.Builder
			n := 1000
			if r.resp3 {
				in.WriteString("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
				n++
			}
			for i := range 1000 {
				k, v := fmt.Sprintf("%spipe:%04d", p, i), fmt.Sprint(i)
				fmt.Fprintf(&in, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
			}
			out, err := r.cli(strings.NewReader(in.String()), "--pipe")
			if err == nil && !strings.Contains(out, fmt.Sprintf("errors: 0, replies: %d", n)) {
				err = fmt.Errorf("pipeline: --pipe said %q", out)
			}
			return errors.Join(err, r.expect("pipeline", []string{"GET", p + "pipe:0999", "999"}))
		},
		func() error {
			err := r.expect("errors", []string{"FOO", "a", "b", "ERR unknown command 'FOO', with args beginning with: 'a' 'b'"})
			if r.hashes {
				// redis-cli prints a RESP3 map's pair on one line ("f v"),
				// as it does against redis-server; RESP2's flat array one
				// element a line.
				all := "f\nv"
				if r.resp3 {
					all = "f v"
				}
				err = errors.Join(err, r.expect("errors", []string{"HSET", p + "h", "f", "v", "1"},
					[]string{"GET", p + "h", "WRONGTYPE Operation against a key holding the wrong kind of value"},
					[]string{"HGETALL", p + "h", all}))
			}
			return err
		},
		func() error {
			return r.expect("write-before-restart", []string{"SET", p + "durable", "before-restart", "OK"})
		},
		r.startSession,
	}
	for _, s := range steps {
		if err := s(); err != nil {
			r.row.result = "FAIL: " + err.Error()
			return
		}
	}
}

func (r *cliRow) after() {
	if r.row.failed() {
		return
	}
	err := r.expect("after-restart", []string{"GET", r.p + "durable", "before-restart"},
		[]string{"SET", r.p + "after", "2", "OK"}, []string{"GET", r.p + "after", "2"})
	if err == nil && r.sess != nil {
		err = r.sess.reconnect(r.p, r.resp3)
	}
	if err != nil {
		r.row.result = "FAIL: " + err.Error()
		return
	}
	r.row.result = "pass"
	if r.sess == nil {
		r.row.result = "pass (interactive session not tried: script(1) is not installed)"
	}
}

// cliSession is an interactive redis-cli. With TERM=dumb its line editor
// reads plain lines, so input can be written ahead of the prompt.
type cliSession struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   lockedBuffer
	done  chan error
}

func (r *cliRow) startSession() error {
	script, err := exec.LookPath("script")
	if err != nil {
		return nil // after() says it was not tried
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptLimit)
	s := &cliSession{done: make(chan error, 1)}
	s.cmd = exec.CommandContext(ctx, script, "-q", "-c", "redis-cli "+strings.Join(r.args(), " "), "/dev/null")
	s.cmd.Env = append(os.Environ(), "TERM=dumb")
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.WaitDelay = 5 * time.Second
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		cancel()
		return err
	}
	if err := s.cmd.Start(); err != nil {
		cancel()
		return fmt.Errorf("interactive: %v", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	r.t.Cleanup(func() {
		cancel()
		<-s.done
	})
	r.sess = s
	// redis-cli builds its help from COMMAND DOCS: distkv's own words.
	if err := s.await("HELP SET", "key value [NX|XX] [GET]", 15*time.Second); err != nil {
		return err
	}
	return s.await("GET "+r.p+"durable", `"before-restart"`, 15*time.Second)
}

// await sends line and waits until the output that follows contains want.
func (s *cliSession) await(line, want string, limit time.Duration) error {
	from := len(s.out.String())
	if _, err := io.WriteString(s.stdin, line+"\r"); err != nil {
		return fmt.Errorf("interactive: %v", err)
	}
	deadline := time.Now().Add(limit)
	for !strings.Contains(s.out.String()[from:], want) {
		if time.Now().After(deadline) {
			return fmt.Errorf("interactive: %q did not answer %q within %v; session:\n%s", line, want, limit, tail(s.out.String(), 15))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// reconnect checks that the session, whose connection the restart
// closed, reconnects by itself (redis-cli reports the closed connection
// once, then connects again on the next command) in the same protocol.
func (s *cliSession) reconnect(p string, resp3 bool) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := s.await("GET "+p+"durable", `"before-restart"`, 3*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return err
		}
	}
	resp := "resp=2"
	if resp3 {
		resp = "resp=3"
	}
	if err := s.await("CLIENT INFO", resp, 10*time.Second); err != nil {
		return err
	}
	_, _ = io.WriteString(s.stdin, "quit\r")
	select {
	case err := <-s.done:
		s.done <- err
		return nil
	case <-time.After(15 * time.Second):
		return errors.New("interactive: redis-cli did not exit after quit")
	}
}

// runBenchmark runs redis-benchmark's SET and GET with 16-command
// pipelines, and says how it went. Throughput is reported, never judged.
func runBenchmark(port string, resp3 bool) string {
	args := []string{"-p", port, "-t", "set,get", "-n", "10000", "-P", "16", "-q"}
	if resp3 {
		args = append(args, "-3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-benchmark", args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	lines := strings.ReplaceAll(string(out), "\r", "\n")
	if err != nil {
		return fmt.Sprintf("FAIL: redis-benchmark %s: %v: %s", strings.Join(args, " "), err, tail(lines, 5))
	}
	for _, bad := range []string{"ERR", "Error", "error", "NOPROTO"} {
		if strings.Contains(lines, bad) {
			return "FAIL: redis-benchmark reported an error: " + tail(lines, 5)
		}
	}
	got := map[string]string{}
	for _, m := range benchResult.FindAllStringSubmatch(lines, -1) {
		got[m[1]] = m[2]
	}
	if got["SET"] == "" || got["GET"] == "" {
		return "FAIL: redis-benchmark did not report both SET and GET: " + tail(lines, 5)
	}
	return "pass"
}

// TestCommandTableMatchesRedis compares COMMAND INFO of every command
// distkv and Redis both have, in RESP2 and RESP3: arity, flags, key
// positions, ACL categories, tips, key specifications and, for
// containers, each subcommand distkv has. It needs redis-server.
func TestCommandTableMatchesRedis(t *testing.T) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (Debian: apt-get install redis-server); .ci/run installs it")
	}
	c := startCluster(t, 1)
	redisPort := freeBase(1) + 1
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs := exec.CommandContext(ctx, server, "--port", fmt.Sprint(redisPort), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", t.TempDir())
	rs.WaitDelay = 5 * time.Second
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = rs.Wait() }()
	for _, proto := range []int{2, 3} {
		dk := redis.NewClient(&redis.Options{Addr: c.redisAddr(1), Protocol: proto, ReadTimeout: 10 * time.Second})
		rd := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", redisPort), Protocol: proto,
			ReadTimeout: 10 * time.Second})
		defer dk.Close()
		defer rd.Close()
		waitFor(t, 20*time.Second, "redis-server to answer", func() bool { return rd.Ping(ctx).Err() == nil })
		ours, err := dk.Do(ctx, "COMMAND").Slice()
		if err != nil {
			t.Fatal(err)
		}
		var names []any
		for _, e := range ours {
			names = append(names, e.([]any)[0])
		}
		theirs, err := rd.Do(ctx, append([]any{"COMMAND", "INFO"}, names...)...).Slice()
		if err != nil {
			t.Fatalf("Redis: %v", err)
		}
		compared := 0
		for i, e := range ours {
			if theirs[i] == nil {
				continue // distkv's own (NS, UPD)
			}
			compared++
			compareCommandInfo(t, proto, e.([]any), theirs[i].([]any))
		}
		t.Logf("RESP%d: %d of distkv's %d commands are Redis's and match it", proto, compared, len(ours))
	}
}

// compareCommandInfo compares one COMMAND INFO entry of distkv with
// Redis's: every field but the subcommands, which must each be among
// Redis's and match it (Redis 7.0 lacks CLIENT SETINFO, a 7.2 command),
// and the free-text notes of Redis's key specifications, which distkv
// leaves out.
func compareCommandInfo(t *testing.T, proto int, ours, theirs []any) {
	t.Helper()
	theirs = slices.Clone(theirs)
	theirs[8] = withoutNotes(theirs[8])
	if !reflect.DeepEqual(ours[:9], theirs[:9]) {
		t.Errorf("RESP%d: COMMAND INFO %v:\n distkv %v\n Redis  %v", proto, ours[0], ours[:9], theirs[:9])
	}
	subs := map[any][]any{}
	for _, s := range theirs[9].([]any) {
		subs[s.([]any)[0]] = s.([]any)
	}
	for _, s := range ours[9].([]any) {
		if r, ok := subs[s.([]any)[0]]; ok {
			compareCommandInfo(t, proto, s.([]any), r)
		} else if s.([]any)[0] != "client|setinfo" {
			t.Errorf("RESP%d: Redis has no subcommand %v", proto, s.([]any)[0])
		}
	}
}

// withoutNotes drops the "notes" field of each key specification, a flat
// list of pairs in RESP2 and a map in RESP3.
func withoutNotes(specs any) any {
	out := []any{}
	for _, spec := range specs.([]any) {
		switch sp := spec.(type) {
		case map[any]any:
			m := maps.Clone(sp)
			delete(m, "notes")
			out = append(out, m)
		case []any:
			var kept []any
			for i := 0; i+1 < len(sp); i += 2 {
				if sp[i] != "notes" {
					kept = append(kept, sp[i], sp[i+1])
				}
			}
			out = append(out, kept)
		default:
			out = append(out, spec)
		}
	}
	return out
}
