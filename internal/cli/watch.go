package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

// watchIdle is how long a watch stream may stay silent before the command
// gives up on it: nodes send a keepalive comment every 15s.
const watchIdle = time.Minute

// maxWatchLine bounds one line of the event stream (a 1 MiB value in
// base64 in JSON, with room to spare).
const maxWatchLine = 16 << 20

type watchOptions struct {
	prefix string
	key    string // a single key; prefix is then unused
	from   uint64 // 0: live events only
	values bool
}

// query is the watch request's query string for namespace ns.
func (o watchOptions) query(ns string) string {
	q := url.Values{"sse": {"1"}, api.QueryNamespace: {ns}}
	if o.key != "" {
		q.Set("key", o.key)
	} else {
		q.Set(api.QueryPrefix, o.prefix)
	}
	if o.from > 0 {
		q.Set("from", strconv.FormatUint(o.from, 10))
	}
	if o.values {
		q.Set(api.QueryValues, "true")
	}
	return q.Encode()
}

func (a *app) newWatchCmd() *cobra.Command {
	var o watchOptions
	cmd := &cobra.Command{
		Use:   "watch [PREFIX]",
		Short: "Print changes to the keys starting with PREFIX as they are applied",
		Long: "Follow a node's watch feed (GET /v1/watch as Server-Sent Events) and print one\n" +
			"line per applied write: VERSION OP KEY[=VALUE] (NODE), or the events as JSON\n" +
			"lines with --json. Without PREFIX every key of the namespace is watched;\n" +
			"--exact KEY watches one key. The first endpoint that answers is used.\n\n" +
			"--from V first replays the writes after version V that the node still\n" +
			"retains (versions count per shard: for a prefix, events already seen may\n" +
			"come again); a node that no longer has them refuses (exit 1).\n\n" +
			"Ctrl-C stops (exit 0). If the node drops the watcher for falling behind, or\n" +
			"the stream ends (the node stopped), a line says which --from resumes, exit 5.",
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) > 1:
				return usagef("watch takes at most one PREFIX, got %d arguments", len(args))
			case len(args) == 1 && cmd.Flags().Changed("exact"):
				return usagef("watch takes PREFIX or --exact, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.prefix = args[0]
			}
			if cmd.Flags().Changed("exact") && o.key == "" {
				return usagef("--exact must not be empty")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err := a.watch(ctx, o)
			if ctx.Err() != nil { // Ctrl-C, or the caller's cancel: a normal stop
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.key, "exact", "", "watch this one key instead of a prefix (--key is the TLS client key)")
	f.Uint64Var(&o.from, "from", 0, "first replay the retained writes after this version")
	f.BoolVar(&o.values, "values", false, "print the values of puts")
	return cmd
}

// watch connects and prints events until ctx ends or the stream does.
func (a *app) watch(ctx context.Context, o watchOptions) error {
	c, err := a.client() // validates --endpoints and --timeout
	if err != nil {
		return err
	}
	tc, err := a.tlsConfig()
	if err != nil {
		return err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: a.timeout}).DialContext,
		ResponseHeaderTimeout: a.timeout,
		TLSClientConfig:       tc,
	}
	defer tr.CloseIdleConnections()
	res, err := connectWatch(ctx, &http.Client{Transport: tr}, c.Endpoints(), o.query(a.ns))
	if err != nil {
		return &opError{op: "watch", ns: a.ns, err: err}
	}
	defer res.Body.Close()
	node := res.Header.Get(api.HeaderNode)
	what := fmt.Sprintf("prefix %q", o.prefix)
	if o.key != "" {
		what = fmt.Sprintf("key %q", o.key)
	}
	fmt.Fprintf(a.stderr, "watching %s in namespace %q on %s (Ctrl-C stops)\n", what, a.ns, orDash(node))
	p := &eventPrinter{w: a.stdout, json: a.json, values: o.values, from: o.from, last: map[int]uint64{}}
	err = readSSE(ctx, res.Body, watchIdle, p.print)
	if ctx.Err() != nil {
		return nil
	}
	return &opError{op: "watch", ns: a.ns, err: p.ended(err, node)}
}

