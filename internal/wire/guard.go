package wire

import (
	"time"

	"github.com/zdmhq/zdm/internal/spec"
)

// Activity names of the guarded switch.
const (
	EvaluateGuard = "EvaluateGuard"
	SetRollout    = "SetRollout"
)

// RolloutInput sets the share of traffic a flag is on for: 0 turns it off, 100 on for
// everyone, anything between through Unleash's gradual rollout (sticky per user or
// session).
type RolloutInput struct {
	Migration   string `json:"migration"`
	Flag        string `json:"flag"`
	Percent     int    `json:"percent"`
	Description string `json:"description"`
}

// GuardInput is one evaluation of a migration's guard. The guard holds URLs only;
// credentials, if a server needs any, stay in the worker's environment.
type GuardInput struct {
	Migration string     `json:"migration"`
	Guard     spec.Guard `json:"guard"`
}

// GuardFigure is one value the guard read: a query's sample (one per series), or the
// health URL's answer.
type GuardFigure struct {
	Query  string   `json:"query"`
	Labels string   `json:"labels,omitempty"`
	Value  float64  `json:"value"`
	Max    *float64 `json:"max,omitempty"`
	Min    *float64 `json:"min,omitempty"`
	// Beyond says the value is past a threshold (a breach once it lasts the query's for).
	Beyond bool `json:"beyond,omitempty"`
	// NoData: the query returned no sample (the value is meaningless).
	NoData bool `json:"no_data,omitempty"`
	// Problem: the query or the health check could not be made, or the health URL
	// answered badly (for the health figure, that is a breach).
	Problem string `json:"problem,omitempty"`
}

// GuardResult is what one evaluation found.
type GuardResult struct {
	Figures []GuardFigure `json:"figures"`
	// At is when the figures were read (the worker's clock).
	At time.Time `json:"at"`
}

// HealthQuery names the health URL's figure.
const HealthQuery = "health_url"
