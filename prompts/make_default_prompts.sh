#!/usr/bin/env bash
# Regenerate the shipped pre-rendered speech (prompts/<lang>/tts/<id>-<hash>.wav)
# from the texts in prompts/<lang>/prompts.toml, for every language here.
#
# The same as `callbot prompts render --seed`, but needs no config.toml.
# Unchanged texts are kept as they are, stale files are removed; changed or new
# texts are spoken with espeak-ng (Debian: apt-get install espeak-ng), voice =
# the directory name, 150 words per minute.
#
#   prompts/make_default_prompts.sh
#   PYTHON=.venv/bin/python prompts/make_default_prompts.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."   # so that the callbot package of this checkout is used
exec "${PYTHON:-python3}" -m callbot.prompts --seed "$here"
