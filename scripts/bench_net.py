"""The network half of scripts/bench.py (plain Python, no Blender): one measurement per process.

    python3 scripts/bench_net.py latency '{"url": ..., "how": "engine-stream"|"engine-fallback"|"client-poll"}'
    python3 scripts/bench_net.py download '{"url": ..., "dest": ...}'

latency   section 3: the server (a `python3 -m scripts.meshy_server` process with long tasks) is told to mark each
          task SUCCEEDED at a chosen moment (POST /_control/tasks/<id>); the figure is the moment the add-on
          noticed minus the task's finished_at as the server reports it. "engine-*" run the add-on's job
          engine (noticed = the SUCCEEDED event reaching the main-thread side through poll_events);
          "client-poll" calls MeshyClient.watch's polling path directly (no stream at all).
download  section 4: meshy.download() of one URL in this fresh process: seconds, and the peak RSS growth
          (VmHWM reset through /proc/self/clear_refs before, read after; ru_maxrss as a cross-check).
Each prints one line `BENCH-JSON {...}`.
"""

from __future__ import annotations

import base64
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KEY = "msy_dummy_api_key_for_test_mode_12345678"
KIND = "image-to-3d"
WAIT_ROUTES = ("stream", "retrieve", "list")


def emit(result: dict) -> None:
    print("BENCH-JSON " + json.dumps(result), flush=True)


