package watchhttp

import (
	"encoding/json"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/internal/watch"
)

func encodeEvent(ev watch.Event, values bool) ([]byte, error) {
	we := api.WatchEvent{NS: ev.NS, Key: ev.Key, Op: ev.Op, Version: ev.Version, Node: ev.Node, Time: ev.Time, Shard: ev.Shard}
	if values && ev.Op == watch.OpPut {
		v, enc := api.EncodeValue(ev.Value)
		we.Value, we.Encoding = &v, enc
	}
	return json.Marshal(we)
}
