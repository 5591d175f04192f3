package hosts

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode"

	"github.com/txn2/txeh"
)

// ErrInvalidEntry is matched (errors.Is) by the error Set returns when an
// entry has a malformed address or hostname. Nothing is written then.
var ErrInvalidEntry = errors.New("hosts: invalid entry")

// Entry is one address with its hostnames.
type Entry struct {
	Address   string
	Hostnames []string
}

// normalize checks e and returns it as it will be written: the address in
// canonical form and the hostnames in lower case, as resolvers compare them.
func (e Entry) normalize() (Entry, error) {
	addr, err := netip.ParseAddr(e.Address)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: address %q: %w", ErrInvalidEntry, e.Address, err)
	}
	if addr.Zone() != "" {
		return Entry{}, fmt.Errorf("%w: address %q: zones are not supported", ErrInvalidEntry, e.Address)
	}
	if len(e.Hostnames) == 0 {
		return Entry{}, fmt.Errorf("%w: address %s has no hostnames", ErrInvalidEntry, addr)
	}
	out := Entry{Address: addr.String(), Hostnames: make([]string, len(e.Hostnames))}
	for i, h := range e.Hostnames {
		if err := checkHostname(h); err != nil {
			return Entry{}, fmt.Errorf("%w: hostname %q of %s: %s", ErrInvalidEntry, h, addr, err)
		}
		out.Hostnames[i] = strings.ToLower(h)
	}
	if err := out.checkReadsBack(); err != nil {
		return Entry{}, err
	}
	return out, nil
}

// checkReadsBack parses the line we are about to write with txeh, the
// parser other hosts-file tools use, and insists it reads back as exactly
// this entry; a character our own checks missed cannot then turn the line
// into a comment or into more names than we meant.
func (e Entry) checkReadsBack() error {
	text := e.Address + " " + strings.Join(e.Hostnames, " ")
	parsed, err := txeh.ParseHostsFromString(text)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrInvalidEntry, text, err)
	}
	if len(parsed) != 1 || parsed[0].LineType != txeh.ADDRESS ||
		parsed[0].Address != e.Address || !slices.Equal(parsed[0].Hostnames, e.Hostnames) {
		return fmt.Errorf("%w: %q does not read back as one address line", ErrInvalidEntry, text)
	}
	return nil
}

// checkHostname applies RFC 1123 label rules, plus underscores, which
// service names often carry and resolvers accept from hosts files.
func checkHostname(h string) error {
	switch {
	case h == "":
		return errors.New("empty")
	case len(h) > 253:
		return errors.New("longer than 253 characters")
	case strings.ContainsFunc(h, isSpaceOrControl):
		return errors.New("contains whitespace or control characters")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return errors.New("is an IP address")
	}
	for _, label := range strings.Split(h, ".") {
		if err := checkLabel(label); err != nil {
			return err
		}
	}
	return nil
}

func checkLabel(label string) error {
	switch {
	case label == "":
		return errors.New("has an empty label")
	case len(label) > 63:
		return fmt.Errorf("label %q is longer than 63 characters", label)
	case label[0] == '-' || label[len(label)-1] == '-':
		return fmt.Errorf("label %q starts or ends with '-'", label)
	}
	for _, c := range []byte(label) {
		if !isLabelByte(c) {
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	return nil
}

func isLabelByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func isSpaceOrControl(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r)
}

// CheckHostname reports why h cannot be written to a hosts file (wrapping
// ErrInvalidEntry), or nil: RFC 1123 labels, underscores allowed, no IP
// addresses.
func CheckHostname(h string) error {
	if err := checkHostname(h); err != nil {
		return fmt.Errorf("%w: hostname %q: %s", ErrInvalidEntry, h, err)
	}
	return nil
}
