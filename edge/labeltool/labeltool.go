// Package labeltool is `serialine-edge label`: the GS1 tools a technician runs
// on the line PC to render a unit label, decode a photo or scan of one, and
// parse an element string typed or pasted in any of its three forms.
//
// Exit status: 0 success, 1 invalid input (one line on stderr naming the AI and
// the rule it broke), 2 usage error.
package labeltool

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/serialine/serialine/drivers/zpl"
	"github.com/serialine/serialine/edge/station"
	"github.com/serialine/serialine/shared/gs1"
	"github.com/serialine/serialine/shared/label"
)

// Exit statuses of Run.
const (
	ExitOK      = 0
	ExitInvalid = 1
	ExitUsage   = 2
)

const usage = `usage: serialine-edge label <command> [flags]

commands:
  parse DATA [--gcp-length N] [--dl-base URL]
        DATA is a bracketed element string "(01)…(17)…(10)…(21)…", the transmitted
        form (GS-separated, "<GS>" accepted for the GS byte, "]d2" prefix optional)
        or a GS1 Digital Link URI.
  decode IMAGE [--gcp-length N] [--dl-base URL]
        reads a GS1 DataMatrix from a PNG or JPEG photo or scan.
  render --gtin G --lot L --expiry YYMMDD --serial S [--ndc N] [--nhrn AI=VALUE]
         [--name TEXT] [--format png|zpl] [--dpi D] [--module-mm MM] -o FILE
        writes a unit label (GS1 DataMatrix beside human-readable text).

parse and decode print one JSON object on stdout.
`

// usageError marks a mistake in how the command was called (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Report is the JSON object printed by parse and decode.
type Report struct {
	GS1           bool              `json:"gs1"`
	SymbologyID   string            `json:"symbology_id,omitempty"`
	Data          string            `json:"data,omitempty"`
	AIs           map[string]string `json:"ais,omitempty"`
	ElementString string            `json:"element_string,omitempty"`
	DigitalLink   string            `json:"digital_link,omitempty"`
	EPC           string            `json:"epc,omitempty"`
}

// Run executes `serialine-edge label ARGS...` and returns the exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	var err error
	switch args[0] {
	case "parse":
		err = runParse(args[1:], stdout)
	case "decode":
		err = runDecode(args[1:], stdout)
	case "render":
		err = runRender(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "serialine-edge label: %s\n%s", ue.msg, usage)
		return ExitUsage
	default:
		// One line, whatever the error carries.
		fmt.Fprintf(stderr, "serialine-edge label %s: %s\n", args[0], strings.ReplaceAll(err.Error(), "\n", " "))
		return ExitInvalid
	}
}

// parseFlags lets flags stand before or after the positional arguments, as a
// technician types them.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

type reportFlags struct {
	gcpLength int
	dlBase    string
}

func (r *reportFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&r.gcpLength, "gcp-length", 0, "GS1 company prefix length (6-12), to print the EPC URI")
	fs.StringVar(&r.dlBase, "dl-base", "", "GS1 Digital Link base URL (default https://id.gs1.org)")
}

func (r *reportFlags) validate() error {
	if r.gcpLength != 0 && (r.gcpLength < 6 || r.gcpLength > 12) {
		return usageError{fmt.Sprintf("--gcp-length %d: a GS1 company prefix has 6 to 12 digits", r.gcpLength)}
	}
	return nil
}

func runParse(args []string, stdout io.Writer) error {
	var rf reportFlags
	fs := newFlagSet("parse")
	rf.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"parse takes exactly one DATA argument"}
	}
	if err := rf.validate(); err != nil {
		return err
	}
	es, err := gs1.Parse(strings.ReplaceAll(pos[0], "<GS>", "\x1d"))
	if err != nil {
		return err
	}
	rep, err := newReport(es, rf)
	if err != nil {
		return err
	}
	return writeJSON(stdout, rep)
}

func runDecode(args []string, stdout io.Writer) error {
	var rf reportFlags
	fs := newFlagSet("decode")
	rf.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"decode takes exactly one IMAGE argument"}
	}
	if err := rf.validate(); err != nil {
		return err
	}
	d, err := label.DecodeFile(pos[0])
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if !d.GS1 {
		return writeJSON(stdout, Report{GS1: false, SymbologyID: d.SymbologyID, Data: d.Data})
	}
	es, err := gs1.ParseTransmitted(d.Data)
	if err != nil {
		return fmt.Errorf("%s: GS1 DataMatrix content: %w", pos[0], err)
	}
	rep, err := newReport(es, rf)
	if err != nil {
		return err
	}
	rep.SymbologyID = d.SymbologyID
	return writeJSON(stdout, rep)
}

func newReport(es gs1.ElementString, rf reportFlags) (Report, error) {
	es = es.Sorted() // one canonical order whichever form the data came in
	dl, err := es.DigitalLink(rf.dlBase)
	if err != nil {
		return Report{}, err
	}
	rep := Report{GS1: true, AIs: es.Map(), ElementString: es.Bracketed(), DigitalLink: dl}
	if rf.gcpLength != 0 {
		if rep.EPC, err = epcURI(es, rf.gcpLength); err != nil {
			return Report{}, err
		}
	}
	return rep, nil
}