def control(url: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def tiny_png(size: int = 64) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    raw = b"".join(b"\x00" + bytes((x * 4) % 256 for x in range(size * 3)) for _ in range(size))
    ihdr = size.to_bytes(4, "big") * 2 + bytes((8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def wait_routes(url: str) -> dict:
    by_route = control(url, "/_control/stats")["requests_by_route"]
    return {r: by_route.get(r, 0) for r in WAIT_ROUTES}


def summary(latencies: list[float], requests: dict, tasks: int, **extra) -> dict:
    per_task = sum(requests.values()) / tasks
    return {
        "tasks": tasks,
        "latency_s": [round(x, 4) for x in latencies],
        "median_s": round(statistics.median(latencies), 4),
        "mean_s": round(statistics.fmean(latencies), 4),
        "max_s": round(max(latencies), 4),
        "requests_by_route": requests,
        "requests_per_task": round(per_task, 2),
        **extra,
    }


def latency_engine(url: str, tasks: int, delays: list[float], fallback: bool) -> dict:
    from meshy_blender.jobs import JobEngine, JobSpec, JobState, UploadImage
    from meshy_blender.meshy.client import MeshyClient

    control(url, "/_control/reset", {})
    if fallback:  # every stream breaks before its first event: the client falls back to polling
        control(url, "/_control/faults", {"stream_drop_after": 0, "stream_drops": 1_000_000})
    before = wait_routes(url)
    tmp = Path(tempfile.mkdtemp(prefix="meshy-bench-engine-"))
    eng = JobEngine(tmp / "journal", tmp / "library", lambda: MeshyClient(KEY, url), max_concurrent=tasks)
    png = tiny_png()
    ids = [eng.submit(JobSpec(kind=KIND, images=[UploadImage(f"t{i}.png", "image/png", png)], label=f"t{i}"))
           for i in range(tasks)]
    order = {job_id: i for i, job_id in enumerate(ids)}
    task_of, seen_at, forced, noticed = {}, {}, set(), {}
    after_states = {JobState.SUCCEEDED, JobState.DOWNLOADING, JobState.READY}
    deadline = time.monotonic() + 120
    while len(noticed) < tasks and time.monotonic() < deadline:
        for event in eng.poll_events(max_events=256, timeout=0.005):
            view = event.view
            if view.task_id and event.job_id not in seen_at:
                task_of[event.job_id], seen_at[event.job_id] = view.task_id, time.monotonic()
            if view.state in after_states and event.job_id not in noticed:
                noticed[event.job_id] = time.time()
            if view.state in (JobState.ERROR, JobState.FAILED):
                raise SystemExit(f"job failed: {view.error}")
        now = time.monotonic()
        for job_id, t in seen_at.items():
            if job_id not in forced and now >= t + delays[order[job_id]]:
                control(url, f"/_control/tasks/{task_of[job_id]}", {"status": "SUCCEEDED"})
                forced.add(job_id)
    after = wait_routes(url)
    eng.shutdown(wait=False)
    if len(noticed) < tasks:
        raise SystemExit(f"only {len(noticed)} of {tasks} tasks were noticed")
    client = MeshyClient(KEY, url)
    latencies = [noticed[j] - client.retrieve(KIND, task_of[j]).finished_at / 1000.0 for j in ids]
    control(url, "/_control/reset", {})
    return summary(latencies, {r: after[r] - before[r] for r in WAIT_ROUTES}, tasks,
                   how="engine, streams failing -> polling" if fallback else "engine, SSE stream")


def latency_client_poll(url: str, tasks: int, delays: list[float]) -> dict:
    from meshy_blender.meshy.client import MeshyClient

    control(url, "/_control/reset", {})
    uri = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    before = wait_routes(url)
    results: dict[int, tuple[str, float]] = {}
    created: dict[int, tuple[str, float]] = {}
    errors: list[BaseException] = []

    def follow(i: int) -> None:
        try:
            client = MeshyClient(KEY, url)
            task_id = client.create(KIND, {"image_url": uri})
            created[i] = (task_id, time.monotonic())
            noticed: list[float] = []

            def on_update(task):
                if task.status == "SUCCEEDED" and not noticed:
                    noticed.append(time.time())

            client.watch(KIND, task_id, on_update=on_update, poll_interval=5.0, stream_failures_before_polling=0)
            results[i] = (task_id, noticed[0])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=follow, args=(i,), daemon=True) for i in range(tasks)]
    for t in threads:
        t.start()
    forced: set[int] = set()
    deadline = time.monotonic() + 120
    while len(results) + len(errors) < tasks and time.monotonic() < deadline:
        now = time.monotonic()
        for i, (task_id, t) in list(created.items()):
            if i not in forced and now >= t + delays[i]:
                control(url, f"/_control/tasks/{task_id}", {"status": "SUCCEEDED"})
                forced.add(i)
        time.sleep(0.005)
    if errors or len(results) < tasks:
        raise SystemExit(f"polling run failed: {errors[:1] or 'timeout'}")
    after = wait_routes(url)
    client = MeshyClient(KEY, url)
    latencies = [results[i][1] - client.retrieve(KIND, results[i][0]).finished_at / 1000.0 for i in range(tasks)]
    control(url, "/_control/reset", {})
    return summary(latencies, {r: after[r] - before[r] for r in WAIT_ROUTES}, tasks,
                   how="client.watch polling path (5 s, x1.5 up to 20 s)")


def mode_latency(args: dict) -> dict:
    tasks = args.get("tasks", 8)
    # Success forced 2 .. 12 s after the task id is known, spread evenly: durations vary, as real ones do.
    delays = [2.0 + 10.0 * i / tasks for i in range(tasks)]
    if args["how"] == "client-poll":
        out = latency_client_poll(args["url"], tasks, delays)
    else:
        out = latency_engine(args["url"], tasks, delays, fallback=args["how"] == "engine-fallback")
    out["success_after_s"] = delays
    return out


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def mode_download(args: dict) -> dict:
    import meshy_blender.meshy.download as dl

    dest = Path(args["dest"])
    fsync_s = [0.0]
    real_fsync = dl.os.fsync

    def timed_fsync(fd):  # to tell the durability cost apart from the transfer
        t0 = time.perf_counter()
        try:
            return real_fsync(fd)
        finally:
            fsync_s[0] += time.perf_counter() - t0

    dl.os.fsync = timed_fsync
    dest.unlink(missing_ok=True)
    calls = [0]

    def progress(done, total):  # what the engine passes: a callback per chunk
        calls[0] += 1

    rss_before = _status_kb("VmRSS")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reset = False
    try:
        with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS
            f.write("5")
        reset = True
    except OSError:
        pass
    t0 = time.perf_counter()
    dl.download(args["url"], dest, progress=progress)
    seconds = time.perf_counter() - t0
    hwm = _status_kb("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = dest.stat().st_size
    if not args.get("keep"):
        dest.unlink()
    return {
        "bytes": size,
        "seconds": seconds,
        "mb_per_s": size / seconds / 1e6,
        "rss_before_kb": rss_before,
        "hwm_after_kb": hwm,
        "hwm_reset": reset,
        "growth_kb": (hwm - rss_before) if reset else (maxrss - rss_before),
        "maxrss_growth_kb": maxrss - max(maxrss_before, rss_before),
        "progress_calls": calls[0],
        "fsync_s": fsync_s[0],
        "mb_per_s_without_fsync": size / (seconds - fsync_s[0]) / 1e6,
    }


def main() -> int:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    emit({"latency": mode_latency, "download": mode_download}[mode](args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
