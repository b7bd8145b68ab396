package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcStopTermThenKill(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	polite, err := StartProc("polite", filepath.Join(dir, "p.log"), []string{sh, "-c", "exec sleep 60"})
	if err != nil {
		t.Fatal(err)
	}
	// An ignored signal stays ignored across exec: this one needs SIGKILL.
	stubborn, err := StartProc("stubborn", filepath.Join(dir, "s.log"), []string{sh, "-c", `trap "" TERM; echo ready; exec sleep 60`})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(stubborn.Log); strings.Contains(string(b), "ready") {
			break // the trap is set
		}
		if time.Now().After(deadline) {
			t.Fatal("the stubborn process never set its trap")
		}
	}
	if err := stopAll([]*Proc{polite, stubborn}, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Proc{polite, stubborn} {
		select {
		case <-p.Exited():
		default:
			t.Fatalf("%s still runs", p.Name)
		}
	}
	var ee *exec.ExitError
	if !errors.As(polite.ExitErr(), &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("polite ended with %v, want SIGTERM", polite.ExitErr())
	}
	if !errors.As(stubborn.ExitErr(), &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("stubborn ended with %v, want SIGKILL", stubborn.ExitErr())
	}
	if err := polite.Stop(time.Second); err != nil {
		t.Errorf("stopping a stopped process: %v", err)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	ps, err := FreePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ps)
	if len(slices.Compact(ps)) != 6 {
		t.Errorf("ports %v", ps)
	}
}

func TestInstaller(t *testing.T) {
	installed := map[string]bool{"redis-server": true}
	var ran [][]string
	in := Installer{
		LookPath: func(p string) (string, error) {
			if installed[p] {
				return "/usr/bin/" + p, nil
			}
			return "", errors.New("not found")
		},
		IsRoot: func() bool { return true },
		Run: func(_ context.Context, argv []string) error {
			ran = append(ran, argv)
			if argv[1] == "install" {
				installed["etcd"] = true
			}
			return nil
		},
	}
	paths, missing := in.Ensure(context.Background(), "redis-server")
	if paths["redis-server"] != "/usr/bin/redis-server" || len(missing) != 0 || len(ran) != 0 {
		t.Fatalf("present program: paths %v missing %v ran %v", paths, missing, ran)
	}
	paths, missing = in.Ensure(context.Background(), "etcd", "redis-server")
	want := [][]string{{"apt-get", "update"}, {"apt-get", "install", "-y", "etcd-server"}}
	if paths["etcd"] != "/usr/bin/etcd" || len(missing) != 0 || !slices.EqualFunc(ran, want, slices.Equal) {
		t.Fatalf("install as root: paths %v missing %v ran %v", paths, missing, ran)
	}

	delete(installed, "etcd")
	in.Run = func(context.Context, []string) error { return errors.New("exit status 100") }
	_, missing = in.Ensure(context.Background(), "etcd")
	if !strings.Contains(missing["etcd"], "'apt-get install -y etcd-server' failed: exit status 100") {
		t.Errorf("failed install: %q", missing["etcd"])
	}
	in.IsRoot = func() bool { return false }
	_, missing = in.Ensure(context.Background(), "etcd")
	if !strings.Contains(missing["etcd"], "needs root: run 'sudo apt-get install -y etcd-server'") {
		t.Errorf("not root: %q", missing["etcd"])
	}
}

func TestForeignCPU(t *testing.T) {
	t0 := time.Unix(100, 0)
	a := cpuSample{at: t0, busy: 1000, ours: 500, ok: true, cpus: 2}
	// 10 s on 2 CPUs is 2000 ticks; 1200 busy, 700 of them ours: 500
	// foreign, a quarter of the machine.
	b := cpuSample{at: t0.Add(10 * time.Second), busy: 2200, ours: 1200, ok: true, cpus: 2}
	if f := foreignCPU(a, b); f != 0.25 {
		t.Errorf("foreign share %v, want 0.25", f)
	}
	if f := foreignCPU(a, cpuSample{}); f != -1 {
		t.Errorf("unknown share %v, want -1", f)
	}
	if s := sampleCPU(nil); runtime.GOOS == "linux" && (!s.ok || s.busy == 0) {
		t.Errorf("sampling /proc failed: %+v", s)
	}
	if fmtShare(0.253) != "25%" || fmtShare(-1) != "?" {
		t.Error("fmtShare")
	}
}
