package yamlconfig

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type format struct{ Prefix string }

// UnmarshalYAML hides the struct from yaml.v3's KnownFields, as the
// scanner format and the register map do.
func (f *format) UnmarshalYAML(unmarshal func(any) error) error {
	var m map[string]string
	if err := unmarshal(&m); err != nil {
		return err
	}
	f.Prefix = m["prefix"]
	return nil
}

// driverConfig stands for a driver's own configuration, embedded inline
// in a program's (as the edge agent embeds the printer driver's).
type driverConfig struct {
	Name   string `yaml:"name"`
	Hidden int    `yaml:"-"`
}

type testConfig struct {
	Line    string        `yaml:"line"`
	Speed   int           `yaml:"speed"`
	Timeout time.Duration `yaml:"timeout"`
	Scanner struct {
		Format format `yaml:"format"`
	} `yaml:"scanner"`
	Operators []struct {
		Name string `yaml:"name"`
	} `yaml:"operators"`
	Printer struct {
		driverConfig `yaml:",inline"`
		DPI          int `yaml:"dpi"`
	} `yaml:"printer"`
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name, doc, wantErr string
		check              func(t *testing.T, c testConfig)
	}{
		{name: "defaults kept, values read", doc: "line: L2\ntimeout: 2s\nscanner:\n  format:\n    prefix: X\noperators:\n  - name: Ana\n",
			check: func(t *testing.T, c testConfig) {
				require.Equal(t, "L2", c.Line)
				require.Equal(t, 300, c.Speed, "a key left out keeps its default")
				require.Equal(t, 2*time.Second, c.Timeout)
				require.Equal(t, "X", c.Scanner.Format.Prefix)
				require.Equal(t, "Ana", c.Operators[0].Name)
			}},
		{name: "an inlined driver's keys are the section's own", doc: "printer:\n  name: P1\n  dpi: 300\n",
			check: func(t *testing.T, c testConfig) {
				require.Equal(t, "P1", c.Printer.Name)
				require.Equal(t, 300, c.Printer.DPI)
			}},
		{name: "an inlined driver's hidden field is no key", doc: "printer:\n  hidden: 1\n", wantErr: `line 2: unknown key "printer.hidden"`},
		{name: "unknown key beside an inlined driver", doc: "printer:\n  name: P1\n  dpii: 3\n", wantErr: `line 3: unknown key "printer.dpii"`},
		{name: "unknown top-level key", doc: "line: L1\nsped: 3\n", wantErr: `line 2: unknown key "sped"`},
		{name: "unknown key behind a custom unmarshaller", doc: "scanner:\n  format:\n    prefx: X\n", wantErr: `line 3: unknown key "scanner.format.prefx"`},
		{name: "unknown key in a list item", doc: "operators:\n  - name: Ana\n  - nme: Bo\n", wantErr: `line 3: unknown key "operators[1].nme"`},
		{name: "wrong type names the key", doc: "line: L1\nspeed: fast\n", wantErr: "speed (line 2):"},
		{name: "empty document", doc: "", wantErr: ErrEmpty.Error()},
		{name: "not YAML", doc: "line: [\n", wantErr: "yaml:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig{Speed: 300}
			err := Decode([]byte(c.doc), &cfg)
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			c.check(t, cfg)
		})
	}
}

type validated struct {
	Speed int `yaml:"speed"`
}

func (v validated) Validate() error {
	if v.Speed < 1 {
		return errors.New("speed: must be at least 1")
	}
	return nil
}

func TestParse(t *testing.T) {
	cfg, err := Parse(strings.NewReader("speed: 5\n"), validated{Speed: 1})
	require.NoError(t, err)
	require.Equal(t, 5, cfg.Speed)

	_, err = Parse(strings.NewReader("speed: 0\n"), validated{Speed: 1})
	require.EqualError(t, err, "speed: must be at least 1", "Validate judges the decoded values")

	_, err = Parse(strings.NewReader("sped: 2\n"), validated{Speed: 1})
	require.ErrorContains(t, err, `unknown key "sped"`)
}

func TestLog(t *testing.T) {
	require.NoError(t, Log{}.Validate("log"))
	require.NoError(t, Log{Level: "DEBUG", Format: "json"}.Validate("log"))
	require.ErrorContains(t, Log{Level: "loud"}.Validate("log"), `log.level: "loud": use debug, info, warn or error`)
	require.ErrorContains(t, Log{Format: "xml"}.Validate("log"), `log.format: "xml": use text or json`)
	var b strings.Builder
	l := Log{Level: "warn", Format: "json"}.Logger(&b)
	l.Info("hidden")
	l.Warn("shown", "k", 1)
	require.NotContains(t, b.String(), "hidden")
	require.Contains(t, b.String(), `"msg":"shown","k":1`)
}

// TestDecodeInlineForms: every form yaml.v3 inlines is read as yaml.v3
// reads it, so a key it takes is never refused as unknown.
func TestDecodeInlineForms(t *testing.T) {
	type named struct {
		D    driverConfig `yaml:",inline"`
		Port int          `yaml:"port"`
	}
	type Driver struct {
		Name string `yaml:"name"`
	}
	type pointer struct {
		*Driver `yaml:",inline"` // yaml.v3 cannot set an unexported one
		Port    int              `yaml:"port"`
	}
	type withOptions struct {
		D    driverConfig `yaml:",inline,omitempty"`
		Port int          `yaml:"port"`
	}
	type inlineMap struct {
		Port  int            `yaml:"port"`
		Extra map[string]int `yaml:",inline"`
	}
	doc := []byte("name: P1\nport: 9100\n")
	var n named
	require.NoError(t, Decode(doc, &n))
	require.Equal(t, "P1", n.D.Name)
	var p pointer
	require.NoError(t, Decode(doc, &p))
	require.Equal(t, "P1", p.Name)
	var o withOptions
	require.NoError(t, Decode(doc, &o))
	require.Equal(t, "P1", o.D.Name)
	var m inlineMap
	require.NoError(t, Decode([]byte("port: 9100\nspeed: 3\n"), &m))
	require.Equal(t, map[string]int{"speed": 3}, m.Extra)

	require.ErrorContains(t, Decode([]byte("name: P1\nprot: 1\n"), &named{}), `unknown key "prot"`)
	require.ErrorContains(t, Decode([]byte("name: P1\nprot: 1\n"), &pointer{}), `unknown key "prot"`)
}
