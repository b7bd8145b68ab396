package e2e

// The /ui/watch page in a real headless Chromium (Debian's chromium),
// driven over the Chrome DevTools Protocol by the small client below: two
// pages on two nodes, each sees the other's writes as they happen.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/distkv/distkv/client"
)

// cdp is a Chrome DevTools Protocol connection to the browser. Calls may
// be made from any goroutine; events are ignored.
type cdp struct {
	conn *websocket.Conn
	mu   struct {
		sync.Mutex
		next    int64
		pending map[int64]chan cdpReply
	}
	done chan struct{} // closed when the reader stops
}

type cdpReply struct {
	ID        int64           `json:"id"`
	Result    json.RawMessage `json:"result"`
	Error     *struct{ Message string }
	SessionID string `json:"sessionId"`
}

func dialCDP(ctx context.Context, url string) (*cdp, error) {
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(64 << 20)
	c := &cdp{conn: conn, done: make(chan struct{})}
	c.mu.pending = map[int64]chan cdpReply{}
	go c.read()
	return c, nil
}

// read hands each reply to its caller until the connection closes.
func (c *cdp) read() {
	defer close(c.done)
	for {
		_, b, err := c.conn.Read(context.Background())
		if err != nil {
			return
		}
		var r cdpReply
		if json.Unmarshal(b, &r) != nil || r.ID == 0 {
			continue // an event
		}
		c.mu.Lock()
		ch := c.mu.pending[r.ID]
		delete(c.mu.pending, r.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// call sends method with params to the browser (session "") or to an
// attached target's session, and decodes the result into out (if not nil).
func (c *cdp) call(ctx context.Context, session, method string, params, out any) error {
	ch := make(chan cdpReply, 1)
	c.mu.Lock()
	c.mu.next++
	id := c.mu.next
	c.mu.pending[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, _ := json.Marshal(msg)
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("%s: the browser connection closed", method)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// page is a browser tab attached with a flat session.
type page struct {
	c       *cdp
	session string
	name    string
}

func (c *cdp) open(ctx context.Context, name, url string) (*page, error) {
	var target struct{ TargetID string }
	if err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": url}, &target); err != nil {
		return nil, err
	}
	var att struct{ SessionID string }
	err := c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	return &page{c: c, session: att.SessionID, name: name}, err
}

// eval runs a JavaScript expression in the page and decodes its value.
func (p *page) eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	err := p.c.call(ctx, p.session, "Runtime.evaluate",
		map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	switch {
	case err != nil:
		return err
	case r.ExceptionDetails != nil:
		return fmt.Errorf("%s: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	case out != nil && len(r.Result.Value) > 0:
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// waitFor polls a boolean expression in the page until it is true.
func (p *page) waitFor(t *testing.T, limit time.Duration, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		var ok bool
		err := p.eval(ctx, expr, &ok)
		if err == nil && ok {
			return
		}
		if ctx.Err() != nil {
			var state string
			_ = p.eval(context.Background(), `document.getElementById('status').dataset.state + ': ' + document.body.innerText`, &state)
			t.Fatalf("%s: %s not true within %v (last error %v); the page shows:\n%s", p.name, what, limit, err, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// devtoolsURL is the line Chromium prints once it listens for DevTools.
var devtoolsURL = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// startChromium launches a headless Chromium in its own process group and
// connects to it. The browser is killed (by its process group ID, which
// is its PID) when the test ends.
func startChromium(t *testing.T) *cdp {
	t.Helper()
	path := needTool(t, "chromium")
	cmd := exec.Command(path, "--headless=new", "--remote-debugging-port=0", "--user-data-dir="+t.TempDir(),
		"--no-sandbox", "--no-first-run", "--disable-gpu", "--disable-dev-shm-usage", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	urls := make(chan string, 1)
	go func() { // find the URL, then drain stderr so Chromium never blocks on it
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsURL.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium printed no DevTools URL in 60s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dialCDP(ctx, url)
	if err != nil {
		t.Fatalf("connecting to chromium's DevTools at %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.conn.CloseNow() })
	return c
}

// TestWatchPageInChromium opens /ui/watch on n1 and n2: a key put from
// the first page appears in the second page's feed, and its deletion from
// the second page appears in the first's.
func TestWatchPageInChromium(t *testing.T) {
	browser := startChromium(t)
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var pages []*page
	for i := 1; i <= 2; i++ {
		p, err := browser.open(ctx, fmt.Sprintf("page on n%d", i), "http://"+c.addr(i)+"/ui/watch?ns=default&prefix=ui-")
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
	}
	for _, p := range pages {
		p.waitFor(t, 30*time.Second, "the feed is live", `document.querySelector('#status[data-state="live"]') !== null`)
	}
	key := "ui-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	write := func(p *page, button, value string) {
		t.Helper()
		js := fmt.Sprintf(`(() => {
			document.getElementById('put-key').value = %q;
			document.getElementById('put-value').value = %q;
			document.getElementById(%q).click();
			return true;
		})()`, key, value, button)
		if err := p.eval(ctx, js, nil); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
	row := func(op string) string {
		return fmt.Sprintf(`document.querySelector('#events li[data-key=%q][data-op=%q]') !== null`, key, op)
	}
	write(pages[0], "put-button", "hello from page 1")
	pages[1].waitFor(t, 10*time.Second, "the put row", row("put"))
	pages[0].waitFor(t, 10*time.Second, "the put result", `document.getElementById('put-result').textContent.startsWith('Put ')`)
	pages[1].waitFor(t, 10*time.Second, "the key table row with the value",
		fmt.Sprintf(`(document.querySelector('#keys tr[data-key=%q]')?.innerText ?? '').includes('hello from page 1')`, key))
	write(pages[1], "del-button", "")
	pages[0].waitFor(t, 10*time.Second, "the delete row", row("delete"))
	if _, err := c.clientOf(3).Get(ctx, key); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("reading %s after the page deleted it: %v, want not found", key, err)
	}
}
