"""The ``aiovolume`` command (also ``python -m aiovolume``): everyday jobs on Precomputed layers.

Conventions of igneous and cloudfiles: paths are cloudpaths (``gs://``, ``s3://``, ``file://``,
plain directories), triples are comma-separated (``--bbox 0,0,0,512,512,64``, ``--factor 2,2,1``),
booleans are ``--flag/--no-flag``. Errors print one line to stderr and exit 1 (usage errors
exit 2), never a traceback.

    aiovolume info PATH [--json]
    aiovolume cp SRC DST [--mip M] [--bbox x0,y0,z0,x1,y1,z1] [--compress gzip|none]
    aiovolume downsample PATH [--mip M] --num-mips N [--factor 2,2,1] [--sparse] [--scheduler ADDRESS]
    aiovolume view PATH --bbox x0,y0,z0,x1,y1,z1 [--mip M] [--port P]
    aiovolume serve PATH [--port P]
    aiovolume mesh save PATH SEGID... [--format obj|ply] [--out DIR]
    aiovolume skeleton save PATH SEGID... [--format swc] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, NoReturn, Sequence

from .cloudvolume import CloudVolume
from .exceptions import AiovolumeError
from .geometry import Bbox

PROG = "aiovolume"


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _ints(text: str, n: int, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != n:
        raise argparse.ArgumentTypeError(f"{what} must be {n} comma-separated integers, got {text!r}")
    return values


def _bbox(text: str) -> Bbox:
    v = _ints(text, 6, "--bbox")
    if any(hi <= lo for lo, hi in zip(v[:3], v[3:])):
        raise argparse.ArgumentTypeError(f"--bbox {text!r} is empty: each of x1,y1,z1 must exceed x0,y0,z0")
    return Bbox(v[:3], v[3:])


def _triple(text: str) -> list[int]:
    v = _ints(text, 3, "a triple")
    if min(v) < 1:
        raise argparse.ArgumentTypeError(f"expected 3 positive integers, got {text!r}")
    return v


def _segid(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"segment ids are non-negative integers, got {text!r}")
    return value


def _flag(p: argparse.ArgumentParser, name: str, default: bool, text: str) -> None:
    p.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=default, help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Read, copy, downsample and look at Neuroglancer Precomputed layers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("info", help="per mip: resolution, size, chunk size, encoding, sharding")
    p.add_argument("path", help="the layer's cloudpath (gs://, s3://, file://, https://, or a directory)")
    p.add_argument("--json", action="store_true", help="print the info file itself")

    p = sub.add_parser("cp", help="copy a layer (or a region of one mip) to another (Volume.transfer_to)")
    p.add_argument("src", help="the source layer's cloudpath")
    p.add_argument("dst", help="the destination layer's cloudpath (its info is created when missing)")
    p.add_argument("--mip", type=int, default=0, help="the scale to copy (default 0)")
    p.add_argument("--bbox", type=_bbox, help="x0,y0,z0,x1,y1,z1 in the mip's voxels (default: the whole scale)")
    p.add_argument("--compress", choices=["gzip", "none"], help="recompress every chunk (default: keep)")
    _flag(p, "progress", True, "show a progress bar on stderr")

    p = sub.add_parser("downsample", help="add mips to a layer and fill them (aiovolume.dask.downsample)")
    p.add_argument("path", help="the layer's cloudpath")
    p.add_argument("--mip", type=int, default=0, help="the source mip (default 0)")
    p.add_argument("--num-mips", type=int, required=True, help="how many mips to build above --mip")
    p.add_argument("--factor", type=_triple, default=[2, 2, 1], help="per-mip factor x,y,z (default 2,2,1)")
    p.add_argument("--method", choices=["average", "mode"], help="default: average for images, mode for segmentation")
    _flag(p, "sparse", False, "ignore zeros (background) when reducing")
    p.add_argument("--chunk-size", type=_triple, help="chunk size of the new mips (default: the source's)")
    _flag(p, "sharded", None, "shard the new mips (default: as the source mip)")  # type: ignore[arg-type]
    p.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler (default: local threads)")

    p = sub.add_parser("view", help="show a cutout in the local slice viewer on 127.0.0.1 (aiovolume.view)")
    p.add_argument("path", help="the layer's cloudpath")
    p.add_argument("--bbox", type=_bbox, required=True, help="x0,y0,z0,x1,y1,z1")
    p.add_argument("--mip", type=int, default=0)
    p.add_argument("--port", type=int, default=None, help="default: the viewer's")

    p = sub.add_parser("serve", help="serve a layer to Neuroglancer on 127.0.0.1 (aiovolume.serve)")
    p.add_argument("path", help="the layer's cloudpath")
    p.add_argument("--port", type=int, default=None, help="default: the viewer's")

    for kind, plural, formats, default in (("mesh", "meshes", ["obj", "ply"], "ply"),
                                           ("skeleton", "skeletons", ["swc"], "swc")):
        group = sub.add_parser(kind, help=f"{kind} commands").add_subparsers(
            dest="action", required=True, metavar="ACTION", parser_class=_Parser)
        p = group.add_parser("save", help=f"write the {plural} of segment ids as files named SEGID.FORMAT")
        p.add_argument("path", help="the segmentation layer's cloudpath")
        p.add_argument("segids", nargs="+", type=_segid, metavar="SEGID", help="segment ids")
        p.add_argument("--format", choices=formats, default=default, help=f"default {default}")
        p.add_argument("--out", default=".", help="directory for the files (default: here)")
    return parser


# -- commands ------------------------------------------------------------------------------------
def _open(path: str, **kwargs: Any) -> CloudVolume:
    kwargs.setdefault("progress", False)
    return CloudVolume(path, **kwargs)


def cmd_info(args: argparse.Namespace) -> None:
    with _open(args.path) as cv:
        if args.json:
            print(json.dumps(cv.info, indent=2))
            return
        info = cv.info
        print(f"{cv.cloudpath}: {info['type']} {info['data_type']}, {info['num_channels']} channel(s)")
        rows = [("mip", "resolution", "size", "voxel_offset", "chunk_size", "encoding", "sharding")]
        for i, s in enumerate(info["scales"]):
            spec = s.get("sharding")
            sharding = f"{1 << int(spec.get('shard_bits', 0))} shard(s)" if spec else "no"
            rows.append((str(i), _xyz(s["resolution"]), _xyz(s["size"]), _xyz(s.get("voxel_offset", (0, 0, 0))),
                         _xyz(s["chunk_sizes"][0]), s["encoding"], sharding))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        for r in rows:
            print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _xyz(values: Sequence[Any]) -> str:
    return "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def cmd_cp(args: argparse.Namespace) -> None:
    compress = {"gzip": "gzip", "none": False, None: "auto"}[args.compress]
    with _open(args.src, mip=args.mip, progress=args.progress) as cv:
        bbox = args.bbox if args.bbox is not None else cv.meta.bounds(args.mip)
        dest = cv.transfer_to(args.dst, bbox, compress=compress, mip=args.mip)
        dest.close()
    print(f"copied mip {args.mip} {_box(bbox)} of {args.src} to {args.dst}")


def _box(b: Bbox) -> str:
    return ",".join(str(int(v)) for v in (*b.minpt, *b.maxpt))


def cmd_downsample(args: argparse.Namespace) -> None:
    from .dask import downsample

    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler, timeout="10s")
    try:
        mips = downsample(args.path, mip=args.mip, num_mips=args.num_mips, factor=args.factor, method=args.method,
                          sparse=args.sparse, chunk_size=args.chunk_size, sharded=args.sharded, client=client)
    finally:
        if client is not None:
            client.close()
    print(f"wrote mips {', '.join(map(str, mips))} of {args.path}")


def cmd_view(args: argparse.Namespace) -> None:
    from .viewer.arrayview import view

    with _open(args.path, mip=args.mip) as cv:
        cutout = cv[args.bbox.to_slices()]
        seg = cv.layer_type == "segmentation"
        resolution = cv.resolution
    # voxel coordinates shown on hover are the layer's (the cutout's offset)
    view(cutout, seg=seg, resolution=resolution, offset=args.bbox.minpt, cloudpath=args.path, **_port(args))


def cmd_serve(args: argparse.Namespace) -> None:
    from .viewer.ngserve import serve

    serve(args.path, **_port(args))


def _port(args: argparse.Namespace) -> dict[str, int]:
    return {} if args.port is None else {"port": args.port}  # else the viewer's own default


def cmd_mesh(args: argparse.Namespace) -> None:
    os.makedirs(args.out, exist_ok=True)
    with _open(args.path) as cv:
        for segid in args.segids:
            cv.mesh.save(segid, filepath=os.path.join(args.out, f"{segid}.{args.format}"), file_format=args.format)
    print(f"saved {len(args.segids)} mesh(es) to {args.out}")


def cmd_skeleton(args: argparse.Namespace) -> None:
    os.makedirs(args.out, exist_ok=True)
    with _open(args.path) as cv:
        skeletons = cv.skeleton.get(list(args.segids))
        for segid, skel in zip(args.segids, skeletons):
            with open(os.path.join(args.out, f"{segid}.swc"), "w") as f:
                f.write(skel.to_swc())
    print(f"saved {len(args.segids)} skeleton(s) to {args.out}")


COMMANDS = {"info": cmd_info, "cp": cmd_cp, "downsample": cmd_downsample, "view": cmd_view, "serve": cmd_serve,
            "mesh": cmd_mesh, "skeleton": cmd_skeleton}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    where = f"{PROG} {args.command}"
    try:
        COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except (AiovolumeError, OSError) as e:
        print(f"{where}: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug or a third-party failure: still one line, naming its type
        print(f"{where}: error: {type(e).__name__}: {_one_line(e)}", file=sys.stderr)
        return 1
    return 0


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
