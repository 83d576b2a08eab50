package master

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/serialine/serialine/central/store/audit"
	"github.com/serialine/serialine/central/store/check"
	"github.com/serialine/serialine/central/store/sqldb"
	"github.com/serialine/serialine/shared/wire"
)

// Line is a packaging line with its edge agent's MQTT credentials.
type Line struct {
	ID      string `json:"id"` // the {line} of the MQTT topics
	SiteGLN string `json:"site_gln,omitempty"`
	Name    string `json:"name"`
	// ReadPoint is the line's own SGLN (EPC URI or GS1 Digital Link with
	// AI 414), the readPoint of its units' EPCIS events; see epcis_line.go.
	ReadPoint string `json:"read_point,omitempty"`
	// PasswordHash is the hash of the edge's MQTT password, as the broker
	// authentication wants it; the store never sees the password.
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
}

// PutLine creates or updates a line. A new line starts at seq 0: its first
// event must have seq 1.
func (s *Data) PutLine(ctx context.Context, l Line) error {
	rec := "line " + l.ID
	if err := wire.ValidateLine(l.ID); err != nil {
		return sqldb.Invalid(rec, "id", "%v", err)
	}
	if err := check.Text(rec, "name", l.Name, true); err != nil {
		return err
	}
	if len(l.PasswordHash) > 512 {
		return sqldb.Invalid(rec, "password_hash", "has %d bytes, at most 512", len(l.PasswordHash))
	}
	if err := check.ReadPoint(l.ReadPoint); err != nil {
		return sqldb.Invalid(rec, "read_point", "%v", err)
	}
	return s.db.Write(ctx, func(tx sqldb.Tx) error {
		var site any
		if l.SiteGLN != "" {
			if _, err := GetSite(ctx, tx, l.SiteGLN); err != nil {
				return fmt.Errorf("%s: site_gln: %w", rec, err)
			}
			site = l.SiteGLN
		}
		var before *Line
		if b, err := GetLine(ctx, tx, l.ID); err == nil {
			before = &b
		} else if !errors.Is(err, sqldb.ErrNotFound) {
			return err
		}
		t := sqldb.Now()
		l.CreatedAt, l.UpdatedAt = t, t
		if before != nil {
			l.CreatedAt = before.CreatedAt
		}
		_, err := tx.Exec(ctx, `INSERT INTO lines (id, site_gln, name, mqtt_password_hash, created_at, updated_at, read_point) VALUES ($1, $2, $3, $4, $5, $5, $6)
			ON CONFLICT (id) DO UPDATE SET site_gln = excluded.site_gln, name = excluded.name,
			mqtt_password_hash = excluded.mqtt_password_hash, updated_at = excluded.updated_at, read_point = excluded.read_point`,
			l.ID, site, l.Name, l.PasswordHash, t, l.ReadPoint)
		if err != nil {
			return fmt.Errorf("%s: %w", rec, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO line_seq (line_id, applied_seq) VALUES ($1, 0) ON CONFLICT (line_id) DO NOTHING", l.ID); err != nil {
			return fmt.Errorf("%s: seq: %w", rec, err)
		}
		type audited struct {
			Line
			PasswordChanged bool `json:"password_changed,omitempty"`
		}
		after := audited{Line: l, PasswordChanged: before != nil && before.PasswordHash != l.PasswordHash}
		if before == nil {
			return audit.Record(ctx, tx, "create", "line", l.ID, nil, after)
		}
		return audit.Record(ctx, tx, "update", "line", l.ID, audited{Line: *before}, after)
	})
}

const lineCols = "id, site_gln, name, mqtt_password_hash, created_at, updated_at, read_point"

func scanLine(r interface{ Scan(...any) error }) (Line, error) {
	var l Line
	var site sql.NullString
	if err := r.Scan(&l.ID, &site, &l.Name, &l.PasswordHash, &l.CreatedAt, &l.UpdatedAt, &l.ReadPoint); err != nil {
		return l, err
	}
	l.SiteGLN = site.String
	l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
	return l, nil
}

func GetLine(ctx context.Context, q sqldb.Tx, id string) (Line, error) {
	l, err := scanLine(q.QueryRow(ctx, "SELECT "+lineCols+" FROM lines WHERE id = $1", id))
	if sqldb.IsNoRows(err) {
		return l, fmt.Errorf("line %s: %w", id, sqldb.ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("line %s: %w", id, err)
	}
	return l, nil
}

// Line returns the line with id, with its password hash.
func (s *Data) Line(ctx context.Context, id string) (Line, error) {
	var l Line
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		var err error
		l, err = GetLine(ctx, q, id)
		return err
	})
	return l, err
}

// Lines lists every line by id.
func (s *Data) Lines(ctx context.Context) ([]Line, error) {
	var out []Line
	err := s.db.Read(ctx, func(q sqldb.Tx) error {
		r, err := q.Query(ctx, "SELECT "+lineCols+" FROM lines ORDER BY id")
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			l, err := scanLine(r)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("lines: %w", err)
	}
	return out, nil
}
