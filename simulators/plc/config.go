package plcsim

import (
	"errors"
	"fmt"
	"time"

	"github.com/serialine/serialine/drivers/plc"
)

// Config configures the simulated PLC and its conveyor.
type Config struct {
	// UnitID is the Modbus unit id served; 0 means 1. Over TCP, requests to
	// unit 0 or 255 are answered too.
	UnitID uint8 `yaml:"unit_id"`
	// Map is the register map; the zero map is plc.DefaultRegisterMap().
	Map plc.RegisterMap `yaml:"map"`
	// Speed is the line speed in units per minute; 0 is manual mode (only
	// Trigger and Advance move the line).
	Speed float64 `yaml:"speed"`
	// Jitter varies the gap between products by up to ± this percentage of
	// a pitch (0-90); automatic mode only.
	Jitter float64 `yaml:"jitter"`
	// Travel is the distance from the print station (where a product
	// triggers) to the reject station, in pitches; default 10.
	Travel float64 `yaml:"travel"`
	// TravelTime gives the same distance as time at Speed (automatic mode
	// only); set Travel or TravelTime, not both.
	TravelTime time.Duration `yaml:"travel_time"`
	// Stations are extra points along the conveyor (a camera, a checkweigher)
	// where the simulator reports UnitAtStation events.
	Stations []Station `yaml:"stations"`
	// StartStopped leaves the run-request coil off at start.
	StartStopped bool `yaml:"start_stopped"`
	// InitialCount is the trigger counter's value at start (the next unit is
	// InitialCount+1); near 2^32 to rehearse the wrap.
	InitialCount uint32 `yaml:"initial_count"`
	// Seed fixes the jitter's random sequence; 0 picks one at random.
	Seed uint64 `yaml:"seed"`
	// Watchdog is how long the edge's heartbeat may stand still before the
	// PLC stops the line (AlarmEdgeWatchdog); default 2 s. The watchdog arms
	// at the first heartbeat the edge writes (see watchdog.go).
	Watchdog time.Duration `yaml:"watchdog"`
}

// Station is a point on the conveyor, At pitches after the print station
// (0 ≤ At ≤ Travel).
type Station struct {
	Name string  `yaml:"name"`
	At   float64 `yaml:"at"`
}

// DefaultTravel is the print-to-reject distance used when none is set.
const DefaultTravel = 10

// DefaultWatchdog is the edge watchdog time used when none is set.
const DefaultWatchdog = 2 * time.Second

func (c Config) withDefaults() Config {
	if c.UnitID == 0 {
		c.UnitID = 1
	}
	c.Map = c.Map.WithDefaults()
	if c.Travel == 0 && c.TravelTime > 0 && c.Speed > 0 {
		c.Travel = c.TravelTime.Minutes() * c.Speed
	}
	if c.Travel == 0 && c.TravelTime == 0 {
		c.Travel = DefaultTravel
	}
	if c.Watchdog == 0 {
		c.Watchdog = DefaultWatchdog
	}
	return c
}

// Validate checks c (defaults applied) and names the key that breaks a rule.
func (c Config) Validate() error {
	raw := c
	c = c.withDefaults()
	if err := c.Map.Validate(); err != nil {
		return fmt.Errorf("plcsim: %w", err)
	}
	switch {
	case c.Speed < 0 || c.Speed > 100_000:
		return fmt.Errorf("plcsim: speed %v: must be 0 (manual) to 100000 units/min", c.Speed)
	case c.Jitter < 0 || c.Jitter > 90:
		return fmt.Errorf("plcsim: jitter %v: must be 0 to 90 %%", c.Jitter)
	case raw.Travel != 0 && raw.TravelTime != 0:
		return errors.New("plcsim: travel and travel_time: set one, not both")
	case raw.TravelTime < 0:
		return fmt.Errorf("plcsim: travel_time %v: must be positive", raw.TravelTime)
	case raw.TravelTime > 0 && c.Speed == 0:
		return errors.New("plcsim: travel_time: needs speed > 0 (in manual mode give travel in pitches)")
	case c.Travel <= 0:
		return fmt.Errorf("plcsim: travel %v: must be positive", c.Travel)
	case c.Watchdog < 100*time.Millisecond || c.Watchdog > time.Hour:
		return fmt.Errorf("plcsim: watchdog %v: must be 100ms to 1h", c.Watchdog)
	}
	seen := map[string]bool{}
	for i, st := range c.Stations {
		switch {
		case st.Name == "":
			return fmt.Errorf("plcsim: stations[%d].name: missing", i)
		case seen[st.Name]:
			return fmt.Errorf("plcsim: stations[%d].name %q: used twice", i, st.Name)
		case st.At < 0 || st.At > c.Travel:
			return fmt.Errorf("plcsim: stations[%d].at %v: must lie between the print station (0) and the reject station (%v)", i, st.At, c.Travel)
		}
		seen[st.Name] = true
	}
	return nil
}
