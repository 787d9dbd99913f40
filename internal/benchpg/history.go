package benchpg

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
)

// Share is where a workflow's wall time went, from its history (every run of a chain
// continued as new): the activities' own work (started to closed, as the history records
// the last attempt), the timers, and what is left, which is Temporal's share (task
// queueing and dispatch, workflow tasks, starting the next run) plus earlier attempts of
// retried activities.
type Share struct {
	Wall       time.Duration
	Runs       int
	Events     int
	Activities int
	// ActivityTime sums each activity's own time; ByType splits it by activity type.
	ActivityTime time.Duration
	ByType       map[string]time.Duration
	TimerTime    time.Duration
	// Covered is the union of the activity and timer intervals (activities and timers can
	// overlap); Overhead = Wall - Covered.
	Covered, Overhead time.Duration
}

type span struct{ from, to time.Time }

// HistoryShare computes Share from the events of each run, oldest run first.
func HistoryShare(runs [][]*historypb.HistoryEvent) (Share, error) {
	s := Share{ByType: map[string]time.Duration{}, Runs: len(runs)}
	var first, last time.Time
	var spans []span
	for _, events := range runs {
		s.Events += len(events)
		actType := map[int64]string{}
		actStart := map[int64]time.Time{}
		timerStart := map[string]time.Time{}
		for _, e := range events {
			t := e.GetEventTime().AsTime()
			if first.IsZero() {
				first = t
			}
			last = t
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				actType[e.GetEventId()] = e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				actStart[e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()] = t
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
				enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED,
				enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
				enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
				sched := activityScheduledID(e)
				from, ok := actStart[sched]
				if !ok {
					continue // canceled before it started
				}
				d := t.Sub(from)
				s.Activities++
				s.ActivityTime += d
				s.ByType[actType[sched]] += d
				spans = append(spans, span{from, t})
			case enumspb.EVENT_TYPE_TIMER_STARTED:
				timerStart[e.GetTimerStartedEventAttributes().GetTimerId()] = t
			case enumspb.EVENT_TYPE_TIMER_FIRED, enumspb.EVENT_TYPE_TIMER_CANCELED:
				id := e.GetTimerFiredEventAttributes().GetTimerId()
				if e.GetEventType() == enumspb.EVENT_TYPE_TIMER_CANCELED {
					id = e.GetTimerCanceledEventAttributes().GetTimerId()
				}
				if from, ok := timerStart[id]; ok {
					s.TimerTime += t.Sub(from)
					spans = append(spans, span{from, t})
				}
			}
		}
	}
	if first.IsZero() {
		return s, fmt.Errorf("no events")
	}
	s.Wall = last.Sub(first)
	s.Covered = union(spans)
	s.Overhead = s.Wall - s.Covered
	return s, nil
}

func activityScheduledID(e *historypb.HistoryEvent) int64 {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		return e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		return e.GetActivityTaskFailedEventAttributes().GetScheduledEventId()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		return e.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()
	default:
		return e.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()
	}
}

// union is the total length covered by the spans.
func union(spans []span) time.Duration {
	sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
	var total time.Duration
	var cur span
	for i, sp := range spans {
		if i == 0 || sp.from.After(cur.to) {
			if i > 0 {
				total += cur.to.Sub(cur.from)
			}
			cur = sp
			continue
		}
		if sp.to.After(cur.to) {
			cur.to = sp.to
		}
	}
	if len(spans) > 0 {
		total += cur.to.Sub(cur.from)
	}
	return total
}

// FetchRuns reads the history of workflow id's latest run and of every run it continued
// from, oldest first.
func FetchRuns(ctx context.Context, c client.Client, id string) ([][]*historypb.HistoryEvent, error) {
	var runs [][]*historypb.HistoryEvent
	runID := ""
	for range 10000 {
		it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var events []*historypb.HistoryEvent
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("history of %s run %q: %w", id, runID, err)
			}
			events = append(events, e)
		}
		if len(events) == 0 {
			return nil, fmt.Errorf("history of %s run %q is empty", id, runID)
		}
		runs = append(runs, events)
		prev := events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		if prev == "" {
			slices.Reverse(runs)
			return runs, nil
		}
		runID = prev
	}
	return nil, fmt.Errorf("history of %s: more than 10000 runs", id)
}
