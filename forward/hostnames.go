package forward

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/fwd-dev/fwd/hosts"
	rules "github.com/fwd-dev/fwd/internal/hostnames"
	"github.com/fwd-dev/fwd/tunnel/catalog"
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
	// userSuffixes, when not nil, narrow the gateway's hostname_suffixes.
	userSuffixes []string
	warned       map[string]bool // names warned about; under the client's mu
}

func newHostnames(f *hosts.File, userSuffixes []string, log *slog.Logger) *hostnames {
	return &hostnames{file: f, owner: hosts.CurrentOwner(), log: log, userSuffixes: userSuffixes, warned: map[string]bool{}}
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

// assign decides each resource's names, by the rules a gateway cannot
// widen (see Options.HostnameSuffixes):
//   - "<name>" and "<name>.<project>" always, and a catalog hostname only
//     under a suffix the gateway declared (and the user allowed);
//   - never a reserved name (localhost, ip6-*, ...) or an invalid one;
//   - none at all for a resource whose ports could not all keep their
//     numbers on its address, since its names would lead elsewhere;
//   - a name claimed by two forwards goes to the one forwarded first; the
//     other keeps its qualified names, so no name points at two addresses.
//
// Each name skipped is warned about once.
func (h *hostnames) assign(order []catalog.ID, active map[catalog.ID]*resourceForward, gatewaySuffixes []string) map[catalog.ID][]string {
	owner := map[string]catalog.ID{}
	out := map[catalog.ID][]string{}
	for _, id := range order {
		f := active[id]
		if f.moved != "" {
			h.warnOnce("nohosts:"+id.String(), "no hostnames for "+id.String()+": "+f.moved+"; use the address printed")
			continue
		}
		seen := map[string]bool{}
		for _, name := range h.candidates(f, gatewaySuffixes) {
			if seen[name] {
				continue // listed twice: written once
			}
			seen[name] = true
			if prev, taken := owner[name]; taken {
				h.warnOnce("dup:"+name+id.String(), "hostname already used by another forward", "hostname", name, "kept_by", prev.String(), "skipped_for", id.String())
				continue
			}
			owner[name] = id
			out[id] = append(out[id], name)
		}
	}
	return out
}

// candidates are the names f may have, in lower case, before names taken
// by other forwards are left out.
func (h *hostnames) candidates(f *resourceForward, gatewaySuffixes []string) []string {
	id := f.res.ID()
	var names []string
	add := func(name, source string) {
		name = strings.ToLower(name)
		switch {
		case rules.Reserved(name):
			h.warnOnce("reserved:"+name, "hostname not written: it is reserved for this machine's own use", "hostname", name, "from", source, "forward", id.String())
		case hosts.CheckHostname(name) != nil:
			h.warnOnce("invalid:"+name, "hostname not written: "+hosts.CheckHostname(name).Error(), "forward", id.String())
		default:
			names = append(names, name)
		}
	}
	add(id.Name, "its name")
	add(id.Name+"."+id.Project, "its name")
	for _, name := range f.res.Hostnames {
		switch {
		case !rules.UnderSuffix(name, gatewaySuffixes):
			h.warnOnce("suffix:"+name, "catalog hostname not written: the gateway did not declare its suffix (hostname_suffixes)", "hostname", name, "forward", id.String())
		case h.userSuffixes != nil && !rules.UnderSuffix(name, h.userSuffixes):
			h.warnOnce("usersuffix:"+name, "catalog hostname not written: outside the suffixes allowed here", "hostname", name, "allowed", strings.Join(h.userSuffixes, ","))
		default:
			add(name, "the catalog")
		}
	}
	return names
}

// warnOnce logs msg the first time key is seen.
func (h *hostnames) warnOnce(key, msg string, args ...any) {
	if h.warned[key] {
		return
	}
	h.warned[key] = true
	h.log.Warn(msg, args...)
}

// write puts the forwards' names in the hosts file, leaving out any that a
// line of the user's own already maps; it returns the names it wrote per
// address.
func (h *hostnames) write(order []catalog.ID, active map[catalog.ID]*resourceForward) (map[string]bool, error) {
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
		return nil, h.remove()
	}
	if err := h.cleanStale(); err != nil {
		return nil, hostsError(h.file.Path(), err)
	}
	h.written.Store(true)
	shadowed, err := h.file.SetUnshadowed(h.owner, entries)
	if err != nil {
		return nil, hostsError(h.file.Path(), err)
	}
	left := map[string]bool{}
	for _, name := range shadowed {
		left[name] = true
		h.warnOnce("shadow:"+name, "hostname not written: a line of your own in "+h.file.Path()+" already maps it, and fwd does not shadow it", "hostname", name)
	}
	return left, nil
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
