// Package packaging holds what turns Parley into packages people install,
// and the tests that check them; `make package` at the repository's root
// runs it all:
//
//   - desktop/: the .desktop entry and the nfpm recipe of the desktop
//     app's .deb (its .tar.xz comes from `fyne package`);
//   - seed/: the seed's systemd unit, environment file, maintainer
//     scripts, nfpm recipe and Dockerfile;
//   - debian/, man/: copyright, changelog and manual pages both .debs ship;
//   - mkicons/: resizes assets/icon.png to every freedesktop hicolor size;
//   - tools/: a separate Go module pinning nfpm and the fyne command;
//   - install-deps.sh: the system packages building and testing need.
//
// The tests build both .debs, check their contents and lintian's verdict,
// install them with apt in a clean Debian root made by debootstrap and run
// both binaries there, the desktop app in a window on Xvfb, boot a root with
// the seed's .deb under systemd (systemd-nspawn) and check its service (all
// as root only), and check that every package that needs no cgo builds for
// Windows and macOS.
package packaging
