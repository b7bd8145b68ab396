package keyspace

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	for m := ModeStrong; m <= ModeCausal; m++ {
		for _, in := range []string{m.String(), strings.ToUpper(m.String()), " " + m.String() + "\n"} {
			if got, err := ParseMode(in); err != nil || got != m {
				t.Errorf("ParseMode(%q) = %v, %v; want %v", in, got, err, m)
			}
		}
	}
	for _, in := range []string{"", "strongest", "linearizable", "0", "1"} {
		if _, err := ParseMode(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseMode(%q) error = %v, want ErrInvalid", in, err)
		}
	}
	if s := Mode(9).String(); s != "Mode(9)" {
		t.Errorf("Mode(9).String() = %q", s)
	}
}

func TestParseConflicts(t *testing.T) {
	for in, want := range map[string]Conflicts{"lww": ConflictsLWW, "LWW": ConflictsLWW, "siblings": ConflictsSiblings} {
		if got, err := ParseConflicts(in); err != nil || got != want {
			t.Errorf("ParseConflicts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseConflicts("merge"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseConflicts(merge) error = %v, want ErrInvalid", err)
	}
}

func TestParseReplication(t *testing.T) {
	for in, want := range map[string]Replication{"3": {N: 3}, "1": {N: 1}, "all": {All: true}, "ALL": {All: true}, " 5 ": {N: 5}} {
		got, err := ParseReplication(in)
		if err != nil || got != want {
			t.Errorf("ParseReplication(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, _ := ParseReplication(got.String()); back != got {
			t.Errorf("ParseReplication(%q.String()) = %+v", got, back)
		}
	}
	for _, in := range []string{"", "0", "-1", "many", "3.5", "al"} {
		if _, err := ParseReplication(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseReplication(%q) error = %v, want ErrInvalid", in, err)
		}
	}
}

func TestReplicationCount(t *testing.T) {
	for _, tc := range []struct {
		r           Replication
		nodes, want int
	}{
		{Replication{N: 3}, 5, 3}, {Replication{N: 3}, 2, 2}, {Replication{N: 3}, 0, 0},
		{Replication{All: true}, 5, 5}, {Replication{All: true, N: 2}, 5, 5}, {Replication{N: -1}, 5, 0},
	} {
		if got := tc.r.Count(tc.nodes); got != tc.want {
			t.Errorf("%+v.Count(%d) = %d, want %d", tc.r, tc.nodes, got, tc.want)
		}
	}
}

func TestNamespaceJSONRoundTrip(t *testing.T) {
	for _, ns := range []Namespace{
		{Name: DefaultNamespace, ID: 1, Mode: ModeStrong, Replicas: Replication{N: DefaultReplicas}, Shards: DefaultShards},
		{Name: "carts", ID: 9, Mode: ModeEventual, Replicas: Replication{All: true}, Shards: 64, R: 1, W: 2, Conflicts: ConflictsSiblings},
		{Name: "s", ID: 2, Mode: ModeCausal, Replicas: Replication{N: 5}, Shards: MaxShards, Conflicts: ConflictsLWW},
	} {
		b, err := json.Marshal(ns)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", ns, err)
		}
		var back Namespace
		if err := json.Unmarshal(b, &back); err != nil || back != ns {
			t.Errorf("round trip of %s gave %+v, %v", b, back, err)
		}
	}
	b, _ := json.Marshal(Namespace{Name: "a", ID: 1, Mode: ModeStrong, Replicas: Replication{N: 3}, Shards: 16})
	if want := `{"name":"a","id":1,"mode":"strong","replicas":3,"shards":16}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	b, _ = json.Marshal(Namespace{Replicas: Replication{All: true}})
	if !strings.Contains(string(b), `"mode":"","replicas":"all"`) {
		t.Errorf("zero mode and all replicas marshal as %s", b)
	}
}

func TestReplicationUnmarshal(t *testing.T) {
	for in, want := range map[string]Replication{`3`: {N: 3}, `"3"`: {N: 3}, `"all"`: {All: true}} {
		var r Replication
		if err := json.Unmarshal([]byte(in), &r); err != nil || r != want {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", in, r, err, want)
		}
	}
	for _, in := range []string{`0`, `-2`, `3.5`, `"most"`, `true`, `[3]`} {
		var r Replication
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", in, r)
		}
	}
	var ns Namespace
	err := json.Unmarshal([]byte(`{"mode":"fast"}`), &ns)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("bad mode in JSON: error %v does not match ErrInvalid", err)
	}
	if _, err := json.Marshal(Mode(7)); err == nil {
		t.Errorf("Marshal(Mode(7)) succeeded")
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "default", "0", "a-b_c", "9lives", strings.Repeat("x", 63)} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for bad, wantIn := range map[string]string{
		"":                      "empty",
		strings.Repeat("x", 64): "64 characters",
		"_a":                    "must start",
		"-a":                    "must start",
		"Abc":                   "'A'",
		"a.b":                   "'.'",
		"a/b":                   "'/'",
		"añ":                    "'ñ'",
		"a b":                   "' '",
	} {
		err := ValidateName(bad)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), wantIn) {
			t.Errorf("ValidateName(%q) = %v, want an ErrInvalid error mentioning %q", bad, err, wantIn)
		}
	}
}

// TestValidate covers each rule; testdata/validate shows the messages
// users see for namespaces arriving as JSON.
func TestValidate(t *testing.T) {
	good := Namespace{Name: "n", Mode: ModeEventual, Replicas: Replication{N: 3}, Shards: 8}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", good, err)
	}
	for _, tc := range []struct {
		edit   func(*Namespace)
		wantIn string
	}{
		{func(ns *Namespace) { ns.Name = "N" }, "namespace name"},
		{func(ns *Namespace) { ns.Mode = 0 }, "mode is missing"},
		{func(ns *Namespace) { ns.Mode = 4 }, "mode must be"},
		{func(ns *Namespace) { ns.Shards = 0 }, "shards must be between 1 and 1024"},
		{func(ns *Namespace) { ns.Shards = MaxShards + 1 }, "shards"},
		{func(ns *Namespace) { ns.Replicas = Replication{} }, "replicas is missing"},
		{func(ns *Namespace) { ns.Replicas = Replication{N: -1} }, "replicas must be at least 1"},
		{func(ns *Namespace) { ns.R = -1 }, "r must not be negative"},
		{func(ns *Namespace) { ns.W = 4 }, "w must not exceed replicas (3)"},
		{func(ns *Namespace) { ns.Mode, ns.R = ModeStrong, 2 }, "r applies only"},
		{func(ns *Namespace) { ns.Mode, ns.Conflicts = ModeStrong, ConflictsLWW }, "conflicts applies only"},
		{func(ns *Namespace) { ns.Conflicts = 3 }, "conflicts must be"},
	} {
		ns := good
		tc.edit(&ns)
		err := ns.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantIn) {
			t.Errorf("Validate(%+v) = %v, want an ErrInvalid error containing %q", ns, err, tc.wantIn)
		}
	}
	all := good
	all.Replicas, all.R, all.W = Replication{All: true}, 7, 7
	if err := all.Validate(); err != nil {
		t.Errorf("r and w are unbounded with replicas=all, but Validate(%+v) = %v", all, err)
	}
}
