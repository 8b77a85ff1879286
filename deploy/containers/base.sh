#!/usr/bin/env bash
# The Debian base every image builds on, where no image registry answers: Debian bookworm made
# from Debian's own packages (debootstrap), imported as one image. Where a registry answers, the
# Dockerfiles' default base, debian:bookworm-slim, is the same distribution from Docker Hub.
#   deploy/containers/base.sh [IMAGE]        (default rebound/debian:bookworm; kept once made)
# The certificate authorities this machine adds to Debian's (/usr/local/share/ca-certificates) go in
# too: a build reaches Debian, PyPI and Maven Central through this machine's network, and trusts
# what the machine trusts.
set -euo pipefail
IMAGE="${1:-rebound/debian:bookworm}"
MIRROR="${REBOUND_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { echo "[base] $*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then log "$IMAGE already made"; exit 0; fi
command -v debootstrap >/dev/null || { apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
root="$(mktemp -d /var/tmp/rebound-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
log "debootstrap bookworm (minbase) from $MIRROR"
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$MIRROR" >"$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$root" update-ca-certificates >/dev/null
# What an image needs of apt: no recommended extras, no package caches kept.
cat > "$root/etc/apt/apt.conf.d/90rebound" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
APT
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
log "importing as $IMAGE"
tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
log "$IMAGE made ($(docker image inspect -f '{{.Size}}' "$IMAGE" | numfmt --to=iec))"
