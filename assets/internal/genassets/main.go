// Command genassets writes the tray icons and sounds that package gen
// makes into the assets directory (its argument, default "."). It runs
// from assets/ through go generate.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/parleynet/parley/assets/internal/gen"
)

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	for _, f := range gen.Files() {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "genassets:", err)
			os.Exit(1)
		}
	}
}
