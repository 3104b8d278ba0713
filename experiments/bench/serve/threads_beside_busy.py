"""`safrl serve` beside a CPU-busy process: samples/s of `safrl bench --endpoint` with
runtime.omp_wait_policy passive against active, at runtime.threads 1 and 2 (or --threads).

    .venv/bin/python experiments/bench/serve/threads_beside_busy.py [--rounds 3] [--busy N]
        [--threads 1,2]

A trainer beside the reward server keeps every core busy. libgomp's idle threads spin (active)
or sleep (passive); when the server's threads outnumber the cores left free, spinning threads
take the cores the working ones need. This starts --busy spinning Python processes (default: one
per core), then for each round runs every variant once, in an order rotated from round to round
(alternating, so a change in the machine's load falls on every variant alike): a fresh server on
the embedded random-weight models (experiments/bench/embedded.yaml) with the variant's runtime
section, one `safrl bench --endpoint` against it, the server stopped. Prints one JSON line per
run, then the medians of samples/s per variant and their ratios to passive at the same threads,
and the load average before and after (the machine may be shared). --busy 0 measures the quiet
machine.
"""
import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

SOURCE = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))  # the clone


def spin():
    while True:
        pass


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().strip()


def write_config(directory, policy, threads):
    path = os.path.join(directory, f"serve-{policy}-{threads}.yaml")
    embedded = os.path.join(SOURCE, "build", "embedded")
    with open(path, "w") as f:
        f.write(f"guard: {{model: {embedded}/guard}}\n"
                f"helpfulness: {{model: {embedded}/reward, chat_format: qwen3}}\n"
                f"runtime: {{threads: {threads}, omp_wait_policy: {policy}}}\n")
    return path


def clean_environment():
    """Without the variables that would override the config's policy or thread count."""
    env = dict(os.environ)
    for variable in ("OMP_WAIT_POLICY", "SAFRL_OMP_WAIT_POLICY_SET", "GOMP_SPINCOUNT",
                     "OMP_NUM_THREADS"):
        env.pop(variable, None)
    return env


def run_one(args, directory, policy, threads):
    endpoint = f"ipc://{directory}/serve.sock"
    log_path = os.path.join(directory, f"serve-{policy}-{threads}.log")
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [args.safrl, "serve", "--config", write_config(directory, policy, threads),
             "--endpoint", endpoint, "--run-dir", os.path.join(directory, "run")],
            stdout=log, stderr=subprocess.STDOUT, env=clean_environment())
    try:
        deadline = time.monotonic() + 120
        while "listening on" not in open(log_path).read():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"safrl serve did not start:\n{open(log_path).read()}")
            time.sleep(0.1)
        bench = subprocess.run(
            [args.safrl, "bench", "--endpoint", endpoint, "--prompts", str(args.prompts),
             "--group", str(args.group), "--seed", "1"],
            capture_output=True, text=True, check=True, timeout=args.timeout)
        result = json.loads(bench.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=60)
    started = [line for line in open(log_path) if "CPU threads:" in line]
    return {"policy": policy, "threads": threads, "samples_per_s": result["samples_per_s"],
            "seconds": result["seconds"], "latency_p50_s": result["latency_p50_s"],
            "server_line": started[0].split(" INFO ", 1)[-1].strip() if started else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--safrl", default=os.path.join(SOURCE, "build", "src", "cli", "safrl"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", type=int, default=os.cpu_count(),
                        help="spinning processes beside the server (default: one per core)")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per bench run")
    parser.add_argument("--threads", default="1,2", help="runtime.threads values, comma-separated")
    parser.add_argument("--out", help="also write the runs and medians to this JSON file")
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    variants = [(policy, t) for t in thread_counts for policy in ("passive", "active")]

    busy = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for process in busy:
        process.start()
    load_before = loadavg()
    runs = []
    try:
        with tempfile.TemporaryDirectory() as directory:
            for round_index in range(args.rounds):
                shift = round_index % len(variants)
                for policy, threads in variants[shift:] + variants[:shift]:
                    run = run_one(args, directory, policy, threads)
                    run["round"] = round_index
                    print(json.dumps(run), flush=True)
                    runs.append(run)
    finally:
        for process in busy:
            process.terminate()
    medians = {}
    for policy, threads in variants:
        rates = [r["samples_per_s"] for r in runs
                 if (r["policy"], r["threads"]) == (policy, threads)]
        medians[f"{policy}/{threads}"] = statistics.median(rates)
    summary = {
        "busy_processes": args.busy, "cores": os.cpu_count(), "rounds": args.rounds,
        "workload": f"{args.prompts} prompts x {args.group}",
        "median_samples_per_s": medians,
        "passive_over_active": {
            f"threads {t}": medians[f"passive/{t}"] / medians[f"active/{t}"]
            for t in thread_counts},
        "loadavg_before": load_before, "loadavg_after": loadavg(),
    }
    print(json.dumps(summary), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"runs": runs, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
