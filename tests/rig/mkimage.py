#!/usr/bin/python3
"""More OCI image layouts for the chroot-distro test rig (stdlib + zstd CLI).

This file complements mkfixture.py. It imports mkfixture.py and never
changes it, because the digest of the busybox fixture depends on the bytes
of mkfixture.py.

Subcommands (each writes a new OCI image layout whose index.json has one
entry tagged "latest", and prints the digest of that entry on stdout):

    mkimage.py zstd SRC_LAYOUT OUTDIR
        Recompresses every layer of SRC_LAYOUT:latest with zstd
        (application/vnd.oci.image.layer.v1.tar+zstd). The config, and so
        the diff_ids, stay the same.

    mkimage.py multi OUTDIR --busybox amd64=PATH --busybox arm64/v8=PATH
        Builds one busybox image (see mkfixture.fixture_busybox) per
        platform. Each image also has etc/arch ("<arch>\\n") in its last
        layer. The images go into an OCI image index. index.json tags the
        index itself as "latest". The script prints the index digest and
        then one "<os>/<arch>[/<variant>] <manifest digest>" line per image.

    mkimage.py rootfs OUTDIR --layer ROOTFS.tar.gz --dpkg-arch amd64
                      [--cmd /bin/bash] [--created RFC3339]
        Builds a single-layer image from an existing gzip tarball. The
        tarball becomes the layer blob byte for byte (hard-linked when
        possible).

    mkimage.py check-debian ROOTFS.tar.gz
        Checks that a Debian rootfs tarball keeps what the tests need:
        ./etc/shadow in group 42 (shadow), the setuid bit on
        ./usr/bin/passwd, and ./usr/bin/perl and ./usr/bin/perl5.* as one
        hard link. Exits 1 and names what is wrong otherwise.

    mkimage.py apt-mirror SUITE
        Prints the first enabled "deb" URI for SUITE from
        /etc/apt/sources.list and /etc/apt/sources.list.d/*.{list,sources}.
"""

import argparse
import glob
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkfixture as mf  # noqa: E402  (sibling module, path set above)

MT_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
ZSTD_LEVEL = "-19"

