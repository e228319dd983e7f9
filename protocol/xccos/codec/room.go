package codec

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// RoomScheme starts every room URI (MindAlign channel, note §6) [C].
const RoomScheme = "ma-chan://"

// A Room is a room's address, ma-chan://Domain/ID: the SIP domain and the room id (a
// GUID on Lync 2013 and later, a small number on older servers), the split that
// chanid and fib use (note §5.4, §6) [C]. It is a plain value.
type Room struct {
	Domain string
	ID     string
}

// ParseRoom parses a room URI. The scheme is matched case-insensitively and
// surrounding white space is ignored; the domain and id must be non-empty, the
// domain has no "/", and neither has white space or control characters. It is a
// pure function.
func ParseRoom(uri string) (Room, error) {
	s := strings.TrimSpace(uri)
	if len(s) < len(RoomScheme) || !strings.EqualFold(s[:len(RoomScheme)], RoomScheme) {
		return Room{}, fmt.Errorf("xccos: room URI %q does not start with %s", uri, RoomScheme)
	}
	domain, id, ok := strings.Cut(s[len(RoomScheme):], "/")
	switch {
	case !ok || id == "":
		return Room{}, fmt.Errorf("xccos: room URI %q has no room id (want %sDOMAIN/ID)", uri, RoomScheme)
	case domain == "":
		return Room{}, fmt.Errorf("xccos: room URI %q has no domain (want %sDOMAIN/ID)", uri, RoomScheme)
	}
	if err := roomPart(domain); err != nil {
		return Room{}, fmt.Errorf("xccos: room URI %q: domain: %w", uri, err)
	}
	if err := roomPart(id); err != nil {
		return Room{}, fmt.Errorf("xccos: room URI %q: id: %w", uri, err)
	}
	return Room{Domain: domain, ID: id}, nil
}

func roomPart(s string) error {
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return errors.New("white space or control character")
		}
	}
	return nil
}

// String returns the room URI, ma-chan://Domain/ID.
func (r Room) String() string { return RoomScheme + r.Domain + "/" + r.ID }

// Equal reports whether r and o are the same room. Domains and ids (GUIDs) are
// compared case-insensitively because servers and clients vary their case [I].
func (r Room) Equal(o Room) bool {
	return strings.EqualFold(r.Domain, o.Domain) && strings.EqualFold(r.ID, o.ID)
}
