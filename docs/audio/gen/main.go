// Command gen writes the sounds the audio example configs read, so that
// no large binary is committed: texture.wav, 5 s of audio.NoiseClicks
// (low-passed hiss with a click on every beat at 120 bpm) at 22050 Hz, and,
// when espeak-ng is installed (scripts/install-audio-tools.sh), speech.wav,
// a spoken sentence.
//
// usage: go run ./docs/audio/gen [-out examples/sounds]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/nst-project/nst/audio"
)

// Speech is the sentence speech.wav speaks, about 5 s long.
const Speech = "Neural style transfer turns the texture of one sound into the voice of another, one frame at a time."

func main() {
	out := flag.String("out", filepath.Join("docs", "audio", "sounds"), "folder to write the sounds into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run writes the sounds into dir.
func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	texture := filepath.Join(dir, "texture.wav")
	if err := audio.SaveWAV(texture, audio.NoiseClicks(audio.DefaultSampleRate, 5, 120, 1, 0.8), audio.PCM16); err != nil {
		return fmt.Errorf("texture: %w", err)
	}
	fmt.Println(texture)
	speech := filepath.Join(dir, "speech.wav")
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		fmt.Fprintln(os.Stderr, "gen: espeak-ng not found (scripts/install-audio-tools.sh); speech.wav not written")
		return nil
	}
	cmd := exec.Command("espeak-ng", "-v", "en", "-s", "150", "-w", speech, Speech)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("espeak-ng: %v: %s", err, msg)
	}
	fmt.Println(speech)
	return nil
}