# Debian architecture -> (OCI architecture, variant)
DPKG_ARCH = {
    "amd64": ("amd64", None),
    "arm64": ("arm64", "v8"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v5"),
    "i386": ("386", None),
    "ppc64el": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "mips64el": ("mips64le", None),
}


def die(msg):
    sys.exit("mkimage: " + msg)


def read_json(path):
    import json
    with open(path, "rb") as f:
        return json.load(f)


def blob_path(layout, digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexd)


def tagged(layout, tag="latest"):
    index = read_json(os.path.join(layout, "index.json"))
    for d in index["manifests"]:
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return d
    die("%s has no manifest tagged %r" % (layout, tag))


def write_index_json(layout, desc, tag="latest"):
    desc = dict(desc)
    desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index = {"schemaVersion": 2, "mediaType": mf.MT_INDEX, "manifests": [desc]}
    with open(os.path.join(layout.path, "index.json"), "wb") as f:
        f.write(mf.canon_json(index))
    with open(os.path.join(layout.path, "oci-layout"), "wb") as f:
        f.write(mf.canon_json({"imageLayoutVersion": "1.0.0"}))


def write_manifest(layout, config, layer_descs):
    config_desc = layout.blob(mf.canon_json(config), mf.MT_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mf.MT_MANIFEST,
        "config": config_desc,
        "layers": layer_descs,
    }
    return layout.blob(mf.canon_json(manifest), mf.MT_MANIFEST)


def platform(arch, variant):
    p = {"architecture": arch, "os": "linux"}
    if variant:
        p["variant"] = variant
    return p


# --------------------------------------------------------------------------

def cmd_zstd(args):
    src = args.src
    mdesc = tagged(src)
    if mdesc["mediaType"] != mf.MT_MANIFEST:
        die("%s:latest is not an image manifest" % src)
    manifest = read_json(blob_path(src, mdesc["digest"]))
    config_bytes = open(blob_path(src, manifest["config"]["digest"]), "rb").read()
    out = mf.Layout(args.outdir)
    layers = []
    for ld in manifest["layers"]:
        if ld["mediaType"] != mf.MT_LAYER_GZIP:
            die("unexpected layer media type %s" % ld["mediaType"])
        with gzip.open(blob_path(src, ld["digest"]), "rb") as f:
            raw = f.read()
        # -T1: single-threaded, so the output depends only on zstd's version.
        z = subprocess.run(["zstd", "-q", "-c", ZSTD_LEVEL, "-T1", "--no-progress"],
                           input=raw, stdout=subprocess.PIPE, check=True).stdout
        layers.append(out.blob(z, MT_LAYER_ZSTD))
    config_desc = out.blob(config_bytes, manifest["config"]["mediaType"])
    new = {
        "schemaVersion": 2,
        "mediaType": mf.MT_MANIFEST,
        "config": config_desc,
        "layers": layers,
    }
    desc = out.blob(mf.canon_json(new), mf.MT_MANIFEST)
    if "platform" in mdesc:
        desc["platform"] = mdesc["platform"]
    write_index_json(out, desc)
    print(desc["digest"])


def cmd_multi(args):
    out = mf.Layout(args.outdir)
    descs = []
    for spec in args.busybox:
        plat, _, path = spec.partition("=")
        arch, _, variant = plat.partition("/")
        if not path or not arch:
            die("--busybox wants ARCH[/VARIANT]=PATH, got %r" % spec)
        variant = variant or None
        layers, history = mf.fixture_busybox(argparse.Namespace(busybox=path))
        layers[-1] = sorted(layers[-1] + [mf.F("etc/arch", arch + "\n")],
                            key=lambda e: e.name)
        history[-1] += ", etc/arch"
        config = mf.image_config(arch, variant, history)
        layer_descs, diff_ids = [], []
        for entries in layers:
            tar_bytes, gz_bytes = mf.make_layer(entries)
            diff_ids.append(mf.sha256(tar_bytes))
            layer_descs.append(out.blob(gz_bytes, mf.MT_LAYER_GZIP))
        config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        desc = write_manifest(out, config, layer_descs)
        desc["platform"] = platform(arch, variant)
        descs.append(desc)
    index = {"schemaVersion": 2, "mediaType": mf.MT_INDEX, "manifests": descs}
    idesc = out.blob(mf.canon_json(index), mf.MT_INDEX)
    write_index_json(out, idesc)
    print(idesc["digest"])
    for d in descs:
        p = d["platform"]
        name = "/".join(x for x in (p["os"], p["architecture"], p.get("variant")) if x)
        print(name, d["digest"])


def cmd_rootfs(args):
    if args.dpkg_arch not in DPKG_ARCH:
        die("unknown Debian architecture %s" % args.dpkg_arch)
    arch, variant = DPKG_ARCH[args.dpkg_arch]
    out = mf.Layout(args.outdir)

    # diff_id: sha256 of the uncompressed stream; digest: of the file.
    h_gz, h_tar, size = hashlib.sha256(), hashlib.sha256(), 0
    with open(args.layer, "rb") as raw:
        while True:
            b = raw.read(1 << 20)
            if not b:
                break
            h_gz.update(b)
            size += len(b)
    with gzip.open(args.layer, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h_tar.update(b)
    digest = "sha256:" + h_gz.hexdigest()
    dst = blob_path(args.outdir, digest)
    try:
        os.link(args.layer, dst)
    except OSError:
        shutil.copyfile(args.layer, dst)
    layer_desc = {"mediaType": mf.MT_LAYER_GZIP, "digest": digest, "size": size}

    config = {
        "created": args.created,
        "architecture": arch,
        "os": "linux",
        "config": {"Env": [mf.DEFAULT_PATH], "Cmd": [args.cmd]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h_tar.hexdigest()]},
        "history": [{"created": args.created, "created_by": args.created_by,
                     "comment": "cd-test-rig mkimage.py"}],
    }
    if variant:
        config["variant"] = variant
    desc = write_manifest(out, config, [layer_desc])
    desc["platform"] = platform(arch, variant)
    write_index_json(out, desc)
    print(desc["digest"])


def cmd_check_debian(args):
    want_perl = "./usr/bin/perl"
    shadow = passwd = perl = None
    perl_links = []
    with tarfile.open(args.tarball, "r:gz") as tf:
        for m in tf:
            if m.name == "./etc/shadow":
                shadow = m
            elif m.name == "./usr/bin/passwd":
                passwd = m
            elif m.name == want_perl:
                perl = m
            elif m.name.startswith("./usr/bin/perl5."):
                perl_links.append(m)
    problems = []
    if shadow is None:
        problems.append("./etc/shadow is missing")
    elif shadow.gid != 42 or shadow.uid != 0:
        problems.append("./etc/shadow is owned by %d:%d, want 0:42 (shadow)"
                        % (shadow.uid, shadow.gid))
    if passwd is None:
        problems.append("./usr/bin/passwd is missing")
    elif not passwd.mode & 0o4000:
        problems.append("./usr/bin/passwd has mode %o, want the setuid bit" % passwd.mode)
    if perl is None or not perl_links:
        problems.append("./usr/bin/perl or ./usr/bin/perl5.* is missing")
    else:
        # tar stores the second name of a hard-linked file as a link entry
        # naming the first, in either order.
        names = {perl.name} | {m.name for m in perl_links}
        ok = any(m.islnk() and m.linkname in names for m in [perl] + perl_links)
        ok = ok and sum(1 for m in [perl] + perl_links if m.isreg()) == 1
        if not ok:
            problems.append("./usr/bin/perl and %s are not one hard link (%s)" % (
                ", ".join(m.name for m in perl_links),
                "; ".join("%s type %r link %r" % (m.name, m.type, m.linkname)
                          for m in [perl] + perl_links)))
    if problems:
        for p in problems:
            print("mkimage: %s: %s" % (args.tarball, p), file=sys.stderr)
        sys.exit(1)
    print("ok: ./etc/shadow %d:%d %o; ./usr/bin/passwd %o; %s"
          % (shadow.uid, shadow.gid, shadow.mode, passwd.mode,
             ", ".join("%s -> %s" % (m.name, m.linkname) for m in [perl] + perl_links
                       if m.islnk())))


def deb822_stanzas(text):
    stanza = {}
    key = None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, None
        elif line[0] in " \t" and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()


def apt_sources():
    """(types, uris, suites) triples in apt's order."""
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    out = []
    for path in files:
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) > 1 and words[1].startswith("["):
                # deb [opt=val ...] uri suite comps
                rest = " ".join(words[1:])
                words = [words[0]] + rest.split("]", 1)[1].split()
            if len(words) >= 3:
                out.append(([words[0]], [words[1]], [words[2]]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        for st in deb822_stanzas(text):
            if st.get("enabled", "yes").lower() == "no":
                continue
            out.append((st.get("types", "").split(), st.get("uris", "").split(),
                        st.get("suites", "").split()))
    return out


def cmd_apt_mirror(args):
    for types, uris, suites in apt_sources():
        if "deb" in types and args.suite in suites and uris:
            print(uris[0].rstrip("/"))
            return
    die("no enabled 'deb' source for suite %s in /etc/apt/sources.list*" % args.suite)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("zstd")
    p.add_argument("src")
    p.add_argument("outdir")
    p.set_defaults(func=cmd_zstd)

    p = sub.add_parser("multi")
    p.add_argument("outdir")
    p.add_argument("--busybox", action="append", required=True,
                   help="ARCH[/VARIANT]=PATH of a static busybox for that platform")
    p.set_defaults(func=cmd_multi)

    p = sub.add_parser("rootfs")
    p.add_argument("outdir")
    p.add_argument("--layer", required=True)
    p.add_argument("--dpkg-arch", required=True)
    p.add_argument("--cmd", default="/bin/bash")
    p.add_argument("--created", default=mf.CREATED)
    p.add_argument("--created-by", default="debootstrap --variant=minbase")
    p.set_defaults(func=cmd_rootfs)

    p = sub.add_parser("check-debian")
    p.add_argument("tarball")
    p.set_defaults(func=cmd_check_debian)

    p = sub.add_parser("apt-mirror")
    p.add_argument("suite")
    p.set_defaults(func=cmd_apt_mirror)

    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
