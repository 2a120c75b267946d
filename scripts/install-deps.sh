#!/usr/bin/env bash
# The one list of Debian 12 packages pagemeld needs to build, test and demo.
# Used by the README's two commands and by .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(
	# build
	meson ninja-build pkg-config gcc clang clang-format
	libsystemd-dev libseccomp-dev libjson-c-dev libinih-dev
	libxxhash-dev # the duplicate-page estimator's page hash
	# tests
	libcmocka-dev python3 python3-pytest python3-yaml
	python3-dbus # pagemeldd integration tests pass pidfds (UnixFd)
	dbus systemd busybox-static util-linux procps
	runc crun podman
	catatonit # the pause image that podman kube play builds
	# containerd behind its CRI, driven by a Python gRPC client; jq for
	# packaging/containerd/pagemeld-containerd-setup
	containerd python3-grpcio python3-grpc-tools jq
	# sanitizers and the fuzzer
	libclang-rt-14-dev
	# cross-compile check of the aarch64 remote-control code
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	# benchmarks, docs, packaging
	hyperfine scdoc dpkg-dev debhelper fakeroot
	# pagemeldctl metrics parse check; systemd-analyze verify of the man pages
	python3-prometheus-client man-db bash-completion
	# vm tier
	qemu-system-x86 cpio xz-utils zstd
	# node VM tier: the Debian 12 root filesystem, the disk image, reading results back
	mmdebstrap e2fsprogs
	# kernel-patches/check: the source it patches, and what building it needs
	linux-source-6.12 make bc flex bison libelf-dev libssl-dev ccache
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
