package server

import (
	"fmt"
	"io"
	"os"

	"github.com/serialine/serialine/shared/epcis"
)

// maxHashInput bounds one document read by `epcis hash` (read before parsing).
const maxHashInput = 1 << 30

// epcisCommand runs `serialine-central epcis SUBCOMMAND`: today `hash
// FILE...`. Exit codes: 0 every document hashed, 1 a document could not be
// read or parsed (the others are still hashed), 2 usage.
func epcisCommand(args []string, env Env) int {
	if len(args) == 0 || args[0] != "hash" {
		fmt.Fprint(env.Stderr, "usage: serialine-central epcis hash FILE...   (- for standard input)\n")
		return 2
	}
	files := args[1:]
	if len(files) == 0 {
		fmt.Fprint(env.Stderr, "usage: serialine-central epcis hash FILE...   (- for standard input)\n")
		return 2
	}
	code := 0
	for _, f := range files {
		if err := hashFile(f, env); err != nil {
			fmt.Fprintf(env.Stderr, "serialine-central: epcis hash %s: %v\n", f, err)
			code = 1
		}
	}
	return code
}

func hashFile(name string, env Env) error {
	var r io.Reader
	if name == "-" {
		r = env.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxHashInput+1))
	if err != nil {
		return err
	}
	if len(b) > maxHashInput {
		return fmt.Errorf("larger than %d bytes", maxHashInput)
	}
	hs, err := epcis.HashDocument(b, epcis.FormatUnknown)
	if err != nil {
		return err
	}
	for i, h := range hs {
		if !h.Reference {
			fmt.Fprintf(env.Stderr, "serialine-central: epcis hash %s: event %d: GS1's reference generator cannot hash this event; its ID is computed past that point\n", name, i)
		}
		if _, err := fmt.Fprintln(env.Stdout, h.ID); err != nil {
			return err
		}
	}
	return nil
}
