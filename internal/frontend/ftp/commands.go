package ftp

import (
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"

	ftpserver "goftp.io/server/v2"
)

// Keys of what a command leaves in the session for the next one.
const (
	restKey = "distkv.rest" // REST offset (int64) for RETR or STOR
	rnfrKey = "distkv.rnfr" // RNFR path (string) for RNTO
)

// command is one of this server's FTP commands.
type command struct {
	param  bool // a parameter is required
	extend bool // listed in FEAT
	run    func(sess *ftpserver.Session, param string)
}

func (c command) IsExtend() bool                                { return c.extend }
func (c command) RequireParam() bool                            { return c.param }
func (c command) RequireAuth() bool                             { return true }
func (c command) Execute(sess *ftpserver.Session, param string) { c.run(sess, param) }

// oneShot wraps a command so that an RNFR path applies only to the command
// right after it, as RFC 959 says, and a REST offset only to the next
// transfer: clients differ on whether they open the data connection before
// or after REST, so those commands and TYPE leave it.
type oneShot struct {
	ftpserver.Command
	name string
}

// keepsRest lists the commands that may come between REST and its transfer.
var keepsRest = map[string]bool{"REST": true, "PASV": true, "EPSV": true, "PORT": true, "EPRT": true,
	"LPRT": true, "TYPE": true}

func (o oneShot) Execute(sess *ftpserver.Session, param string) {
	o.Command.Execute(sess, param)
	if !keepsRest[o.name] {
		delete(sess.Data, restKey)
	}
	if o.name != "RNFR" {
		delete(sess.Data, rnfrKey)
	}
}

// commands returns goftp's command set with transfers and every command
// that changes the tree replaced by this server's, whose replies tell the
// causes apart. Listings, CWD and PWD stay goftp's, driven by the driver.
func (s *Server) commands() map[string]ftpserver.Command {
	cmds := maps.Clone(ftpserver.DefaultCommands())
	own := map[string]command{
		"RETR": {param: true, run: s.retr},
		"STOR": {param: true, run: func(sess *ftpserver.Session, p string) { s.stor(sess, p, false) }},
		"APPE": {param: true, run: func(sess *ftpserver.Session, p string) { s.stor(sess, p, true) }},
		"REST": {param: true, run: s.rest},
		"DELE": {param: true, run: s.dele},
		"MKD":  {param: true, run: s.mkd},
		"XMKD": {param: true, run: s.mkd},
		"RMD":  {param: true, run: s.rmd},
		"XRMD": {param: true, run: s.rmd},
		"RNFR": {param: true, run: s.rnfr},
		"RNTO": {param: true, run: s.rnto},
		"SIZE": {param: true, extend: true, run: s.size},
		"MDTM": {param: true, extend: true, run: s.mdtm},
	}
	for name, c := range own {
		cmds[name] = c
	}
	for name, c := range cmds {
		cmds[name] = oneShot{Command: c, name: name}
	}
	return cmds
}

// resolve turns a command's parameter into a cleaned path.
func resolve(sess *ftpserver.Session, param string) (string, error) {
	return cleanPath(sess.BuildPath(param))
}

func fail(sess *ftpserver.Session, err error) {
	code, text := reply(err)
	sess.WriteMessage(code, text)
}

// takeRest returns the REST offset given just before, or 0.
func takeRest(sess *ftpserver.Session) int64 {
	off, _ := sess.Data[restKey].(int64)
	return off
}

func (s *Server) rest(sess *ftpserver.Session, param string) {
	off, err := strconv.ParseInt(param, 10, 64)
	if err != nil || off < 0 {
		sess.WriteMessage(501, "REST needs a byte offset")
		return
	}
	sess.Data[restKey] = off
	sess.WriteMessage(350, fmt.Sprintf("Restarting at %d; send RETR or STOR", off))
}

// dataConn returns the session's data connection, or errNoDataConn.
func dataConn(sess *ftpserver.Session) (ftpserver.DataSocket, error) {
	if dc := sess.DataConn(); dc != nil {
		return dc, nil
	}
	return nil, errNoDataConn
}

// discard closes a data connection no transfer will use. A passive one
// blocks Close until the client connects or goftp's accept deadline passes,
// so that happens off the control connection's goroutine.
func discard(dc ftpserver.DataSocket) {
	if dc != nil {
		go dc.Close()
	}
}

