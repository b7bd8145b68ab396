package node

import (
	"testing"

	"github.com/distkv/distkv/internal/keyspace"
)

// --default-mode and seed 001's MODE shape the default namespace: CP is
// strong, AP eventual with W=1 and R=2, CA mode ca; anything else is
// refused with a message naming the choices.
func TestDefaultMode(t *testing.T) {
	for _, tc := range []struct {
		in       string
		mode     keyspace.Mode
		all      bool
		r, w     int
		modeName string
	}{
		{"", keyspace.ModeStrong, false, 0, 0, "strong"},
		{"CP", keyspace.ModeStrong, false, 0, 0, "strong"},
		{"AP", keyspace.ModeEventual, false, 2, 1, "eventual"},
		{"CA", keyspace.ModeStrong, true, 0, 0, "ca"},
		{"ca", keyspace.ModeStrong, true, 0, 0, "ca"},
		{"causal", keyspace.ModeCausal, false, 0, 0, "causal"},
	} {
		m, err := ParseDefaultMode(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		c := &Config{DefaultMode: m, DefaultShards: 4, DefaultReplicas: keyspace.Replication{N: 3}}
		ns := c.defaultNamespace()
		if ns.Mode != tc.mode || ns.AllReplicas != tc.all || ns.R != tc.r || ns.W != tc.w || ns.ModeName() != tc.modeName {
			t.Errorf("%q: %+v", tc.in, ns)
		}
		if err := ns.Validate(); err != nil {
			t.Errorf("%q: the default namespace is invalid: %v", tc.in, err)
		}
	}
	if _, err := ParseDefaultMode("XA"); err == nil {
		t.Fatal("MODE=XA was accepted")
	}
}
