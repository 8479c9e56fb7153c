package audio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
)

// Clip is mono audio: Samples at Rate samples a second, full scale ±1.
type Clip struct {
	Rate    int
	Samples []float32
}

// Duration returns the clip's length in seconds.
func (c Clip) Duration() float64 {
	if c.Rate <= 0 {
		return 0
	}
	return float64(len(c.Samples)) / float64(c.Rate)
}

// WAVInfo describes the file a clip was decoded from, for logs and run
// manifests.
type WAVInfo struct {
	FormatCode    uint16 // 1 PCM or 3 IEEE float; for WAVE_FORMAT_EXTENSIBLE, the sub-format's code
	Extensible    bool   // the fmt chunk was WAVE_FORMAT_EXTENSIBLE (0xFFFE)
	Channels      int    // channels in the file; the clip is their mean
	SampleRate    int    // Hz
	BitsPerSample int    // valid bits of each sample
	ContainerBits int    // bits each sample occupies in the file (8 × block align / channels)
	Frames        int    // samples per channel
}

// Limits on what DecodeWAV accepts, all checked before the samples are
// allocated.
const (
	// DefaultMaxSeconds bounds the duration DecodeWAV accepts when
	// DecodeOptions.MaxSeconds is 0: ten minutes is far beyond a style or
	// content clip, and at 192 kHz still only 460 MB of float32 samples.
	DefaultMaxSeconds = 600
	// MaxSecondsKey is the configuration key proposed for
	// DecodeOptions.MaxSeconds; errors name it so that a user who hits the
	// limit knows what to change.
	MaxSecondsKey = "limits.max_audio_seconds"
	// MinSampleRate and MaxSampleRate bound the rates DecodeWAV accepts;
	// outside them a header is more likely corrupt than real.
	MinSampleRate = 1000
	MaxSampleRate = 768000
	// MaxChannels bounds the channel count in a fmt chunk.
	MaxChannels = 64
)

// DecodeOptions controls DecodeWAV and LoadWAV.
type DecodeOptions struct {
	// MaxSeconds refuses a data chunk that declares (or, for a streamed file
	// of unknown length, turns out to hold) more than this many seconds of
	// audio. Zero means DefaultMaxSeconds; negative is an error.
	MaxSeconds float64
}

// WAV format codes (the wFormatTag of the fmt chunk).
const (
	formatPCM        = 0x0001
	formatFloat      = 0x0003
	formatExtensible = 0xFFFE
)

// formatNames names the format codes DecodeWAV refuses most often, so that
// the error says what the file is.
var formatNames = map[uint16]string{
	0x0000: "unknown",
	0x0001: "PCM",
	0x0002: "Microsoft ADPCM",
	0x0003: "IEEE float",
	0x0006: "A-law",
	0x0007: "µ-law",
	0x0011: "IMA ADPCM",
	0x0031: "GSM 6.10",
	0x0040: "G.721 ADPCM",
	0x0050: "MPEG",
	0x0055: "MPEG layer 3",
	0x0092: "Dolby AC-3 SPDIF",
	0x0161: "Windows Media Audio",
	0x1610: "AAC",
	0xF1AC: "FLAC",
	0xFFFE: "extensible",
}

func formatName(code uint16) string {
	if n, ok := formatNames[code]; ok {
		return n
	}
	return "unrecognised"
}

// guidTail is bytes 2-15 of every KSDATAFORMAT_SUBTYPE GUID that wraps a
// plain format code (the code is in bytes 0-1).
var guidTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// Data chunk sizes that writers which could not seek back (writing to a
// pipe) leave in place: the data runs to the end of the stream.
// streamedSize is the common one (ffmpeg and others), soxStreamedSize the
// one sox and espeak-ng write.
const (
	streamedSize    = 0xFFFFFFFF
	soxStreamedSize = 0x7FFFF000
)

