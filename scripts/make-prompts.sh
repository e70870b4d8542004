#!/usr/bin/env bash
# Makes the door's spoken prompts (assets/prompts/*.wav) with espeak-ng: one file per prompt of
# src/audio.rs (`Cue::file` and `Cue::words`; a unit test checks this list against them).
# Installs espeak-ng from Debian's packages when it is missing. Run it again after changing a
# sentence; the files are committed, so a build needs no speech synthesiser.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v espeak-ng >/dev/null; then
  sudo_=(); [ "$(id -u)" = 0 ] || sudo_=(sudo)
  "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends espeak-ng
fi
out=assets/prompts
mkdir -p "$out"
say() {
  # en-GB voice, a little slower than the default 175 words per minute: heard at a door,
  # often by people who are not native speakers.
  espeak-ng -v en-gb -s 150 -w "$out/$1" "$2"
  echo "make-prompts: $out/$1: $2"
}
say look.wav "Please look at the camera."
say turn-left.wav "Turn your head to the left."
say turn-right.wav "Turn your head to the right."
say turn-up.wav "Look up."
say turn-down.wav "Look down."
say further.wav "A little further."
say closer.wav "Please come closer."
say face-camera.wav "Look back at the camera."
say good.wav "Good."
say welcome.wav "Welcome."
say denied.wav "Access denied."
espeak-ng --version | sed 's/^/make-prompts: made with /'
