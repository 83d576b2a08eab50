// Command serialine-central runs central: `serialine-central serve
// --config configs/central.yaml` (see central/server and central/README.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/serialine/serialine/central/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := server.Main(ctx, os.Args[1:], server.Env{})
	stop()
	os.Exit(code)
}
