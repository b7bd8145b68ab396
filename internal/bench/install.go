package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Peer programs and the Debian packages that ship them.
var peerPackages = map[string]string{
	"etcd":         "etcd-server",
	"redis-server": "redis-server",
}

// Installer finds the peers' binaries and installs the missing ones with
// apt. Its zero fields take the real machine's behaviour; tests replace
// them.
type Installer struct {
	// Say reports what the installer does (nil: nothing is reported).
	Say func(format string, args ...any)
	// LookPath finds a program (nil: exec.LookPath, then /usr/bin and
	// /usr/sbin).
	LookPath func(string) (string, error)
	// IsRoot reports whether this process may install packages (nil: the
	// effective user ID is 0).
	IsRoot func() bool
	// Run runs an install command (nil: run it, output to Say).
	Run func(ctx context.Context, argv []string) error
}

// Ensure returns the path of each program in progs (keys of
// peerPackages). Missing ones are installed with `apt-get update` and
// `apt-get install -y PACKAGES`, which needs root; without root, or if
// the install fails, the program's entry in missing says why and what to
// run, and the caller skips what needs it.
func (in Installer) Ensure(ctx context.Context, progs ...string) (paths, missing map[string]string) {
	paths, missing = map[string]string{}, map[string]string{}
	var pkgs []string
	for _, p := range progs {
		if path, err := in.lookPath(p); err == nil {
			paths[p] = path
		} else {
			pkgs = append(pkgs, peerPackages[p])
		}
	}
	if len(pkgs) == 0 {
		return paths, missing
	}
	cmd := "apt-get install -y " + strings.Join(pkgs, " ")
	var why string
	if !in.isRoot() {
		why = fmt.Sprintf("not installed, and installing it needs root: run 'sudo %s' and try again", cmd)
	} else {
		in.say("installing %s with apt (%s)", strings.Join(pkgs, " and "), cmd)
		err := in.run(ctx, []string{"apt-get", "update"})
		if err == nil {
			err = in.run(ctx, append([]string{"apt-get", "install", "-y"}, pkgs...))
		}
		if err != nil {
			why = fmt.Sprintf("not installed, and '%s' failed: %v", cmd, err)
		}
	}
	for _, p := range progs {
		if _, ok := paths[p]; ok {
			continue
		}
		if path, err := in.lookPath(p); why == "" && err == nil {
			paths[p] = path
		} else if why != "" {
			missing[p] = p + " is " + why
		} else {
			missing[p] = fmt.Sprintf("%s is still missing after '%s'", p, cmd)
		}
	}
	return paths, missing
}

func (in Installer) say(format string, args ...any) {
	if in.Say != nil {
		in.Say(format, args...)
	}
}

func (in Installer) lookPath(p string) (string, error) {
	if in.LookPath != nil {
		return in.LookPath(p)
	}
	if path, err := exec.LookPath(p); err == nil {
		return path, nil
	}
	for _, dir := range []string{"/usr/bin/", "/usr/sbin/"} {
		if fi, err := os.Stat(dir + p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return dir + p, nil
		}
	}
	return "", errors.New(p + " not found")
}

func (in Installer) isRoot() bool {
	if in.IsRoot != nil {
		return in.IsRoot()
	}
	return os.Geteuid() == 0
}

func (in Installer) run(ctx context.Context, argv []string) error {
	if in.Run != nil {
		return in.Run(ctx, argv)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(tail, '\n'); i >= 0 {
			tail = tail[i+1:]
		}
		return fmt.Errorf("%w: %s", err, tail)
	}
	return nil
}
