package epcisapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/central/store/epcisdb"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/epcis"
	"github.com/serialine/serialine/shared/httpjson"
	"github.com/serialine/serialine/shared/utf8json"
)

// CaptureJob is a capture job as the binding shows it (CaptureJob of the
// OpenAPI, with the counts of this repository besides).
type CaptureJob struct {
	CaptureID  string     `json:"captureID"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Running    bool       `json:"running"`
	Success    bool       `json:"success"`
	// Behaviour is the GS1-Capture-Error-Behaviour the job ran with.
	Behaviour string    `json:"captureErrorBehaviour"`
	Errors    []Problem `json:"errors"`
	// Events is the number of events in the document; Stored, Duplicates
	// (eventID or hash ID already stored), Declared (error declarations
	// that marked a stored event) and Rejected (invalid, with proceed)
	// say what became of them.
	Events     int `json:"events"`
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
	Declared   int `json:"declared"`
	Rejected   int `json:"rejected"`
}

func jobOut(j epcisdb.CaptureJob) CaptureJob {
	out := CaptureJob{CaptureID: j.CaptureID, CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt, Running: j.Running, Success: j.Success,
		Behaviour: j.Behaviour, Errors: []Problem{}, Events: j.Events, Stored: j.Stored, Duplicates: j.Duplicates, Declared: j.Declared, Rejected: j.Rejected}
	for _, e := range j.Errors {
		typ, status := "epcisException:ValidationException", http.StatusBadRequest
		if e == epcisdb.AbandonedCapture || strings.HasPrefix(e, "the capture could not be stored") {
			typ, status = "epcisException:ImplementationException", http.StatusInternalServerError
		}
		out.Errors = append(out.Errors, Problem{Type: typ, Title: e, Status: status})
	}
	return out
}

func newCaptureID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "c" + hex.EncodeToString(b[:])
}

// capture answers POST /epcis/capture: the document is read and checked
// for syntax now (400), then a capture job validates and stores its events
// (202 with Location: /epcis/capture/{captureID}).
//
// It is long because it is the capture's checks in turn (behaviour header, content
// type, size, syntax, event count, hash IDs, authorization), each writing its own
// problem and returning, then the job.
func (h *Handler) capture(w http.ResponseWriter, r *http.Request) {
	behaviour := strings.ToLower(strings.TrimSpace(r.Header.Get("GS1-Capture-Error-Behaviour")))
	switch behaviour {
	case "":
		behaviour = BehaviourRollback
	case BehaviourRollback, BehaviourProceed:
	default:
		writeProblem(w, Problem{Type: "epcisException:ValidationException", Status: http.StatusBadRequest, Detail: "GS1-Capture-Error-Behaviour",
			Title: fmt.Sprintf("GS1-Capture-Error-Behaviour: %q is not rollback or proceed", behaviour)})
		return
	}
	format, ok := captureFormat(r.Header.Get("Content-Type"))
	if !ok {
		problem(w, http.StatusUnsupportedMediaType, "epcisException:ImplementationException",
			fmt.Sprintf("Content-Type: %q is not application/ld+json, application/json or application/xml", r.Header.Get("Content-Type")))
		return
	}
	limits := func() {
		w.Header().Set("GS1-EPCIS-Capture-Limit", strconv.Itoa(h.CaptureLimit))
		w.Header().Set("GS1-EPCIS-Capture-File-Size-Limit", strconv.FormatInt(h.MaxBodyBytes, 10))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			limits()
			problem(w, http.StatusRequestEntityTooLarge, "epcisException:CaptureLimitExceededException",
				fmt.Sprintf("the document is larger than %d bytes (GS1-EPCIS-Capture-File-Size-Limit)", h.MaxBodyBytes))
			return
		}
		problem(w, http.StatusBadRequest, "epcisException:ValidationException", "reading the body: "+err.Error())
		return
	}
	if err := utf8json.Check(body); err != nil && format == epcis.FormatJSONLD {
		// encoding/json would store the bytes as U+FFFD; XML's parser refuses them itself.
		problem(w, http.StatusBadRequest, "epcisException:ValidationException", err.Error())
		return
	}
	var doc epcis.Document
	if format == epcis.FormatXML {
		doc, err = epcis.ParseXML(body)
	} else {
		doc, err = epcis.ParseJSONLD(body)
	}
	if err != nil {
		problem(w, http.StatusBadRequest, "epcisException:ValidationException", "the body is not an EPCIS 2.0 document: "+err.Error())
		return
	}
	switch n := len(doc.Events); {
	case n == 0:
		problem(w, http.StatusBadRequest, "epcisException:ValidationException", "eventList: the document has no events")
		return
	case n > h.CaptureLimit:
		limits()
		problem(w, http.StatusRequestEntityTooLarge, "epcisException:CaptureLimitExceededException",
			fmt.Sprintf("the document has %d events, more than %d (GS1-EPCIS-Capture-Limit): split it", n, h.CaptureLimit))
		return
	}
	hashes, err := epcis.HashDocument(body, format)
	if err == nil && len(hashes) != len(doc.Events) {
		err = fmt.Errorf("%d hash IDs for %d events", len(hashes), len(doc.Events))
	}
	if err != nil {
		problem(w, http.StatusBadRequest, "epcisException:ValidationException", "the event hash IDs cannot be computed: "+err.Error())
		return
	}
	p, _ := auth.PrincipalFrom(r.Context())
	effects, ok := h.authorizeEffects(w, r, p, doc.Events)
	if !ok {
		return
	}
	job := epcisdb.CaptureJob{CaptureID: newCaptureID(), Behaviour: behaviour, Principal: p.Name, Events: len(doc.Events)}
	h.mu.Lock()
	closing := h.closing
	if !closing {
		h.jobs.Add(1)
	}
	h.mu.Unlock()
	if closing {
		problem(w, http.StatusServiceUnavailable, "epcisException:ImplementationException", "central is stopping; capture again later")
		return
	}
	if err := h.Events.CreateCaptureJob(r.Context(), job); err != nil {
		h.jobs.Done()
		h.log.Error("capture job", "err", err)
		problem(w, http.StatusInternalServerError, "epcisException:ImplementationException", "the capture job could not be created")
		return
	}
	go h.runCapture(job, p.Actor(), doc.Events, hashes, effects)
	w.Header().Set("Location", Prefix+"capture/"+job.CaptureID)
	w.Header().Set("GS1-Capture-Error-Behaviour", behaviour)
	httpjson.Write(w, http.StatusAccepted, CaptureJob{CaptureID: job.CaptureID, CreatedAt: time.Now().UTC(), Running: true, Success: true,
		Behaviour: behaviour, Errors: []Problem{}, Events: job.Events})
}

func captureFormat(contentType string) (epcis.Format, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return epcis.FormatUnknown, false
	}
	switch mt {
	case "application/ld+json", "application/json":
		return epcis.FormatJSONLD, true
	case "application/xml", "text/xml":
		return epcis.FormatXML, true
	}
	return epcis.FormatUnknown, false
}

// runCapture is the capture job: validate, then store in one transaction
// with the job's outcome (rollback: nothing when any event is invalid).
// Events with an effect on our units (authorized before) are audited
// with the events, as their actor's.
func (h *Handler) runCapture(job epcisdb.CaptureJob, actor string, events []epcis.Event, hashes []epcis.EventHash, effects []epcisdb.EPCISEffect) {
	defer h.jobs.Done()
	ctx := withActor(h.bg, actor)
	var valid []epcis.Event
	var ids, errs []string
	var pos []int
	for i, e := range events {
		ps := epcisdb.ValidateEPCISEvent(i, e)
		for _, p := range ps {
			errs = append(errs, p.Error())
		}
		if len(ps) == 0 {
			valid = append(valid, e)
			ids = append(ids, hashes[i].ID)
			pos = append(pos, i)
		}
	}
	rejected := len(events) - len(valid)
	log := h.log.With("capture", job.CaptureID, "who", job.Principal)
	if len(valid) == 0 || (rejected > 0 && job.Behaviour == BehaviourRollback) {
		if err := h.Events.FailCaptureJob(ctx, job.CaptureID, len(events), errs); err != nil {
			log.Error("capture job not closed", "err", err)
		}
		log.Info("EPCIS capture refused", "invalid", rejected, "behaviour", job.Behaviour)
		return
	}
	res, err := h.Events.CaptureEPCISForJobAudited(ctx, job.CaptureID, valid, ids, rejected, errs, onlyValid(effects, pos))
	if err != nil {
		log.Error("EPCIS capture failed", "err", err)
		if err := h.Events.FailCaptureJob(ctx, job.CaptureID, len(events), append(errs, "the capture could not be stored: "+errText(err))); err != nil {
			log.Error("capture job not closed", "err", err)
		}
		return
	}
	log.Info("EPCIS capture", "stored", res.Stored, "duplicates", res.Duplicates, "declared", res.Declared, "rejected", rejected)
	h.subs.wake()
}

// errText is what a client may see of an internal error.
func errText(err error) string {
	var ce *epcisdb.EPCISCaptureError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	return "internal error (see central's log)"
}

// captureJob answers GET /epcis/capture/{captureID}.
func (h *Handler) captureJob(w http.ResponseWriter, r *http.Request) {
	j, err := h.Events.CaptureJobByID(r.Context(), r.PathValue("captureID"))
	if errors.Is(err, sqldb.ErrNotFound) {
		problem(w, http.StatusNotFound, "epcisException:NoSuchNameException", fmt.Sprintf("no capture job %q", r.PathValue("captureID")))
		return
	}
	if err != nil {
		h.internal(w, "capture job", err)
		return
	}
	w.Header().Set("GS1-Capture-Error-Behaviour", j.Behaviour)
	httpjson.Write(w, http.StatusOK, jobOut(j))
}

// captureJobs answers GET /epcis/capture: the jobs, oldest first, paged.
func (h *Handler) captureJobs(w http.ResponseWriter, r *http.Request) {
	pg, ok := h.paging(w, r, nil)
	if !ok {
		return
	}
	jobs, last, more, err := h.Events.CaptureJobs(r.Context(), pg.afterID(), pg.perPage)
	if err != nil {
		h.internal(w, "capture jobs", err)
		return
	}
	out := make([]CaptureJob, len(jobs))
	for i, j := range jobs {
		out[i] = jobOut(j)
	}
	if more {
		pg.link(w, r, pageToken{ID: last})
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (h *Handler) internal(w http.ResponseWriter, what string, err error) {
	h.log.Error(what, "err", err)
	problem(w, http.StatusInternalServerError, "epcisException:ImplementationException", what+" failed (see central's log)")
}
