package audio

import "math"

// Windowed-sinc resampler for converting file audio to 48 kHz. Each
// output sample is a sum over 2·half input samples weighted by a
// Kaiser-windowed sinc low-pass at 0.95 of the lower Nyquist frequency;
// the kernel is tabulated and linearly interpolated. Quality is far above
// what Opus at 24 kbit/s keeps, and it is only used for WAV input.
const (
	rsZeros   = 16  // zero crossings on each side of the kernel
	rsTable   = 256 // table points per zero crossing
	rsBeta    = 8.0 // Kaiser window shape (sidelobes about −80 dB)
	rsPassing = 0.95
)

var rsKernel = func() []float64 {
	t := make([]float64, rsZeros*rsTable+2)
	i0b := besselI0(rsBeta)
	for i := range t {
		u := float64(i) / rsTable // in zero crossings
		if u >= rsZeros {
			t[i] = 0
			continue
		}
		sinc := 1.0
		if u != 0 {
			sinc = math.Sin(math.Pi*u) / (math.Pi * u)
		}
		r := u / rsZeros
		t[i] = sinc * besselI0(rsBeta*math.Sqrt(1-r*r)) / i0b
	}
	return t
}()

// besselI0 is the modified Bessel function of the first kind, order 0.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

// resampler converts a stream of mono samples from inRate to outRate.
type resampler struct {
	inRate, outRate int
	scale           float64 // cutoff relative to the input Nyquist frequency
	half            int     // input samples on each side of the centre

	win      []float64 // input samples win[0] = input[winStart]
	winStart int64
	total    int64 // input samples in the window's stream, zero padding included
	end      int64 // real input samples pulled so far
	eof      bool  // pull has reported the end

	pos  int64 // integer part of the output position, in input samples
	frac int64 // fractional part, in 1/outRate
}

func newResampler(inRate, outRate int) *resampler {
	scale := rsPassing * math.Min(1, float64(outRate)/float64(inRate))
	half := int(math.Ceil(rsZeros / scale))
	return &resampler{inRate: inRate, outRate: outRate, scale: scale, half: half}
}

// next returns the next output sample, pulling input from pull (which
// reports false at the end of the input). ok is false once the output
// has passed the end of the input.
func (r *resampler) next(pull func() (float64, bool)) (v float64, ok bool) {
	need := r.pos + int64(r.half) + 1 // one past the last input index used
	for r.total < need {
		x := 0.0
		if !r.eof {
			if v, more := pull(); more {
				x = v
				r.end++
			} else {
				r.eof = true
			}
		}
		r.win = append(r.win, x)
		r.total++
	}
	if r.eof && r.pos >= r.end {
		return 0, false
	}
	t := float64(r.frac) / float64(r.outRate) // in [0, 1)
	lo := r.pos - int64(r.half) + 1
	var sum float64
	for i := lo; i <= r.pos+int64(r.half); i++ {
		if i < r.winStart {
			continue // before the start: zeros
		}
		x := r.win[i-r.winStart]
		d := math.Abs(float64(i-r.pos)-t) * r.scale * rsTable
		k := int(d)
		if k >= len(rsKernel)-1 {
			continue
		}
		f := d - float64(k)
		sum += x * (rsKernel[k] + f*(rsKernel[k+1]-rsKernel[k]))
	}
	v = sum * r.scale

	// Advance by inRate/outRate input samples.
	r.frac += int64(r.inRate)
	r.pos += r.frac / int64(r.outRate)
	r.frac %= int64(r.outRate)
	// Forget input no longer needed.
	if drop := r.pos - int64(r.half) + 1 - r.winStart; drop > 1024 {
		r.win = append(r.win[:0], r.win[drop:]...)
		r.winStart += drop
	}
	return v, true
}
