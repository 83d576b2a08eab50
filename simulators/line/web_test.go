package line

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/drivers/printer"
	"github.com/serialine/serialine/internal/testkit"
	"github.com/serialine/serialine/shared/label"
)

func httpGet(tb testing.TB, url string) (int, string, []byte) {
	tb.Helper()
	resp, err := http.Get(url)
	require.NoError(tb, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func httpPost(tb testing.TB, url, body string) (int, []byte) {
	tb.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, b
}

func getStatus(tb testing.TB, base string) Status {
	tb.Helper()
	code, ctype, body := httpGet(tb, base+"api/status")
	require.Equal(tb, http.StatusOK, code, string(body))
	mt, _, err := mime.ParseMediaType(ctype)
	require.NoError(tb, err)
	require.Equal(tb, "application/json", mt)
	var st Status
	require.NoError(tb, json.Unmarshal(body, &st))
	return st
}

func TestWebPageAndAPI(t *testing.T) {
	cfg := testConfig()
	cfg.Manual = true
	cfg.Line = "L9"
	cfg.Travel = Travel{PrintWindow: 1, PrinterToCamera: 1, CameraToReject: 1}
	l := startLine(t, cfg)
	ctx := testkit.Context(t)
	e := newEdge(t, l, false, nil)
	d := l.Devices()
	require.True(t, strings.HasPrefix(d.HTTP, "http://127.0.0.1:"), d.HTTP)

	// The page names the line and every device address the agent needs,
	// and has a switch for every fault.
	code, ctype, page := httpGet(t, d.HTTP)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "text/html; charset=utf-8", ctype)
	for _, want := range []string{"L9", d.Printer, d.Scanner, d.PLC, `id="c-scanned"`, `id="labels"`} {
		require.Contains(t, string(page), want)
	}
	for dev, faults := range faultTable() {
		for name := range faults {
			require.Contains(t, string(page), fmt.Sprintf(`data-device="%s" data-fault="%s"`, dev, name))
		}
	}

	// Two units through the line; the status and the label images follow.
	for range 2 {
		n, ok := l.Trigger()
		require.True(t, ok)
		require.NoError(t, e.printer.Print(ctx, unitFields(t, n)))
	}
	_, err := l.Wait(ctx, func(c Counters) bool { return c.Applied == 2 })
	require.NoError(t, err)
	require.True(t, l.Advance(2))
	e.result(t)
	e.result(t)
	st := getStatus(t, d.HTTP)
	require.Equal(t, "L9", st.Line)
	require.Equal(t, d, st.Devices)
	require.Equal(t, uint64(2), st.Counters.Triggers)
	require.Equal(t, uint64(2), st.Counters.Printed)
	require.Equal(t, uint64(2), st.Counters.Scanned)
	require.Equal(t, uint64(2), st.Counters.Good)
	require.Len(t, st.Labels, 2)
	newest := st.Labels[0]
	require.Equal(t, 2, newest.Seq)
	require.Equal(t, uint32(2), newest.Unit)
	require.Equal(t, unitFields(t, 2).Data, newest.Data)
	require.Equal(t, "(01)09506000134352(17)271231(10)LOT42(21)S2", newest.ElementString)
	require.Equal(t, "/api/labels/2.png", newest.PNG)

	code, ctype, img := httpGet(t, strings.TrimSuffix(d.HTTP, "/")+newest.PNG)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "image/png", ctype)
	decoded, err := png.Decode(bytes.NewReader(img))
	require.NoError(t, err)
	got, err := label.Decode(decoded)
	require.NoError(t, err)
	require.Equal(t, newest.Data, got.Data)
	require.True(t, got.GS1)

	for _, path := range []string{"api/labels/99.png", "api/labels/x.png", "api/labels/1.gif"} {
		code, _, body := httpGet(t, d.HTTP+path)
		require.Equal(t, http.StatusNotFound, code, path)
		require.Contains(t, string(body), `"error"`)
	}

	// A fault switched on the page reaches the device: the edge's printer
	// driver sees paper out in the printer's ~HS answer.
	code, body := httpPost(t, d.HTTP+"api/faults", `{"device":"printer","fault":"paper_out","value":true}`)
	require.Equal(t, http.StatusOK, code, string(body))
	_, err = e.printer.Status(ctx)
	require.ErrorIs(t, err, printer.ErrPaperOut)
	require.True(t, getStatus(t, d.HTTP).Faults.Printer.PaperOut)
	code, body = httpPost(t, d.HTTP+"api/faults", `{"device":"printer","fault":"paper_out","value":false}`)
	require.Equal(t, http.StatusOK, code, string(body))
	_, err = e.printer.Status(ctx)
	require.NoError(t, err)

	code, body = httpPost(t, d.HTTP+"api/faults", `{"device":"line","fault":"speed","value":1500}`)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, 1500, getStatus(t, d.HTTP).Speed)

	// The PLC's stop (jam) fault stops the line as the edge sees it.
	code, body = httpPost(t, d.HTTP+"api/faults", `{"device":"plc","fault":"stop","value":true}`)
	require.Equal(t, http.StatusOK, code, string(body))
	running, err := e.plc.Running(ctx)
	require.NoError(t, err)
	require.False(t, running)
	require.False(t, getStatus(t, d.HTTP).Running)
	code, body = httpPost(t, d.HTTP+"api/faults", `{"device":"plc","fault":"stop","value":false}`)
	require.Equal(t, http.StatusOK, code, string(body))
	running, err = e.plc.Running(ctx)
	require.NoError(t, err)
	require.True(t, running)
}

