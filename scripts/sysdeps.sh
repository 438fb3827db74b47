#!/usr/bin/env bash
# Install the Debian packages medvl's tests and OCR need, only when missing.
set -euo pipefail
need=()
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# fonts for the browser's rendering of the report (chromium only recommends them)
[ -d /usr/share/fonts/truetype/liberation ] || [ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-liberation fonts-dejavu-core)
# tesseract's English model (a dependency today; named so a slimmer packaging cannot drop it)
[ -n "$(ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata 2>/dev/null)" ] || need+=(tesseract-ocr-eng)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "medvl: please install these Debian packages: ${need[*]} (sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "medvl: installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
