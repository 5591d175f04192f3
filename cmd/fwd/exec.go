package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// exitCannotRun is a child that could not be started, as shells say it.
const exitCannotRun = 127

// childExit is a child that ran and ended: fwd exits with its code and
// prints nothing of its own.
type childExit struct{ code int }

func (e *childExit) Error() string { return "the command exited with " + strconv.Itoa(e.code) }

// cannotRun is a child that could not start.
type cannotRun struct {
	name string
	err  error
}

func (e *cannotRun) Error() string { return fmt.Sprintf("cannot run %s: %v", e.name, e.err) }
func (e *cannotRun) Unwrap() error { return e.err }

func newExecCmd(s streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec service|addon|all [NAME] [flags] -- COMMAND [ARGS...]",
		Short: "Run a command with forwards up and their connection details in its environment",
		Long: `Brings the forwards up, then runs COMMAND with their connection details in
its environment: FWD_<PROJECT>_<NAME>_<PORT>_HOST, _PORT and _ADDR for every
port, and the variables the gateway's catalog defines (DATABASE_URL, say).
In ARGS, {{addr "db"}}, {{host "db"}} and {{port "db" "postgres"}} become
a forward's address:port, address and port ("project/db" where names
repeat across projects). Signals go on to COMMAND; when it ends, fwd stops
forwarding, removes its hostnames and exits with COMMAND's exit code.`,
		Example: `  fwd exec addon db -p shop -- psql "$DATABASE_URL"
  fwd exec all shop -- sh -c 'psql -h {{host "db"}} -p {{port "db" "postgres"}} -c "select 1"'`,
	}
	for _, kind := range []forwardKind{forwardService, forwardAddon, forwardAll} {
		cmd.AddCommand(newExecKindCmd(s, g, kind))
	}
	return cmd
}

func newExecKindCmd(s streams, g *globalOptions, kind forwardKind) *cobra.Command {
	opts := &forwardOptions{kind: kind, global: g}
	cmd := &cobra.Command{}
	describeKind(cmd, kind, "exec ")
	cmd.Use += " -- COMMAND [ARGS...]"
	registerForwardFlags(cmd, opts)
	registerCompletion(cmd, opts)
	opts.output.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		dash := cmd.ArgsLenAtDash()
		if dash < 0 || dash == len(args) {
			return usageErrorf("no command: put it after --, as in 'fwd exec %s -- psql'", strings.Fields(cmd.Use)[0])
		}
		if dash > 1 {
			return usageErrorf("%q before --: give at most one name there", strings.Join(args[:dash], " "))
		}
		if err := opts.takeArgs(args[:dash]); err != nil {
			return err
		}
		if err := opts.complete(); err != nil {
			return err
		}
		return runExec(cmd.Context(), opts, args[dash:], s)
	}
	return cmd
}

func runExec(ctx context.Context, o *forwardOptions, argv []string, s streams) error {
	// Signals are the child's once it runs: main's context ends at the
	// first one, so fwd listens for them itself and passes them on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, stopSignals...)
	defer signal.Stop(sigs)
	started := time.Now()
	log := newLogger(s.Err, o.output.machine(), o.global.verbose)
	defer o.ssh.Close()
	opts, err := o.clientOptions(s, log, nil)
	if err != nil {
		return err
	}
	client, err := forward.New(opts)
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		client.Shutdown(shutdownCtx)
	}()
	results, err := o.start(ctx, client)
	if err != nil {
		return err
	}
	vars, err := client.Env()
	if err != nil {
		return err
	}
	if o.envFile != "" {
		envw, err := o.startEnvFile(client, log)
		if err != nil {
			return err
		}
		defer func() { logErr(log, envw.stop()) }()
	}
	args, err := expandArgs(argv, results)
	if err != nil {
		return &usageError{err}
	}
	stop := make(chan struct{}, 1)
	h := &controlHandler{client: client, command: "fwd exec " + strings.TrimPrefix(o.describe(), "fwd "), context: o.contextName, started: started,
		stopAll: func() { stop <- struct{}{} }}
	defer serveControl(h, log)()
	return runChild(args, vars, sigs, stop, s)
}