func (s *Server) retr(sess *ftpserver.Session, param string) {
	var (
		p string
		r *fileReader
		n int64
	)
	dc, err := dataConn(sess)
	if err == nil {
		p, err = resolve(sess, param)
	}
	if err == nil {
		r, n, err = s.fs.open(p, takeRest(sess))
	}
	if err != nil {
		discard(dc)
		fail(sess, err)
		return
	}
	sess.WriteMessage(150, fmt.Sprintf("Sending %s (%d bytes)", p, n))
	sent, err := io.Copy(dc, r)
	dc.Close()
	if err != nil && !r.failed() {
		err = fmt.Errorf("%w: %v", errTransfer, err)
	}
	if err != nil {
		fail(sess, err)
		return
	}
	sess.WriteMessage(226, fmt.Sprintf("Transfer complete, sent %d bytes", sent))
}

// stor serves STOR (after REST, keeping that much of the old content) and
// APPE.
func (s *Server) stor(sess *ftpserver.Session, param string, appendMode bool) {
	keep := takeRest(sess)
	if appendMode {
		keep = keepAll
	}
	var (
		p string
		u *upload
	)
	dc, err := dataConn(sess)
	if err == nil {
		p, err = resolve(sess, param)
	}
	if err == nil {
		u, err = s.fs.beginUpload(p, keep)
	}
	if err != nil {
		discard(dc)
		fail(sess, err)
		return
	}
	sess.WriteMessage(150, "Ready to receive "+p)
	n, err := u.copyFrom(dc)
	// Closing before the reply makes a client still sending past the size
	// limit fail at once instead of filling the socket buffers.
	dc.Close()
	if err == nil {
		err = u.commit()
	}
	if err != nil {
		u.abort()
		fail(sess, err)
		return
	}
	sess.WriteMessage(226, fmt.Sprintf("Transfer complete, received %d bytes", n))
}

// simple runs op on the parameter's path and replies code with text.
func simple(sess *ftpserver.Session, param string, op func(p string) error, code int, text func(p string) string) {
	p, err := resolve(sess, param)
	if err == nil {
		err = op(p)
	}
	if err != nil {
		fail(sess, err)
		return
	}
	sess.WriteMessage(code, text(p))
}

func (s *Server) dele(sess *ftpserver.Session, param string) {
	simple(sess, param, s.fs.remove, 250, func(p string) string { return p + " deleted" })
}

func (s *Server) mkd(sess *ftpserver.Session, param string) {
	simple(sess, param, s.fs.mkdir, 257, func(p string) string { return quotePath(p) + " created" })
}

// quotePath quotes a path as RFC 959 asks in a 257 reply: embedded quotes
// are doubled.
func quotePath(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

func (s *Server) rmd(sess *ftpserver.Session, param string) {
	simple(sess, param, s.fs.rmdir, 250, func(p string) string { return p + " removed" })
}

func (s *Server) rnfr(sess *ftpserver.Session, param string) {
	simple(sess, param, func(p string) error {
		fi, err := s.fs.stat(p)
		if err == nil && fi.dir {
			err = pathErr(p, errDirRename)
		}
		if err == nil {
			sess.Data[rnfrKey] = p
		}
		return err
	}, 350, func(p string) string { return p + " found; send RNTO" })
}

func (s *Server) rnto(sess *ftpserver.Session, param string) {
	from, ok := sess.Data[rnfrKey].(string)
	if !ok {
		fail(sess, errNoRNFR)
		return
	}
	simple(sess, param, func(to string) error { return s.fs.rename(from, to) },
		250, func(to string) string { return from + " renamed to " + to })
}

// fileStat describes the file p, refusing directories as SIZE and MDTM do.
func (s *Server) fileStat(p string) (*fileInfo, error) {
	fi, err := s.fs.stat(p)
	if err == nil && fi.dir {
		err = pathErr(p, errIsDir)
	}
	return fi, err
}

func (s *Server) size(sess *ftpserver.Session, param string) {
	var fi *fileInfo
	simple(sess, param, func(p string) (err error) { fi, err = s.fileStat(p); return err },
		213, func(string) string { return strconv.FormatInt(fi.size, 10) })
}

func (s *Server) mdtm(sess *ftpserver.Session, param string) {
	var fi *fileInfo
	simple(sess, param, func(p string) (err error) { fi, err = s.fileStat(p); return err },
		213, func(string) string { return fi.mtime.UTC().Format("20060102150405") })
}
