#!/usr/bin/python3
"""Build deterministic OCI image layouts for the chroot-distro test rig.

No container runtime or daemon is involved: layers are written with
``tarfile`` (PAX format), compressed with ``gzip`` (mtime=0, no file name)
and assembled into an OCI image layout (oci-layout, index.json,
blobs/sha256/...) by hand.  Every mtime is fixed, every JSON document is
serialised with sorted keys, so the same inputs (this script + the busybox
binary + the architecture) always give the same manifest digest.

Usage:
    mkfixture.py busybox OUTDIR [--busybox /bin/busybox] [--arch amd64]
                                [--tag latest]

OUTDIR must not exist (or be empty).  The manifest digest is printed on
stdout.

Adding a fixture: write a function returning a list of layers (each a list
of ``Entry``) plus an image-config dict, and register it in FIXTURES.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import struct
import sys
import tarfile

# 2024-01-01T00:00:00Z: every entry and every timestamp in the image.
EPOCH = 1704067200
CREATED = "2024-01-01T00:00:00Z"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Go/OCI architecture names for the host machine.
ARCH_MAP = {
    "x86_64": ("amd64", None),
    "amd64": ("amd64", None),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "i686": ("386", None),
    "i386": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
}


def host_arch():
    try:
        return ARCH_MAP[platform.machine()]
    except KeyError:
        sys.exit("mkfixture: unsupported host architecture %r" % platform.machine())


# --------------------------------------------------------------------------
# Layer entries
# --------------------------------------------------------------------------

class Entry:
    """One tar member.  kind: dir | file | symlink | hardlink."""

    def __init__(self, name, kind="file", data=b"", mode=None, uid=0, gid=0,
                 link="", xattrs=None):
        self.name = name.strip("/")
        self.kind = kind
        self.data = data.encode() if isinstance(data, str) else data
        if mode is None:
            mode = {"dir": 0o755, "file": 0o644, "symlink": 0o777,
                    "hardlink": 0o644}[kind]
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.link = link
        self.xattrs = xattrs or {}

    def tarinfo(self):
        ti = tarfile.TarInfo(self.name)
        ti.mtime = EPOCH
        ti.mode = self.mode
        ti.uid, ti.gid = self.uid, self.gid
        ti.uname = ti.gname = ""
        ti.size = 0
        if self.kind == "dir":
            ti.type = tarfile.DIRTYPE
        elif self.kind == "file":
            ti.type = tarfile.REGTYPE
            ti.size = len(self.data)
        elif self.kind == "symlink":
            ti.type = tarfile.SYMTYPE
            ti.linkname = self.link
        elif self.kind == "hardlink":
            ti.type = tarfile.LNKTYPE
            ti.linkname = self.link.strip("/")
        else:
            raise ValueError(self.kind)
        if self.xattrs:
            # Binary values go through surrogateescape; tarfile then emits
            # hdrcharset=BINARY if the value is not valid UTF-8.
            ti.pax_headers = {
                "SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape")
                for k, v in sorted(self.xattrs.items())
            }
        return ti


def D(name, mode=0o755, **kw):
    return Entry(name, "dir", mode=mode, **kw)


def F(name, data, mode=0o644, **kw):
    return Entry(name, "file", data=data, mode=mode, **kw)


def S(name, target, **kw):
    return Entry(name, "symlink", link=target, **kw)


def H(name, target, **kw):
    return Entry(name, "hardlink", link=target, **kw)


def make_layer(entries):
    """Return (uncompressed tar bytes, gzip bytes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT,
                      encoding="utf-8") as tf:
        for e in entries:
            ti = e.tarinfo()
            tf.addfile(ti, io.BytesIO(e.data) if ti.type == tarfile.REGTYPE else None)
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz, mtime=0,
                       compresslevel=9) as g:
        g.write(tar_bytes)
    return tar_bytes, gz.getvalue()


# --------------------------------------------------------------------------
# OCI layout writer
# --------------------------------------------------------------------------

def canon_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Layout:
    def __init__(self, path):
        self.path = path
        if os.path.exists(path) and os.listdir(path):
            sys.exit("mkfixture: %s exists and is not empty" % path)
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)

    def blob(self, data, media_type):
        digest = sha256(data)
        p = os.path.join(self.path, "blobs", "sha256", digest.split(":", 1)[1])
        with open(p, "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def write_image(self, layers, config, tag, arch, variant):
        layer_descs, diff_ids = [], []
        for entries in layers:
            tar_bytes, gz_bytes = make_layer(entries)
            diff_ids.append(sha256(tar_bytes))
            layer_descs.append(self.blob(gz_bytes, MT_LAYER_GZIP))
        config = dict(config)
        config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        config_desc = self.blob(canon_json(config), MT_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": config_desc,
            "layers": layer_descs,
        }
        mdesc = self.blob(canon_json(manifest), MT_MANIFEST)
        plat = {"architecture": arch, "os": "linux"}
        if variant:
            plat["variant"] = variant
        mdesc["platform"] = plat
        mdesc["annotations"] = {"org.opencontainers.image.ref.name": tag}
        index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [mdesc]}
        with open(os.path.join(self.path, "index.json"), "wb") as f:
            f.write(canon_json(index))
        with open(os.path.join(self.path, "oci-layout"), "wb") as f:
            f.write(canon_json({"imageLayoutVersion": "1.0.0"}))
        return mdesc["digest"]


