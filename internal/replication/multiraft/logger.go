package multiraft

import (
	"context"
	"fmt"
	"log/slog"
)

// raftLogger adapts our structured logger to etcd-io/raft's Logger. Raft's
// info lines (elections, votes) go to debug: the loop logs leader changes
// itself, once, in words people want.
type raftLogger struct{ l *slog.Logger }

func newRaftLogger(l *slog.Logger, group uint64) raftLogger {
	return raftLogger{l.With("component", "raft", "group", group)}
}

func (r raftLogger) Debug(v ...any)                 { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Info(v ...any)                  { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)  { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)               { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any)    { r.l.Warn(fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)                 { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)      { r.l.Error(fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)                 { r.fatal(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any)      { r.fatal(fmt.Sprintf(f, v...)) }
func (r raftLogger) Panic(v ...any)                 { r.fatal(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(f string, v ...any)      { r.fatal(fmt.Sprintf(f, v...)) }

func (r raftLogger) fatal(msg string) {
	r.l.Log(context.Background(), slog.LevelError+4, msg)
	panic(msg)
}
