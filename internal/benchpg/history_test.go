package benchpg

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func ev(id int64, at time.Duration, typ enumspb.EventType, attrs any) *historypb.HistoryEvent {
	e := &historypb.HistoryEvent{EventId: id, EventType: typ,
		EventTime: timestamppb.New(time.Unix(1700000000, 0).Add(at))}
	switch a := attrs.(type) {
	case *historypb.ActivityTaskScheduledEventAttributes:
		e.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: a}
	case *historypb.ActivityTaskStartedEventAttributes:
		e.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: a}
	case *historypb.ActivityTaskCompletedEventAttributes:
		e.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: a}
	case *historypb.TimerStartedEventAttributes:
		e.Attributes = &historypb.HistoryEvent_TimerStartedEventAttributes{TimerStartedEventAttributes: a}
	case *historypb.TimerFiredEventAttributes:
		e.Attributes = &historypb.HistoryEvent_TimerFiredEventAttributes{TimerFiredEventAttributes: a}
	}
	return e
}

func TestHistoryShare(t *testing.T) {
	s := time.Second
	act := func(id int64, at time.Duration, name string) *historypb.HistoryEvent {
		return ev(id, at, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
			&historypb.ActivityTaskScheduledEventAttributes{ActivityType: &commonpb.ActivityType{Name: name}})
	}
	started := func(id int64, at time.Duration, sched int64) *historypb.HistoryEvent {
		return ev(id, at, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, &historypb.ActivityTaskStartedEventAttributes{ScheduledEventId: sched})
	}
	done := func(id int64, at time.Duration, sched int64) *historypb.HistoryEvent {
		return ev(id, at, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, &historypb.ActivityTaskCompletedEventAttributes{ScheduledEventId: sched})
	}
	// Run 1: Backfill 1 s → 11 s; a 2 s timer 11.5 → 13.5 s. Run 2 (continued as new):
	// Backfill 20 → 30 s and, overlapping it, Verify 25 → 32 s; ends at 33 s.
	run1 := []*historypb.HistoryEvent{
		ev(1, 0, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, nil),
		act(5, s/2, "Backfill"), started(6, 1*s, 5), done(7, 11*s, 5),
		ev(8, 11*s+s/2, enumspb.EVENT_TYPE_TIMER_STARTED, &historypb.TimerStartedEventAttributes{TimerId: "8"}),
		ev(9, 13*s+s/2, enumspb.EVENT_TYPE_TIMER_FIRED, &historypb.TimerFiredEventAttributes{TimerId: "8"}),
		ev(10, 14*s, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, nil),
	}
	run2 := []*historypb.HistoryEvent{
		ev(1, 15*s, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, nil),
		act(5, 19*s, "Backfill"), started(6, 20*s, 5),
		act(7, 24*s, "Verify"), started(8, 25*s, 7), done(9, 30*s, 5), done(10, 32*s, 7),
		ev(11, 33*s, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, nil),
	}
	got, err := HistoryShare([][]*historypb.HistoryEvent{run1, run2})
	require.NoError(t, err)
	assert.Equal(t, 33*s, got.Wall)
	assert.Equal(t, 2, got.Runs)
	assert.Equal(t, 15, got.Events)
	assert.Equal(t, 3, got.Activities)
	assert.Equal(t, 27*s, got.ActivityTime) // 10 + 10 + 7
	assert.Equal(t, map[string]time.Duration{"Backfill": 20 * s, "Verify": 7 * s}, got.ByType)
	assert.Equal(t, 2*s, got.TimerTime)
	assert.Equal(t, 24*s, got.Covered) // 10 + 2 + (20 → 32)
	assert.Equal(t, 9*s, got.Overhead)

	_, err = HistoryShare(nil)
	require.Error(t, err)
}
