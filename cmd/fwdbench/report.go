package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fwd-dev/fwd/internal/bench"
)

// sample is one raw figure: one measurement of one peer in one round.
type sample struct {
	Measurement string  `json:"measurement"`
	Peer        string  `json:"peer"`
	Round       int     `json:"round"`
	Value       float64 `json:"value"`
	Unit        string  `json:"unit"`
}

// failure is a measurement that did not complete, or completed with errors.
type failure struct {
	Measurement string `json:"measurement"`
	Peer        string `json:"peer"`
	Round       int    `json:"round"`
	Error       string `json:"error"`
}

type skipped struct {
	Peer   string `json:"peer"`
	Reason string `json:"reason"`
}

// results is everything a run found; it is also the JSON written by --json.
type results struct {
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Settings plan              `json:"settings"`
	Env      map[string]string `json:"environment"`
	DelayRTT string            `json:"delay_rtt,omitempty"`
	// DelayModel says how the 50 ms RTT link was made, and why.
	DelayModel string `json:"delay_model,omitempty"`
	// SessionsLeak is phase g's verdict on the gateway's fds after the
	// sessions came and went.
	SessionsLeak string `json:"sessions_leak,omitempty"`
	// HugeFirstError is the first per-port error of fwd all on 30,000
	// ports (phase i).
	HugeFirstError string `json:"huge_first_error,omitempty"`
	// OthersCPU is the share of the machine's CPU time that processes
	// other than the benchmark's used during the run.
	OthersCPU float64   `json:"others_cpu_share"`
	Skipped   []skipped `json:"skipped"`
	Samples   []sample  `json:"samples"`
	Failures  []failure `json:"failures"`
}

func newResults(started time.Time) *results {
	return &results{Started: started, Env: map[string]string{}}
}

func (r *results) add(m, peer string, round int, v float64, unit string) {
	r.Samples = append(r.Samples, sample{Measurement: m, Peer: peer, Round: round, Value: v, Unit: unit})
}

func (r *results) fail(m, peer string, round int, err error) {
	r.Failures = append(r.Failures, failure{Measurement: m, Peer: peer, Round: round, Error: err.Error()})
}

// values returns the figures of one measurement and peer, and their unit.
func (r *results) values(m, peer string) ([]float64, string) {
	var vs []float64
	unit := ""
	for _, s := range r.Samples {
		if s.Measurement == m && s.Peer == peer {
			vs = append(vs, s.Value)
			unit = s.Unit
		}
	}
	return vs, unit
}

// has reports whether any of the measurements has figures or failures.
func (r *results) has(ms ...string) bool {
	for _, m := range ms {
		for _, s := range r.Samples {
			if s.Measurement == m {
				return true
			}
		}
		for _, f := range r.Failures {
			if f.Measurement == m {
				return true
			}
		}
	}
	return false
}

func (r *results) failed(m, peer string) bool {
	for _, f := range r.Failures {
		if f.Measurement == m && f.Peer == peer {
			return true
		}
	}
	return false
}

func (r *results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// print writes the tables: the comparison of peers, then fwd's memory.
func (r *results) print(w io.Writer, peers []string) {
	p := r.Settings
	fmt.Fprintf(w, "fwdbench: %d round(s), %s per bulk run, %d round trips, %d idle conns; %s, %s CPUs, Linux %s; fwd %s\n",
		p.Rounds, p.Bulk, p.Pings, p.IdleConns, r.Env["go"], r.Env["cpus"], r.Env["kernel"], r.Env["fwd_commit"])
	fmt.Fprintf(w, "other processes used %.0f%% of the CPU during the run", r.OthersCPU*100)
	if r.OthersCPU > 0.05 {
		fmt.Fprint(w, ": figures are skewed by a busy machine")
	}
	fmt.Fprintln(w)
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Peer, s.Reason)
	}
	fmt.Fprintln(w, "medians over rounds, [min-max]; x direct / x ssh are ratios of medians (for latency, lower is better)")
	fmt.Fprintln(w)

	compared := []string{mUp1, mDown1, mUpN, mDownN, mP50, mP99, mConns}
	if r.DelayModel != "" {
		fmt.Fprintf(w, "50 ms RTT link: %s; measured TCP round trip %s\n", r.DelayModel, r.DelayRTT)
	}
	if r.has(append(compared, mDelay, mDelayRelay)...) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "measurement\tpeer\tmedian\tunit\t[min-max]\tx direct\tx ssh\t")
		for _, m := range compared {
			r.rows(tw, m, peers)
		}
		r.rows(tw, mDelay, []string{peerDirect, peerSSH, peerFwd})
		r.rows(tw, mDelayRelay, []string{peerDirect, peerSSH, peerFwd})
		tw.Flush()
	}
	mem := []string{memRSSBefore, memRSSWith(p.IdleConns), memPerConn, memRSSAfter, memHeap, memHeapConns, memHeapPer, memStackPer}
	if r.has(mem...) {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "fwd memory (%d idle conns)\tprocess\tmedian\tunit\t[min-max]\t\n", p.IdleConns)
		for _, m := range mem {
			r.rows(tw, m, []string{peerClient, peerGateway})
		}
		tw.Flush()
		fmt.Fprintln(w, "(fwd exposes no memory metrics: Go heap figures come from GODEBUG=gctrace=1, at the last collection, divided by the")
		fmt.Fprintln(w, " conns open then. RSS counts only touched pages: buffers allocated but barely written by a 1-byte round trip")
		fmt.Fprintln(w, " count fully in the heap and partly in RSS.)")
	}
	r.printLoad(w, peers)
	r.printBig(w)
	r.printSessions(w)
	r.printExpose(w)

	if len(r.Failures) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "errors:")
		for _, f := range r.Failures {
			fmt.Fprintf(w, "  %s, %s, round %d: %s\n", f.Peer, f.Measurement, f.Round, oneLine(f.Error))
		}
	}
	fmt.Fprintf(w, "\ntotal time %s\n", time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))
}

func (r *results) rows(w io.Writer, m string, peers []string) {
	r.rowsAs(w, m, m, peers)
}

// rowsAs writes one row per peer that has figures (or failed) for m.
func (r *results) rowsAs(w io.Writer, m, label string, peers []string) {
	ref := func(peer string) float64 {
		vs, _ := r.values(m, peer)
		return bench.Summarize(vs).Median
	}
	direct, ssh := ref(peerDirect), ref(peerSSH)
	for _, peer := range peers {
		vs, unit := r.values(m, peer)
		if len(vs) == 0 {
			if r.failed(m, peer) {
				fmt.Fprintf(w, "%s\t%s\terror\t\t\t\t\t\n", label, peer)
				label = ""
			}
			continue
		}
		s := bench.Summarize(vs)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t[%s-%s]\t%s\t%s\t\n", label, peer, num(s.Median), unit,
			num(s.Min), num(s.Max), ratio(s.Median, direct, peer == peerDirect), ratio(s.Median, ssh, peer == peerSSH))
		label = ""
	}
}

// num formats a figure with three significant digits or so.
func num(v float64) string {
	switch {
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10 || v <= -10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ratio(v, ref float64, self bool) string {
	if self || ref == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx", v/ref)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}