// connectWatch opens the event stream on the first endpoint that answers:
// an endpoint that cannot be reached, does not answer in time or
// answers 503 is skipped. Any other error response ends the attempt. hc
// must bound connecting and the wait for the response's header.
func connectWatch(ctx context.Context, hc *http.Client, endpoints []string, query string) (*http.Response, error) {
	var last error
	for _, ep := range endpoints {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/v1/watch?"+query, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "text/event-stream")
		res, err := hc.Do(req)
		switch {
		case err != nil:
			last = err
			continue
		case res.StatusCode == http.StatusOK:
			return res, nil
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		e := watchHTTPError(res, body)
		if res.StatusCode != http.StatusServiceUnavailable {
			return nil, e
		}
		last = e
	}
	if ce := (*client.Error)(nil); errors.As(last, &ce) {
		return nil, ce
	}
	return nil, &client.NoEndpointError{Tried: endpoints, Err: last}
}

// watchHTTPError turns an error response into the client's error type.
func watchHTTPError(res *http.Response, body []byte) *client.Error {
	e := &client.Error{Status: res.StatusCode, Node: res.Header.Get(api.HeaderNode)}
	var eb api.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}

// readSSE calls fn with the event name and data of every event of an
// event stream, until the stream ends (nil), fn fails, ctx ends, or
// nothing at all arrives for idle.
func readSSE(ctx context.Context, body io.ReadCloser, idle time.Duration, fn func(event, data string) error) error {
	lines := make(chan string)
	done := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, maxWatchLine)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-stop:
				return
			}
		}
		done <- sc.Err()
	}()
	defer body.Close() // unblocks the reader when we return first
	timer := time.NewTimer(idle)
	defer timer.Stop()
	var event string
	var data []string
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-done:
			return err
		case <-timer.C:
			return fmt.Errorf("nothing received for %v (nodes send a keepalive every 15s)", idle)
		case line := <-lines:
			timer.Reset(idle)
			switch name, value, _ := strings.Cut(line, ":"); {
			case line == "":
				if len(data) > 0 {
					if err := fn(event, strings.Join(data, "\n")); err != nil {
						return err
					}
				}
				event, data = "", nil
			case name == "event":
				event = strings.TrimPrefix(value, " ")
			case name == "data":
				data = append(data, strings.TrimPrefix(value, " "))
			}
		}
	}
}

// errLagged is the end of a stream whose watcher fell behind.
var errLagged = errors.New("lagged")

// eventPrinter prints events and remembers, per shard, the last version
// printed, to say where to resume.
type eventPrinter struct {
	w      io.Writer
	json   bool
	values bool
	from   uint64
	last   map[int]uint64 // shard -> last version printed
}

func (p *eventPrinter) print(_, data string) error {
	var ev api.WatchEvent
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		return fmt.Errorf("a malformed event from the node: %v", err)
	}
	if ev.Op == "lagged" {
		return errLagged
	}
	if ev.Version > p.last[ev.Shard] {
		p.last[ev.Shard] = ev.Version
	}
	if p.json {
		_, err := fmt.Fprintln(p.w, data)
		return err
	}
	line := fmt.Sprintf("%d %s %s", ev.Version, ev.Op, display([]byte(ev.Key)))
	if p.values && ev.Value != nil {
		v, err := api.DecodeValue(*ev.Value, ev.Encoding)
		if err != nil {
			return fmt.Errorf("a malformed value of key %q: %v", ev.Key, err)
		}
		line += "=" + display(v)
	}
	_, err := fmt.Fprintf(p.w, "%s (%s)\n", line, ev.Node)
	return err
}

// resumeFrom is the --from that resumes without missing an event: the
// smallest last version printed of any shard (see package watch).
func (p *eventPrinter) resumeFrom() uint64 {
	if len(p.last) == 0 {
		return p.from
	}
	return slices.Min(slices.Collect(maps.Values(p.last)))
}

// ended words why a stream stopped, as an error the exit code classifies.
func (p *eventPrinter) ended(err error, node string) error {
	resume := "watch again"
	if from := p.resumeFrom(); from > 0 {
		resume = fmt.Sprintf("resume with --from %d", from)
	}
	var msg string
	switch {
	case errors.Is(err, errLagged):
		msg = "this watcher fell behind and the node dropped it; " + resume
	case err == nil:
		msg = "the node ended the stream (it may be shutting down); " + resume
	default:
		msg = fmt.Sprintf("the stream broke: %v; %s", err, resume)
	}
	return &client.Error{Code: api.CodeUnavailable, Message: msg, Node: node}
}
