#!/usr/bin/env bash
# Regenerates test/fixtures/dsp/: outside references for rtp/codec and rtp/dsp, made by SoX (14.4.2).
# The files are committed; tests never run sox themselves. `-D` turns SoX's automatic dither off, so
# the G.711 and resampler outputs are SoX's deterministic conversions.
set -euo pipefail
cd "$(dirname "$0")/../test/fixtures"
out=dsp
mkdir -p "$out"

# Every 16-bit input, ascending from -32768 to 32767, little-endian.
node -e 'const b=Buffer.alloc(131072);for(let i=0;i<65536;i++)b.writeInt16LE(i-32768,2*i);process.stdout.write(b)' >"$out/all_int16.raw"
# Every 8-bit code, 0..255.
node -e 'const b=Buffer.alloc(256);for(let i=0;i<256;i++)b[i]=i;process.stdout.write(b)' >"$out/all_codes.u8"

raw16=(-t raw -e signed -b 16 -r 8000 -c 1 -L)
sox -D "${raw16[@]}" "$out/all_int16.raw" -t raw -e mu-law -b 8 -r 8000 -c 1 "$out/all_int16.ul"
sox -D "${raw16[@]}" "$out/all_int16.raw" -t raw -e a-law -b 8 -r 8000 -c 1 "$out/all_int16.al"
sox -D -t raw -e mu-law -b 8 -r 8000 -c 1 "$out/all_codes.u8" "${raw16[@]}" "$out/ulaw_decoded.raw"
sox -D -t raw -e a-law -b 8 -r 8000 -c 1 "$out/all_codes.u8" "${raw16[@]}" "$out/alaw_decoded.raw"

# Resampler references: SoX's very-high-quality resampler (rate -v), float32 output (no requantisation).
f32=(-t raw -e floating-point -b 32 -L -c 1)
sox -D -n -r 8000 -b 16 -e signed -c 1 "$out/sweep_8k.wav" synth 3 sine 50:3400 vol 0.5
sox -D "$out/sweep_8k.wav" "${f32[@]}" "$out/sweep_24k_soxv.f32" rate -v 24000
sox -D audio/fox_pcm16_8k.wav "${f32[@]}" "$out/fox_24k_soxv.f32" rate -v 24000

# Arbitrary-rate references: a 1 s sweep at each rate (WAV PCM16), resampled by SoX to 24 kHz.
for r in 16000 22050 44100 48000; do
  sox -D -n -r "$r" -b 16 -e signed -c 1 "$out/sweep_${r}.wav" synth 1 sine 50:$((r / 2 - 500)) vol 0.5
  sox -D "$out/sweep_${r}.wav" "${f32[@]}" "$out/sweep_${r}_to24k_soxv.f32" rate -v 24000
done
# WAV reader cases: float32 WAV (format 3, WAVE_FORMAT_EXTENSIBLE is what SoX writes for float).
sox -D audio/tone1k_pcm16_8k.wav -e floating-point -b 32 "$out/tone1k_f32_8k.wav"
ls -l "$out"
# WAV reader cases: stereo 24-bit (SoX writes WAVE_FORMAT_EXTENSIBLE) and 8-bit unsigned, with SoX's float32 view.
sox -D -n -r 16000 -b 24 -e signed -c 2 "$out/stereo_s24_16k.wav" synth 0.05 sine 440 sine 660 vol 0.7
sox -D "$out/stereo_s24_16k.wav" "${f32[@]}" -c 2 "$out/stereo_s24_16k.f32"
sox -D -n -r 8000 -b 8 -e unsigned -c 1 "$out/u8_8k.wav" synth 0.05 sine 300 vol 0.5
sox -D "$out/u8_8k.wav" "${f32[@]}" "$out/u8_8k.f32"
# G.711 WAVs without dither (the lab's audio/*_pcm[au]_8k.wav and .ul/.al were each dithered by SoX
# independently, so they differ from each other and from a deterministic encoding).
sox -D audio/tone1k_pcm16_8k.wav -e mu-law "$out/tone1k_pcmu_8k_nodither.wav"
sox -D audio/tone1k_pcm16_8k.wav -e a-law "$out/tone1k_pcma_8k_nodither.wav"
