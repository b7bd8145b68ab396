package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distkv/distkv/client"
)

// errInterrupted ends a wait cut short by a signal.
var errInterrupted = errors.New("interrupted")

// waitReady polls each node's /readyz until all answer 200, for at most
// readyTimeout, printing progress. It fails as soon as a node exits.
func (a *app) waitReady(ctx context.Context, nodes []nodeRecord, exits <-chan nodeExit, sigs <-chan os.Signal, out *lockedWriter) error {
	c, err := clientFor(nodes, time.Second)
	if err != nil {
		return err
	}
	pending := map[string]string{} // id → why it is not ready
	for _, n := range nodes {
		pending[n.ID] = "not answering yet"
	}
	begin := time.Now()
	report := begin.Add(2 * time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, n := range nodes {
			if _, ok := pending[n.ID]; ok {
				pending[n.ID] = readiness(ctx, c, n.ClientAddr)
				if pending[n.ID] == "" {
					delete(pending, n.ID)
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if now := time.Now(); now.Sub(begin) > readyTimeout {
			return fmt.Errorf("not ready after %v: %s; see the logs in %s", readyTimeout, describePending(pending), filepath.Dir(nodes[0].DataDir))
		} else if now.After(report) {
			out.say("  waiting %ds: %s", int(now.Sub(begin).Seconds()), describePending(pending))
			report = now.Add(2 * time.Second)
		}
		select {
		case ex := <-exits:
			n := nodes[slices.IndexFunc(nodes, func(n nodeRecord) bool { return n.ID == ex.id })]
			printLogTail(out, n, 10)
			return fmt.Errorf("%s exited while starting (%s); its log is %s", ex.id, exitReason(ex.err), n.Log)
		case sig := <-sigs:
			out.say("%v: stopping the cluster", sig)
			return errInterrupted
		case <-ctx.Done():
			return errInterrupted
		case <-tick.C:
		}
	}
}

// readiness is "" when addr is ready, else why not.
func readiness(ctx context.Context, c *client.Client, addr string) string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	h, err := c.Ready(ctx, addr)
	switch {
	case err == nil:
		return ""
	case h != nil && h.Reason != "":
		return h.Reason
	case errors.Is(err, client.ErrNoEndpoint):
		return "not answering yet"
	}
	return describe(err)
}

func describePending(pending map[string]string) string {
	var ids []string
	for id := range pending {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareIDs)
	for i, id := range ids {
		ids[i] = id + " (" + pending[id] + ")"
	}
	return strings.Join(ids, ", ")
}

// printCluster prints the ready cluster: endpoints, PIDs, the coordinator.
func (a *app) printCluster(ctx context.Context, nodes []nodeRecord, took time.Duration, dir string, out *lockedWriter) {
	addrs := clientAddrs(nodes)
	coord := "unknown yet"
	if c, err := clientFor(nodes, 2*time.Second); err == nil {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			cl, err := c.Cluster(cctx)
			cancel()
			if err == nil && cl.Coordinator != "" {
				coord = cl.Coordinator
				break
			}
			if !sleepCtx(ctx, 250*time.Millisecond) {
				break
			}
		}
	}
	out.say("cluster ready in %.1fs: %d nodes, coordinator %s", took.Seconds(), len(nodes), coord)
	for _, n := range nodes {
		extra := ""
		if a := flagValue(n.Args, "--redis-addr"); a != "" {
			extra += "  redis " + a
		}
		if a := flagValue(n.Args, "--ftp-addr"); a != "" {
			extra += "  ftp " + a
		}
		out.say("  %-4s %s://%s%s  pid %d  log %s", n.ID, n.scheme(), n.ClientAddr, extra, n.PID, n.Log)
	}
	if t := nodes[0].TLS; t != nil {
		out.say("TLS everywhere (clients and peers); clients need: export %s=%s %s=%s %s=%s",
			EnvCACert, t.CACert, EnvCert, t.Cert, EnvKey, t.Key)
		out.say("  e.g. curl --cacert %s https://%s/v1/kv/hello", t.CACert, nodes[0].ClientAddr)
	}
	out.say("recorded in %s; 'distkv node' and 'distkv down' find it from any directory through %s (or %s=%s)",
		filepath.Join(dir, clusterFileName), EnvEndpoints, EnvDataDir, dir)
	if joined := strings.Join(addrs, ","); joined != DefaultEndpoints {
		out.say("first: export %s=%s", EnvEndpoints, joined)
	}
	out.say("try: distkv put hello world; distkv get hello; distkv status; distkv shell")
	out.say("Ctrl-C stops every node.")
}

func clientAddrs(nodes []nodeRecord) []string {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.ClientAddr
	}
	return addrs
}

// tailLog follows n's log from offset until ctx ends, printing the lines
// that mention the coordinator.
func tailLog(ctx context.Context, n nodeRecord, offset int64, out *lockedWriter) {
	f, err := os.Open(n.Log)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return
	}
	r := bufio.NewReader(f)
	var partial string
	for {
		line, err := r.ReadString('\n')
		partial += line
		if err != nil { // at the end for now
			if !sleepCtx(ctx, 200*time.Millisecond) {
				return
			}
			continue
		}
		if strings.Contains(strings.ToLower(partial), "coordinator") {
			out.say("  [%s] %s", n.ID, logMessage(partial))
		}
		partial = ""
	}
}

// logMessage extracts the message of a log/slog line, text or JSON.
func logMessage(line string) string {
	line = strings.TrimSpace(line)
	var m struct {
		Msg string `json:"msg"`
	}
	if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &m) == nil && m.Msg != "" {
		return m.Msg
	}
	if i := strings.Index(line, "msg="); i >= 0 {
		rest := line[i+len("msg="):]
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			if s, err := strconv.Unquote(q); err == nil {
				return s
			}
		}
		if j := strings.IndexByte(rest, ' '); j >= 0 {
			return rest[:j]
		}
		return rest
	}
	return line
}

// printLogTail prints the last lines of n's log.
func printLogTail(out *lockedWriter, n nodeRecord, lines int) {
	b, err := os.ReadFile(n.Log)
	if err != nil {
		return
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	out.say("last lines of %s:", n.Log)
	for _, l := range all[max(0, len(all)-lines):] {
		out.say("  %s| %s", n.ID, l)
	}
}

// fileSize is the size of path, 0 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// lockedWriter serialises lines written by several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func newLockedWriter(w io.Writer) *lockedWriter { return &lockedWriter{w: w} }

// say writes one formatted line.
func (l *lockedWriter) say(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// sleepCtx waits d, or less if ctx ends first; it reports whether ctx is
// still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// flagValue returns the value following flag in a node's arguments, or "".
func flagValue(args []string, flag string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}
