//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dockerOK runs the docker CLI and fails the test unless it exits 0.
func dockerOK(t *testing.T, bin, host string, args ...string) string {
	t.Helper()
	r := docker(t, bin, host, args...)
	if r.code != 0 {
		t.Fatalf("docker %s: exit %d\nstdout %s\nstderr %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// dockerFails runs the docker CLI and fails the test unless it exits 1
// saying want.
func dockerFails(t *testing.T, bin, host, want string, args ...string) {
	t.Helper()
	r := docker(t, bin, host, args...)
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("docker %s: exit %d, want 1 saying %q\nstdout %s\nstderr %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
}

// TestDockerAPIImages: the docker CLI pulls from the local registry
// through the service, with docker's progress, tags, removes and prunes
// images, and gets docker's errors; nothing is left behind.
func TestDockerAPIImages(t *testing.T) {
	bin := dockerCLI(t)
	s := newStore(t)
	host, _ := s.service(t, "0")
	ref := regRef("busybox:latest")

	out := dockerOK(t, bin, host, "pull", ref)
	if !regexp.MustCompile(`(?m)^Digest: sha256:[0-9a-f]{64}$`).MatchString(out) || !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Fatalf("docker pull: %s", out)
	}
	if out = dockerOK(t, bin, host, "pull", ref); !strings.Contains(out, "Status: Image is up to date for "+ref) {
		t.Fatalf("docker pull again: %s", out)
	}
	if ims := s.images(); len(ims) != 1 || len(ims[0].Names) != 1 || ims[0].Names[0] != ref {
		t.Fatalf("usandbox images after docker pull: %+v", ims)
	}
	if out = dockerOK(t, bin, host, "images", "--format", "{{.Repository}}:{{.Tag}}"); out != ref+"\n" {
		t.Fatalf("docker images: %q", out)
	}

	// tag: podman's names (localhost/ for one without a registry).
	dockerOK(t, bin, host, "tag", ref, "mybox:v1")
	if out = dockerOK(t, bin, host, "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "localhost/mybox:v1\n") {
		t.Fatalf("docker images after tag: %q", out)
	}
	dockerFails(t, bin, host, "No such image: nosuch", "tag", "nosuch", "other:v1")
	if out = dockerOK(t, bin, host, "rmi", "localhost/mybox:v1"); out != "Untagged: localhost/mybox:v1\n" {
		t.Fatalf("docker rmi of one of two names: %q", out)
	}

	// Bad input: docker's words, nothing stored.
	dockerFails(t, bin, host, "no such image", "pull", regRef("no-such-image:latest"))
	dockerFails(t, bin, host, "No such image: nosuch", "rmi", "nosuch")
	dockerFails(t, bin, host, "No such image: nosuch", "save", "-o", t.TempDir()+"/x.tar", "nosuch")
	if ims := s.images(); len(ims) != 1 {
		t.Fatalf("images after the failed pull: %+v", ims)
	}
	s.assertClean()

	// In use: 409 without force; with force the stopped sandbox keeps
	// the image, which loses its names (docker's rmi -f).
	s.ok("create", "--name", "user", ref, "true")
	dockerFails(t, bin, host, "image is in use", "rmi", ref)
	if out = dockerOK(t, bin, host, "rmi", "-f", ref); out != "Untagged: "+ref+"\n" {
		t.Fatalf("docker rmi -f of a stopped sandbox's image: %q", out)
	}
	if ims := s.images(); len(ims) != 1 || len(ims[0].Names) != 0 {
		t.Fatalf("images after rmi -f: %+v", ims)
	}
	if out := s.ok("ps", "-a", "--format", "{{.Names}}"); out != "user\n" {
		t.Fatalf("rmi -f removed the sandbox: %q", out)
	}
	// Dangling but used: prune leaves it; once unused it goes.
	if out = dockerOK(t, bin, host, "image", "prune", "-f"); strings.Contains(out, "Deleted") {
		t.Fatalf("image prune removed a used image: %q", out)
	}
	out = dockerOK(t, bin, host, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
	if !strings.Contains(out, "Images 1 1\n") || !strings.Contains(out, "Containers 1 0\n") || !strings.Contains(out, "Local Volumes 0 0\n") {
		t.Fatalf("docker system df: %q", out)
	}
	s.ok("rm", "user")
	if out = dockerOK(t, bin, host, "image", "prune", "-f"); !strings.Contains(out, "deleted: sha256:") {
		t.Fatalf("image prune of the unused dangling image: %q", out)
	}
	if ims := s.images(); len(ims) != 0 {
		t.Fatalf("images left: %+v", ims)
	}
	if n := len(s.layers()); n != 0 {
		t.Fatalf("%d layers left after removing every image", n)
	}
	s.assertClean()
}

// TestDockerAPINetworksVolumes: docker network and docker volume through
// the service, with docker's errors; nothing is left behind.
func TestDockerAPINetworksVolumes(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	host, _ := s.service(t, "0")

	id := strings.TrimSpace(dockerOK(t, bin, host, "network", "create", "--label", "a=b", "--subnet", "10.123.0.0/24", "--gateway", "10.123.0.1", "net1"))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("docker network create: %q", id)
	}
	dockerFails(t, bin, host, "network with name net1 already exists", "network", "create", "net1")
	dockerFails(t, bin, host, "IPv6", "network", "create", "--ipv6", "net6")
	dockerFails(t, bin, host, "bridge driver", "network", "create", "-d", "macvlan", "netm")
	if out := dockerOK(t, bin, host, "network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "bridge bridge\n") || !strings.Contains(out, "net1 bridge\n") {
		t.Fatalf("docker network ls: %q", out)
	}
	if out := dockerOK(t, bin, host, "network", "ls", "-q", "--filter", "label=a=b", "--no-trunc"); out != id+"\n" {
		t.Fatalf("docker network ls --filter label: %q", out)
	}
	out := dockerOK(t, bin, host, "network", "inspect", "--format", "{{.Name}} {{.Driver}} {{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{.Labels.a}}", id[:12])
	if out != "net1 bridge 10.123.0.0/24 10.123.0.1 b\n" {
		t.Fatalf("docker network inspect: %q", out)
	}
	dockerFails(t, bin, host, "No such network: nosuch", "network", "inspect", "nosuch")
	dockerFails(t, bin, host, "No such container: nosuch", "network", "connect", "net1", "nosuch")
	dockerFails(t, bin, host, "pre-defined network", "network", "rm", "bridge")
	if out := dockerOK(t, bin, host, "network", "rm", "net1"); out != "net1\n" {
		t.Fatalf("docker network rm: %q", out)
	}
	dockerOK(t, bin, host, "network", "create", "net2")
	if out := dockerOK(t, bin, host, "network", "prune", "-f"); !strings.Contains(out, "net2") {
		t.Fatalf("docker network prune: %q", out)
	}

	if out := dockerOK(t, bin, host, "volume", "create", "--label", "x=y", "vol1"); out != "vol1\n" {
		t.Fatalf("docker volume create: %q", out)
	}
	dockerFails(t, bin, host, "driver options", "volume", "create", "-o", "type=tmpfs", "vol2")
	dockerFails(t, bin, host, "local volume driver", "volume", "create", "-d", "nfs", "vol2")
	if out := dockerOK(t, bin, host, "volume", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "label=x=y"); out != "vol1 local\n" {
		t.Fatalf("docker volume ls: %q", out)
	}
	if out := dockerOK(t, bin, host, "volume", "inspect", "--format", "{{.Name}} {{.Driver}} {{.Labels.x}}", "vol1"); out != "vol1 local y\n" {
		t.Fatalf("docker volume inspect: %q", out)
	}
	s.ok("create", "--name", "user", "-v", "vol1:/data", "busybox", "true")
	dockerFails(t, bin, host, "being used", "volume", "rm", "vol1")
	dockerFails(t, bin, host, "being used", "volume", "rm", "-f", "vol1")
	out = dockerOK(t, bin, host, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
	if !strings.Contains(out, "Local Volumes 1 1\n") {
		t.Fatalf("docker system df: %q", out)
	}
	s.ok("rm", "user")
	if out := dockerOK(t, bin, host, "volume", "rm", "vol1"); out != "vol1\n" {
		t.Fatalf("docker volume rm: %q", out)
	}
	dockerFails(t, bin, host, "No such volume: vol1", "volume", "inspect", "vol1")
	dockerFails(t, bin, host, "No such volume: vol1", "volume", "rm", "vol1")
	dockerOK(t, bin, host, "volume", "rm", "-f", "vol1") // docker's -f: an unknown volume is no error
	dockerOK(t, bin, host, "volume", "create", "vol3")
	if out := dockerOK(t, bin, host, "volume", "prune", "-f"); !strings.Contains(out, "vol3") {
		t.Fatalf("docker volume prune: %q", out)
	}

	// Nothing left: the default network only, no volume, no sandbox.
	if out := s.ok("network", "ls", "--format", "{{.Name}}"); out != "bridge\n" {
		t.Fatalf("networks left: %q", out)
	}
	if out := s.ok("volume", "ls", "-q"); out != "" {
		t.Fatalf("volumes left: %q", out)
	}
	s.assertNoSandboxes()
}

// TestDockerAPINetworkConnect: docker network connect and disconnect of
// a running sandbox, which network inspect then shows; a network in use
// is not removed.
func TestDockerAPINetworkConnect(t *testing.T) {
	bin := dockerCLI(t)
	s := withImages(t, false)
	host, _ := s.service(t, "0")
	dockerOK(t, bin, host, "network", "create", "neta")
	dockerOK(t, bin, host, "network", "create", "netb")
	s.ok("run", "-d", "--name", "m", "--network", "neta", "busybox", "sleep", "600")
	members := func(n string) string {
		return dockerOK(t, bin, host, "network", "inspect", "--format", "{{range .Containers}}{{.Name}} {{end}}", n)
	}
	if got := members("neta"); got != "m \n" {
		t.Fatalf("neta's members: %q", got)
	}
	dockerOK(t, bin, host, "network", "connect", "--alias", "late", "netb", "m")
	if got := members("netb"); got != "m \n" {
		t.Fatalf("netb's members after connect: %q", got)
	}
	if out := s.ok("exec", "m", "nslookup", "-type=a", "late"); !strings.Contains(out, "Address: 10.") {
		t.Errorf("the alias given by docker network connect does not resolve: %q", out)
	}
	dockerFails(t, bin, host, "already connected", "network", "connect", "netb", "m")
	dockerFails(t, bin, host, "invalid network alias", "network", "connect", "--alias", "bad alias!", "neta", "m")
	dockerOK(t, bin, host, "network", "disconnect", "netb", "m")
	if got := members("netb"); got != "\n" {
		t.Fatalf("netb's members after disconnect: %q", got)
	}
	dockerFails(t, bin, host, "associated sandboxes", "network", "rm", "neta")
	s.ok("rm", "-f", "m")
	dockerOK(t, bin, host, "network", "rm", "neta", "netb")
	if out := s.ok("network", "ls", "--format", "{{.Name}}"); out != "bridge\n" {
		t.Fatalf("networks left: %q", out)
	}
	s.assertNoSandboxes()
}

// imageToolProcesses lists ours running usandbox-image.
func imageToolProcesses() []int {
	var out []int
	for _, pid := range ourProcesses() {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == env.bin+"-image" {
			out = append(out, pid)
		}
	}
	return out
}

// TestDockerAPIPullCancelled: a client that goes away mid-pull stops the
// pull, which leaves nothing behind; the service goes on answering.
func TestDockerAPIPullCancelled(t *testing.T) {
	bin := dockerCLI(t)
	s := newStore(t)
	host, _ := s.service(t, "0")
	proxy := slowProxy(t, 8<<20) // 8 MB/s: the 50 MB layer takes ~6 s
	c := exec.Command(bin, "pull", proxy+"/debian:bookworm")
	c.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+t.TempDir())
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Pulling fs layer") {
				seen <- ""
				break
			}
		}
		seen <- all.String()
	}()
	select {
	case got := <-seen:
		if got != "" {
			t.Fatalf("docker pull ended before a layer began: %s", got)
		}
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		t.Fatal("docker pull began no layer within 60 s")
	}
	time.Sleep(500 * time.Millisecond)
	c.Process.Kill()
	c.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(imageToolProcesses()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if ps := imageToolProcesses(); len(ps) > 0 {
		t.Fatalf("usandbox-image still runs after the client went away: %v", ps)
	}
	if ims := s.images(); len(ims) != 0 {
		t.Fatalf("images lists the cancelled pull: %+v", ims)
	}
	s.assertClean()
	if out := dockerOK(t, bin, host, "images", "-q"); out != "" {
		t.Fatalf("docker images after the cancelled pull: %q", out)
	}
}
