package zoo

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{mib, "1.0 MiB"},
		{574677321, "548.1 MiB"},
		{3 << 30, "3.0 GiB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// clock is a fake time that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newTestMeter(bar bool) (*meter, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := newMeter(&buf, "m.onnx", 10*mib)
	m.bar, m.now = bar, c.now
	return m, &buf, c
}

func TestMeterLog(t *testing.T) {
	tests := []struct {
		name string
		// run feeds the meter.
		run  func(m *meter, c *clock)
		want []string
	}{
		{
			name: "a line per tenth",
			run: func(m *meter, c *clock) {
				m.start(0)
				for range 4 {
					c.advance(time.Second)
					m.add(mib / 2) // a line at 1 MiB and 2 MiB only
				}
			},
			want: []string{
				"zoo: m.onnx: 1.0 MiB of 10.0 MiB (10%), 512.0 KiB/s, ETA 18s",
				"zoo: m.onnx: 2.0 MiB of 10.0 MiB (20%), 512.0 KiB/s, ETA 16s",
			},
		},
		{
			name: "a slow download still logs every 10 s",
			run: func(m *meter, c *clock) {
				m.start(0)
				c.advance(9 * time.Second)
				m.add(1024) // too soon
				c.advance(time.Second)
				m.add(1024)
			},
			want: []string{"zoo: m.onnx: 2.0 KiB of 10.0 MiB (0%), 204 B/s, ETA 14h13m10s"},
		},
		{
			name: "resumed: the rate counts only new bytes",
			run: func(m *meter, c *clock) {
				m.start(5 * mib)
				c.advance(2 * time.Second)
				m.add(mib)
			},
			want: []string{"zoo: m.onnx: 6.0 MiB of 10.0 MiB (60%), 512.0 KiB/s, ETA 8s"},
		},
		{
			name: "messages are plain lines",
			run: func(m *meter, c *clock) {
				m.printf("downloading %s", "m.onnx")
				m.finish() // no bar, nothing to end
			},
			want: []string{"zoo: downloading m.onnx"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, buf, c := newTestMeter(false)
			tt.run(m, c)
			got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestMeterBar(t *testing.T) {
	m, buf, c := newTestMeter(true)
	m.start(0)
	c.advance(time.Second)
	m.add(5 * mib) // first draw
	c.advance(barRedraw / 2)
	m.add(1024) // too soon to redraw
	m.printf("a message")
	c.advance(4 * time.Second)
	m.add(5*mib - 1024) // complete: always drawn
	m.finish()
	want := "\rm.onnx [============            ] 5.0 MiB/10.0 MiB (50%)  5.0 MiB/s  ETA 1s\x1b[K" +
		"\nzoo: a message\n" +
		"\rm.onnx [========================] 10.0 MiB/10.0 MiB (100%)  2.0 MiB/s  ETA 0s\x1b[K" +
		"\rm.onnx [========================] 10.0 MiB/10.0 MiB (100%)  2.0 MiB/s  ETA 0s\x1b[K\n"
	if got := buf.String(); got != want {
		t.Errorf("bar output\n%q\nwant\n%q", got, want)
	}
}
