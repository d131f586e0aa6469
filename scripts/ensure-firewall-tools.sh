#!/bin/sh
# Makes sure the firewall tests have their tools: nft (the nftables export is loaded with
# `nft -c -f`), ipset and Debian's crowdsec-firewall-bouncer (the real bouncer runs against
# `vigil serve` in a network namespace). Installed from Debian's packages when running as root
# with apt; otherwise it says so in one line and succeeds anyway: those tests then skip with
# the same reason (unless VIGIL_FIREWALL_REQUIRED=1, as in CI, where they fail instead).
set -u

missing=""
command -v nft >/dev/null 2>&1 || missing="$missing nftables"
command -v ipset >/dev/null 2>&1 || missing="$missing ipset"
command -v crowdsec-firewall-bouncer >/dev/null 2>&1 || missing="$missing crowdsec-firewall-bouncer"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "firewall tests: installing Debian's$missing"
  export DEBIAN_FRONTEND=noninteractive
  # Without recommends: the bouncer recommends the whole CrowdSec engine, which it does not
  # need here. Several checkouts may run this at once: wait for the package lock.
  # shellcheck disable=SC2086
  if apt-get -qq -o DPkg::Lock::Timeout=600 update >/dev/null &&
    apt-get -qq -y -o DPkg::Lock::Timeout=600 install --no-install-recommends $missing >/dev/null; then
    exit 0
  fi
  echo "firewall tests: installing$missing with apt-get failed; those tests will be skipped"
  exit 0
fi
echo "firewall tests: missing$missing (install Debian's packages as root); those tests will be skipped"
exit 0