func TestWebFaultsBadInput(t *testing.T) {
	cfg := testConfig()
	cfg.Manual = true
	l := startLine(t, cfg)
	url := l.Devices().HTTP + "api/faults"
	cases := []struct {
		name, body, field, want string
	}{
		{"not json", `{"device":`, "body", "not valid JSON"},
		{"unknown field", `{"device":"printer","fault":"drop","value":true,"colour":1}`, "colour", "unknown field"},
		{"device not a string", `{"device":1,"fault":"drop","value":true}`, "device", "must be a string"},
		{"unknown device", `{"device":"toaster","fault":"drop","value":true}`, "device", `got "toaster"`},
		{"unknown fault", `{"device":"printer","fault":"fire","value":true}`, "fault", `printer has drop, head_open`},
		{"missing value", `{"device":"printer","fault":"drop"}`, "value", "missing"},
		{"bool fault given a number", `{"device":"printer","fault":"drop","value":1}`, "value", "true or false"},
		{"rate above 1", `{"device":"scanner","fault":"no_read_rate","value":1.5}`, "value", "between 0 and 1"},
		{"rate given a string", `{"device":"scanner","fault":"no_read_rate","value":"high"}`, "value", "takes a number"},
		{"slow fraction", `{"device":"printer","fault":"slow_ms","value":2.5}`, "value", "whole number"},
		{"speed zero", `{"device":"line","fault":"speed","value":0}`, "value", "between 1 and 100000 units/min"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := httpPost(t, url, tc.body)
			require.Equal(t, http.StatusBadRequest, code, string(body))
			var e apiError
			require.NoError(t, json.Unmarshal(body, &e))
			require.Equal(t, tc.field, e.Field)
			require.Contains(t, e.Error, tc.want)
		})
	}
	// Nothing changed.
	require.Equal(t, Faults{Line: LineFaults{Speed: cfg.Speed, Run: true}}, l.Status().Faults)
}

