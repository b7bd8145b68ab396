package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/distkv/distkv/client"
)

// maxShellLine bounds a line read by a scripted shell (values are at most
// 1 MiB on the server).
const maxShellLine = 4 << 20

const shellHelp = `Commands (case-insensitive; quote values with spaces: "hello world"):
  SET key value     create key (fails if it exists)
  UPD key value     update key (fails if it does not exist)
  PUT key value     create or replace key
  GET key           print key's value
  DEL key           delete key
  SCAN [prefix]     list keys and values starting with prefix
  STATUS            one-line cluster summary (distkv status for tables)
  USE namespace     switch namespace
  BEGIN [ttl]       open a transaction: PUT, GET and DEL then run inside it
  PREPARE           lock its keys on every shard and check its reads
  COMMIT            commit it (preparing first if need be)
  ROLLBACK          roll it back
  HELP              this text
  EXIT, QUIT        leave (Ctrl-D too)`

func (a *app) newShellCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "shell",
		Short: "Interactive prompt: SET, UPD, PUT, GET, DEL, SCAN, STATUS, USE, BEGIN/COMMIT, HELP",
		Long: "An interactive prompt with history and line editing when stdin is a terminal;\n" +
			"otherwise it reads commands line by line, so it can be scripted:\n" +
			"  printf 'SET a 1\\nGET a\\n' | distkv shell\n\n" + shellHelp,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			sh := &shell{a: a, c: c}
			if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) && isTerminal(a.stdout) {
				return sh.interactive(cmd.Context(), f)
			}
			return sh.script(cmd.Context(), a.stdin, a.stdout)
		},
	}
}

// shell runs shell commands against one client; USE rebinds it.
type shell struct {
	a *app
	c *client.Client
	// tx is the open transaction (BEGIN), if any.
	tx *client.Tx
}

// script runs every line of r, writing replies to w, until EOF or EXIT.
func (sh *shell) script(ctx context.Context, r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxShellLine)
	for sc.Scan() {
		if sh.exec(ctx, sc.Text(), w) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading commands: %w", err)
	}
	return nil
}

// interactive runs a prompt with line editing and history on the terminal
// f, in raw mode until it returns.
func (sh *shell) interactive(ctx context.Context, f *os.File) error {
	fd := int(f.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return sh.script(ctx, f, sh.a.stdout)
	}
	defer term.Restore(fd, old)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{f, sh.a.stdout}, sh.prompt())
	if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
		t.SetSize(w, h)
	}
	fmt.Fprintf(t, "distkv shell on %s. HELP lists commands; EXIT or Ctrl-D leaves.\n",
		strings.Join(sh.c.Endpoints(), ", "))
	for {
		line, err := t.ReadLine()
		if errors.Is(err, io.EOF) {
			io.WriteString(t, "\n") // leave the prompt's line
			return nil
		}
		if err != nil && !errors.Is(err, term.ErrPasteIndicator) {
			return err
		}
		if sh.exec(ctx, line, t) {
			return nil
		}
		t.SetPrompt(sh.prompt())
	}
}

func (sh *shell) prompt() string {
	p := "distkv"
	if ns := sh.c.NamespaceName(); ns != client.DefaultNamespace {
		p += ":" + ns
	}
	if sh.tx != nil {
		p += "(txn)"
	}
	return p + "> "
}

// exec runs one line and writes its reply to w; it reports whether the
// shell should end.
func (sh *shell) exec(ctx context.Context, line string, w io.Writer) (quit bool) {
	words, err := splitWords(line)
	if err != nil {
		fmt.Fprintf(w, "ERR usage: %v\n", err)
		return false
	}
	if len(words) == 0 || strings.HasPrefix(words[0], "#") {
		return false
	}
	ctx, cancel := sh.a.opCtx(ctx)
	defer cancel()
	name, args := strings.ToUpper(words[0]), words[1:]
	switch name {
	case "EXIT", "QUIT":
		return true
	case "HELP", "?":
		fmt.Fprintln(w, shellHelp)
	case "BEGIN", "PREPARE", "COMMIT", "ROLLBACK":
		sh.txnStep(ctx, w, name, args)
	case "SET", "UPD", "SCAN", "USE":
		if sh.tx != nil {
			fmt.Fprintf(w, "ERR usage: %s does not run inside a transaction (PUT, GET, DEL do; COMMIT or ROLLBACK first)\n", name)
			return false
		}
		switch name {
		case "SET":
			sh.write(ctx, w, name, args, client.CreateOnly())
		case "UPD":
			sh.write(ctx, w, name, args, client.UpdateOnly())
		case "SCAN":
			sh.scan(ctx, w, args)
		case "USE":
			sh.use(ctx, w, args)
		}
	case "PUT":
		sh.write(ctx, w, name, args)
	case "GET":
		sh.get(ctx, w, args)
	case "DEL":
		sh.del(ctx, w, args)
	case "STATUS":
		sh.status(ctx, w, args)
	default:
		fmt.Fprintf(w, "ERR usage: unknown command %q (HELP lists them)\n", words[0])
	}
	return false
}
