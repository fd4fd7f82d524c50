"""The command line: `python3 -m scripts.meshy_server --port 8765` (from the repository root)."""

from __future__ import annotations

import argparse
import ssl
import time

from .faults import FAULT_DEFAULTS
from .followups import HELP as FOLLOWUPS_HELP
from .server import MeshyServer

HELP_EPILOG = """\
Accounts:
  The test-mode key msy_dummy_api_key_for_test_mode_12345678 always works and is never
  charged (balance 1000000, or --test-key-credits N; it gets 402 only if N is below the
  task price). Extra accounts: --key KEY=CREDITS (repeatable). Other keys -> 401.
  Credits per task: meshy-6/latest 30 textured, 20 untextured; meshy-5 15 / 5.
  FAILED and CANCELED (deleted while running) tasks are refunded (consumed_credits 0).

Failure triggers:
  A texture_prompt containing "[fail:<type>]" makes the task FAILED at half its time, e.g.
  [fail:moderation_blocked], [fail:image_too_complex], [fail:unsupported_format],
  [fail:image_url_not_accessible], [fail:internal_error]; any other <type> (a-z0-9_) works
  with a generic message. task_error = {"type": <type>, "code": <type>, "message": ...}.

Inputs:
  Images are data URIs (data:image/png|jpeg|jpg;base64,...) checked by magic bytes, or
  http(s) URLs pointing at this server (/files/<name> hosted via MeshyServer.add_file, or
  /assets/... of another task). Other URLs -> 400 "Unreachable URL".
  input_task_id must name a SUCCEEDED task of the same account (its first image is reused).

Outputs (built from each task's own request on first download):
  model.glb (input photo embedded as baseColorTexture, PBR maps when enable_pbr; the
  mesh is the photo's silhouette inflated into a closed relief when the PNG has an alpha
  channel with see-through pixels, else a rounded pillow), model.obj + model.mtl, model.stl,
  model.3mf, pre_remeshed_model.glb,
  texture_0.png|jpg (input image as sent), texture_0_{metallic,roughness,normal,emission}.png,
  preview.png, thumbnail_{front,right,back,left}.png, alpha_thumbnail.png are real files.
  model.fbx and model.usdz are small PLACEHOLDER text files.

TLS: --tls-cert FILE --tls-key FILE (PEM) serve https://; every link handed out is https too.

Control (no auth): GET /_control/stats, GET|POST /_control/faults, POST /_control/reset,
  POST /_control/tasks/<id> {"status"|"progress"|"expires_at"|"task_error"|"preceding_tasks"}.
Benchmark: GET /_bench/blob/<size>[k|m|g] deterministic bytes, Range supported.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m scripts.meshy_server",
        description="Local Meshy-compatible Image to 3D / Multi-Image to 3D API server.",
        epilog=HELP_EPILOG + FOLLOWUPS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--task-seconds", type=float, default=20.0, help="create -> SUCCEEDED duration")
    p.add_argument("--key", action="append", default=[], metavar="KEY=CREDITS", help="extra account")
    p.add_argument("--rps", type=float, default=None, help="requests/second per account (429)")
    p.add_argument("--queue", type=int, default=None, help="max unfinished tasks per account (429)")
    p.add_argument("--expires-seconds", type=float, default=3 * 24 * 3600, help="asset link lifetime")
    p.add_argument("--test-key-credits", type=int, default=None, help="reported test-key balance")
    p.add_argument("--keepalive-seconds", type=float, default=10.0, help="SSE keep-alive re-send period")
    p.add_argument("--verbose", action="store_true", help="log requests (API keys masked)")
    t = p.add_argument_group("TLS (both flags: serve https://)")
    t.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain of the server")
    t.add_argument("--tls-key", metavar="FILE", help="PEM private key of that certificate")
    f = p.add_argument_group("faults (counters decrement as used)")
    f.add_argument("--reset-connections", type=int, default=0, metavar="N", help="RST next N API/asset requests")
    f.add_argument("--http-5xx", type=int, default=0, metavar="N", help="next N API requests -> 503")
    f.add_argument("--rate-limit", type=int, default=0, metavar="N", help="next N API requests -> 429")
    f.add_argument("--retry-after", type=int, default=1, metavar="S", help="Retry-After seconds for 429")
    f.add_argument("--queue-full", type=int, default=0, metavar="N", help="next N creates -> 429 queue full")
    f.add_argument("--slow-ms", type=int, default=0, metavar="M", help="delay every response by M ms")
    f.add_argument("--truncate-downloads", type=int, default=0, metavar="N", help="cut next N asset bodies")
    f.add_argument("--stream-drop-after", type=int, default=None, metavar="K", help="drop streams after K events")
    f.add_argument("--stream-drops", type=int, default=0, metavar="N", help="how many streams to drop (def. 1)")
    f.add_argument("--no-range", action="store_true", help="asset server ignores Range")
    f.add_argument("--download-bps", type=int, default=0, metavar="B", help="throttle asset bodies")
    f.add_argument("--reset-after-send", type=int, default=0, metavar="N", help="next N creates: charge, then RST")
    f.add_argument("--list-5xx", type=int, default=0, metavar="N", help="next N task-list requests -> 503")
    return p


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together: give both files to serve https://")
    keys = {}
    for item in args.key:
        k, sep, v = item.partition("=")
        keys[k] = int(v) if sep else 1000
    faults = {name: getattr(args, name) for name in FAULT_DEFAULTS}
    faults = {k: v for k, v in faults.items() if v != FAULT_DEFAULTS[k] and v is not None}
    try:
        ctx = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except (OSError, ssl.SSLError) as e:
        parser.error(f"cannot load --tls-cert {args.tls_cert} / --tls-key {args.tls_key}: {e}")
    srv = MeshyServer(
        host=args.host,
        port=args.port,
        task_seconds=args.task_seconds,
        keys=keys,
        rps_limit=args.rps,
        queue_limit=args.queue,
        expires_seconds=args.expires_seconds,
        test_key_credits=args.test_key_credits,
        keepalive_seconds=args.keepalive_seconds,
        verbose=args.verbose,
        ssl_context=ctx,
        **faults,
    )
    srv.start()
    print(f"Meshy-compatible server on {srv.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0