// maxFmtSize bounds the fmt chunk: 40 bytes for WAVE_FORMAT_EXTENSIBLE,
// a little more for formats with extra fields; far more is corruption.
const maxFmtSize = 4096

// LoadWAV reads the WAV file at path and mixes it to mono; see DecodeWAV.
// Knowing the file's size, it also refuses a data chunk that claims more
// bytes than the file holds before allocating anything.
func LoadWAV(path string, o DecodeOptions) (Clip, WAVInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return Clip{}, WAVInfo{}, fmt.Errorf("decode wav %q: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Clip{}, WAVInfo{}, fmt.Errorf("decode wav %q: %w", path, err)
	}
	if st.IsDir() {
		return Clip{}, WAVInfo{}, fmt.Errorf("decode wav %q: is a folder, not a WAV file", path)
	}
	c, info, err := decodeWAV(f, st.Size(), o)
	if err != nil {
		return Clip{}, WAVInfo{}, fmt.Errorf("decode wav %q: %w", path, err)
	}
	return c, info, nil
}

// DecodeWAV reads a RIFF/WAVE stream and returns its samples mixed to mono
// (the mean of the channels) at the file's own rate.
//
// It accepts PCM with 8-bit (unsigned), 16-, 24- and 32-bit samples, IEEE
// float with 32- and 64-bit samples, and WAVE_FORMAT_EXTENSIBLE wrapping
// either, with 1 to MaxChannels channels at MinSampleRate to MaxSampleRate.
// Chunks other than fmt and data (LIST, fact, cue, bext, ...) are skipped,
// as is anything after the data chunk. Chunks of odd size are followed by a
// pad byte; since pad bytes are zero and chunk names never start with one,
// a missing pad byte (a common writer bug) is tolerated.
//
// A data chunk of size 0xFFFFFFFF or 0x7FFFF000, the placeholders writers
// streaming to a pipe leave (the latter by sox and espeak-ng), runs to the
// end of the stream, however long that is. Any other data chunk must be
// complete and hold whole frames. Errors name the problem: an unsupported encoding by its
// format code, a corrupt or truncated header or data, no samples, a
// non-finite float sample (or a float64 one beyond the float32 range), or a
// duration over the limit.
func DecodeWAV(r io.Reader, o DecodeOptions) (Clip, WAVInfo, error) {
	c, info, err := decodeWAV(r, -1, o)
	if err != nil {
		return Clip{}, WAVInfo{}, fmt.Errorf("decode wav: %w", err)
	}
	return c, info, nil
}

