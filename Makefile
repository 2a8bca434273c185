# Parley's binaries and packages.
#
#   make            build/parley and build/parley-seed, for development
#   make package    dist/: the desktop app as .tar.xz (fyne package) and
#                   .deb, the seed as a static binary and a .deb (nfpm)
#   make clean      removes build/ and dist/
#
# The version comes from FyneApp.toml, the commit from git; both are stamped
# into the binaries (`parley --version`). Packages are for linux/amd64;
# docs/PLATFORMS.md has the steps for Windows and macOS.

GO      ?= go
VERSION := $(shell sed -n 's/^Version = "\(.*\)"/\1/p' FyneApp.toml)
COMMIT  := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && \
	{ git diff --quiet HEAD -- || c=$$c-dirty; }; echo $${c:-unknown})
STAMP   := -X github.com/parleynet/parley/app.Version=$(VERSION) -X github.com/parleynet/parley/app.Commit=$(COMMIT)
# Release builds: no symbol table or DWARF (stack traces still work). Not
# -trimpath by default: it would compile Fyne's C code again instead of
# sharing the build cache with the tests (minutes on 2 cores);
# `make package TRIMPATH=-trimpath` leaves local paths out of the binaries.
TRIMPATH ?=
RELEASE := $(TRIMPATH) -ldflags "-s -w $(STAMP)"
DEB_ARCH := amd64
# Files in the .debs carry the commit's time, not the build's (nfpm reads it).
ifeq ($(origin SOURCE_DATE_EPOCH),undefined)
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
endif
export SOURCE_DATE_EPOCH

# Where make package works (B) and what it leaves (DIST); the package tests
# point them at a temporary directory.
BUILD ?= build
DIST  ?= dist
B := $(abspath $(BUILD))
DIST_TARXZ := $(DIST)/parley-$(VERSION)-linux-amd64.tar.xz
DIST_DEB   := $(DIST)/parley_$(VERSION)_$(DEB_ARCH).deb
DIST_SEED  := $(DIST)/parley-seed-$(VERSION)-linux-amd64
DIST_SDEB  := $(DIST)/parley-seed_$(VERSION)_$(DEB_ARCH).deb

.PHONY: all build package clean FORCE
all build: build/parley build/parley-seed

# Go decides what is stale; make always asks it.
build/parley: FORCE
	$(GO) build -ldflags "$(STAMP)" -o $@ .
build/parley-seed: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags "$(STAMP)" -o $@ ./cmd/parley-seed

$(B)/release/parley: FORCE
	$(GO) build $(RELEASE) -o $@ .
$(B)/release/parley-seed: FORCE
	CGO_ENABLED=0 $(GO) build $(RELEASE) -o $@ ./cmd/parley-seed

# The packaging tools, at the versions packaging/tools/go.mod pins.
$(B)/tools/nfpm $(B)/tools/fyne &: packaging/tools/go.mod packaging/tools/go.sum
	cd packaging/tools && $(GO) build -o $(B)/tools/ \
		github.com/goreleaser/nfpm/v2/cmd/nfpm fyne.io/fyne/v2/cmd/fyne

package: $(DIST_TARXZ) $(DIST_DEB) $(DIST_SEED) $(DIST_SDEB)
	@ls -l $(DIST)/

# fyne package runs in a copy of FyneApp.toml and the icon, because it
# counts builds by rewriting FyneApp.toml.
$(DIST_TARXZ): $(B)/release/parley $(B)/tools/fyne FyneApp.toml assets/icon.png
	rm -rf $(B)/pkg/fyne && mkdir -p $(B)/pkg/fyne/assets $(DIST)
	cp FyneApp.toml $(B)/pkg/fyne/
	cp assets/icon.png $(B)/pkg/fyne/assets/
	cp $(B)/release/parley $(B)/pkg/fyne/parley
	cd $(B)/pkg/fyne && $(B)/tools/fyne package --os linux --exe parley \
		--appVersion $(VERSION) >/dev/null
	mv $(B)/pkg/fyne/Parley.tar.xz $@

# Files the .deb recipes take from $(B)/pkg: icons, changelogs, man pages.
$(B)/pkg/stamp: FORCE
	rm -rf $(B)/pkg/hicolor $(B)/pkg/man $(B)/pkg/parley $(B)/pkg/parley-seed
	mkdir -p $(B)/pkg/man $(B)/pkg/parley $(B)/pkg/parley-seed
	$(GO) run ./packaging/mkicons -src assets/icon.png -name parley -out $(B)/pkg/hicolor
	gzip -9n < packaging/debian/changelog > $(B)/pkg/parley/changelog.gz
	sed 's/^parley (/parley-seed (/' packaging/debian/changelog | gzip -9n > $(B)/pkg/parley-seed/changelog.gz
	gzip -9n < packaging/man/parley.1 > $(B)/pkg/man/parley.1.gz
	gzip -9n < packaging/man/parley-seed.8 > $(B)/pkg/man/parley-seed.8.gz
	touch $@

# The nfpm recipes find the staged files under $BUILD.
$(DIST_DEB): $(B)/release/parley $(B)/pkg/stamp $(B)/tools/nfpm
	mkdir -p $(DIST)
	VERSION=$(VERSION) BUILD=$(B) $(B)/tools/nfpm package --config packaging/desktop/parley.yaml \
		--packager deb --target $@ >/dev/null

$(DIST_SDEB): $(B)/release/parley-seed $(B)/pkg/stamp $(B)/tools/nfpm
	mkdir -p $(DIST)
	VERSION=$(VERSION) BUILD=$(B) $(B)/tools/nfpm package --config packaging/seed/parley-seed.yaml \
		--packager deb --target $@ >/dev/null

$(DIST_SEED): $(B)/release/parley-seed
	mkdir -p $(DIST)
	cp $< $@

clean:
	rm -rf build dist
