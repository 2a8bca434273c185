# Shared by the scripts in this folder: the repo root, Go on PATH, and the
# version stamp for builds.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
VERSION=$(sed -n 's/^Version = "\(.*\)"/\1/p' FyneApp.toml)
# As the Makefile stamps it: 12 hex digits, -dirty with uncommitted changes.
COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$COMMIT" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then COMMIT=$COMMIT-dirty; fi
LDFLAGS="-X github.com/parleynet/parley/app.Version=$VERSION -X github.com/parleynet/parley/app.Commit=$COMMIT"