// decodeWAV is DecodeWAV for a stream of size bytes (-1 when unknown).
func decodeWAV(r io.Reader, size int64, o DecodeOptions) (Clip, WAVInfo, error) {
	maxSeconds := o.MaxSeconds
	if maxSeconds == 0 {
		maxSeconds = DefaultMaxSeconds
	}
	if !(maxSeconds > 0) || math.IsInf(maxSeconds, 0) {
		return Clip{}, WAVInfo{}, fmt.Errorf("duration limit %v s must be positive; set %s", maxSeconds, MaxSecondsKey)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var riff [12]byte
	if _, err := io.ReadFull(br, riff[:]); err != nil {
		return Clip{}, WAVInfo{}, fmt.Errorf("not a WAV file: %d-byte RIFF header is truncated: %w", len(riff), err)
	}
	switch id := string(riff[:4]); {
	case id == "RF64" || id == "BW64":
		return Clip{}, WAVInfo{}, fmt.Errorf("%s (WAV over 4 GiB) is not supported", id)
	case id == "RIFX":
		return Clip{}, WAVInfo{}, errors.New("big-endian RIFX files are not supported")
	case id != "RIFF":
		return Clip{}, WAVInfo{}, fmt.Errorf("not a WAV file: starts with %q, want \"RIFF\"", riff[:4])
	}
	if string(riff[8:12]) != "WAVE" {
		return Clip{}, WAVInfo{}, fmt.Errorf("not a WAV file: RIFF form type is %q, want \"WAVE\"", riff[8:12])
	}
	// The RIFF size field is not trusted: writers get it wrong often, and
	// the chunks themselves say where the data is.
	pos := int64(12)
	var info WAVInfo
	haveFmt := false
	for {
		var hdr [8]byte
		n, err := io.ReadFull(br, hdr[:])
		if err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				if !haveFmt {
					return Clip{}, WAVInfo{}, errors.New("no fmt chunk")
				}
				return Clip{}, WAVInfo{}, errors.New("no data chunk")
			}
			return Clip{}, WAVInfo{}, fmt.Errorf("chunk header at byte %d is truncated", pos)
		}
		pos += 8
		id, csize := string(hdr[:4]), int64(binary.LittleEndian.Uint32(hdr[4:]))
		switch id {
		case "fmt ":
			if haveFmt {
				return Clip{}, WAVInfo{}, errors.New("second fmt chunk")
			}
			if csize < 16 || csize > maxFmtSize {
				return Clip{}, WAVInfo{}, fmt.Errorf("fmt chunk of %d bytes, want 16 to %d", csize, maxFmtSize)
			}
			buf := make([]byte, csize)
			if _, err := io.ReadFull(br, buf); err != nil {
				return Clip{}, WAVInfo{}, fmt.Errorf("fmt chunk is truncated: %w", err)
			}
			if info, err = parseFmt(buf); err != nil {
				return Clip{}, WAVInfo{}, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return Clip{}, WAVInfo{}, errors.New("data chunk comes before the fmt chunk")
			}
			remaining := int64(-1)
			if size >= 0 {
				remaining = size - pos
			}
			return readData(br, csize, remaining, info, maxSeconds)
		default:
			if size >= 0 && csize > size-pos {
				return Clip{}, WAVInfo{}, fmt.Errorf("chunk %q at byte %d declares %d bytes, the file has %d left", hdr[:4], pos-8, csize, size-pos)
			}
			if k, err := io.CopyN(io.Discard, br, csize); err != nil || k != csize {
				return Clip{}, WAVInfo{}, fmt.Errorf("chunk %q at byte %d is truncated: %d of %d bytes", hdr[:4], pos-8, k, csize)
			}
		}
		pos += csize
		if csize%2 == 1 {
			// Pad byte; a non-zero byte is the next chunk's name, from a
			// writer that left the padding out.
			if b, err := br.Peek(1); err == nil && b[0] == 0 {
				br.Discard(1)
				pos++
			}
		}
	}
}

