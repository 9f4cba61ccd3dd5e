#!/bin/sh
# mkinitrd.sh KERNEL_DIR OUT PROGRAM... — the lab guest's initramfs: busybox, the programs
# (the in-guest test binary first; then any program or shared object the tests run or preload),
# each in /bin under its own name with the shared libraries it links (as ldd lists them, so the
# guest runs exactly the host's build), the kernel's virtio modules, and lab/init.
# Exit 77 (skip) without a kernel.
set -eu
kdir=$1 out=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
kmod=$(ls -d "$kdir"/lib/modules/* 2>/dev/null | head -1)
if [ -z "$kmod" ]; then
    echo "skip: no guest kernel under $kdir (bash lab/fetch-kernel.sh $kdir fetches it)"
    exit 77
fi
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "busybox not found (apt-get install busybox-static)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/tmp" "$tmp/mod"

# A program and every shared object it needs, at the same paths as on the host.
add_prog() {
    cp -L "$1" "$tmp/bin/"
    ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
        mkdir -p "$tmp$(dirname "$lib")"
        cp -L "$lib" "$tmp$lib"
    done
}
add_prog "$busybox"
for a in sh mount ls cat echo insmod poweroff sleep grep uname head tr cut; do
    ln -s busybox "$tmp/bin/$a"
done
for prog in "$@"; do
    add_prog "$prog"
done
for m in virtio/virtio virtio/virtio_ring virtio/virtio_pci_modern_dev \
         virtio/virtio_pci_legacy_dev virtio/virtio_pci virtio/virtio_mem char/virtio_console; do
    f=$kmod/kernel/drivers/$m.ko
    [ -f "$f" ] && cp "$f" "$tmp/mod/"
done
# virtio-9p, for run-lab.sh --share (lab/init loads them only then)
for m in fs/netfs/netfs fs/fscache/fscache net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p; do
    f=$kmod/kernel/$m.ko
    [ -f "$f" ] && cp "$f" "$tmp/mod/"
done
cp "$here/init" "$tmp/init"
chmod +x "$tmp/init"
(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
echo "initramfs $out: $(du -k "$out" | cut -f1) KiB, kernel $(basename "$kmod")"
