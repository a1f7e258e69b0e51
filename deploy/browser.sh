#!/usr/bin/env bash
# Headless Chromium for the calendar page's browser test (tests/carecoord/test_calendar_browser.py),
# from the operating system's packages. The test fails, never skips, without it, and CI runs on a
# fresh machine: `make test` calls this first.
#
#   deploy/browser.sh install   install chromium (and the page's font, Liberation Sans) if missing
#   deploy/browser.sh status    exit 0 when chromium is installed; print where
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

installed() { command -v chromium >/dev/null && [[ -d /usr/share/fonts/truetype/liberation ]]; }

case "${1:-install}" in
  install)
    installed || apt_install chromium fonts-liberation
    log "chromium at $(command -v chromium)"
    ;;
  status)
    if installed; then log "chromium at $(command -v chromium)"; else log "chromium is not installed"; exit 1; fi
    ;;
  *)
    die "usage: deploy/browser.sh install|status"
    ;;
esac
