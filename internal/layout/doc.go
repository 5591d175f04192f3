// Package layout holds no code: its test keeps the package layout of
// DESIGN.md true, so that imports only point down (cmd -> forward -> tunnel,
// hosts, internal) and lipgloss stays inside internal/ui.
package layout
