package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/distkv/distkv/internal/certs"
	"github.com/spf13/cobra"
)

// newCertsCmd: distkv certs init|node|client, a local CA for development
// clusters.
func (a *app) newCertsCmd() *cobra.Command {
	var dir string
	var validFor time.Duration
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create a local CA and node and client certificates (for development clusters)",
		Long: "certs init makes a CA (ca.crt, ca.key) in --dir; certs node NAME --hosts ...\n" +
			"signs node-NAME.crt/.key for a node's addresses (usable as server and as peer);\n" +
			"certs client USER signs client-USER.crt/.key. Start nodes with --tls-cert/--tls-key and\n" +
			"--peer-cert/--peer-key/--peer-ca, and clients with --cacert (and --cert/--key).\n" +
			"'distkv up --tls' does all of this itself.",
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "certs", "directory of the CA and certificates")
	cmd.PersistentFlags().DurationVar(&validFor, "valid-for", 365*24*time.Hour, "how long certificates stay valid")
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the CA",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := certs.InitCA(dir, validFor); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "CA created: %s/%s (its key %s/%s stays private)\n", dir, certs.CACert, dir, certs.CAKey)
			return nil
		},
	}
	var hosts string
	nodeCmd := &cobra.Command{
		Use:   "node NAME --hosts IP,NAME,...",
		Short: "Sign a node certificate for the hosts it serves at",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			hs := splitList(hosts)
			if len(hs) == 0 {
				return usagef("--hosts is required: the IP addresses and DNS names the node is reached at")
			}
			cert, key, err := certs.Node(dir, args[0], hs, time.Time{}, validFor)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "node certificate %s (key %s) for %s\n", cert, key, strings.Join(hs, ", "))
			return nil
		},
	}
	nodeCmd.Flags().StringVar(&hosts, "hosts", "127.0.0.1,localhost", "comma-separated IP addresses and DNS names")
	clientCmd := &cobra.Command{
		Use:   "client USER",
		Short: "Sign a client certificate whose common name is USER",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cert, key, err := certs.Client(dir, args[0], time.Time{}, validFor)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "client certificate %s (key %s)\n", cert, key)
			return nil
		},
	}
	cmd.AddCommand(initCmd, nodeCmd, clientCmd)
	return cmd
}
