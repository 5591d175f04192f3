package fwdtest

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Forward is one forwarded port of a fwd results line (-o json).
type Forward struct {
	ID       string // the service or addon
	PortName string
	Addr     string // local host:port
}

// ParseForwards reads one JSON results line of fwd service|addon|all;
// error entries are left out.
func ParseForwards(line string) ([]Forward, error) {
	var results []struct {
		Data *struct {
			ID       string `json:"id"`
			Address  string `json:"address"`
			Port     int    `json:"port"`
			PortName string `json:"portName"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(line), &results); err != nil {
		return nil, fmt.Errorf("results line %q: %w", line, err)
	}
	var out []Forward
	for _, r := range results {
		if r.Data != nil {
			out = append(out, Forward{ID: r.Data.ID, PortName: r.Data.PortName, Addr: net.JoinHostPort(r.Data.Address, strconv.Itoa(r.Data.Port))})
		}
	}
	return out, nil
}

// LastForwards is the last results line in output (a client prints one
// again whenever its catalog changes), or nil if there is none.
func LastForwards(output string) []Forward {
	var last []Forward
	for _, line := range strings.Split(output, "\n") {
		if strings.HasPrefix(line, "[") {
			if f, err := ParseForwards(line); err == nil {
				last = f
			}
		}
	}
	return last
}
