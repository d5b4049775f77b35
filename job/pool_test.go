package job

import (
	"math"
	"testing"
)

func TestPoolSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		rate, latency, jitter float64
		want                  int
	}{
		{100, 0.3, 0, 38},      // Little's law: 30 in flight, 20% spare, 2 more
		{100, 0.3, 0.05, 56},   // a jittery server needs more
		{90, 0.01, 0, autoMin}, // fast server: the floor
		{1e6, 1, 0, autoMax},   // the ceiling
		{math.Inf(1), 1, 0, autoUnlimited},
	} {
		if got := poolSize(tt.rate, tt.latency, tt.jitter); got != tt.want {
			t.Errorf("poolSize(%v, %v, %v) = %d, want %d", tt.rate, tt.latency, tt.jitter, got, tt.want)
		}
	}
}
