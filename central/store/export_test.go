package store

import "fmt"

// WithMigrationsUpTo stops Open's migrations at version v, so that a test
// can fill a database as an older build left it and then migrate it.
func WithMigrationsUpTo(v int) Option { return func(o *options) { o.upTo = v } }

// MigrationVersion returns the version of the migration named name (its
// number may change when branches merge; its name does not).
func MigrationVersion(name string) (int, error) {
	ms, err := migrations(dialectSQLite)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		if m.name == name {
			return m.version, nil
		}
	}
	return 0, fmt.Errorf("no migration named %s", name)
}
