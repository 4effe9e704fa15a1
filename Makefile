# usandbox: rootless sandboxes from OCI images.
#   make demo   set up this machine (apt, test user, test image) and run the main job
#   make test   unit tests, then the integration tests as an unprivileged user

GO ?= go
# seccomp: package sandbox/seccomp compiles filters with libseccomp (cgo,
# libseccomp-dev from hack/deps.sh) and refuses to build without the tag.
export GOFLAGS := -buildvcs=false -tags=containers_image_openpgp,exclude_graphdriver_btrfs,seccomp
export CGO_ENABLED := 1
# The test images (hack/images.sh) and the VM's kernel (hack/vmtest.sh) live
# in CACHE, and the integration tests run as TEST_USER. The hack scripts
# read them as USANDBOX_TEST_CACHE and USANDBOX_TEST_USER, so either
# spelling works: make CACHE=/tmp/c test, or USANDBOX_TEST_CACHE=/tmp/c make test.
CACHE ?= $(or $(USANDBOX_TEST_CACHE),/var/cache/usandbox-test)
TEST_USER ?= $(or $(USANDBOX_TEST_USER),usandbox-test)
export USANDBOX_TEST_CACHE := $(CACHE)
export USANDBOX_TEST_USER := $(TEST_USER)

# A module of its own: the testcontainers-go test (bin/tc.test).
TC_MODULE := integration/testcontainers
SOURCES := $(shell find . -path ./hack/mkimage -prune -o -path ./hack/attack -prune -o -path ./$(TC_MODULE) -prune -o \( -name '*.go' -o -name '*.c' -o -name '*.h' \) -print) go.mod go.sum

.PHONY: all build build-tests test unit integration test-vm demo bench lint deps clean man install

# install puts the binaries in PREFIX/bin and the man pages in
# PREFIX/share/man/man1 (DESTDIR before both, for packaging).
PREFIX ?= /usr/local

all: build

build: bin/usandbox bin/usandbox-init bin/usandbox-image bin/usandbox-runc

# usandbox is linked statically: a sandbox's init re-executes it inside
# the sandbox's root filesystem (package sandbox/lean), where the host's
# dynamic loader is not.
bin/usandbox: $(SOURCES)
	GOFLAGS="$(GOFLAGS),osusergo,netgo" $(GO) build -ldflags '-s -w -linkmode external -extldflags "-static"' -o $@ ./cmd/usandbox

# usandbox-init, the sandbox role alone (keeper, init, setup), which usandbox
# starts sandboxes from when it is next to it: static for the same reason.
bin/usandbox-init: $(SOURCES)
	GOFLAGS="$(GOFLAGS),osusergo,netgo" $(GO) build -ldflags '-s -w -linkmode external -extldflags "-static"' -o $@ ./cmd/usandbox-init

# usandbox-runc, the OCI runtime (package ociruntime), is static too: a
# container's setup runs it from a root that may have no loader.
bin/usandbox-runc: $(SOURCES)
	GOFLAGS="$(GOFLAGS),osusergo,netgo" $(GO) build -ldflags '-s -w -linkmode external -extldflags "-static"' -o $@ ./cmd/usandbox-runc

bin/usandbox-image: $(SOURCES)
	$(GO) build -o $@ ./cmd/usandbox-image

bin/integration.test: $(SOURCES)
	GOFLAGS="$(GOFLAGS),integration" $(GO) test -c -o $@ ./integration

bin/mkimage: $(shell find hack/mkimage -name '*.go')
	$(GO) build -o $@ ./hack/mkimage

# The attacker the escape tests run inside sandboxes: static, any image.
bin/attack: $(shell find hack/attack -name '*.go')
	CGO_ENABLED=0 $(GO) build -o $@ ./hack/attack

# The testcontainers-go test (TestDockerAPITestcontainers runs it against
# the service), from its own module (TC_MODULE) so that testcontainers'
# dependencies stay out of go.mod; its modules come from the Go module proxy.
bin/tc.test: $(wildcard $(TC_MODULE)/*.go) $(TC_MODULE)/go.mod $(TC_MODULE)/go.sum
	cd $(TC_MODULE) && $(GO) test -c -o $(CURDIR)/$@ .

build-tests: build bin/integration.test bin/mkimage bin/attack bin/tc.test

# The man pages, from the command tree (cmd/usandbox/man_test.go: the
# generator stays out of the usandbox binary): man/man1/usandbox*.1.
man: $(SOURCES)
	rm -rf man/man1
	USANDBOX_MAN_DIR=$(CURDIR)/man/man1 $(GO) test -count=1 -run '^TestManPages$$' ./cmd/usandbox

install: build man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 bin/usandbox bin/usandbox-init bin/usandbox-image bin/usandbox-runc $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

# Everything CI runs.
test: lint unit integration test-vm test-oci

unit:
	$(GO) test -count=1 ./...

# As root this creates the test user and images and runs the tests as that
# user; as a user with a subuid range it runs them as you.
integration: build-tests
	bash hack/integration.sh $(if $(RUN),-test.run '$(RUN)')

# The resource-limit tests, for real, in a VM with pure cgroup v2 (this
# host's cgroups are hybrid).
test-vm: build-tests
	bash hack/vmtest.sh $(if $(RUN),-test.run '$(RUN)')

# Installs what is missing from apt (root only), builds, creates the test
# user and image, then shows usandbox working as that user.
demo: build
	bash hack/demo.sh

bench: build-tests
	bash hack/bench.sh
	bash hack/vmtest.sh --bench

# runtime-tools' OCI validation suite against runc and bin/usandbox-runc,
# as root and rootless, one table (hack/test-oci.sh: RUNTIMES, MODES, RUN).
# It fails when usandbox-runc does not pass a program runc passes, but for
# the known gaps of hack/ocisuite/known-gaps (each with its reason).
.PHONY: test-oci
test-oci: bin/usandbox-runc
	bash hack/test-oci.sh

deps:
	bash hack/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOFLAGS="$(GOFLAGS),integration" $(GO) vet ./integration
	cd $(TC_MODULE) && $(GO) vet ./...
	@tmp=$$(mktemp -d); cp go.mod go.sum "$$tmp/"; $(GO) mod tidy; \
	if ! cmp -s go.mod "$$tmp/go.mod" || ! cmp -s go.sum "$$tmp/go.sum"; then \
		echo "go mod tidy changes go.mod/go.sum:"; diff -u "$$tmp/go.mod" go.mod; cp "$$tmp/go.mod" "$$tmp/go.sum" .; rm -rf "$$tmp"; exit 1; fi; \
	rm -rf "$$tmp"
	@tmp=$$(mktemp -d); cd $(TC_MODULE) && cp go.mod go.sum "$$tmp/" && $(GO) mod tidy; \
	if ! cmp -s go.mod "$$tmp/go.mod" || ! cmp -s go.sum "$$tmp/go.sum"; then \
		echo "go mod tidy changes $(TC_MODULE)/go.mod/go.sum:"; diff -u "$$tmp/go.mod" go.mod; cp "$$tmp/go.mod" "$$tmp/go.sum" .; rm -rf "$$tmp"; exit 1; fi; \
	rm -rf "$$tmp"

clean:
	rm -rf bin man
