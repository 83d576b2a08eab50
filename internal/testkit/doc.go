// Package testkit holds the helpers the module's tests share: a logger that
// writes through the test, a context cancelled at cleanup, a polling wait,
// GS1 test identifiers, the print-log reader, JSON-schema checks and the
// runner of the independent validators. bbolt's internal/btesting is the
// model: one package under internal/, every helper taking testing.TB, so
// that no test helper is written twice (TestNoDuplicateHelpers keeps it so).
//
// It is imported only from _test.go files and from other test-support
// packages; production code never imports it.
package testkit
