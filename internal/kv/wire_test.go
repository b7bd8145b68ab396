package kv

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/distkv/distkv/internal/membership"
)

// A shape change refused by the metadata group reads the same whether the
// node that refused it was this one or one a forwarded hop away: the
// sentinel's words once, then the reason, and errors.Is still finds both
// packages' sentinels locally and kv's across the hop.
func TestRefusalsSayTheirKindOnce(t *testing.T) {
	cases := []struct {
		cause    error
		sentinel error
		reason   string
	}{
		{fmt.Errorf("%w: n4 is already a member, with peer address a:1", membership.ErrConflict), ErrConflict, "n4 is already a member, with peer address a:1"},
		{fmt.Errorf("%w: move 7", membership.ErrUnknown), ErrUnknownMember, "move 7"},
		{fmt.Errorf("%w: 5 replicas of 3 nodes", membership.ErrInvalid), ErrInvalid, "5 replicas of 3 nodes"},
		{errors.New("bad shard count"), ErrInvalid, "bad shard count"},
	}
	for _, c := range cases {
		local := metaErr(c.cause)
		want := c.sentinel.Error() + ": " + c.reason
		if local.Error() != want {
			t.Errorf("local: %q, want %q", local, want)
		}
		if !errors.Is(local, c.sentinel) || !errors.Is(local, c.cause) {
			t.Errorf("local %q lost its sentinels", local)
		}
		remote, err := decodeResponse(&request{}, encodeError(local))
		if remote != nil || err == nil {
			t.Fatalf("decode of an error: %v, %v", remote, err)
		}
		if err.Error() != want {
			t.Errorf("forwarded: %q, want %q", err, want)
		}
		if !errors.Is(err, c.sentinel) {
			t.Errorf("forwarded %q is not %v", err, c.sentinel)
		}
		if n := strings.Count(err.Error(), "kv:"); n != 1 {
			t.Errorf("forwarded %q names kv %d times", err, n)
		}
	}
}
