package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"usandbox/network"
	"usandbox/storage/index"
)

// Rename gives the sandbox id the name name, under the names lock, so
// that no Create or other Rename takes the name meanwhile. A running
// sandbox may be renamed (podman 4.3 allows it): only the record
// changes; its hostname and /etc/hosts stay as they were, as podman's do.
func Rename(p index.Paths, id, name string) error {
	if !validName.MatchString(name) {
		return invalidf("invalid sandbox name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed", name)
	}
	unlock, err := lockNames(p)
	if err != nil {
		return err
	}
	defer unlock()
	if other, err := Lookup(p, name); err == nil && other.Name == name {
		if other.ID == id {
			return nil
		}
		return fmt.Errorf("%w: the name %q is used by sandbox %s: remove it or pick another name", ErrNameInUse, name, ShortID(other.ID))
	}
	return updateRecord(p, id, func(r *Record) error { r.Name = name; return nil })
}

// SetNetworks changes the networks a Bridge sandbox joins at its next
// start (network connect, disconnect), under the names lock.
func SetNetworks(p index.Paths, id string, fn func(nets []network.Attach) ([]network.Attach, error)) error {
	unlock, err := lockNames(p)
	if err != nil {
		return err
	}
	defer unlock()
	return updateRecord(p, id, func(r *Record) error {
		nets, err := fn(r.Network.Networks)
		r.Network.Networks = nets
		return err
	})
}

// updateRecord rewrites sandbox id's record changed by fn; the caller
// holds the names lock.
func updateRecord(p index.Paths, id string, fn func(*Record) error) error {
	sb, err := Load(p, id)
	if err != nil {
		return err
	}
	if err := sb.Damaged(); err != nil {
		return err
	}
	if err := fn(&sb.Record); err != nil {
		return err
	}
	b, err := json.MarshalIndent(&sb.Record, "", " ")
	if err != nil {
		return err
	}
	path := filepath.Join(sb.Dir, configFile)
	if _, err := os.Stat(filepath.Join(sb.Dir, autoRemoveFile)); err == nil {
		// As prepareDir writes an --rm sandbox's record (no journal
		// commit).
		return writeRunState(path, b)
	}
	return writeFileAtomic(path, b)
}
