package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"usandbox/network"
	"usandbox/network/holder"
	"usandbox/sandbox"
)

// resolveNetworks finds what o's --network names: the configurations of
// its networks, or the running sandbox whose namespaces it shares.
func (e *Engine) resolveNetworks(o *CreateOptions) error {
	switch o.Network.Mode {
	case network.Bridge:
		store := e.Networks()
		o.Networks = nil
		for i, a := range o.Network.Networks {
			cfg, err := store.Get(a.Name)
			if err != nil {
				return classifyNetwork(err)
			}
			// The name, not an ID prefix: what rm's in-use check matches.
			o.Network.Networks[i].Name = cfg.Name
			o.Networks = append(o.Networks, *cfg)
		}
	case network.Container:
		sb, err := sandbox.Lookup(e.paths, o.Network.Container)
		if err != nil {
			return classify(err)
		}
		if !sb.State.Running {
			return as(ErrNotRunning, fmt.Errorf("cannot share the network of sandbox %s: it is not running: start it first", sb.Name))
		}
		if sb.Network.Mode == network.Host {
			return as(ErrInvalid, fmt.Errorf("sandbox %s uses the host's network: use --network host", sb.Name))
		}
		o.Network.Container = sb.ID
	}
	return nil
}

// netRunDir is where the networks' holder keeps its socket and state.
func (e *Engine) netRunDir() string { return filepath.Join(e.paths.RunRoot, "networks") }

// NetworkConnect puts sandbox ref on network name, answering to aliases
// there too: at once if it runs (its user namespace must be a network
// member's: it was started on some network), and at its every start.
func (e *Engine) NetworkConnect(ctx context.Context, name, ref string, aliases []string) error {
	for _, a := range aliases {
		if err := network.CheckAlias(a); err != nil {
			return as(ErrInvalid, err)
		}
	}
	cfg, err := e.Networks().Get(name)
	if err != nil {
		return classifyNetwork(err)
	}
	sb, err := sandbox.Lookup(e.paths, ref)
	if err != nil {
		return classify(err)
	}
	if sb.Network.Mode != network.Bridge {
		return as(ErrInvalid, fmt.Errorf("sandbox %s was not created on a network (it has --network %s): create it with --network NAME to connect it to others", sb.Name, sb.Network.Mode))
	}
	for _, a := range sb.Network.Networks {
		if a.Name == cfg.Name {
			return as(ErrConflict, fmt.Errorf("sandbox %s is already connected to network %s", sb.Name, cfg.Name))
		}
	}
	if sb.State.Running {
		req := holder.Request{Kind: holder.KindConnect, ID: sb.ID, Networks: []holder.Join{{Config: *cfg, Aliases: aliases}}}
		if _, ok, err := holder.Ask(e.netRunDir(), req); err != nil {
			return classifyHolder(err)
		} else if !ok {
			return as(ErrConflict, fmt.Errorf("sandbox %s runs but its networks do not (their holder was killed): restart it", sb.Name))
		}
	}
	return classify(sandbox.SetNetworks(e.paths, sb.ID, func(nets []network.Attach) ([]network.Attach, error) {
		return append(nets, network.Attach{Name: cfg.Name, Aliases: aliases}), nil
	}))
}

// NetworkDisconnect takes sandbox ref off network name (at once if it
// runs).
func (e *Engine) NetworkDisconnect(ctx context.Context, name, ref string) error {
	cfg, err := e.Networks().Get(name)
	if err != nil {
		return classifyNetwork(err)
	}
	sb, err := sandbox.Lookup(e.paths, ref)
	if err != nil {
		return classify(err)
	}
	on := false
	for _, a := range sb.Network.Networks {
		on = on || a.Name == cfg.Name
	}
	if !on {
		return as(ErrInvalid, fmt.Errorf("sandbox %s is not connected to network %s", sb.Name, cfg.Name))
	}
	if sb.State.Running {
		req := holder.Request{Kind: holder.KindDisconnect, ID: sb.ID, Network: cfg.Name}
		if _, _, err := holder.Ask(e.netRunDir(), req); err != nil {
			return classifyHolder(err)
		}
	}
	return classify(sandbox.SetNetworks(e.paths, sb.ID, func(nets []network.Attach) ([]network.Attach, error) {
		var out []network.Attach
		for _, a := range nets {
			if a.Name != cfg.Name {
				out = append(out, a)
			}
		}
		return out, nil
	}))
}

// NetworkMembers are the members of the running networks, by network
// name (none when no network runs).
func (e *Engine) NetworkMembers() (map[string][]holder.MemberStatus, error) {
	rep, ok, err := holder.Ask(e.netRunDir(), holder.Request{Kind: holder.KindStatus})
	if err != nil || !ok {
		return nil, err
	}
	out := map[string][]holder.MemberStatus{}
	for _, n := range rep.Networks {
		out[n.Name] = n.Members
	}
	return out, nil
}

func classifyHolder(err error) error {
	if errors.Is(err, holder.ErrConflict) {
		return as(ErrConflict, err)
	}
	return err
}
