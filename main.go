// Command parley is the Parley desktop app; with a subcommand it runs the
// same peer headless. The command tree is internal/parleycli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/parleynet/parley/internal/parleycli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := parleycli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
