// Package ui renders what fwd shows people: tables and status lines, styled
// with lipgloss on a terminal and plain everywhere else. It is the only
// package that imports lipgloss.
package ui

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"golang.org/x/term"
)

// Styled reports whether output to w should be styled: w is a terminal and
// NO_COLOR is unset (https://no-color.org).
func Styled(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	return IsTerminal(w)
}

// IsTerminal reports whether w is a terminal, styled or not.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

var (
	headerStyle = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12")).Padding(0, 1)
	cellStyle   = lipgloss.NewStyle().Padding(0, 1)
	borderStyle = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	okStyle     = lipgloss.NewStyle().Foreground(lipgloss.Color("10")).Bold(true)
	warnStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("11")).Bold(true)
	hintStyle   = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
)

// Table writes headers and rows: a bordered lipgloss table when styled,
// tab-aligned plain columns otherwise (easy to read and to cut).
func Table(w io.Writer, styled bool, headers []string, rows [][]string) error {
	if styled {
		t := table.New().
			Border(lipgloss.RoundedBorder()).
			BorderStyle(borderStyle).
			Headers(headers...).
			Rows(rows...).
			StyleFunc(func(row, _ int) lipgloss.Style {
				if row == table.HeaderRow {
					return headerStyle
				}
				return cellStyle
			})
		_, err := fmt.Fprintln(w, t.Render())
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(upper(headers), "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func upper(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToUpper(v)
	}
	return out
}

// Level colours a status line.
type Level int

// Status line levels.
const (
	OK Level = iota
	Warn
	Hint
)

// Status writes one status line, prefixed with a marker that shows its level.
func Status(w io.Writer, styled bool, level Level, msg string) {
	marker := map[Level]string{OK: "●", Warn: "○", Hint: "→"}[level]
	if !styled {
		fmt.Fprintf(w, "%s %s\n", marker, msg)
		return
	}
	style := map[Level]lipgloss.Style{OK: okStyle, Warn: warnStyle, Hint: hintStyle}[level]
	fmt.Fprintf(w, "%s %s\n", style.Render(marker), msg)
}

// Progress is one status line on a terminal, rewritten in place as a wait
// goes through its steps and cleared when it ends. Away from a terminal it
// shows nothing: logs say the same for those who ask (-v).
type Progress struct {
	w      io.Writer
	on     bool
	styled bool
	shown  bool
}

// NewProgress returns a Progress on w, live only if w is a terminal.
func NewProgress(w io.Writer) *Progress {
	return &Progress{w: w, on: IsTerminal(w), styled: Styled(w)}
}

// Show replaces the line with msg.
func (p *Progress) Show(msg string) {
	if !p.on {
		return
	}
	if p.styled {
		msg = hintStyle.Render("… " + msg)
	} else {
		msg = "… " + msg
	}
	fmt.Fprint(p.w, "\r\x1b[K"+msg)
	p.shown = true
}

// Clear removes the line, if one is shown.
func (p *Progress) Clear() {
	if p.on && p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}
