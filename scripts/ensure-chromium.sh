#!/bin/sh
# Makes sure the dashboard's browser test has a Chromium to drive, without downloading a
# browser at test time: $VIGIL_CHROMIUM if set, else `chromium` on the PATH, else Debian's
# package when running as root with apt. Where none of these works it says so in one line and
# succeeds anyway: that one test then skips with the same reason (unless
# VIGIL_BROWSER_REQUIRED=1, as in CI, where it fails instead).
set -u

if [ -n "${VIGIL_CHROMIUM:-}" ]; then
  if [ -x "$VIGIL_CHROMIUM" ]; then exit 0; fi
  echo "browser test: VIGIL_CHROMIUM=$VIGIL_CHROMIUM is not an executable file"
  exit 0
fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "browser test: installing Debian's chromium package"
  export DEBIAN_FRONTEND=noninteractive
  # Several checkouts may run this at once: wait for the package lock instead of failing.
  if apt-get -qq -o DPkg::Lock::Timeout=600 update >/dev/null &&
    apt-get -qq -y -o DPkg::Lock::Timeout=600 install chromium >/dev/null; then
    exit 0
  fi
  echo "browser test: installing chromium with apt-get failed; the test will be skipped"
  exit 0
fi
echo "browser test: no Chromium (install Debian's chromium, or set VIGIL_CHROMIUM to one); it will be skipped"
exit 0
