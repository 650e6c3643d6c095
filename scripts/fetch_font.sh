#!/usr/bin/env bash
# Put the CJK font the printable documents use (activation letters, ballot slips, notice posters) at
# var/fonts/DroidSansFallbackFull.ttf: Debian's fonts-droid-fallback (Apache-2.0), pinned by version and by
# the sha256 of its .deb. Quick and silent when the font is there already; works without root.
set -euo pipefail
cd "$(dirname "$0")/.."
FONT=var/fonts/DroidSansFallbackFull.ttf
PACKAGE=fonts-droid-fallback
VERSION=1:6.0.1r16-1.1
DEB_SHA256=d2096d4edde128fedf6749be2dd204a5810210a6201126d99b8d412344f71056
SYSTEM_FONT=/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf

[ -s "$FONT" ] && exit 0
mkdir -p "$(dirname "$FONT")"
if [ -s "$SYSTEM_FONT" ]; then
  # the same package installed by the system (e.g. the Docker image): copy its file
  cp "$SYSTEM_FONT" "$FONT.tmp" && mv "$FONT.tmp" "$FONT"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "fetch_font: no font at $FONT and no apt-get/dpkg-deb to fetch $PACKAGE; PDF documents will answer 503" \
       "documents.font_missing until PDF_FONT_PATH points at a CJK TrueType font" >&2
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download needs no root; it may warn that the _apt user cannot write to the directory (harmless)
if ! (cd "$work" && apt-get download -q "$PACKAGE=$VERSION" >/dev/null 2>"$work/apt.log"); then
  cat "$work/apt.log" >&2
  echo "fetch_font: could not download $PACKAGE=$VERSION (try: apt-get update); PDF documents will answer 503" \
       "documents.font_missing" >&2
  exit 0
fi
deb=$(ls "$work"/*.deb)
actual=$(sha256sum "$deb" | cut -d' ' -f1)
if [ "$actual" != "$DEB_SHA256" ]; then
  echo "fetch_font: $deb has sha256 $actual, expected $DEB_SHA256; not installed" >&2
  exit 1
fi
dpkg-deb -x "$deb" "$work/root"
cp "$work/root/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf" "$FONT.tmp"
mv "$FONT.tmp" "$FONT"
echo "fetch_font: installed $FONT from $PACKAGE $VERSION" >&2
