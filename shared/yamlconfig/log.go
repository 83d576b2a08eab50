package yamlconfig

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Log is the `log:` section every program's configuration has: the
// process log on stderr.
type Log struct {
	// Level is debug, info (the default), warn or error.
	Level string `yaml:"level"`
	// Format is text (the default) or json.
	Format string `yaml:"format"`
}

// WithDefaults fills the unset keys.
func (l Log) WithDefaults() Log {
	if l.Level == "" {
		l.Level = "info"
	}
	if l.Format == "" {
		l.Format = "text"
	}
	return l
}

// Validate names the bad key under key (e.g. "log").
func (l Log) Validate(key string) error {
	l = l.WithDefaults()
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToLower(l.Level))); err != nil {
		return fmt.Errorf("%s.level: %q: use debug, info, warn or error", key, l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		return fmt.Errorf("%s.format: %q: use text or json", key, l.Format)
	}
	return nil
}

// Logger returns the logger l describes, writing to w (call Validate
// first: an unknown level reads as info).
func (l Log) Logger(w io.Writer) *slog.Logger {
	l = l.WithDefaults()
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToLower(l.Level)))
	o := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