// epcURI gives the EPC pure-identity URI of the element string's primary key.
func epcURI(es gs1.ElementString, gcpLength int) (string, error) {
	if v, ok := es.Get("00"); ok {
		sscc, err := gs1.ParseSSCC(v)
		if err != nil {
			return "", err
		}
		return gs1.SSCCURI(sscc, gcpLength)
	}
	if v, ok := es.Get("01"); ok {
		serial, ok := es.Get("21")
		if !ok {
			return "", errors.New("EPC URI: an SGTIN needs a serial number (AI 21)")
		}
		gtin, err := gs1.ParseGTIN(v)
		if err != nil {
			return "", err
		}
		return gs1.SGTINURI(gtin, serial, gcpLength)
	}
	if v, ok := es.Get("414"); ok {
		gln, err := gs1.ParseGLN(v)
		if err != nil {
			return "", err
		}
		ext, _ := es.Get("254")
		return gs1.SGLNURI(gln, ext, gcpLength)
	}
	return "", errors.New("EPC URI: the element string has no AI 00, 01 or 414 to identify")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

type renderFlags struct {
	gtin, lot, expiry, serial string
	ndc, nhrn, name           string
	format, out               string
	dpi                       int
	moduleMM                  float64
}

func runRender(args []string, _ io.Writer) error {
	var f renderFlags
	fs := newFlagSet("render")
	fs.StringVar(&f.gtin, "gtin", "", "GTIN-8/12/13/14")
	fs.StringVar(&f.lot, "lot", "", "batch/lot (AI 10)")
	fs.StringVar(&f.expiry, "expiry", "", "expiry date YYMMDD (AI 17)")
	fs.StringVar(&f.serial, "serial", "", "serial number (AI 21)")
	fs.StringVar(&f.ndc, "ndc", "", "US NDC printed in the human-readable text")
	fs.StringVar(&f.nhrn, "nhrn", "", "national healthcare reimbursement number encoded in the symbol, AI=VALUE (AI 710-715)")
	fs.StringVar(&f.name, "name", "", "product name printed above the human-readable text")
	fs.StringVar(&f.format, "format", "png", "png or zpl")
	fs.IntVar(&f.dpi, "dpi", 300, "resolution in dots per inch (ZPL: 152, 203, 300 or 600)")
	fs.Float64Var(&f.moduleMM, "module-mm", 0, "DataMatrix module size in mm (default 0.4 for PNG; 5 dots for ZPL)")
	fs.StringVar(&f.out, "o", "", "output file")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("render takes no positional arguments, got %q", pos[0])}
	}
	if f.out == "" {
		return usageError{"render needs -o FILE"}
	}
	if f.format != "png" && f.format != "zpl" {
		return usageError{fmt.Sprintf("--format %q: must be png or zpl", f.format)}
	}
	for _, req := range []struct{ name, v string }{{"--gtin", f.gtin}, {"--lot", f.lot}, {"--expiry", f.expiry}, {"--serial", f.serial}} {
		if req.v == "" {
			return usageError{"render needs " + req.name}
		}
	}
	u, err := station.NewUnit(f.gtin, f.expiry, f.lot, f.serial)
	if err != nil {
		return err
	}
	if f.nhrn != "" {
		ai, v, ok := strings.Cut(f.nhrn, "=")
		if !ok {
			return usageError{fmt.Sprintf("--nhrn %q: want AI=VALUE, e.g. 714=1234567", f.nhrn)}
		}
		if n, err := strconv.Atoi(ai); err != nil || n < 710 || n > 715 {
			return fmt.Errorf("--nhrn: AI (%s) is not a national healthcare reimbursement number (710-715)", ai)
		}
		u.Elements = append(u.Elements, gs1.Element{AI: ai, Value: v})
		if err := u.Elements.Validate(); err != nil {
			return err
		}
	}
	if f.ndc != "" {
		if err := ValidateNDC(f.ndc); err != nil {
			return err
		}
		u.NDC = f.ndc
	}
	u.Name = f.name
	var data []byte
	switch f.format {
	case "png":
		opt := label.Options{DPI: f.dpi, ModuleMM: f.moduleMM}
		var b strings.Builder
		if err := label.RenderPNG(&b, unitLabel(u), opt); err != nil {
			return err
		}
		data = []byte(b.String())
	case "zpl":
		switch f.dpi {
		case 152, 203, 300, 600:
		default:
			return usageError{fmt.Sprintf("--dpi %d: a ZPL printer prints at 152, 203, 300 or 600 dpi", f.dpi)}
		}
		layout, err := zpl.LayoutFor(f.dpi, f.moduleMM, len(u.Text()))
		if err != nil {
			return err
		}
		data = layout.Standalone(zpl.Fields{Data: u.Elements.Transmitted(), Text: u.Text()})
	}
	return writeFileAtomic(f.out, data)
}

// writeFileAtomic never leaves a half-written label behind.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
