package watchhttp

import (
	"encoding/json"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/watch"
)

// wireEvent is an event as the feed sends it, one JSON object per
// WebSocket message or SSE data line.
type wireEvent struct {
	NS      string `json:"ns"`
	Key     string `json:"key"`
	Op      string `json:"op"`
	Version uint64 `json:"version,omitempty"`
	// Value is a put's value when the watch asked for values: as is if it
	// is UTF-8, else base64 with Encoding "base64" (api.EncodeValue).
	Value    *string   `json:"value,omitempty"`
	Encoding string    `json:"encoding,omitempty"`
	Node     string    `json:"node"`
	Time     time.Time `json:"time"`
	Shard    int       `json:"shard"`
}

func encodeEvent(ev watch.Event, values bool) ([]byte, error) {
	we := wireEvent{NS: ev.NS, Key: ev.Key, Op: ev.Op, Version: ev.Version, Node: ev.Node, Time: ev.Time, Shard: ev.Shard}
	if values && ev.Op == watch.OpPut {
		v, enc := api.EncodeValue(ev.Value)
		we.Value, we.Encoding = &v, enc
	}
	return json.Marshal(we)
}
