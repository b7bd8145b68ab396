package api

import "time"

// WatchEvent is one event of GET /v1/watch: a JSON object per WebSocket
// message or SSE data line.
type WatchEvent struct {
	NS      string `json:"ns"`
	Key     string `json:"key"`
	Op      string `json:"op"` // put, delete, or a stream notice such as lagged
	Version uint64 `json:"version,omitempty"`
	// Value is a put's value when the watch asked for values: as is if it
	// is UTF-8, else base64 with Encoding "base64" (EncodeValue).
	Value    *string   `json:"value,omitempty"`
	Encoding string    `json:"encoding,omitempty"`
	Node     string    `json:"node"`
	Time     time.Time `json:"time"`
	Shard    int       `json:"shard"`
}
