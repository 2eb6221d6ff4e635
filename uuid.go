package giveathon

import "github.com/google/uuid"

// IsUUID reports whether s is an id as this service writes and PostgreSQL reads them: a UUID
// in its 36-character hyphenated form. uuid.Parse alone also takes "urn:uuid:...", which
// PostgreSQL refuses (a forged cursor or filter made a statement fail: an internal error).
func IsUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}
