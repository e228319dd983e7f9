package scenarios

// RoomCount returns the number of rooms c uses (see RoomURIs) without making
// their URIs: for checking sizes before allocating. It is a pure function.
func (c Config) RoomCount() int { return c.roomCount() }
