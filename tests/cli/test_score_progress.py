"""`safrl score`'s progress on stderr: in a log (not a terminal), one line at each 10% of the work
and a final line; on a terminal (a pseudo-terminal here), one line redrawn in place at least once a
second, also while a chunk is being scored."""
import os
import pty
import re
import select
import subprocess

from embedded import SAFRL, make_input, write_config

RATE = r"[\d.]+ (?:samples/s|s/sample)"
DURATION = r"\d+m\d\ds"


def test_a_log_gets_a_line_at_each_ten_percent_and_a_final_line(tmp_path):
    inp, out = make_input(tmp_path), tmp_path / "out.jsonl"
    proc = subprocess.run([SAFRL, "score", "--config", str(write_config(tmp_path)), "--input",
                           str(inp), "--output", str(out), "--chunk", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    steps = [re.fullmatch(rf"safrl score: (\d+)/24 (\d+)%, {RATE}, {DURATION} elapsed, "
                          rf"{DURATION} left", line)
             for line in proc.stderr.splitlines() if re.match(r"safrl score: \d+/24 ", line)]
    finals = [line for line in proc.stderr.splitlines()
              if re.fullmatch(rf"safrl score: 24/24 100% in {DURATION}, {RATE}", line)]
    steps = [m for m in steps if m]
    # The first count past each 10% (3/24 = 12%, 5/24 = 20%, 8/24 = 33%, ...), then the final line.
    assert [(int(m[1]), int(m[2])) for m in steps] == [
        (3, 12), (5, 20), (8, 33), (10, 41), (12, 50), (15, 62), (17, 70), (20, 83), (22, 91)]
    assert len(finals) == 1
    lines = proc.stderr.splitlines()
    assert lines.index(finals[0]) == lines.index(steps[-1][0]) + 1


def read_terminal(command):
    """Runs `command` with stderr on a pseudo-terminal; returns its exit code and what it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave)
    os.close(slave)
    written = b""
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        assert ready, "no output for 300 s"
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        written += data
    os.close(master)
    return proc.wait(timeout=60), written


def test_a_terminal_gets_one_line_redrawn_at_least_every_second(tmp_path):
    inp, out = make_input(tmp_path, n=64), tmp_path / "out.jsonl"
    # One chunk: nothing is counted until the end, so every redraw before it is the clock's.
    code, written = read_terminal([SAFRL, "score", "--config", str(write_config(tmp_path)),
                                  "--input", str(inp), "--output", str(out), "--chunk", "64"])
    # The terminal writes each "\n" as "\r\n"; undone, the text is what safrl wrote.
    text = written.decode().replace("\r\n", "\n")
    assert code == 0, text
    frames = text.split("\r")[1:]
    waiting = [re.fullmatch(rf"\[\.{{20}}\] 0/64 0%, (\d+)m(\d\d)s elapsed\x1b\[K", frame)
               for frame in frames[:-1]]
    assert all(waiting), frames
    seconds = [int(m[1]) * 60 + int(m[2]) for m in waiting]
    # Drawn at once, then again every half second, in order. A loaded machine may run the ticker
    # a second late, so a gap of 2 s is allowed here; the exact rule (a redraw at least every
    # second) rests on the ticker's half-second period; what each tick draws is checked on a fake
    # clock in tests/cli/progress_test.cpp (OneLineRedrawnInPlaceAtEveryCountAndTick).
    assert seconds[0] == 0 and len(seconds) >= 2
    assert all(0 <= b - a <= 2 for a, b in zip(seconds, seconds[1:])), seconds
    final, *after = frames[-1].split("\n")
    assert re.fullmatch(rf"\[#{{20}}\] 64/64 100% in {DURATION}, {RATE}\x1b\[K", final), final
    # The step rows (and the monitors' alert lines: the demo guard's fallbacks and unparseable
    # outputs raise some) and the summary follow on lines of their own.
    *rows, summary, last = after
    assert len([line for line in rows if line.startswith("step ")]) == 8
    alert = r" WARN score: step \d+: alert [a-z_]+: "
    assert all(line.startswith("step ") or re.search(alert, line) for line in rows), rows
    assert summary.startswith("safrl score: 64 scored, 0 resumed, 0 failed; ") and last == ""
