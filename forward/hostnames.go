package forward

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync/atomic"

	"github.com/fwd-dev/fwd/hosts"
	"github.com/fwd-dev/fwd/internal/catalog"
)

// ErrHostsFile matches (with errors.Is) a hosts file that could not be
// written; the wrapped error says why.
var ErrHostsFile = errors.New("forward: cannot write the hosts file")

// hostnames keeps this client's block in the hosts file in step with its
// forwards.
type hostnames struct {
	file    *hosts.File
	owner   hosts.Owner
	log     *slog.Logger
	cleaned bool        // stale blocks were reclaimed before our first write
	written atomic.Bool // our block may be in the file; read by a second Ctrl-C
}

func newHostnames(f *hosts.File, log *slog.Logger) *hostnames {
	return &hostnames{file: f, owner: hosts.CurrentOwner(), log: log}
}

// cleanStale removes blocks left by fwd processes that died without cleaning
// up (SIGKILL, a crash, a power cut). It runs once, before the first write:
// a file fwd cannot clean, it cannot write either.
func (h *hostnames) cleanStale() error {
	if h.cleaned {
		return nil
	}
	removed, err := h.file.Clean()
	if err != nil {
		return err
	}
	h.cleaned = true
	for _, b := range removed {
		h.log.Info("removed hosts entries of a fwd process that is gone", "pid", b.Owner.PID, "entries", len(b.Entries))
	}
	return nil
}

// assign decides each resource's names: "<name>", "<name>.<project>" and its
// catalog hostnames. A name claimed by two forwards goes to the one forwarded
// first; the other keeps its qualified names, so no name ever points at two
// addresses.
func (h *hostnames) assign(order []catalog.ID, active map[catalog.ID]*resourceForward) map[catalog.ID][]string {
	owner := map[string]catalog.ID{}
	out := map[catalog.ID][]string{}
	for _, id := range order {
		f := active[id]
		candidates := append([]string{id.Name, id.Name + "." + id.Project}, f.res.Hostnames...)
		for _, name := range candidates {
			if prev, taken := owner[name]; taken {
				if prev != id {
					h.log.Warn("hostname already used by another forward", "hostname", name, "kept_by", prev.String(), "skipped_for", id.String())
				}
				continue
			}
			owner[name] = id
			out[id] = append(out[id], name)
		}
	}
	return out
}

func (h *hostnames) write(order []catalog.ID, active map[catalog.ID]*resourceForward) error {
	var entries []hosts.Entry
	for _, id := range order {
		f := active[id]
		f.mu.Lock()
		names := f.hostnames
		f.mu.Unlock()
		if len(names) > 0 {
			entries = append(entries, hosts.Entry{Address: f.address().String(), Hostnames: names})
		}
	}
	if len(entries) == 0 {
		return h.remove()
	}
	if err := h.cleanStale(); err != nil {
		return hostsError(h.file.Path(), err)
	}
	h.written.Store(true)
	if err := h.file.Set(h.owner, entries); err != nil {
		return hostsError(h.file.Path(), err)
	}
	return nil
}

// remove takes our block out of the file, if we ever wrote one.
func (h *hostnames) remove() error {
	if !h.written.Load() {
		return nil
	}
	if err := h.file.Remove(h.owner); err != nil {
		return hostsError(h.file.Path(), err)
	}
	return nil
}

// hostsError says which hosts file could not be written and why, keeping
// the cause for errors.Is (fs.ErrPermission: a caller may suggest sudo).
func hostsError(path string, err error) error {
	return &hostsFileError{path: path, err: err}
}

type hostsFileError struct {
	path string
	err  error
}

func (e *hostsFileError) Error() string {
	if errors.Is(e.err, fs.ErrPermission) {
		return fmt.Sprintf("%v %s: permission denied", ErrHostsFile, e.path)
	}
	return fmt.Sprintf("%v %s: %v", ErrHostsFile, e.path, e.err)
}

func (e *hostsFileError) Unwrap() []error { return []error{ErrHostsFile, e.err} }