func TestFaultChangeApply(t *testing.T) {
	raw := func(v string) json.RawMessage { return json.RawMessage(v) }
	cases := []struct {
		c    FaultChange
		want func(*Faults)
	}{
		{FaultChange{"printer", "paper_out", raw("true")}, func(f *Faults) { f.Printer.PaperOut = true }},
		{FaultChange{"printer", "ribbon_out", raw("true")}, func(f *Faults) { f.Printer.RibbonOut = true }},
		{FaultChange{"printer", "head_open", raw("true")}, func(f *Faults) { f.Printer.HeadOpen = true }},
		{FaultChange{"printer", "pause", raw("true")}, func(f *Faults) { f.Printer.Pause = true }},
		{FaultChange{"printer", "slow_ms", raw("250")}, func(f *Faults) { f.Printer.SlowMS = 250 }},
		{FaultChange{"printer", "drop", raw("true")}, func(f *Faults) { f.Printer.Drop = true }},
		{FaultChange{"printer", "smudge", raw("0.25")}, func(f *Faults) { f.Printer.Smudge = 0.25 }},
		{FaultChange{"scanner", "no_read_rate", raw("0.1")}, func(f *Faults) { f.Scanner.NoReadRate = 0.1 }},
		{FaultChange{"scanner", "wrong_code_rate", raw("1")}, func(f *Faults) { f.Scanner.WrongCodeRate = 1 }},
		{FaultChange{"scanner", "grade_drop", raw("true")}, func(f *Faults) { f.Scanner.GradeDrop = true }},
		{FaultChange{"scanner", "offline", raw("true")}, func(f *Faults) { f.Scanner.Offline = true }},
		{FaultChange{"plc", "stop", raw("true")}, func(f *Faults) { f.PLC.Stop = true }},
		{FaultChange{"plc", "disconnect", raw("true")}, func(f *Faults) { f.PLC.Disconnect = true }},
		{FaultChange{"line", "speed", raw("1200")}, func(f *Faults) { f.Line.Speed = 1200 }},
		{FaultChange{"line", "starved", raw("true")}, func(f *Faults) { f.Line.Starved = true }},
		{FaultChange{"line", "run", raw("false")}, func(f *Faults) { f.Line.Run = false }},
	}
	total := 0
	for _, dev := range faultTable() {
		total += len(dev)
	}
	require.Len(t, cases, total, "every fault has a case")
	for _, tc := range cases {
		t.Run(tc.c.Device+"."+tc.c.Fault, func(t *testing.T) {
			start := Faults{Line: LineFaults{Speed: 300, Run: true}}
			got, want := start, start
			require.NoError(t, tc.c.apply(&got))
			tc.want(&want)
			require.Equal(t, want, got)
			require.NotEqual(t, start, got)
		})
	}
	bad := FaultChange{"printer", "smudge", raw("2")}
	f := Faults{}
	var fe *FaultError
	require.True(t, errors.As(bad.apply(&f), &fe))
	require.Equal(t, "value", fe.Field)
	require.Equal(t, Faults{}, f)
}

// TestFastMode runs 400 units at 20,000 units/min without imaging: the
// scanner reports what was printed, and no label has an image.
func TestFastMode(t *testing.T) {
	const n = 400
	cfg := testConfig()
	cfg.Fast = true
	cfg.Speed = 20000
	cfg.Units = n
	cfg.PLC.StartStopped = true
	cfg.Travel = Travel{PrintWindow: 60, PrinterToCamera: 80, CameraToReject: 20}
	l := startLine(t, cfg)
	ctx := testkit.Context(t)
	e := newEdge(t, l, true, nil)
	require.NoError(t, e.plc.SetRun(ctx, true))
	for k := range n {
		r := e.result(t)
		u, want := e.unitAt(t, k)
		require.False(t, r.NoRead, "unit %d", u)
		require.Equal(t, want, r.Data, "unit %d", u)
	}
	c, err := l.Wait(ctx, func(c Counters) bool { return c.Good == n })
	require.NoError(t, err)
	require.Equal(t, uint64(n), c.Printed)
	require.Zero(t, c.Blank)
	st := l.Status()
	require.NotEmpty(t, st.Labels)
	require.Empty(t, st.Labels[0].PNG)
	_, err = l.LabelPNG(st.Labels[0].Seq)
	require.ErrorContains(t, err, "fast mode")
}

