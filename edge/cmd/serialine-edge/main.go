// Command serialine-edge is the packaging-line agent. Today it carries the GS1
// label tools a technician uses on the line PC; `run` comes with the station.
package main

import (
	"fmt"
	"os"

	"github.com/serialine/serialine/edge/labeltool"
)

const usage = `usage: serialine-edge <command> [arguments]

commands:
  label render|decode|parse ...   GS1 label tools (serialine-edge label help)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "label":
		os.Exit(labeltool.Run(os.Args[2:], os.Stdout, os.Stderr))
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "serialine-edge: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
