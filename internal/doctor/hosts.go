package doctor

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// HostsBlock is one fwd block of the hosts file: whose, whether that
// process still runs, and the names in it.
type HostsBlock struct {
	PID   int
	Alive bool
	Names []string
}

// StaleBlocks reports the blocks of fwd processes that are gone: their
// names still lead to addresses nothing serves. clean is the command that
// removes them.
func StaleBlocks(path string, blocks []HostsBlock, clean string) []Finding {
	var out []Finding
	for _, b := range blocks {
		if b.Alive {
			continue
		}
		out = append(out, Finding{Check: CheckHosts, Severity: Problem, PID: b.PID,
			Message: fmt.Sprintf("%s has a block of fwd pid %d, which is no longer running: %s lead nowhere", path, b.PID, nameList(b.Names)),
			Fix:     "run " + clean})
	}
	if len(out) == 0 {
		out = append(out, Finding{Check: CheckHosts, Severity: OK, Message: fmt.Sprintf("no stale fwd entries in %s", path)})
	}
	return out
}

// Shadowed reports the names fwd would write that a line of the user's
// own already maps (user: name to address): fwd leaves those out, so the
// name leads to the user's address, not the forward. names maps each
// name fwd would write to what it names.
func Shadowed(path string, user, names map[string]string) []Finding {
	var out []Finding
	for _, name := range slices.Sorted(maps.Keys(names)) {
		addr, ok := user[strings.ToLower(name)]
		if !ok {
			continue
		}
		out = append(out, Finding{Check: CheckHosts, Severity: Warning,
			Message: fmt.Sprintf("your line %q in %s maps %s, a name of %s: fwd leaves it out, so %s does not lead to the forward", addr+" "+name, path, name, names[name], name),
			Fix:     fmt.Sprintf("remove that line if %s should reach %s; else reach it by its address", name, names[name])})
	}
	return out
}

func nameList(names []string) string {
	switch {
	case len(names) == 0:
		return "its names"
	case len(names) > 4:
		return strings.Join(names[:4], ", ") + fmt.Sprintf(" and %d more", len(names)-4)
	}
	return strings.Join(names, ", ")
}
