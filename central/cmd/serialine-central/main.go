// Command serialine-central runs central: `serialine-central serve
// --config configs/central.yaml` (see central/server and central/README.md).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/serialine/serialine/central/server"
	"github.com/serialine/serialine/shared/version"
)

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println(version.String("serialine-central"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, os.Args[1:], server.Env{})
	stop()
	os.Exit(code)
}
