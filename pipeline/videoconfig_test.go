package pipeline

import (
	"strings"
	"testing"
)

// TestVideoConfig: the video block's defaults load, its keys are read from
// --set, and each bad value is refused with a message naming its key.
func TestVideoConfig(t *testing.T) {
	cfg, err := LoadConfigBytes([]byte("content: builtin:village\nstyle: [{path: builtin:swirls, weight: 1}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Video; v.TemporalWeight != 100 || v.IterationsFirst != 300 || v.Iterations != 100 || v.Init != VideoInitPrevWarped ||
		len(v.LongTerm) != 1 || v.LongTerm[0] != 1 || v.FrameRate != 25 || v.MaxFrames != 10_000 {
		t.Errorf("defaults %+v", v)
	}
	for _, c := range []struct {
		set, want string // want: "" for accepted, else a part of the message
	}{
		{"video.temporal_weight=1000", ""},
		{"video.long_term=[1, 2, 4]", ""},
		{"video.frame_rate=29.97", ""},
		{"video.init=content", ""},
		{"video.temporal_weight=-1", "video.temporal_weight"},
		{"video.iterations=-3", "video.iterations"},
		{"video.iterations_first=-3", "video.iterations_first"},
		{"video.init=noise", "video.init"},
		{"video.long_term=[]", "video.long_term"},
		{"video.long_term=[2, 1]", "increasing"},
		{"video.long_term=[0]", "video.long_term[0]"},
		{"video.frame_rate=0", "video.frame_rate"},
		{"video.frame_rate=5000", "video.frame_rate"},
		{"video.max_frames=0", "video.max_frames"},
		{"video.temporal_wieght=1", "temporal_weight"},
	} {
		t.Run(c.set, func(t *testing.T) {
			_, err := LoadConfigBytes([]byte("content: builtin:village\nstyle: [{path: builtin:swirls, weight: 1}]\n"), []string{c.set})
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v; want one naming %q", err, c.want)
			}
		})
	}
}
