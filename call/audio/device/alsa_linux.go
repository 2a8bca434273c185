//go:build linux && !android

package device

/*
#cgo pkg-config: alsa
#include <alsa/asoundlib.h>
#include <stdarg.h>
#include <stdio.h>

extern void parleyALSAError(char *msg);

static void parley_alsa_error(const char *file, int line, const char *function, int err, const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	parleyALSAError(buf);
}

static void parley_alsa_quiet(void) {
	snd_lib_error_set_handler(parley_alsa_error);
}
*/
import "C"

import (
	"log/slog"
	"sync"
)

var quietOnce sync.Once

// quietALSA routes alsa-lib's own error messages ("cannot find card
// '0'" and a dozen more on a machine without a sound card), which it
// prints to stderr by default, to slog at debug level. The errors that
// matter come back through the API and are reported there. It is done
// on first use, not at init, so that importing the package changes
// nothing.
func quietALSA() {
	quietOnce.Do(func() { C.parley_alsa_quiet() })
}

//export parleyALSAError
func parleyALSAError(msg *C.char) {
	slog.Debug("alsa", "msg", C.GoString(msg))
}
