// Command parley is the Parley desktop app; with a subcommand it runs the
// same peer headless. The command tree is internal/parleycli.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/parleynet/parley/internal/cli"
	"github.com/parleynet/parley/internal/parleycli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := parleycli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "parley:", err)
	}
	os.Exit(cli.ExitCode(err))
}
