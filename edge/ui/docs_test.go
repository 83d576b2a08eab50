package ui

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/serialine/serialine/edge/station"
)

// The alarm table of docs/operations.md is the catalogue the screen shows
// (station.Catalogue), between these markers.
const (
	alarmTableStart = "<!-- alarm table: generated from station.Catalogue(); SERIALINE_UPDATE_DOCS=1 go test ./edge/ui -run TestOperationsAlarmTable rewrites it -->"
	alarmTableEnd   = "<!-- end of alarm table -->"
)

// alarmTable is the catalogue as a Markdown table.
func alarmTable() string {
	var b strings.Builder
	b.WriteString("| code | what happened | what to do | who acknowledges |\n|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, a := range station.Catalogue() {
		b.WriteString("| `" + string(a.Code) + "` | " + cell(a.Cause) + " | " + cell(a.Action) + " | " + whoAcks(a.AckRole) + " |\n")
	}
	return b.String()
}

func whoAcks(r station.Role) string {
	switch r {
	case station.RoleQA:
		return "QA"
	case station.RoleSupervisor:
		return "supervisor or QA"
	}
	return "operator (or anyone signed in)"
}

// TestOperationsAlarmTable fails when docs/operations.md and the alarm
// catalogue differ: every code, its cause, its action and who
// acknowledges it. With SERIALINE_UPDATE_DOCS=1 it rewrites the table.
func TestOperationsAlarmTable(t *testing.T) {
	_, here, _, ok := runtime.Caller(0)
	require.True(t, ok)
	path := filepath.Join(filepath.Dir(here), "..", "..", "docs", "operations.md")
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(doc)
	i := strings.Index(text, alarmTableStart)
	require.GreaterOrEqual(t, i, 0, "docs/operations.md has no line %q", alarmTableStart)
	body := i + len(alarmTableStart) + 1
	j := strings.Index(text[body:], alarmTableEnd)
	require.GreaterOrEqual(t, j, 0, "docs/operations.md has no line %q after the table", alarmTableEnd)
	want := alarmTable()
	if os.Getenv("SERIALINE_UPDATE_DOCS") == "1" {
		text = text[:body] + want + text[body+j:]
		require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
		return
	}
	require.Equal(t, want, text[body:body+j],
		"docs/operations.md's alarm table differs from station.Catalogue(); run SERIALINE_UPDATE_DOCS=1 go test ./edge/ui -run TestOperationsAlarmTable")
	// Every code is in it once, so no alarm is left unexplained.
	for _, a := range station.Catalogue() {
		require.Equal(t, 1, strings.Count(text[body:body+j], "| `"+string(a.Code)+"` |"), "code %s", a.Code)
	}
}
