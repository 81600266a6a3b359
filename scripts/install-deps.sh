#!/usr/bin/env bash
# Installs the system packages that building vxlan-user and running its tests need, on Debian/Ubuntu.
# Idempotent and non-interactive: commands already on PATH are not reinstalled, and `apt-get update` runs
# once, only when something is missing. Exits non-zero with a message if anything fails.
#
#   needed for             command(s)                    package
#   testbed / tests        ip, bridge                    iproute2
#                          ping                          iputils-ping
#                          sysctl, ps, pgrep             procps
#                          setpriv, nsenter              util-linux
#                          iperf3, tcpdump, tshark,      iperf3, tcpdump, tshark, socat
#                          socat
#                          ethtool                       ethtool (tests force software segmentation on a veth)
#                          nft                           nftables (a test sets a FORWARD drop policy in a test namespace)
#                          ovs-vswitchd, ovsdb-server    openvswitch-switch (Open vSwitch's userspace
#                                                        datapath, a second interop peer; its service is
#                                                        not started, the test runs its own daemons)
#   etcd membership tests  etcd, etcdctl                 etcd-server, etcd-client
#   npm ci (node-gyp)      make, g++, python3            make, g++, python3
#   systemd unit check     systemd-analyze               systemd
#   man page check         man                           man-db
#   hostile-input test     scapy (for /usr/bin/python3)  python3-scapy
#   npm run bench (chart)  rsvg-convert                  librsvg2-bin
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

die() { echo "install-deps: $*" >&2; exit 1; }

# command -> package
declare -A PKG_OF=(
  [ip]=iproute2 [bridge]=iproute2
  [ping]=iputils-ping
  [sysctl]=procps [ps]=procps [pgrep]=procps
  [setpriv]=util-linux [nsenter]=util-linux
  [iperf3]=iperf3 [tcpdump]=tcpdump [tshark]=tshark [socat]=socat [ethtool]=ethtool [nft]=nftables
  [ovs-vswitchd]=openvswitch-switch [ovsdb-server]=openvswitch-switch
  [etcd]=etcd-server [etcdctl]=etcd-client
  [make]=make [g++]=g++ [python3]=python3
  [systemd-analyze]=systemd [man]=man-db [scapy]=python3-scapy
  [rsvg-convert]=librsvg2-bin
)

missing=()
for cmd in "${!PKG_OF[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG_OF[$cmd]}")
done
# The kernel's vxlan driver and a TUN device are used by the tests; neither is a package, so only say so.
[ -e /dev/net/tun ] || echo "install-deps: warning: /dev/net/tun is missing; TAP tests will fail" >&2

if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "install-deps: installing: ${pkgs[*]}"
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these packages by hand: ${pkgs[*]}"
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo; install these packages by hand: ${pkgs[*]}"
    SUDO=(sudo -n)
  fi
  # tshark asks whether non-root users may capture; answer "no" up front so the install never prompts.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | "${SUDO[@]}" debconf-set-selections \
    || die "debconf-set-selections failed"
  # Wait for another apt/dpkg (e.g. unattended upgrades) instead of failing on its lock.
  APT=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  "${APT[@]}" update -qq || die "apt-get update failed"
  # Installing openvswitch-switch would start its service (ovs-ctl loads the kernel module and runs OVS in the
  # host's namespace). The tests start their own daemons, so keep package services from starting, unless the
  # machine already has a policy (containers do): exit 101 = "not allowed" (invoke-rc.d(8)).
  POLICY=/usr/sbin/policy-rc.d
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null && "${SUDO[@]}" chmod +x "$POLICY" \
      || die "cannot write $POLICY"
    trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
  fi
  "${APT[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" || die "apt-get install ${pkgs[*]} failed"
  for cmd in "${!PKG_OF[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || die "\`$cmd\` is still missing after installing ${PKG_OF[$cmd]}"
  done
else
  echo "install-deps: all system packages already present"
fi

# Node.js comes with the machine image; check the version rather than replace it.
command -v node >/dev/null 2>&1 || die "node is not installed; vxlan-user needs Node.js >= 20"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old; vxlan-user needs >= 20"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
echo "install-deps: ok (node $(node --version))"