def image_config(arch, variant, history):
    cfg = {
        "created": CREATED,
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": [DEFAULT_PATH],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
            "Labels": {"org.opencontainers.image.source": "https://example.invalid/cd-test"},
        },
        "history": [{"created": CREATED, "created_by": h, "comment": "cd-test-rig mkfixture.py"}
                    for h in history],
    }
    if variant:
        cfg["variant"] = variant
    return cfg


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------

BUSYBOX_APPLETS = ["sh", "ls", "cat", "id", "echo", "stat", "env", "true",
                   "false", "sleep", "mkdir", "rm", "touch", "grep"]

# security.capability for cap_net_raw+ep: struct vfs_cap_data, revision 2.
CAP_NET_RAW = 13
VFS_CAP_REVISION_2 = 0x02000000
VFS_CAP_FLAGS_EFFECTIVE = 0x000001
CAP_NET_RAW_EP = struct.pack("<IIIII", VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE,
                             1 << CAP_NET_RAW, 0, 0, 0)

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:42:42:app:/home/app:/bin/sh
"""

GROUP = """\
root:x:0:
nogroup:x:65534:
app:x:42:
"""


def fixture_busybox(args):
    with open(args.busybox, "rb") as f:
        busybox = f.read()

    layer1 = [
        D("bin"),
        F("bin/busybox", busybox, 0o755),
        *[S("bin/" + a, "busybox") for a in BUSYBOX_APPLETS],
        D("dev"), D("etc"),
        F("etc/group", GROUP),
        F("etc/passwd", PASSWD),
        D("home"),
        D("home/app", 0o755, uid=42, gid=42),
        D("keep"),
        F("keep/x", "x\n"),
        D("opaque"),
        F("opaque/a", "a\n"),
        F("opaque/b", "b\n"),
        D("proc"),
        F("removed.txt", "removed by layer 2\n"),
        D("root", 0o700),
        D("run"),
        D("sys"),
        D("tmp", 0o1777),
        D("usr"),
        D("usr/bin"),
    ]
    layer2 = [
        F(".wh.removed.txt", ""),
        D("bin"),
        F("bin/capfile", "#!/bin/sh\necho capfile\n", 0o755,
          xattrs={"security.capability": CAP_NET_RAW_EP}),
        F("bin/suid", "#!/bin/sh\necho suid\n", 0o4755),
        D("data"),
        S("data/abs-link", "/etc/passwd"),
        F("data/file", "hello\n"),
        H("data/hardlink", "data/file"),
        S("data/link", "file"),
        F("data/owned", "owned by app\n", uid=42, gid=42),
        F("data/xattr", "has an xattr\n", xattrs={"user.cdtest": b"hello"}),
        D("opaque"),
        F("opaque/.wh..wh..opq", ""),
        F("opaque/c", "c\n"),
    ]
    layer3 = [
        D("etc"),
        F("etc/hostname", "cd-test\n"),
        F("etc/motd", "cd-test fixture\n"),
    ]
    history = [
        "layer 1: busybox-static, applet symlinks, base dirs, passwd/group",
        "layer 2: whiteouts, opaque dir, hard link, symlinks, owner, setuid, xattrs",
        "layer 3: etc/motd, etc/hostname",
    ]
    return [layer1, layer2, layer3], history


FIXTURES = {
    "busybox": fixture_busybox,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fixture", choices=sorted(FIXTURES))
    ap.add_argument("outdir")
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--arch", help="OCI architecture (default: host)")
    ap.add_argument("--variant", help="OCI architecture variant")
    ap.add_argument("--tag", default="latest")
    args = ap.parse_args()

    if args.arch:
        arch, variant = args.arch, args.variant
    else:
        arch, variant = host_arch()
        variant = args.variant or variant

    layers, history = FIXTURES[args.fixture](args)
    cfg = image_config(arch, variant, history)
    digest = Layout(args.outdir).write_image(layers, cfg, args.tag, arch, variant)
    print(digest)


if __name__ == "__main__":
    main()
