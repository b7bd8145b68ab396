package watchhttp

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/distkv/distkv/internal/watch"
)

// maxBatch bounds how many ready events one SSE flush carries.
const maxBatch = 256

// serveSSE streams sub as Server-Sent Events: one "id: <version>",
// "event: <op>", "data: <json>" block per event, a ": ping" comment every
// Ping. It returns when the client goes away, a write times out, or the
// subscription ends (after an OpLagged event, or when the hub closes).
func (h *handler) serveSSE(w http.ResponseWriter, r *http.Request, sub *watch.Subscription, f watch.Filter) {
	rc := http.NewResponseController(w)
	// The server's write timeout is sized for requests, not streams:
	// flushSSE replaces it with a deadline per write.
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	buf.WriteString("retry: 1000\n: watching namespace " + strconv.Quote(f.NS) + watchedKeys(f) + " on node " + h.cfg.Node + "\n\n")
	if !h.flushSSE(w, rc, &buf) {
		return
	}
	ping := time.NewTicker(h.cfg.Ping)
	defer ping.Stop()
	for {
		done := false // the subscription ended: flush, then return
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			buf.WriteString(": ping\n\n")
		case ev, ok := <-sub.Events():
			done = !ok
			// Send what else is ready in the same flush.
			for n := 1; ok; n++ {
				if !h.appendSSE(&buf, ev, f.Values) {
					return
				}
				if n == maxBatch {
					break
				}
				select {
				case ev, ok = <-sub.Events():
					done = !ok
				default:
					ok = false
				}
			}
		}
		if !h.flushSSE(w, rc, &buf) || done {
			return
		}
	}
}

func (h *handler) appendSSE(buf *bytes.Buffer, ev watch.Event, values bool) bool {
	data, err := encodeEvent(ev, values)
	if err != nil {
		h.cfg.Logger.Warn("watch: encoding an event", "key", ev.Key, "err", err)
		return false
	}
	if ev.Version > 0 {
		buf.WriteString("id: " + strconv.FormatUint(ev.Version, 10) + "\n")
	}
	buf.WriteString("event: " + ev.Op + "\ndata: ")
	buf.Write(data) // JSON has no raw newlines
	buf.WriteString("\n\n")
	return true
}

// flushSSE writes and flushes buf within the write timeout, and empties it.
func (h *handler) flushSSE(w http.ResponseWriter, rc *http.ResponseController, buf *bytes.Buffer) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	_, err := w.Write(buf.Bytes())
	buf.Reset()
	if err == nil {
		err = rc.Flush()
	}
	if err != nil {
		h.cfg.Logger.Debug("watch: SSE client gone", "err", err)
		return false
	}
	return true
}

func watchedKeys(f watch.Filter) string {
	if f.Key != "" {
		return ", key " + strconv.Quote(f.Key)
	}
	return ", prefix " + strconv.Quote(f.Prefix)
}

// serveWebSocket upgrades the request and streams sub as JSON text
// messages, pinging every Ping. It closes with 1013 (try again later)
// after an OpLagged event and 1001 (going away) when the hub closes.
func (h *handler) serveWebSocket(w http.ResponseWriter, r *http.Request, sub *watch.Subscription, f watch.Filter) {
	// Accept checks the Origin (same host only) and answers errors itself.
	// The hijacked connection carries no server deadlines.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		h.cfg.Logger.Debug("watch: websocket upgrade failed", "err", err)
		return
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context()) // answers pings and closes; done when the client leaves
	ping := time.NewTicker(h.cfg.Ping)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if err := h.withTimeout(ctx, c.Ping); err != nil {
				h.cfg.Logger.Debug("watch: websocket ping failed", "err", err)
				return
			}
		case ev, ok := <-sub.Events():
			if !ok {
				_ = c.Close(websocket.StatusGoingAway, "the watch feed closed")
				return
			}
			data, err := encodeEvent(ev, f.Values)
			if err != nil {
				h.cfg.Logger.Warn("watch: encoding an event", "key", ev.Key, "err", err)
				return
			}
			err = h.withTimeout(ctx, func(ctx context.Context) error { return c.Write(ctx, websocket.MessageText, data) })
			if err != nil {
				h.cfg.Logger.Debug("watch: websocket client gone", "err", err)
				return
			}
			if ev.Op == watch.OpLagged {
				_ = c.Close(websocket.StatusTryAgainLater, "lagged: watch again with from=<last version seen>")
				return
			}
		}
	}
}

func (h *handler) withTimeout(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.WriteTimeout)
	defer cancel()
	return fn(ctx)
}
