package frames

import (
	"bufio"
	"fmt"
	"image"
	_ "image/jpeg" // frame headers
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// frameExts are the file extensions, lower case, of frame images.
var frameExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// IsFrameFile reports whether name has a frame image's extension (.png,
// .jpg or .jpeg, in any case).
func IsFrameFile(name string) bool {
	return frameExts[strings.ToLower(filepath.Ext(name))]
}

// ListFolder returns the frames in dir: its PNG and JPEG files, hidden files
// (names starting with a dot) and everything else left out, in natural
// order. It reads each frame's header, not its pixels, and refuses a folder
// without frames, frames of different sizes, and anything over lim.
func ListFolder(dir string, lim Limits) (*Sequence, error) {
	lim, err := lim.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("list frames in %q: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list frames: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !IsFrameFile(name) {
			continue
		}
		if !e.Type().IsRegular() {
			// A symbolic link to a frame is fine; a folder named x.png is not.
			if st, err := os.Stat(filepath.Join(dir, name)); err != nil || !st.Mode().IsRegular() {
				continue
			}
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("list frames in %q: no PNG or JPEG files", dir)
	}
	if len(names) > lim.MaxFrames {
		return nil, fmt.Errorf("list frames in %q: %d frames, over the limit of %d", dir, len(names), lim.MaxFrames)
	}
	slices.SortFunc(names, naturalCompare)
	s := &Sequence{Frames: make([]Frame, len(names))}
	for i, name := range names {
		p := filepath.Join(dir, name)
		w, h, err := frameSize(p)
		if err != nil {
			return nil, fmt.Errorf("list frames in %q: %w", dir, err)
		}
		if int64(w)*int64(h) > lim.MaxPixels {
			return nil, fmt.Errorf("list frames in %q: %s is %dx%d, over the limit of %d pixels a frame", dir, name, w, h, lim.MaxPixels)
		}
		if i == 0 {
			s.Width, s.Height = w, h
		} else if w != s.Width || h != s.Height {
			return nil, fmt.Errorf("list frames in %q: %s is %dx%d but %s is %dx%d; all frames must be one size", dir, name, w, h, names[0], s.Width, s.Height)
		}
		s.Frames[i] = Frame{Name: name, Path: p}
	}
	return s, nil
}

// frameSize reads the width and height from an image file's header.
func frameSize(path string) (int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read frame: %w", err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(bufio.NewReader(f))
	if err != nil {
		return 0, 0, fmt.Errorf("read frame %q: not a readable PNG or JPEG image: %w", filepath.Base(path), err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, fmt.Errorf("read frame %q: declares no pixels (%dx%d)", filepath.Base(path), cfg.Width, cfg.Height)
	}
	return cfg.Width, cfg.Height, nil
}

// naturalCompare orders file names the way people number frames: runs of
// digits compare by their value (frame9 before frame10, and frame007 with
// frame7), everything else byte by byte. Names equal by that measure fall
// back to plain byte order, so the order is total and deterministic.
func naturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na := strings.TrimLeft(a[si:i], "0")
			nb := strings.TrimLeft(b[sj:j], "0")
			if len(na) != len(nb) {
				return cmpInt(len(na), len(nb))
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if ca != cb {
			return cmpInt(int(ca), int(cb))
		}
		i++
		j++
	}
	if c := cmpInt(len(a)-i, len(b)-j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
