package line

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/serialine/serialine/shared/httpjson"
)

// maxFaultBody bounds a POST /api/faults body.
const maxFaultBody = 4 << 10

// handler serves the technician page and its JSON API:
//
//	GET  /                     the page
//	GET  /api/status           Status as JSON
//	POST /api/faults           a FaultChange; 400 naming the bad field
//	GET  /api/labels/{n}.png   printed label n (its printer sequence number)
func (l *Line) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", l.servePage)
	mux.HandleFunc("GET /api/status", l.serveStatus)
	mux.HandleFunc("POST /api/faults", l.serveFaults)
	mux.HandleFunc("GET /api/labels/{file}", l.serveLabel)
	return mux
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func (l *Line) serveStatus(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, l.Status())
}

func (l *Line) serveFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFaultBody))
	if err != nil {
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: "body: " + err.Error(), Field: "body"})
		return
	}
	c, err := decodeFaultChange(body)
	if err == nil {
		err = l.SetFault(c)
	}
	var fe *FaultError
	switch {
	case errors.As(err, &fe):
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: fe.Error(), Field: fe.Field})
	case err != nil:
		httpjson.Write(w, http.StatusInternalServerError, apiError{Error: err.Error()})
	default:
		httpjson.Write(w, http.StatusOK, l.Status().Faults)
	}
}

func (l *Line) serveLabel(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".png")
	seq, err := strconv.Atoi(name)
	if !ok || err != nil {
		httpjson.Write(w, http.StatusNotFound, apiError{Error: "want /api/labels/{n}.png with n a printed label's number"})
		return
	}
	png, err := l.LabelPNG(seq)
	if err != nil {
		httpjson.Write(w, http.StatusNotFound, apiError{Error: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "max-age=3600") // a printed label never changes
	_, _ = w.Write(png)
}

func (l *Line) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTemplate.Execute(w, pageData{Status: l.Status(), Switches: switches()}); err != nil {
		l.log.Warn("web page", "err", err)
	}
}

// pageData feeds the page template.
type pageData struct {
	Status   Status
	Switches []faultSwitch
}

// faultSwitch is one control on the page.
type faultSwitch struct {
	Device, Fault  string
	Bool           bool   // a checkbox; otherwise a number field
	Step, Min, Max string // for number fields
}

func switches() []faultSwitch {
	var out []faultSwitch
	table := faultTable()
	for _, dev := range []string{"printer", "scanner", "plc", "line"} {
		for _, name := range strings.Split(names(table[dev]), ", ") {
			s := faultSwitch{Device: dev, Fault: name}
			switch table[dev][name].kind {
			case kindBool:
				s.Bool = true
			case kindRate:
				s.Step, s.Min, s.Max = "0.01", "0", "1"
			case kindMS:
				s.Step, s.Min, s.Max = "1", "0", strconv.Itoa(MaxSlowMS)
			case kindSpeed:
				s.Step, s.Min, s.Max = "1", strconv.Itoa(MinSpeed), strconv.Itoa(MaxSpeed)
			}
			out = append(out, s)
		}
	}
	return out
}