// parseFmt reads a fmt chunk and checks that DecodeWAV can decode it.
func parseFmt(b []byte) (WAVInfo, error) {
	le := binary.LittleEndian
	code := le.Uint16(b[0:])
	info := WAVInfo{
		FormatCode:    code,
		Channels:      int(le.Uint16(b[2:])),
		SampleRate:    int(le.Uint32(b[4:])),
		BitsPerSample: int(le.Uint16(b[14:])),
	}
	blockAlign := int(le.Uint16(b[12:]))
	if code == formatExtensible {
		if len(b) < 40 || le.Uint16(b[16:]) < 22 {
			return WAVInfo{}, fmt.Errorf("WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes is too short for its 22-byte extension", len(b))
		}
		info.Extensible = true
		valid := int(le.Uint16(b[18:]))
		sub := b[24:40]
		if !bytes.Equal(sub[2:], guidTail) {
			return WAVInfo{}, fmt.Errorf("unsupported encoding: WAVE_FORMAT_EXTENSIBLE sub-format GUID % x is not PCM or IEEE float", sub)
		}
		info.FormatCode = le.Uint16(sub)
		if valid != 0 { // 0 means "all the container's bits" to some writers
			if valid > info.BitsPerSample {
				return WAVInfo{}, fmt.Errorf("corrupt fmt chunk: %d valid bits in a %d-bit sample", valid, info.BitsPerSample)
			}
			info.BitsPerSample = valid
		}
	}
	switch info.FormatCode {
	case formatPCM, formatFloat:
	default:
		return WAVInfo{}, fmt.Errorf("unsupported encoding: format code 0x%04X (%s); only PCM (1) and IEEE float (3) are decoded, plain or in WAVE_FORMAT_EXTENSIBLE", info.FormatCode, formatName(info.FormatCode))
	}
	if info.Channels < 1 || info.Channels > MaxChannels {
		return WAVInfo{}, fmt.Errorf("corrupt fmt chunk: %d channels, want 1 to %d", info.Channels, MaxChannels)
	}
	if info.SampleRate < MinSampleRate || info.SampleRate > MaxSampleRate {
		return WAVInfo{}, fmt.Errorf("sample rate %d Hz is outside %d-%d Hz", info.SampleRate, MinSampleRate, MaxSampleRate)
	}
	if blockAlign == 0 || blockAlign%info.Channels != 0 {
		return WAVInfo{}, fmt.Errorf("corrupt fmt chunk: block align %d is not a multiple of %d channels", blockAlign, info.Channels)
	}
	container := blockAlign / info.Channels
	info.ContainerBits = 8 * container
	ok := false
	if info.FormatCode == formatPCM {
		ok = container >= 1 && container <= 4
	} else {
		ok = container == 4 || container == 8
	}
	if !ok {
		return WAVInfo{}, fmt.Errorf("unsupported encoding: %s with %d-bit samples (block align %d, %d channels); want PCM of 8, 16, 24 or 32 bits or float of 32 or 64 bits",
			formatName(info.FormatCode), 8*container, blockAlign, info.Channels)
	}
	if info.BitsPerSample < 1 || info.BitsPerSample > 8*container {
		return WAVInfo{}, fmt.Errorf("corrupt fmt chunk: %d bits per sample in a %d-byte container", info.BitsPerSample, container)
	}
	if info.FormatCode == formatFloat && info.BitsPerSample != 8*container {
		return WAVInfo{}, fmt.Errorf("corrupt fmt chunk: float samples of %d bits in a %d-byte container", info.BitsPerSample, container)
	}
	return info, nil
}

