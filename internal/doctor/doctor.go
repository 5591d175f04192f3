// Package doctor holds the checks of fwd doctor: each looks at one thing
// on this machine (its listening sockets, the ports and addresses fwd's
// forwards need, the hosts file, the gateway's certificate) and returns
// findings, each a severity, one line and what to do. Its inputs are
// plain values, so that the command gathers them (from a catalog, a hosts
// file, a login) and tests can give their own.
package doctor

// Severity orders findings; Problem ones make fwd doctor exit 1.
type Severity string

// The severities, mildest first.
const (
	OK      Severity = "ok"
	Info    Severity = "info"
	Warning Severity = "warning"
	Problem Severity = "problem"
)

// The checks a finding belongs to.
const (
	CheckSockets      = "sockets"
	CheckForward      = "forward"
	CheckReachability = "reachability"
	CheckHosts        = "hosts"
	CheckGateway      = "gateway"
	CheckLo0          = "lo0"
)

// Finding is one thing fwd doctor says.
type Finding struct {
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"` // what to do; "" when nothing is
	// PID and Program name the process a finding is about, where known.
	PID     int    `json:"pid,omitempty"`
	Program string `json:"program,omitempty"`
}

// Problems counts the findings of severity Problem.
func Problems(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.Severity == Problem {
			n++
		}
	}
	return n
}
