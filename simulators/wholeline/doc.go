// Package wholeline holds the system tests of Serialine: serialine-central
// and serialine-edge run as the built programs (separate processes), the
// packaging lines are serialine-sim's line simulator, and they talk
// through a real Mosquitto (the shipped configs/mosquitto, with per-line
// logins and the topic ACL) and a real PostgreSQL. The tests kill and
// restart the processes and the broker while lines produce, and then
// check that the print logs, the agents and central agree exactly.
//
// The package has no code of its own: everything is in its tests.
package wholeline