// readData decodes a data chunk of csize bytes (streamedSize or
// soxStreamedSize: to the end of the stream). remaining is what the file holds after the chunk header, -1
// when unknown.
func readData(r io.Reader, csize, remaining int64, info WAVInfo, maxSeconds float64) (Clip, WAVInfo, error) {
	frameBytes := int64(info.Channels * info.ContainerBits / 8)
	maxFrames := int64(min(maxSeconds*float64(info.SampleRate), 1<<40))
	tooLong := func(frames int64) error {
		return fmt.Errorf("data chunk holds %.1f s of audio at %d Hz, over the limit of %g s; raise %s to read it",
			float64(frames)/float64(info.SampleRate), info.SampleRate, maxSeconds, MaxSecondsKey)
	}
	streamed := csize == streamedSize || csize == soxStreamedSize
	var want int64 // frames to read; -1: until EOF
	if streamed {
		want = -1
	} else {
		if csize%frameBytes != 0 {
			return Clip{}, WAVInfo{}, fmt.Errorf("corrupt data chunk: %d bytes is not a whole number of %d-byte frames", csize, frameBytes)
		}
		want = csize / frameBytes
		if want > maxFrames {
			return Clip{}, WAVInfo{}, tooLong(want)
		}
		if remaining >= 0 && csize > remaining {
			return Clip{}, WAVInfo{}, fmt.Errorf("truncated data: data chunk declares %d bytes (%d frames), the file holds %d", csize, want, remaining)
		}
		if want == 0 {
			return Clip{}, WAVInfo{}, errors.New("no samples: the data chunk is empty")
		}
	}
	// Allocate what the header promises only when the file is known to hold
	// it; otherwise grow as data arrives, so that a short stream whose header
	// lies costs no more than its own length.
	var out []float32
	if want > 0 && remaining >= 0 {
		out = make([]float32, 0, want)
	} else if want > 0 {
		out = make([]float32, 0, min(want, 1<<16))
	}
	dec := sampleDecoder(info)
	chunkFrames := max(1, (32<<10)/int(frameBytes))
	buf := make([]byte, chunkFrames*int(frameBytes))
	for want < 0 || int64(len(out)) < want {
		k := chunkFrames
		if want >= 0 {
			k = int(min(int64(k), want-int64(len(out))))
		}
		n, err := io.ReadFull(r, buf[:k*int(frameBytes)])
		frames := n / int(frameBytes)
		if streamed && int64(len(out)+frames) > maxFrames {
			return Clip{}, WAVInfo{}, tooLong(int64(len(out) + frames))
		}
		start := len(out)
		out = slices.Grow(out, frames)[:start+frames]
		if ferr := dec(out[start:], buf[:frames*int(frameBytes)], info.Channels); ferr != nil {
			return Clip{}, WAVInfo{}, fmt.Errorf("frame %d: %s", start+ferr.frame, ferr.msg)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return Clip{}, WAVInfo{}, fmt.Errorf("read data: %w", err)
			}
			if !streamed {
				return Clip{}, WAVInfo{}, fmt.Errorf("truncated data: data chunk declares %d frames, the file ends after %d", want, len(out))
			}
			break
		}
	}
	if len(out) == 0 {
		return Clip{}, WAVInfo{}, errors.New("no samples: the data chunk is empty")
	}
	info.Frames = len(out)
	return Clip{Rate: info.SampleRate, Samples: out}, info, nil
}

// frameError reports a sample the decoder refuses; frame counts from the
// start of the buffer handed to the decoder.
type frameError struct {
	frame int
	msg   string
}

// sampleDecoder returns a function that decodes whole frames from b into
// dst (one mono sample a frame, the mean of the channels).
func sampleDecoder(info WAVInfo) func(dst []float32, b []byte, channels int) *frameError {
	le := binary.LittleEndian
	var one func(b []byte) float64
	switch {
	case info.FormatCode == formatFloat && info.ContainerBits == 32:
		one = func(b []byte) float64 { return float64(math.Float32frombits(le.Uint32(b))) }
	case info.FormatCode == formatFloat:
		one = func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) }
	case info.ContainerBits == 8: // unsigned, 128 is silence
		one = func(b []byte) float64 { return (float64(b[0]) - 128) / 128 }
	case info.ContainerBits == 16:
		one = func(b []byte) float64 { return float64(int16(le.Uint16(b))) / (1 << 15) }
	case info.ContainerBits == 24:
		one = func(b []byte) float64 {
			return float64(int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24)>>8) / (1 << 23)
		}
	default:
		one = func(b []byte) float64 { return float64(int32(le.Uint32(b))) / (1 << 31) }
	}
	width := info.ContainerBits / 8
	isFloat := info.FormatCode == formatFloat
	return func(dst []float32, b []byte, channels int) *frameError {
		inv := 1 / float64(channels)
		for i := range dst {
			var sum float64
			for c := range channels {
				v := one(b[(i*channels+c)*width:])
				if isFloat && (math.IsNaN(v) || math.IsInf(v, 0)) {
					return &frameError{i, fmt.Sprintf("channel %d holds the non-finite sample %v", c, v)}
				}
				sum += v
			}
			m := float32(sum * inv)
			if isFloat && (math.IsInf(float64(m), 0)) {
				return &frameError{i, fmt.Sprintf("mixed sample %v is beyond the float32 range", sum*inv)}
			}
			dst[i] = m
		}
		return nil
	}
}
