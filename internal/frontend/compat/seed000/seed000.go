// Package seed000 serves seed 000's raw TCP line protocol over the kv
// service: one command per line (SET, UPD, GET, DEL), one reply line each,
// in the seed's words, so its client and scenarios run unchanged.
package seed000

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/distkv/distkv/internal/kv"
)

// Bounds: the longest line read, the connections served at once, how long
// a connection may stay idle, and how long one command may take.
const (
	MaxLine        = 1<<20 + 4<<10
	MaxConns       = 1024
	IdleTimeout    = 10 * time.Minute
	CommandTimeout = 10 * time.Second
)

// KV is the part of the kv service the protocol uses (*kv.Service).
type KV interface {
	Get(ctx context.Context, ns string, key []byte, opts kv.ReadOptions) (kv.Entry, error)
	Put(ctx context.Context, ns string, key, value []byte, opts kv.WriteOptions) (kv.WriteResult, error)
	Delete(ctx context.Context, ns string, key []byte, opts kv.WriteOptions) (kv.WriteResult, error)
}

// Server is a listener speaking the protocol.
type Server struct {
	kv    KV
	ln    net.Listener
	log   *slog.Logger
	slots chan struct{}
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

// Listen starts listening on addr.
func Listen(addr string, store KV, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Serve(ln, store, log)
}

// Serve makes a Server of a listener (a TLS one, say); it owns ln.
func Serve(ln net.Listener, store KV, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{kv: store, ln: ln, log: log, slots: make(chan struct{}, MaxConns), conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until Close.
func (s *Server) Serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			done := s.done
			s.mu.Unlock()
			if done {
				return nil
			}
			return err
		}
		select {
		case s.slots <- struct{}{}:
		default:
			fmt.Fprintf(c, "ERROR: Too many connections (%d); try again later.\n", MaxConns)
			c.Close()
			continue
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go s.serve(c)
	}
}

// Close stops the listener and every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	s.done = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	return s.ln.Close()
}

func (s *Server) serve(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		<-s.slots
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), MaxLine)
	w := bufio.NewWriter(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(IdleTimeout))
		if !sc.Scan() {
			if errors.Is(sc.Err(), bufio.ErrTooLong) {
				fmt.Fprintf(w, "ERROR: Line longer than %d bytes.\n", MaxLine)
				w.Flush()
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
		reply := s.Exec(ctx, sc.Text())
		cancel()
		_ = c.SetWriteDeadline(time.Now().Add(CommandTimeout))
		w.WriteString(reply)
		w.WriteByte('\n')
		if err := w.Flush(); err != nil {
			return
		}
	}
}

// Exec runs one command line and returns its reply (without the newline).
func (s *Server) Exec(ctx context.Context, line string) string {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "ERROR: Invalid or empty command."
	}
	cmd, args := strings.ToUpper(fields[0]), fields[1:]
	switch {
	case (cmd == "SET" || cmd == "UPD") && len(args) >= 2:
		key, value := args[0], strings.Join(args[1:], " ")
		cond, verb := kv.IfAbsent, "set"
		if cmd == "UPD" {
			cond, verb = kv.IfPresent, "updated"
		}
		_, err := s.kv.Put(ctx, "", []byte(key), []byte(value), kv.WriteOptions{Condition: cond})
		switch {
		case err == nil:
			return fmt.Sprintf("Success: Key %q has been %s with value %q.", key, verb, value)
		case errors.Is(err, kv.ErrExists):
			return fmt.Sprintf("ERROR: Key %q already exists, It must be unique.", key)
		case errors.Is(err, kv.ErrNotFound):
			return fmt.Sprintf("ERROR: Key %q does not exist, It must be set first.", key)
		}
		return failure(err)
	case cmd == "GET" && len(args) == 1:
		e, err := s.kv.Get(ctx, "", []byte(args[0]), kv.ReadOptions{})
		switch {
		case err == nil:
			return fmt.Sprintf("Success: Key %q has value %q.", args[0], e.Value)
		case errors.Is(err, kv.ErrNotFound):
			return fmt.Sprintf("ERROR: Key %q does not exist.", args[0])
		}
		return failure(err)
	case cmd == "DEL" && len(args) == 1:
		_, err := s.kv.Delete(ctx, "", []byte(args[0]), kv.WriteOptions{})
		switch {
		case err == nil:
			return fmt.Sprintf("Success: Key %q has been deleted.", args[0])
		case errors.Is(err, kv.ErrNotFound):
			return fmt.Sprintf("ERROR: Key %q does not exist.", args[0])
		}
		return failure(err)
	}
	return "ERROR: Invalid or empty command."
}

// failure words an error the seed never had (the cluster could not take
// the command) in its style.
func failure(err error) string {
	msg := strings.TrimPrefix(err.Error(), "kv: ")
	if errors.Is(err, kv.ErrUnknownOutcome) {
		return "ERROR: The command may or may not have been applied: " + msg
	}
	return "ERROR: " + msg
}