// runChild runs the command with vars added to fwd's environment, passes
// signals on (and SIGTERM for fwd stop), and returns its exit as a
// *childExit.
func runChild(argv []string, vars []catalog.EnvVar, sigs <-chan os.Signal, stop <-chan struct{}, s streams) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	for _, v := range vars {
		cmd.Env = append(cmd.Env, v.Key+"="+v.Value)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.In, s.Out, s.Err
	if err := cmd.Start(); err != nil {
		return &cannotRun{name: argv[0], err: causeOf(err)}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			cmd.Process.Signal(sig)
		case <-stop:
			cmd.Process.Signal(syscall.SIGTERM)
		case err := <-done:
			return &childExit{code: exitCodeOf(cmd.ProcessState, err)}
		}
	}
}

// causeOf drops exec's "exec: NAME:" in front of why it could not start.
func causeOf(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// exitCodeOf is the child's exit code, 128+N for a child a signal ended,
// as shells report it.
func exitCodeOf(ps *os.ProcessState, err error) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// expandArgs replaces {{addr "db"}}, {{host "db"}} and {{port "db"
// "postgres"}} in each argument with the forward's local address:port,
// address and port.
func expandArgs(argv []string, results []forward.Result) ([]string, error) {
	funcs := template.FuncMap{
		"addr": func(name string, port ...string) (string, error) {
			d, err := findForward(results, name, port)
			if err != nil {
				return "", err
			}
			return d.Address + ":" + strconv.Itoa(d.Port), nil
		},
		"host": func(name string) (string, error) {
			d, err := findForward(results, name, nil)
			if err != nil {
				return "", err
			}
			return d.Address, nil
		},
		"port": func(name string, port ...string) (string, error) {
			d, err := findForward(results, name, port)
			if err != nil {
				return "", err
			}
			return strconv.Itoa(d.Port), nil
		},
	}
	out := make([]string, len(argv))
	for i, a := range argv {
		if !strings.Contains(a, "{{") {
			out[i] = a
			continue
		}
		t, err := template.New("arg").Funcs(funcs).Parse(a)
		if err != nil {
			return nil, fmt.Errorf("argument %q: %w", a, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, nil); err != nil {
			return nil, fmt.Errorf("argument %q: %s", a, cleanTemplateError(err))
		}
		out[i] = b.String()
	}
	return out, nil
}

// findForward finds a forward by name ("db", or "shop/db" where names
// repeat across projects) and, if given, its port's name or number; else
// its first port.
func findForward(results []forward.Result, name string, port []string) (*forward.Forward, error) {
	project, id, qualified := strings.Cut(name, "/")
	if !qualified {
		id = name
	}
	var found []*forward.Forward
	projects := map[string]bool{}
	for _, r := range results {
		d := r.Data
		if d == nil || d.ID != id || qualified && d.ProjectID != project {
			continue
		}
		if len(port) > 0 && d.PortName != port[0] && strconv.Itoa(d.RemotePort) != port[0] {
			continue
		}
		found = append(found, d)
		projects[d.ProjectID] = true
	}
	switch {
	case len(found) == 0 && len(port) > 0:
		return nil, fmt.Errorf("no forward named %q with a port %q", name, port[0])
	case len(found) == 0:
		return nil, fmt.Errorf("no forward named %q", name)
	case len(projects) > 1:
		return nil, fmt.Errorf("%q is in more than one project: name it as project/%s", name, id)
	}
	return found[0], nil
}

// cleanTemplateError keeps what went wrong from text/template's message.
func cleanTemplateError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": error calling "); i >= 0 {
		return msg[i+len(": error calling "):]
	}
	return msg
}