// TestStarvedAndSpeed: a starved line raises no triggers while its conveyor
// still carries the units on it to the end; the infeed resumes when cleared.
func TestStarvedAndSpeed(t *testing.T) {
	cfg := testConfig()
	cfg.Fast = true
	cfg.Speed = 6000
	cfg.Travel = Travel{PrintWindow: 1, PrinterToCamera: 2, CameraToReject: 2}
	l := startLine(t, cfg)
	ctx := testkit.Context(t)
	_, err := l.Wait(ctx, func(c Counters) bool { return c.Triggers >= 5 })
	require.NoError(t, err)
	require.NoError(t, l.SetFault(FaultChange{"line", "starved", json.RawMessage("true")}))
	c, err := l.Wait(ctx, func(c Counters) bool { return c.InFlight == 0 })
	require.NoError(t, err)
	// Every unit that entered left the conveyor (blank, as nobody prints).
	require.Equal(t, c.Triggers, c.Good+c.Rejected)
	require.Equal(t, c.Triggers, c.Blank)
	require.NoError(t, l.SetFault(FaultChange{"line", "starved", json.RawMessage("false")}))
	require.NoError(t, l.SetFault(FaultChange{"line", "speed", json.RawMessage("60000")}))
	_, err = l.Wait(ctx, func(d Counters) bool { return d.Triggers >= c.Triggers+20 })
	require.NoError(t, err)
	require.Equal(t, 60000, l.Status().Speed)
}

// TestPTYDevices serves the printer and the scanner on pseudo-terminals, as
// serial ports, and runs one unit through them with the real drivers.
func TestPTYDevices(t *testing.T) {
	cfg := testConfig()
	cfg.Manual = true
	cfg.Printer.Listen = "pty"
	cfg.Scanner.Listen = "pty"
	cfg.Travel = Travel{PrintWindow: 1, PrinterToCamera: 1, CameraToReject: 1}
	l := startLine(t, cfg)
	ctx := testkit.Context(t)
	d := l.Devices()
	require.True(t, strings.HasPrefix(d.Printer, "serial:/dev/"), d.Printer)
	require.True(t, strings.HasPrefix(d.Scanner, "serial:/dev/"), d.Scanner)
	e := newEdge(t, l, false, nil)
	n, ok := l.Trigger()
	require.True(t, ok)
	require.NoError(t, e.printer.Print(ctx, unitFields(t, n)))
	_, err := l.Wait(ctx, func(c Counters) bool { return c.Applied == 1 })
	require.NoError(t, err)
	require.True(t, l.Advance(1))
	r := e.result(t)
	require.Equal(t, unitFields(t, n).Data, r.Data)
	require.True(t, r.GS1)
}

func TestLifecycle(t *testing.T) {
	_, err := New(Config{}, testkit.Logger(t))
	require.ErrorContains(t, err, "line: line: must name the line")
	_, err = New(testConfig(), nil)
	require.ErrorContains(t, err, "logger")

	// Close without Start, twice.
	l, err := New(testConfig(), testkit.Logger(t))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close())

	// Start twice; a port in use is an error naming the device.
	l = startLine(t, testConfig())
	require.ErrorIs(t, l.Start(testkit.Context(t)), ErrStarted)
	cfg := testConfig()
	cfg.Scanner.Listen = "tcp:" + strings.TrimPrefix(l.Devices().Scanner, "tcp:")
	l2, err := New(cfg, testkit.Logger(t))
	require.NoError(t, err)
	err = l2.Start(testkit.Context(t))
	require.ErrorContains(t, err, "scanner:")
	require.NoError(t, l2.Close())

	// Run ends when its context does.
	l3, err := New(testConfig(), testkit.Logger(t))
	require.NoError(t, err)
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- l3.Run(ctx) }()
	_, err = l3.Wait(testkit.Context(t), func(c Counters) bool { return c.Triggers > 0 })
	require.NoError(t, err)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitLong):
		t.Fatal("Run did not return after its context ended")
	}
}
