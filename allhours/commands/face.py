"""`allhours face verify`: match live images against a document photo, for technicians."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add `allhours face verify`."""
    p = sub.add_parser("face", help="face verification tools for technicians")
    fsub = p.add_subparsers(dest="face_command", required=True)
    v = fsub.add_parser(
        "verify",
        help="match live images against a document photo and print distance and quality",
        description=(
            "Decode a document photo and one or more live images (JPEG, PNG, JPEG 2000), pick"
            " the best live frame, and print the face distance, the threshold, the decision and"
            " quality figures per frame. Three or more live images are also judged for liveness"
            " as a sequence (without the kiosk's random prompts). Exit 0 on a match, 1 on no"
            " match or no face, 2 on bad usage or an unreadable file."
        ),
    )
    v.add_argument("document", metavar="DOC_IMAGE", type=Path, help="the document photo")
    v.add_argument("live", metavar="LIVE_IMAGES", type=Path, nargs="+", help="live images")
    v.add_argument("--threshold", type=float, default=None, help="match threshold (default 0.5)")
    v.add_argument("--json", action="store_true", help="print JSON")
    v.set_defaults(func=cmd_face_verify)


def cmd_face_verify(args: argparse.Namespace) -> int:
    """Verify; 0 match, 1 no match / no face, 2 usage or unreadable file."""
    # Imported here: loading dlib's models takes a moment and other commands do not need it.
    from face.decision import DEFAULT_THRESHOLD
    from face.matcher import NoFaceFound, UnreadableImage, decode_image
    from face.sequence import MIN_SEQUENCE, verify_images

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if not 0.0 < threshold < 2.0:
        return _usage("--threshold must be between 0 and 2 (encodings are unit-length vectors)")
    images = []
    for path in [args.document, *args.live]:
        try:
            images.append(decode_image(path.read_bytes()))
        except OSError as exc:
            return _usage(f"cannot read {path}: {exc.strerror or exc}")
        except UnreadableImage as exc:
            return _usage(f"{path}: {exc}")
    document, live = images[0], images[1:]
    try:
        result = verify_images(document, live, threshold=threshold)
    except NoFaceFound:
        return _report(args, {"decision": "no_face_in_document", "threshold": threshold}, 1)

    frames = []
    for index, (path, quality) in enumerate(zip(args.live, result.qualities, strict=True)):
        entry: dict[str, Any] = {"index": index + 1, "file": str(path), "face": quality is not None}
        if quality is not None:
            entry["quality"] = quality.as_dict()
        entry["best"] = index == result.best
        frames.append(entry)
    liveness = result.liveness
    decision = "match" if result.matched else "no_match"
    if result.best is None:
        decision = "no_face"
    if decision == "match" and liveness.passed is False:
        decision = "liveness_failed"
    report = {
        "decision": decision,
        "distance": None if result.distance is None else round(result.distance, 4),
        "threshold": threshold,
        "best_frame": None if result.best is None else result.best + 1,
        "frames": frames,
        "liveness": {
            "judged": liveness.judged,
            "passed": liveness.passed,
            "gestures": list(liveness.gestures),
            "reason": liveness.reason,
            "frames_needed": MIN_SEQUENCE,
        },
    }
    return _report(args, report, 0 if decision == "match" else 1)


def _report(args: argparse.Namespace, report: dict[str, Any], code: int) -> int:
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return code
    if report["decision"] == "no_face_in_document":
        print(f"document {args.document}: no face found")
        print("decision: NO MATCH (no face in the document photo)")
        return code
    for frame in report["frames"]:
        if not frame["face"]:
            print(f"frame {frame['index']} {frame['file']}: no face")
            continue
        q = frame["quality"]
        mark = "  <- best" if frame["best"] else ""
        problem = f", problem: {q['problem']}" if q["problem"] else ""
        print(
            f"frame {frame['index']} {frame['file']}: face {q['face_px']} px,"
            f" sharpness {q['sharpness']}, brightness {q['brightness']}, yaw {q['yaw']:+.2f},"
            f" roll {q['roll']:+.1f}, score {q['score']:.2f}{problem}{mark}"
        )
    distance = report["distance"]
    shown = "-" if distance is None else f"{distance:.4f}"
    print(f"distance {shown} (threshold {report['threshold']:.2f})")
    live = report["liveness"]
    if not live["judged"]:
        print(
            f"liveness not judged: a sequence of at least {live['frames_needed']} frames is"
            f" needed, {len(report['frames'])} given"
        )
    elif live["passed"]:
        print(f"liveness: passed as a sequence (gestures: {', '.join(live['gestures'])})")
    else:
        print(f"liveness: FAILED ({live['reason']})")
    words = {
        "match": "MATCH",
        "no_match": "NO MATCH",
        "no_face": "NO MATCH (no face in the live images)",
        "liveness_failed": "NOT VERIFIED (the face matches but liveness failed)",
    }
    print(f"decision: {words[report['decision']]}")
    return code


def _usage(message: str) -> int:
    print(f"allhours face verify: {message}", file=sys.stderr)
    return 2
