package dockerports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// DockerfileOptions choose what docker build would build.
type DockerfileOptions struct {
	// Target is the stage to read (docker build --target); "" is the last.
	Target string
	// BuildArgs override ARG defaults, as docker build --build-arg does.
	BuildArgs map[string]string
}

// SyntaxError is a Dockerfile that BuildKit would refuse: its line and
// BuildKit's reason.
type SyntaxError struct {
	File   string
	Line   int // 1-based; 0 when BuildKit names none
	Reason string
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return e.File + ": " + e.Reason
}

// FromDockerfile reads the ports the Dockerfile's chosen stage exposes,
// those of the earlier stages it is built FROM included. name is what
// errors and the result call the file.
func FromDockerfile(r io.Reader, name string, opts DockerfileOptions) (Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxDockerfile+1))
	if err != nil {
		return Result{}, fmt.Errorf("dockerports: reading %s: %w", name, err)
	}
	if len(data) > maxDockerfile {
		return Result{}, &SyntaxError{File: name, Reason: fmt.Sprintf("is over %d MiB: is it a Dockerfile?", maxDockerfile>>20)}
	}
	parsed, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return Result{}, syntaxError(name, err)
	}
	stages, metaArgs, err := instructions.Parse(parsed.AST, nil)
	if err != nil {
		return Result{}, syntaxError(name, err)
	}
	if len(stages) == 0 {
		return Result{}, &SyntaxError{File: name, Reason: "has no FROM line"}
	}
	b := &build{name: name, lex: shell.NewLex(parsed.EscapeToken), buildArgs: opts.BuildArgs, stages: stages}
	if err := b.globals(metaArgs); err != nil {
		return Result{}, err
	}
	target, err := b.target(opts.Target)
	if err != nil {
		return Result{}, err
	}
	st, err := b.run(target)
	if err != nil {
		return Result{}, err
	}
	res := Result{Source: name, Stage: stageLabel(stages, target), Ports: catalogPorts(st.specs, HTTP), Notes: b.notes}
	res.Notes = append(res.Notes, bareNotes(st.specs, res.Ports)...)
	if len(res.Ports) == 0 {
		return res, fmt.Errorf("%w in stage %s of %s", ErrNoPorts, res.Stage, name)
	}
	return res, nil
}

// maxDockerfile bounds what is read: a Dockerfile is text of a few KiB.
const maxDockerfile = 4 << 20

// syntaxError keeps BuildKit's reason and the first line it names.
func syntaxError(name string, err error) error {
	e := &SyntaxError{File: name, Reason: err.Error()}
	var loc *parser.LocationError
	if errors.As(err, &loc) {
		e.Reason = loc.Unwrap().Error()
		if len(loc.Locations) > 0 && len(loc.Locations[0]) > 0 {
			e.Line = loc.Locations[0][0].Start.Line
		}
	}
	// instructions.Parse says "dockerfile parse error on line N: " itself.
	if _, rest, ok := strings.Cut(e.Reason, "dockerfile parse error on line "); ok {
		if n, reason, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				e.Line, e.Reason = line, reason
			}
		}
	}
	return e
}

// build is one evaluation of a Dockerfile, as docker build does it.
type build struct {
	name      string
	lex       *shell.Lex
	buildArgs map[string]string
	stages    []instructions.Stage
	global    map[string]string // the ARGs before the first FROM, with build-arg overrides
	notes     []string
}

// stageState is what a stage hands to the stages built FROM it.
type stageState struct {
	env   map[string]string
	specs []spec
}

func (b *build) globals(metaArgs []instructions.ArgCommand) error {
	b.global = map[string]string{}
	for _, cmd := range metaArgs {
		for _, kv := range cmd.Args {
			if v, ok := b.buildArgs[kv.Key]; ok {
				b.global[kv.Key] = v
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, err := b.expand(*kv.Value, b.global, lineOf(cmd.Location()))
			if err != nil {
				return err
			}
			b.global[kv.Key] = v
		}
	}
	return nil
}

// target picks the stage --target names, else the last one.
func (b *build) target(name string) (int, error) {
	if name == "" {
		return len(b.stages) - 1, nil
	}
	if i, ok := instructions.HasStage(b.stages, name); ok {
		return i, nil
	}
	var names []string
	for _, s := range b.stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return 0, fmt.Errorf("dockerports: --target %q: %s has no named stages (name one with FROM image AS name)", name, b.name)
	}
	return 0, fmt.Errorf("dockerports: --target %q: %s has no such stage: use one of %s", name, b.name, strings.Join(names, ", "))
}

// run evaluates stage i: its base's state first when the base is an
// earlier stage, as docker build inherits ENV and EXPOSE from it.
func (b *build) run(i int) (stageState, error) {
	st := b.stages[i]
	state := stageState{env: map[string]string{}}
	base, err := b.expand(st.BaseName, b.global, lineOf(st.Location))
	if err != nil {
		return state, err
	}
	// HasStage looks only at earlier stages, so this recursion ends.
	if j, ok := instructions.HasStage(b.stages[:i], base); ok {
		if state, err = b.run(j); err != nil {
			return state, err
		}
		state.env = maps.Clone(state.env)
		state.specs = slices.Clone(state.specs)
	} else if !osImage(base) {
		b.notes = append(b.notes, fmt.Sprintf("stage %s is FROM %s, whose own EXPOSE lines are not read here: if it exposes ports, docker save it and run fwd ports detect on the tarball", stageLabel(b.stages, i), base))
	}
	for _, c := range st.Commands {
		if err := b.apply(&state, c); err != nil {
			return state, err
		}
	}
	return state, nil
}

