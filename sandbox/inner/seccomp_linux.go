package inner

import (
	"fmt"

	"usandbox/internal/trace"
	"usandbox/sandbox/seccomp"
	"usandbox/sandbox/spec"
)

// loadSeccomp installs the sandbox's compiled seccomp filter (computed by
// the parent) on the calling thread, the one that calls execve. It comes
// after everything setup still needs that the filter may refuse, and
// before the change to the command's user: loading needs CAP_SYS_ADMIN in
// the user namespace or no_new_privs.
func loadSeccomp(s *spec.Spec) error {
	if s.Seccomp == nil {
		if s.SeccompProfile == spec.SeccompUnconfined {
			return nil
		}
		return fmt.Errorf("the sandbox's spec has no seccomp filter for profile %q", s.SeccompProfile)
	}
	var prog seccomp.Program
	if err := prog.UnmarshalBinary(s.Seccomp); err != nil {
		return err
	}
	trace.Mark("setup", "seccomp decoded")
	if err := seccomp.Load(prog); err != nil {
		return fmt.Errorf("loading the seccomp filter: %w", err)
	}
	return nil
}
