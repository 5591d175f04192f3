package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/envfile"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// writeEnv prints vars once: as sh export lines (--output env) or as .env
// lines (--output dotenv).
func writeEnv(w io.Writer, format string, vars []catalog.EnvVar) error {
	var b strings.Builder
	for _, v := range vars {
		if format == "env" {
			fmt.Fprintf(&b, "export %s=%s\n", v.Key, shQuote(v.Value))
			continue
		}
		line, err := envfile.Line(envfile.Var{Key: v.Key, Value: v.Value})
		if err != nil {
			return err
		}
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shQuote quotes s for sh: in single quotes, each ' as '\”.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// envFileWriter keeps fwd's block of a .env file (--env-file) in step
// with the forwards, and removes it when fwd stops.
type envFileWriter struct {
	file   *envfile.File
	owner  envfile.Owner
	client *forward.Client
	log    *slog.Logger
	kick   chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	warned map[string]bool
}

func newEnvFileWriter(path string, client *forward.Client, log *slog.Logger) *envFileWriter {
	return &envFileWriter{file: envfile.New(path), owner: envfile.CurrentOwner(), client: client, log: log,
		kick: make(chan struct{}, 1), done: make(chan struct{}), warned: map[string]bool{}}
}

// write puts the current variables in the file now.
func (e *envFileWriter) write() error {
	vars, err := e.client.Env()
	if err != nil {
		e.log.Warn("some connection details could not be made", "err", err)
	}
	out := make([]envfile.Var, len(vars))
	for i, v := range vars {
		out[i] = envfile.Var{Key: v.Key, Value: v.Value}
	}
	shadowed, err := e.file.Set(e.owner, out)
	if err != nil {
		return fmt.Errorf("--env-file %s: %w", e.file.Path(), err)
	}
	e.warnShadowed(shadowed)
	return nil
}

func (e *envFileWriter) warnShadowed(keys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range keys {
		if !e.warned[k] {
			e.warned[k] = true
			e.log.Warn("not written to the env file: a line of your own sets it, and fwd does not shadow it", "key", k, "file", e.file.Path())
		}
	}
}

// changed asks for a rewrite; it never waits, so OnEvent may call it.
func (e *envFileWriter) changed() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// run rewrites the file after each change until stop.
func (e *envFileWriter) run() {
	for {
		select {
		case <-e.kick:
			if err := e.write(); err != nil {
				e.log.Warn("updating the env file", "err", err)
			}
		case <-e.done:
			return
		}
	}
}

// stop ends the updates and removes fwd's block.
func (e *envFileWriter) stop() error {
	close(e.done)
	if err := e.file.Remove(e.owner); err != nil {
		return fmt.Errorf("--env-file %s: %w", e.file.Path(), err)
	}
	return nil
}
