#!/usr/bin/env bash
# Regenerate the default prompt recordings from their texts with espeak-ng.
#
#   prompts/make_default_prompts.sh            every language directory here
#   prompts/make_default_prompts.sh de         only prompts/de
#   prompts/make_default_prompts.sh de/hello   only prompts/de/hello
#
# For every <lang>/<id>.txt this writes <lang>/<id>.wav (16 kHz, 16-bit mono;
# callbot converts it to 8 kHz on load). An existing <id>.wav is OVERWRITTEN,
# so this replaces your own WAV recordings too. Ids that have a recording in
# another format (<id>.flac/.ogg/.mp3) are skipped, since a second file would
# make the prompt ambiguous.
#
# Needs espeak-ng and sox (Debian: apt install espeak-ng sox).
set -euo pipefail

SPEED=150    # words per minute
RATE=16000   # output sample rate in Hz
PEAK=-3      # normalise the peak level to this many dBFS

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

for tool in espeak-ng sox; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool is not installed (Debian: apt install espeak-ng sox)" >&2
        exit 1
    fi
done

shopt -s nullglob
targets=()
if [ "$#" -eq 0 ]; then
    for txt in */*.txt; do
        targets+=("${txt%.txt}")
    done
else
    for arg in "$@"; do
        arg=${arg%/}
        if [ -d "$arg" ]; then
            for txt in "$arg"/*.txt; do
                targets+=("${txt%.txt}")
            done
        elif [ -f "$arg.txt" ]; then
            targets+=("$arg")
        else
            echo "error: neither a directory $here/$arg nor a text $here/$arg.txt" >&2
            exit 1
        fi
    done
fi

if [ "${#targets[@]}" -eq 0 ]; then
    echo "nothing to do: no <lang>/<id>.txt files under $here" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

status=0
for base in "${targets[@]}"; do
    voice=${base%%/*}   # the espeak-ng voice is the directory name: de, en, ...
    skip=""
    for ext in flac ogg mp3 FLAC OGG MP3; do
        if [ -e "$base.$ext" ]; then skip="$base.$ext"; fi
    done
    if [ -n "$skip" ]; then
        echo "skip $base.wav: $skip exists (remove it to use the default recording)"
        continue
    fi
    if ! espeak-ng -v "$voice" -s "$SPEED" -b 1 -f "$base.txt" -w "$tmp/speech.wav"; then
        echo "error: espeak-ng failed for $base.txt (voice $voice)" >&2
        status=1
        continue
    fi
    # -R: reproducible output, -D: no dither (same input -> same bytes)
    sox -R -D "$tmp/speech.wav" -b 16 -c 1 "$tmp/out.wav" rate -h "$RATE" norm "$PEAK"
    mv "$tmp/out.wav" "$base.wav"
    echo "wrote $here/$base.wav"
done
exit "$status"
