// Package assets holds Parley's bundled resources: icons now, sounds with
// the calling work. It imports no GUI package, so headless code may use it.
//
// icon.png was drawn for this project (a speech bubble on a rounded square)
// and is under the project's licence.
package assets

import _ "embed"

// IconPNG is the 512×512 application icon.
//
//go:embed icon.png
var IconPNG []byte
