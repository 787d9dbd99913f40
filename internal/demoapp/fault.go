package demoapp

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// FaultEnv is the environment variable zdm-demoapp reads FaultRate from.
const FaultEnv = "ZDM_DEMO_FAULT_RATE"

// errInjected is the failure FaultRate injects into the new read path.
var errInjected = errors.New("injected fault: the new read path failed (" + FaultEnv + ")")

// Users is how many distinct users the demo app's operations come from.
const Users = 10000

// pickUser is the user an operation runs for: the rollout of read_new is sticky per
// user, as a real application's would be.
func (a *App) pickUser() string { return "user-" + strconv.Itoa(rand.IntN(Users)) }

// faulty says whether this read of the new columns fails on purpose.
func (a *App) faulty() bool {
	r := math.Float64frombits(a.fault.Load())
	return r > 0 && rand.Float64() < r
}

// SetFaultRate changes the fraction of new-path reads that fail, while the app runs
// (the fault is fixed, say).
func (a *App) SetFaultRate(r float64) error {
	if err := checkFaultRate(r); err != nil {
		return fmt.Errorf("demoapp: %w", err)
	}
	a.fault.Store(math.Float64bits(r))
	return nil
}

func checkFaultRate(r float64) error {
	if r < 0 || r > 1 {
		return fmt.Errorf("FaultRate %g is not a fraction from 0 to 1 (e.g. 0.1 fails one read of the new columns in ten)", r)
	}
	return nil
}
