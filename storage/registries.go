package storage

import (
	"fmt"

	"go.podman.io/image/v5/pkg/sysregistriesv2"
	"go.podman.io/image/v5/types"
)

// SearchRegistries are registries.conf's unqualified-search-registries,
// read as a pull reads them (usandbox info shows them, as podman's does).
func SearchRegistries() ([]string, error) {
	regs, err := sysregistriesv2.UnqualifiedSearchRegistries(&types.SystemContext{})
	if err != nil {
		return nil, fmt.Errorf("storage: reading registries.conf: %w", err)
	}
	return regs, nil
}
