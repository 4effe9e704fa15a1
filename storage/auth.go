package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/pkg/docker/config"
	"go.podman.io/image/v5/types"
)

// ErrUnauthorized is wrapped when a registry refuses the credentials
// (login), or asks for some that were not given (pull, push).
var ErrUnauthorized = errors.New("unauthorized")

// ErrNotLoggedIn is wrapped by Logout when the auth file holds no
// credentials for the registry.
var ErrNotLoggedIn = errors.New("not logged into")

// AuthOptions say which registry, credentials and auth file login and
// logout use. The auth file is podman's ($REGISTRY_AUTH_FILE, else
// $XDG_RUNTIME_DIR/containers/auth.json) unless AuthFile is set; reading,
// ~/.docker/config.json is also looked at, as package
// go.podman.io/image/v5/pkg/docker/config does.
type AuthOptions struct {
	// Registry is HOST[:PORT], optionally with a namespace
	// (HOST/NAMESPACE) or an http(s):// prefix, as login takes it.
	Registry           string
	Username, Password string
	AuthFile           string
	SkipTLSVerify      types.OptionalBool
}

func (o AuthOptions) sys() *types.SystemContext {
	return &types.SystemContext{AuthFilePath: o.AuthFile, DockerInsecureSkipTLSVerify: o.SkipTLSVerify}
}

// authKey is the auth file key of a registry as typed (podman's: no
// scheme, no trailing slash; docker.io for Docker Hub) and the host to
// check it against.
func authKey(registry string) (key, host string, err error) {
	key = strings.TrimPrefix(strings.TrimPrefix(registry, "https://"), "http://")
	if key != registry {
		key, _, _ = strings.Cut(key, "/") // a URL: its host only, as podman
	}
	key = strings.TrimSuffix(key, "/")
	if key == "" {
		return "", "", fmt.Errorf("%w: no registry given", ErrBadReference)
	}
	if strings.ContainsAny(key, "@ ") {
		return "", "", fmt.Errorf("%w: %q is not a registry (HOST[:PORT][/NAMESPACE])", ErrBadReference, registry)
	}
	host, _, _ = strings.Cut(key, "/")
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		host = "registry-1.docker.io"
	}
	return key, host, nil
}

// StoredLogin returns the user name the auth files hold for the
// registry, and its password ("" if none).
func StoredLogin(o AuthOptions) (user, password string, err error) {
	key, _, err := authKey(o.Registry)
	if err != nil {
		return "", "", err
	}
	c, err := config.GetCredentials(o.sys(), key)
	if err != nil {
		return "", "", err
	}
	return c.Username, c.Password, nil
}

// CheckLogin asks the registry whether it takes the credentials. Refused:
// ErrUnauthorized.
func CheckLogin(ctx context.Context, o AuthOptions) error {
	key, host, err := authKey(o.Registry)
	if err != nil {
		return err
	}
	err = docker.CheckAuth(ctx, o.sys(), o.Username, o.Password, host)
	var ue docker.ErrUnauthorizedForCredentials
	if errors.As(err, &ue) {
		return fmt.Errorf("logging into %q: invalid username/password (%w)", key, ErrUnauthorized)
	}
	if err != nil {
		return fmt.Errorf("authenticating creds for %q: %w", key, explain(err))
	}
	return nil
}

// Login checks the credentials with the registry (CheckLogin) and, if it
// takes them, saves them in the auth file; it returns the key saved. A
// refusal saves nothing.
func Login(ctx context.Context, o AuthOptions) (string, error) {
	if err := CheckLogin(ctx, o); err != nil {
		return "", err
	}
	key, _, _ := authKey(o.Registry)
	if _, err := config.SetCredentials(o.sys(), key, o.Username, o.Password); err != nil {
		return "", fmt.Errorf("saving the credentials for %s: %w", key, err)
	}
	return key, nil
}

// Logout removes the registry's credentials from the auth file (all of
// them with all). Credentials only ~/.docker/config.json holds are
// docker login's: Logout says so and leaves them.
func Logout(o AuthOptions, all bool) error {
	if all {
		return config.RemoveAllAuthentication(o.sys())
	}
	key, _, err := authKey(o.Registry)
	if err != nil {
		return err
	}
	err = config.RemoveAuthentication(o.sys(), key)
	if errors.Is(err, config.ErrNotLoggedIn) {
		if c, gerr := config.GetCredentials(o.sys(), key); gerr == nil && c.Username != "" {
			return fmt.Errorf("%w %s with usandbox: the credentials were saved by docker login (~/.docker/config.json): use docker logout", ErrNotLoggedIn, key)
		}
		return fmt.Errorf("%w %s", ErrNotLoggedIn, key)
	}
	return err
}
