#!/usr/bin/env bash
# Installs the system packages avseq needs: espeak-ng and flite for the built-in spoken corpus,
# Chromium and its driver for the web page's browser tests, sctk's sclite for scoring.
set -euo pipefail
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "avseq needs Python >= 3.11 as python3 (found $(python3 --version 2>&1))." >&2; exit 1; }
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v flite >/dev/null 2>&1 || missing+=(flite)
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-liberation)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# sclite scores avseq evaluate's trn files (Debian keeps it in /usr/lib/sctk/bin)
[ -x /usr/lib/sctk/bin/sclite ] || command -v sclite >/dev/null 2>&1 || missing+=(sctk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "avseq needs system packages: ${missing[*]}. Install them (e.g. 'sudo apt-get install ${missing[*]}') and re-run." >&2
  exit 1
fi
