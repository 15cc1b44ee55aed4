#!/usr/bin/env bash
# Extract the pages' messages (babel.cfg) and merge them into every catalogue
# (src/yikatong/pages/locale/<locale>/LC_MESSAGES/messages.po); then translate what is new in
# zh_CN (tests/pages/test_catalogues.py fails until every message is translated).
set -euo pipefail
cd "$(dirname "$0")/.."
BABEL=.venv/bin/pybabel
LOCALE_DIR=src/yikatong/pages/locale
$BABEL extract -F babel.cfg -k N_ --no-location --sort-output --omit-header \
  -o "$LOCALE_DIR/messages.pot" .
for locale in zh_CN en; do
  if [ -f "$LOCALE_DIR/$locale/LC_MESSAGES/messages.po" ]; then
    $BABEL update --no-fuzzy-matching --ignore-obsolete --width 100 \
      -i "$LOCALE_DIR/messages.pot" -d "$LOCALE_DIR" -l "$locale"
  else
    $BABEL init -i "$LOCALE_DIR/messages.pot" -d "$LOCALE_DIR" -l "$locale"
  fi
done
