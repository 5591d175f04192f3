// Package layout holds no code: its tests keep docs/ARCHITECTURE.md true,
// so that imports only point down (cmd -> forward -> tunnel, hosts,
// internal; nothing in internal/ imports tunnel or forward), lipgloss stays
// inside internal/ui, and every package is named in the architecture.
package layout
