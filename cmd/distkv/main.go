// Command distkv is the distkv binary: the server, the client command line
// and the local-cluster launcher (run `distkv --help`).
package main

import (
	"os"

	"github.com/distkv/distkv/internal/cli"
)

func main() {
	os.Exit(cli.Execute())
}
