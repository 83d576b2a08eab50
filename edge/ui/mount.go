package ui

import (
	"errors"
	"log/slog"

	"github.com/serialine/serialine/edge/agent"
)

// Mount builds the touchscreen for a from the agent's configuration (its
// operators: and ui: sections) and mounts it at "/" of a's HTTP server;
// call it before a.Run, which closes the screen's event streams on the
// way out. With no operators configured the screen still shows the line
// and Stop and Pause work, but nobody can sign in to start or acknowledge.
func Mount(a *agent.Agent, cfg agent.Config, log *slog.Logger) (*UI, error) {
	if a == nil {
		return nil, errors.New("ui: agent: missing")
	}
	if log == nil {
		return nil, errors.New("ui: logger: missing")
	}
	var ops Operators = noOperators{}
	if len(cfg.Operators) > 0 {
		oc := make([]OperatorConfig, len(cfg.Operators))
		for i, o := range cfg.Operators {
			oc[i] = OperatorConfig{Name: o.Name, PINHash: o.PINHash, Role: o.RoleOrDefault()}
		}
		s, err := NewOperators(oc)
		if err != nil {
			return nil, err
		}
		ops = s
	} else {
		log.Warn("no operators configured: the touchscreen shows the line and can stop it; add operators (name, pin_hash, role) to start it")
	}
	u, err := New(Config{SessionIdle: cfg.UI.SessionIdle, MaxPINFailures: cfg.UI.MaxPINFailures, LockOut: cfg.UI.LockOut,
		MaxPINFailuresGlobal: cfg.UI.MaxPINFailuresGlobal, Hosts: cfg.UI.Hosts,
		PoolWarnMinutes: cfg.UI.PoolWarnMinutes}, a, ops, nil, log.With("part", "ui"))
	if err != nil {
		return nil, err
	}
	a.Handle("/", u)
	return u, nil
}

// noOperators is the sign-in of a line with no operators configured:
// every PIN is wrong.
type noOperators struct{}

func (noOperators) Check(string) (Person, bool) { return Person{}, false }
