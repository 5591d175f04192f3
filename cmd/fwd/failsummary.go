package main

import (
	"fmt"
	"strings"

	"github.com/fwd-dev/fwd/forward"
)

// maxErrorRows is how many failed ports the table lists one by one; more
// are summed up in one line per cause, since a catalog larger than the
// open files limit would otherwise print thousands of rows. JSON output
// keeps every port's error.
const maxErrorRows = 5

// failureSummary returns the failed ports to list as rows, or, past
// maxErrorRows, none and one line per cause: how many ports, which (the
// first few), and why.
func failureSummary(results []forward.Result) (rows []string, lines []string) {
	var msgs []string
	for _, r := range results {
		if r.Error != nil {
			msgs = append(msgs, r.Error.Message)
		}
	}
	if len(msgs) <= maxErrorRows {
		return msgs, nil
	}
	type group struct {
		cause  string
		labels []string
	}
	var groups []*group
	byCause := map[string]*group{}
	for _, m := range msgs {
		label, cause := splitFailure(m)
		g := byCause[cause]
		if g == nil {
			g = &group{cause: cause}
			byCause[cause] = g
			groups = append(groups, g)
		}
		g.labels = append(g.labels, label)
	}
	for _, g := range groups {
		lines = append(lines, failureLine(len(results), g.cause, g.labels))
	}
	return nil, lines
}

// splitFailure cuts a port's error into the port's label ("shop/api http",
// before the first ": ") and the innermost cause (after the last ": ").
func splitFailure(msg string) (label, cause string) {
	label, rest, ok := strings.Cut(msg, ": ")
	if !ok {
		return msg, msg
	}
	if i := strings.LastIndex(rest, ": "); i >= 0 {
		rest = rest[i+2:]
	}
	return label, rest
}

func failureLine(total int, cause string, labels []string) string {
	const named = 3
	which := strings.Join(labels[:min(named, len(labels))], ", ")
	if len(labels) > named {
		which += fmt.Sprintf(" and %d more", len(labels)-named)
	}
	line := fmt.Sprintf("%d of %d ports not forwarded: %s (%s; each one in --output json)", len(labels), total, cause, which)
	if strings.Contains(cause, "too many open files") {
		line += "; the open files limit is reached: raise it (ulimit -n, up to the hard limit ulimit -Hn) or forward fewer projects"
	}
	return line
}
