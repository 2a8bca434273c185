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

DIST_TARXZ := dist/parley-$(VERSION)-linux-amd64.tar.xz
DIST_DEB   := dist/parley_$(VERSION)_$(DEB_ARCH).deb
DIST_SEED  := dist/parley-seed-$(VERSION)-linux-amd64
DIST_SDEB  := dist/parley-seed_$(VERSION)_$(DEB_ARCH).deb

.PHONY: all build package clean FORCE
all build: build/parley build/parley-seed

# Go decides what is stale; make always asks it.
build/parley: FORCE
	$(GO) build -ldflags "$(STAMP)" -o $@ .
build/parley-seed: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags "$(STAMP)" -o $@ ./cmd/parley-seed

build/release/parley: FORCE
	$(GO) build $(RELEASE) -o $@ .
build/release/parley-seed: FORCE
	CGO_ENABLED=0 $(GO) build $(RELEASE) -o $@ ./cmd/parley-seed

# The packaging tools, at the versions packaging/tools/go.mod pins.
build/tools/nfpm build/tools/fyne &: packaging/tools/go.mod packaging/tools/go.sum
	cd packaging/tools && $(GO) build -o ../../build/tools/ \
		github.com/goreleaser/nfpm/v2/cmd/nfpm fyne.io/fyne/v2/cmd/fyne

package: $(DIST_TARXZ) $(DIST_DEB) $(DIST_SEED) $(DIST_SDEB)
	@ls -l dist/

# fyne package runs in a copy of FyneApp.toml and the icon, because it
# counts builds by rewriting FyneApp.toml.
$(DIST_TARXZ): build/release/parley build/tools/fyne FyneApp.toml assets/icon.png
	rm -rf build/pkg/fyne && mkdir -p build/pkg/fyne/assets dist
	cp FyneApp.toml build/pkg/fyne/
	cp assets/icon.png build/pkg/fyne/assets/
	cp build/release/parley build/pkg/fyne/parley
	cd build/pkg/fyne && ../../tools/fyne package --os linux --exe parley \
		--appVersion $(VERSION) >/dev/null
	mv build/pkg/fyne/Parley.tar.xz $@

# Files the .deb recipes take from build/pkg: icons, changelogs, man pages.
build/pkg/stamp: FORCE
	rm -rf build/pkg/hicolor build/pkg/man build/pkg/parley build/pkg/parley-seed
	mkdir -p build/pkg/man build/pkg/parley build/pkg/parley-seed
	$(GO) run ./packaging/mkicons -src assets/icon.png -name parley -out build/pkg/hicolor
	gzip -9n < packaging/debian/changelog > build/pkg/parley/changelog.gz
	sed 's/^parley (/parley-seed (/' packaging/debian/changelog | gzip -9n > build/pkg/parley-seed/changelog.gz
	gzip -9n < packaging/man/parley.1 > build/pkg/man/parley.1.gz
	gzip -9n < packaging/man/parley-seed.8 > build/pkg/man/parley-seed.8.gz
	touch $@

$(DIST_DEB): build/release/parley build/pkg/stamp build/tools/nfpm
	mkdir -p dist
	VERSION=$(VERSION) build/tools/nfpm package --config packaging/desktop/parley.yaml \
		--packager deb --target $@ >/dev/null

$(DIST_SDEB): build/release/parley-seed build/pkg/stamp build/tools/nfpm
	mkdir -p dist
	VERSION=$(VERSION) build/tools/nfpm package --config packaging/seed/parley-seed.yaml \
		--packager deb --target $@ >/dev/null

$(DIST_SEED): build/release/parley-seed
	mkdir -p dist
	cp $< $@

clean:
	rm -rf build dist
