package dvv

import "errors"

var (
	// ErrCorrupt is wrapped by every error from Decode and DecodeToken: the
	// input is not something Encode or EncodeToken produced.
	ErrCorrupt = errors.New("dvv: corrupt encoding")

	// ErrClockOffset is wrapped by the error Clock.Update returns when a
	// remote timestamp is further ahead of the local wall clock than the
	// clock's maximum offset.
	ErrClockOffset = errors.New("dvv: remote clock too far ahead")
)