func (b *build) apply(state *stageState, c instructions.Command) error {
	line := lineOf(c.Location())
	switch c := c.(type) {
	case *instructions.ArgCommand:
		return b.arg(state, c, line)
	case *instructions.EnvCommand:
		// ENV A=1 B=$A gives B the A from before the line, as in docker
		// build: every value is expanded before any is set.
		values := make([]string, len(c.Env))
		for i, kv := range c.Env {
			v, err := b.expand(kv.Value, state.env, line)
			if err != nil {
				return err
			}
			values[i] = v
		}
		for i, kv := range c.Env {
			state.env[kv.Key] = values[i]
		}
	case *instructions.ExposeCommand:
		for _, word := range c.Ports {
			specs, err := b.expose(word, state.env, line)
			if err != nil {
				return err
			}
			state.specs = append(state.specs, specs...)
		}
	}
	return nil
}

// arg is dispatchArg's rule: a build-arg wins, then the ARG's default,
// then (for a bare ARG NAME) the global ARG of that name.
func (b *build) arg(state *stageState, c *instructions.ArgCommand, line int) error {
	for _, kv := range c.Args {
		if v, ok := b.buildArgs[kv.Key]; ok {
			state.env[kv.Key] = v
			continue
		}
		if kv.Value == nil {
			if v, ok := b.global[kv.Key]; ok {
				state.env[kv.Key] = v
			}
			continue
		}
		v, err := b.expand(*kv.Value, state.env, line)
		if err != nil {
			return err
		}
		state.env[kv.Key] = v
	}
	return nil
}

// expose expands one EXPOSE word, which may become several (EXPOSE $PORTS).
func (b *build) expose(word string, env map[string]string, line int) ([]spec, error) {
	getter := envGetter(env)
	res, err := b.lex.ProcessWordWithMatches(word, getter)
	if err != nil {
		return nil, &SyntaxError{File: b.name, Line: line, Reason: err.Error()}
	}
	for _, v := range slices.Sorted(maps.Keys(res.Unmatched)) {
		b.notes = append(b.notes, fmt.Sprintf("line %d: EXPOSE %s uses $%s, which is not set: pass --build-arg %s=PORT", line, word, v, v))
	}
	words, err := b.lex.ProcessWords(word, getter)
	if err != nil {
		return nil, &SyntaxError{File: b.name, Line: line, Reason: err.Error()}
	}
	var out []spec
	for _, w := range words {
		if strings.HasSuffix(strings.ToLower(w), "/sctp") {
			b.notes = append(b.notes, fmt.Sprintf("line %d: EXPOSE %s is SCTP, which fwd cannot forward: left out", line, w))
			continue
		}
		specs, err := parseSpec(w)
		if err != nil {
			return nil, &SyntaxError{File: b.name, Line: line, Reason: "EXPOSE " + err.Error()}
		}
		out = append(out, specs...)
	}
	return out, nil
}

func (b *build) expand(word string, env map[string]string, line int) (string, error) {
	v, _, err := b.lex.ProcessWord(word, envGetter(env))
	if err != nil {
		return "", &SyntaxError{File: b.name, Line: line, Reason: err.Error()}
	}
	return v, nil
}

func envGetter(env map[string]string) shell.EnvGetter {
	kvs := make([]string, 0, len(env))
	for k, v := range env {
		kvs = append(kvs, k+"="+v)
	}
	return shell.EnvsFromSlice(kvs)
}

func lineOf(r []parser.Range) int {
	if len(r) == 0 {
		return 0
	}
	return r[0].Start.Line
}

// osImages expose nothing of their own: a stage FROM one needs no note.
var osImages = []string{"scratch", "alpine", "debian", "ubuntu", "busybox", "fedora", "centos", "rockylinux", "almalinux", "amazonlinux", "archlinux", "opensuse/leap", "gcr.io/distroless/", "cgr.dev/chainguard/static"}

func osImage(ref string) bool {
	ref = strings.TrimPrefix(strings.TrimPrefix(ref, "docker.io/"), "library/")
	for _, img := range osImages {
		if ref == img || strings.HasPrefix(ref, img+":") || strings.HasPrefix(ref, img+"@") || (strings.HasSuffix(img, "/") && strings.HasPrefix(ref, img)) {
			return true
		}
	}
	return false
}

// stageLabel names a stage as docker build's --target would, or by its
// place when it has no name.
func stageLabel(stages []instructions.Stage, i int) string {
	if stages[i].Name != "" {
		return stages[i].Name
	}
	return "#" + strconv.Itoa(i+1)
}

// bareNotes warns where the rule (a bare number is HTTP) meets a port
// whose well-known service is not HTTP, such as EXPOSE 5432.
func bareNotes(specs []spec, ports []Port) []string {
	bare := map[uint16]bool{}
	for _, s := range specs {
		if s.proto == "" {
			bare[s.number] = true
		}
	}
	var notes []string
	for _, p := range ports {
		if name, ok := usuallyNotHTTP(p.Number); ok && bare[p.Number] && p.Protocol == HTTP {
			notes = append(notes, fmt.Sprintf("EXPOSE %d has no /tcp, so it is an HTTP port, but %d is usually %s: write EXPOSE %d/tcp, or make it protocol: TCP", p.Number, p.Number, name, p.Number))
		}
	}
	return notes
}
