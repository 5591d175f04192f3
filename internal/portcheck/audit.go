package portcheck

import (
	"fmt"
	"slices"
	"strings"
)

// Finding is something Audit flags in a catalog.
type Finding struct {
	Kind    string `json:"kind"` // "duplicate-target", "port-twice", "privileged"
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Audit flags, without dialling: a target named by more than one port (a
// copy and paste that forgot to change it), a port number that two
// services or addons of one project claim, and ports below
// privilegedBelow, which a client without root cannot bind at their own
// number.
func Audit(targets []Target, privilegedBelow uint16) []Finding {
	var out []Finding
	out = append(out, duplicateTargets(targets)...)
	out = append(out, portsTwice(targets)...)
	return append(out, privileged(targets, privilegedBelow)...)
}

func label(t Target) string {
	if t.PortName != "" {
		return t.Resource + " " + t.PortName
	}
	return fmt.Sprintf("%s %d", t.Resource, t.Port)
}

func duplicateTargets(targets []Target) []Finding {
	by := map[string][]string{}
	var order []string
	for _, t := range targets {
		k := t.Network + " " + t.Address
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		if l := label(t); !slices.Contains(by[k], l) {
			by[k] = append(by[k], l)
		} else {
			by[k] = append(by[k], l+" (again)")
		}
	}
	var out []Finding
	for _, k := range order {
		if len(by[k]) < 2 {
			continue
		}
		network, addr, _ := strings.Cut(k, " ")
		out = append(out, Finding{Kind: "duplicate-target",
			Message: fmt.Sprintf("%s target %s is named by %s", strings.ToUpper(network), addr, strings.Join(by[k], ", ")),
			Fix:     "check that each is meant to reach the same server; a copied port often keeps the old target"})
	}
	return out
}

func portsTwice(targets []Target) []Finding {
	type key struct {
		project, network string
		port             uint16
	}
	by := map[key][]string{}
	var order []key
	for _, t := range targets {
		k := key{t.Project, t.Network, t.Port}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		if !slices.Contains(by[k], t.Resource) {
			by[k] = append(by[k], t.Resource)
		}
	}
	var out []Finding
	for _, k := range order {
		if len(by[k]) < 2 {
			continue
		}
		out = append(out, Finding{Kind: "port-twice",
			Message: fmt.Sprintf("project %s: %s port %d is claimed by %s", k.project, strings.ToUpper(k.network), k.port, strings.Join(by[k], " and ")),
			Fix:     "fine for fwd, which gives each its own loopback address, but tools that reach localhost:PORT see only one: give one another number if they will"})
	}
	return out
}

func privileged(targets []Target, below uint16) []Finding {
	seen := map[string]bool{}
	var out []Finding
	for _, t := range targets {
		l := label(t)
		if t.Port >= below || seen[l] {
			continue
		}
		seen[l] = true
		out = append(out, Finding{Kind: "privileged",
			Message: fmt.Sprintf("%s is port %d, below %d: a client without root forwards it on another port, without hostnames", l, t.Port, below),
			Fix:     "give it a number from 1024 up if your users run fwd without sudo"})
	}
	return out
}
