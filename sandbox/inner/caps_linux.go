package inner

import (
	"errors"
	"fmt"

	"github.com/moby/sys/capability"

	"usandbox/sandbox/caps"
)

// limitCapabilities leaves only keep in the bounding set, and clears the
// inheritable and ambient sets, so that the command (root or a setuid
// binary inside) can never hold more than keep. The effective and
// permitted sets stay as they are: the rest of the setup needs them, and
// the change to the command's user clears them.
func limitCapabilities(keep []string) error {
	set := make([]capability.Cap, 0, len(keep))
	for _, name := range keep {
		n, ok := caps.Number(name)
		if !ok {
			return fmt.Errorf("unknown capability %q", name)
		}
		set = append(set, capability.Cap(n))
	}
	c, err := capability.NewPid2(0) // this thread: the one that calls execve
	if err == nil {
		err = c.Load()
	}
	if err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	// Apply leaves the bounding set alone, and says nothing, without
	// CAP_SETPCAP.
	if !c.Get(capability.EFFECTIVE, capability.CAP_SETPCAP) {
		return errors.New("limiting capabilities: the setup process lacks CAP_SETPCAP, so it cannot drop any from the bounding set")
	}
	last, err := capability.LastCap()
	if err != nil {
		return fmt.Errorf("limiting capabilities: %w", err)
	}
	c.Clear(capability.BOUNDING)
	c.Set(capability.BOUNDING, set...)
	// Clear(INHERITABLE) alone does nothing (Clear empties the
	// effective, permitted and inheritable sets together or none of
	// them): unset each.
	for i := capability.Cap(0); i <= last; i++ {
		c.Unset(capability.INHERITABLE, i)
	}
	c.Clear(capability.AMBIENT)
	if err := c.Apply(capability.BOUNDS | capability.CAPS | capability.AMBS); err != nil {
		return fmt.Errorf("limiting capabilities: %w", err)
	}
	return nil
}
