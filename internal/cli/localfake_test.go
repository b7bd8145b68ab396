package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// stubbornNodeEnv makes a fake node (see fakeNodeEnv) ignore SIGTERM, as a
// node stuck in shutdown would: only SIGKILL stops it.
const stubbornNodeEnv = "DISTKV_CLI_TEST_STUBBORN_NODE"

// init extends the fake node of TestMain (which runs after every init)
// for the tests of local clusters: a fake node started by 'distkv node
// add' gets --join, which it accepts and ignores, and a stubborn one
// ignores SIGTERM.
func init() {
	if os.Getenv(fakeNodeEnv) != "1" || len(os.Args) < 2 || os.Args[1] != "server" {
		return
	}
	if os.Getenv(stubbornNodeEnv) == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	args := os.Args[2:]
	for i := 0; i < len(args); i++ {
		if args[i] == "--join" && i+1 < len(args) {
			os.Exit(runFakeNode(append(args[:i:i], args[i+2:]...)))
		}
	}
}