// pageTemplate is the technician page. The server renders the first view;
// a little JS refreshes it from /api/status and posts the switches.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>serialine-sim line {{.Status.Line}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1rem 2rem;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse} td,th{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f4f4f4;padding:0 .3rem}
.labels{display:flex;flex-wrap:wrap;gap:.8rem}
.labels figure{margin:0;border:1px solid #ccc;padding:.3rem}
.labels img{max-width:260px;image-rendering:pixelated}
.labels figcaption{font-size:.75rem;font-family:monospace;max-width:260px;overflow-wrap:anywhere}
#msg{color:#b00}
</style></head><body>
<h1>Line <span id="line">{{.Status.Line}}</span>{{if .Status.Fast}} — fast mode (no imaging){{end}}</h1>
<p>Conveyor <b id="running">{{if .Status.Running}}running{{else}}stopped{{end}}</b> at <span id="speed">{{.Status.Speed}}</span> units/min;
PLC alarms: <b id="plc-alarms">{{range .Status.PLCAlarms}}{{.}} {{else}}none{{end}}</b></p>
<h2>Connect the agent to</h2>
<table>
<tr><th>printer (ZPL)</th><td><code id="dev-printer">{{.Status.Devices.Printer}}</code></td></tr>
<tr><th>scanner (result lines)</th><td><code id="dev-scanner">{{.Status.Devices.Scanner}}</code></td></tr>
<tr><th>PLC (Modbus TCP)</th><td><code id="dev-plc">{{.Status.Devices.PLC}}</code> unit {{.Status.Devices.PLCUnitID}}</td></tr>
</table>
<h2>Counters</h2>
<table id="counters">
{{range .Status.Counters.Rows}}<tr><th>{{.Name}}</th><td class="n" id="c-{{.Key}}">{{.Value}}</td></tr>
{{end}}</table>
<h2>Faults</h2>
<p id="msg"></p>
<table>
{{range .Switches}}<tr><th>{{.Device}}</th><td>{{.Fault}}</td><td>
{{if .Bool}}<input type="checkbox" data-device="{{.Device}}" data-fault="{{.Fault}}">
{{else}}<input type="number" min="{{.Min}}" max="{{.Max}}" step="{{.Step}}" data-device="{{.Device}}" data-fault="{{.Fault}}"> <button data-set="{{.Device}}.{{.Fault}}">set</button>{{end}}
</td></tr>
{{end}}</table>
<h2>Last printed labels</h2>
<div class="labels" id="labels"></div>
<script>
"use strict";
const msg = document.getElementById("msg");
function post(device, fault, value) {
  fetch("/api/faults", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({device, fault, value})})
  .then(r => r.json().then(j => { msg.textContent = r.ok ? "" : j.error; refresh(); }))
  .catch(e => { msg.textContent = String(e); });
}
document.querySelectorAll("input[type=checkbox]").forEach(el =>
  el.addEventListener("change", () => post(el.dataset.device, el.dataset.fault, el.checked)));
document.querySelectorAll("button[data-set]").forEach(el => el.addEventListener("click", () => {
  const [device, fault] = el.dataset.set.split(".");
  const input = document.querySelector("input[data-device='" + device + "'][data-fault='" + fault + "']");
  post(device, fault, Number(input.value));
}));
function faultValue(s, device, fault) { return s.faults[device][fault]; }
let shown = "";
function refresh() {
  fetch("/api/status").then(r => r.json()).then(s => {
    document.getElementById("running").textContent = s.running ? "running" : "stopped";
    document.getElementById("speed").textContent = s.speed;
    document.getElementById("plc-alarms").textContent = (s.plc_alarms || []).join(" ") || "none";
    for (const [k, v] of Object.entries(s.counters)) {
      const el = document.getElementById("c-" + k);
      if (el) el.textContent = v;
    }
    document.querySelectorAll("input[data-device]").forEach(el => {
      const v = faultValue(s, el.dataset.device, el.dataset.fault);
      if (el.type === "checkbox") el.checked = !!v;
      else if (document.activeElement !== el) el.value = v;
    });
    const key = s.labels.map(l => l.seq).join(",");
    if (key === shown) return;
    shown = key;
    const box = document.getElementById("labels");
    box.replaceChildren(...s.labels.map(l => {
      const fig = document.createElement("figure");
      if (l.png) { const img = document.createElement("img"); img.src = l.png; img.alt = "label " + l.seq; fig.append(img); }
      const cap = document.createElement("figcaption");
      cap.textContent = "#" + l.seq + (l.unit ? " unit " + l.unit : "") + " " + (l.element_string || l.data);
      fig.append(cap);
      return fig;
    }));
  }).catch(e => { msg.textContent = "status: " + e; });
}
refresh();
setInterval(refresh, 1000);
</script>
</body></html>
`))
