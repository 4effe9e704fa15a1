package lifecycle

import (
	"errors"

	"usandbox/sandbox"
	"usandbox/storage/index"
	"usandbox/userns"
	"usandbox/volume"
)

// The kinds of failure a front end branches on (errors.Is). Every error
// the Engine returns matches at most one of them; an error matching none
// is usandbox's own failure. The CLI maps them all to exit status 125, as
// podman does; the Docker API maps them to 404, 409, 304, 400 and 500.
var (
	// ErrNotFound: no such sandbox (or image, for Create).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the sandbox's state forbids the operation (rm of a
	// running sandbox, a name in use, a damaged record).
	ErrConflict = errors.New("conflict")
	// ErrNotRunning: the operation needs a running sandbox.
	ErrNotRunning = errors.New("not running")
	// ErrAlreadyRunning: start of a running sandbox.
	ErrAlreadyRunning = errors.New("already running")
	// ErrInvalid: a bad argument (an option, an ambiguous ID prefix).
	ErrInvalid = errors.New("invalid argument")
	// ErrHostCannot: this host lacks what the operation needs (user
	// namespaces, subordinate IDs, a cgroup controller, a network tool).
	ErrHostCannot = errors.New("host cannot")
	// ErrUnauthorized: a registry refused the credentials, or wants some.
	ErrUnauthorized = errors.New("unauthorized")
)

// ErrImageUnknown is matched (beside ErrNotFound) by a Create whose
// image the store lacks: the one not-found a front end may pull for.
var ErrImageUnknown = index.ErrImageUnknown

// kinds are the Kind errors, for Kind.
var kinds = []error{ErrNotFound, ErrConflict, ErrNotRunning, ErrAlreadyRunning, ErrInvalid, ErrHostCannot, ErrUnauthorized}

// Kind is the kind of err (one of the Err* above), or nil when err is
// none of them (usandbox's own failure) or nil.
func Kind(err error) error {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// kindError gives an error of a lower package its kind. Its message is the
// wrapped error's, unchanged.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string        { return e.err.Error() }
func (e *kindError) Unwrap() error        { return e.err }
func (e *kindError) Is(target error) bool { return target == e.kind }

// classify wraps err with its kind, from what the lower packages return.
func classify(err error) error {
	if err == nil || Kind(err) != nil {
		return err
	}
	var he *userns.HostError
	var kind error
	switch {
	case errors.Is(err, sandbox.ErrNoSuchSandbox), errors.Is(err, index.ErrImageUnknown), errors.Is(err, volume.ErrNoSuchVolume):
		kind = ErrNotFound
	case errors.Is(err, sandbox.ErrAmbiguous), errors.Is(err, index.ErrAmbiguous), errors.Is(err, sandbox.ErrInvalid), errors.Is(err, sandbox.ErrNoCommand), errors.Is(err, volume.ErrInvalid):
		kind = ErrInvalid
	case errors.Is(err, sandbox.ErrNameInUse), errors.Is(err, sandbox.ErrDamaged), errors.Is(err, sandbox.ErrRunning), errors.Is(err, volume.ErrExists):
		kind = ErrConflict
	case errors.Is(err, sandbox.ErrNotRunning):
		kind = ErrNotRunning
	case errors.As(err, &he):
		kind = ErrHostCannot
	default:
		return err
	}
	return &kindError{kind, err}
}

// as gives err the kind k whatever it is.
func as(k, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{k, err}
}
