#!/usr/bin/python3
"""Summarize the wrk rounds of bench/run.sh.

bench/run.sh writes one line per measured wrk round to RESULTS_DIR/rounds.tsv,
and one line per round that it discarded and repeated to discarded.tsv:

    variant  round  wrk_output_file  worker_cpu_ticks  clock_ticks_per_second  other_cpu_percent

worker_cpu_ticks is the user + system time of the nginx worker under test
during the round. other_cpu_percent is the share of one CPU that processes
other than the benchmark's own used on the two benchmark CPUs.

    report.py table RESULTS_DIR [MAX_OTHER_CPU_PERCENT]
        print the per-variant medians and the ratio table, and write them to
        RESULTS_DIR/summary.txt; exit 1 when a round had errors
    report.py missed RESULTS_DIR
        print "variant reference" for each comparison that missed its target
    report.py callgrind RESULTS_DIR REQUESTS
        summarize the callgrind dumps of bench/callgrind.sh: instructions per
        request by variant and by object file, and the functions whose
        instruction counts differ most between the variants of a comparison;
        writes RESULTS_DIR/callgrind-summary.txt
"""

import re
import statistics
import sys
from pathlib import Path

VARIANTS = {
    "A": "neonpro_data_class patient",
    "B": "add_header ... always",
    "C": "header_filter_by_lua_block",
    "D": "neonpro_agent_pass (json)",
    "E": "proxy_pass, HTTP/1.1 keepalive",
    "F": "no authentication",
    "G": "neonpro_auth_jwt RS256, cache",
    "H": "neonpro_auth_jwt RS256, cache 0",
}

# (name, variant, reference variant, minimum ratio of the median requests/s).
# A comparison whose minimum is None has no target: its ratio is only
# reported, and it is never profiled as missed.
COMPARISONS = [
    ("lgpd vs add_header", "A", "B", 0.97),
    ("lgpd vs lua", "A", "C", 1.15),
    ("agent_pass vs proxy_pass", "D", "E", 0.95),
    ("jwt cached vs none", "G", "F", 0.90),
    ("jwt uncached vs none", "H", "F", None),
]

DEFAULT_MAX_OTHER_CPU_PERCENT = 10

UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_wrk(text):
    """Return the request count, duration, requests/s, errors and p99 of one wrk output."""
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not total or not rate:
        raise ValueError("no 'N requests in T' and 'Requests/sec:' lines")

    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket:
        errors += sum(int(count) for count in socket.groups())

    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)

    return {
        "requests": int(total.group(1)),
        "seconds": float(total.group(2)) * UNIT_SECONDS[total.group(3)],
        "rate": float(rate.group(1)),
        "errors": errors,
        "p99": float(p99.group(1)) * UNIT_SECONDS[p99.group(2)] if p99 else None,
    }


def load_rounds(results_dir, name):
    """Return {variant: [round, ...]} read from one TSV file and its wrk outputs."""
    rounds = {}
    tsv = results_dir / name
    if not tsv.exists():
        return rounds
    for line_number, line in enumerate(tsv.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 6:
            raise SystemExit(f"{tsv}:{line_number}: expected 6 tab-separated fields, got {line!r}")
        variant, round_number, wrk_file, ticks, ticks_per_second, other_percent = fields
        wrk_path = results_dir / wrk_file
        try:
            result = parse_wrk(wrk_path.read_text())
        except ValueError as error:
            raise SystemExit(f"{wrk_path}: invalid wrk output: {error}")
        cpu_seconds = int(ticks) / int(ticks_per_second)
        result["round"] = int(round_number)
        result["wrk_file"] = wrk_file
        result["cpu_us_per_request"] = cpu_seconds / max(result["requests"], 1) * 1e6
        result["cpu_share"] = cpu_seconds / result["seconds"]
        result["other_percent"] = int(other_percent)
        rounds.setdefault(variant, []).append(result)
    return rounds


def median_rate(rounds, variant):
    return statistics.median(r["rate"] for r in rounds[variant])


def median_cpu(rounds, variant):
    return statistics.median(r["cpu_us_per_request"] for r in rounds[variant])


def compared(rounds):
    """Yield (name, variant, reference, target, ratio) for each comparison with data."""
    for name, variant, reference, target in COMPARISONS:
        if variant in rounds and reference in rounds:
            ratio = median_rate(rounds, variant) / median_rate(rounds, reference)
            yield name, variant, reference, target, ratio


def variant_lines(rounds, discarded):
    lines = [
        "variant  what                            median req/s  worker us/req  worker CPU"
        "  p99 ms  other CPU max  repeated  req/s of each round"
    ]
    for variant in sorted(rounds):
        results = sorted(rounds[variant], key=lambda r: r["round"])
        p99 = [r["p99"] for r in results if r["p99"] is not None]
        p99_text = f"{statistics.median(p99) * 1e3:6.2f}" if p99 else "     -"
        other = max(r["other_percent"] for r in results)
        each = " ".join(f"{r['rate']:.0f}" for r in results)
        lines.append(
            f"{variant:<8} {VARIANTS.get(variant, '?'):<31} {median_rate(rounds, variant):>12.0f}"
            f"  {median_cpu(rounds, variant):>13.2f}"
            f"  {statistics.median(r['cpu_share'] for r in results):>10.0%}"
            f"  {p99_text}  {other:>12.0f}%  {len(discarded.get(variant, [])):>8}  {each}"
        )
    return lines


def comparison_lines(rounds):
    # The CPU ratio compares the worker's CPU time per request. It is the
    # ratio of requests/s that the variants would reach if the nginx worker
    # alone limited the rate, and load from other processes moves it less.
    lines = [f"{'comparison':<26}{'median req/s':<20}{'ratio':<8}{'target':<10}{'result':<8}cpu ratio"]
    for name, variant, reference, target, ratio in compared(rounds):
        medians = f"{median_rate(rounds, variant):.0f} / {median_rate(rounds, reference):.0f}"
        if target is None:
            target_text, result = "none", "-"
        else:
            target_text = ">= " + format(target, ".2f")
            result = "met" if ratio >= target else "MISSED"
        cpu_ratio = median_cpu(rounds, reference) / median_cpu(rounds, variant)
        lines.append(
            f"{name:<26}{medians:<20}{ratio:<8.3f}{target_text:<10}{result:<8}{cpu_ratio:.3f}"
        )
    return lines


def print_table(results_dir, max_other_percent):
    rounds = load_rounds(results_dir, "rounds.tsv")
    discarded = load_rounds(results_dir, "discarded.tsv")
    lines = variant_lines(rounds, discarded) + [""] + comparison_lines(rounds)

    disturbed = [
        f"{variant} round {r['round']}: other processes used {r['other_percent']}% of a CPU"
        for variant, results in sorted(rounds.items())
        for r in results
        if r["other_percent"] > max_other_percent
    ]
    if disturbed:
        lines.append("")
        lines.append("Rounds kept although other processes were busy (the repeat budget was spent):")
        lines.extend("  " + text for text in disturbed)

    failed = [
        f"{variant} round {r['round']}: {r['errors']} errors (see {r['wrk_file']})"
        for variant, results in sorted(rounds.items())
        for r in results
        if r["errors"]
    ]
    if failed:
        lines.append("")
        lines.append("Rounds with non-2xx responses or socket errors; their numbers are not comparable:")
        lines.extend("  " + text for text in failed)

    text = "\n".join(lines) + "\n"
    (results_dir / "summary.txt").write_text(text)
    sys.stdout.write(text)
    return 1 if failed else 0


def print_missed(results_dir):
    for _name, variant, reference, target, ratio in compared(load_rounds(results_dir, "rounds.tsv")):
        if target is not None and ratio < target:
            print(variant, reference)
    return 0


def read_callgrind_self_costs(path):
    """Return {(object, function): self instructions} of one callgrind dump.

    The format is the Valgrind manual's "Callgrind Format Specification"
    (/usr/share/doc/valgrind/html/cl-format.html on Debian). "fn=" and "ob="
    set the current function and object, with "(id) name" name compression.
    The cost line after "calls=" is the inclusive cost of a call, so it does
    not count toward the caller's own cost.
    """
    names = {"ob": {}, "fl": {}, "fn": {}}
    namespace = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl",
                 "cfi": "fl", "cfl": "fl", "fn": "fn", "cfn": "fn"}
    costs = {}
    current = {"ob": "?", "fn": "?"}
    skip_next_cost = False

    def resolve(key, value):
        table = names[namespace[key]]
        match = re.match(r"\((\d+)\)(?: (.*))?$", value)
        if not match:
            return value
        if match.group(2) is not None:
            table[match.group(1)] = match.group(2)
        return table.get(match.group(1), value)

    with open(path, errors="replace") as dump:
        for line in dump:
            line = line.rstrip("\n")
            key, sep, value = line.partition("=")
            if sep and key in namespace:
                name = resolve(key, value)
                if key in ("ob", "fn"):
                    current[key] = name
                continue
            if line.startswith("calls="):
                skip_next_cost = True
                continue
            if not line or not (line[0].isdigit() or line[0] in "+-*"):
                continue
            fields = line.split()
            if skip_next_cost:
                skip_next_cost = False
                continue
            if len(fields) > 1:
                item = (current["ob"].rsplit("/", 1)[-1], current["fn"])
                costs[item] = costs.get(item, 0) + int(fields[1])
    return costs


def print_callgrind(results_dir, requests):
    per_variant = {}
    for path in sorted(results_dir.glob("callgrind.out.*")):
        trigger = re.search(r"Trigger: .*variant-(\w+)", path.read_text(errors="replace")[:4000])
        if trigger:
            per_variant[trigger.group(1)] = read_callgrind_self_costs(path)
    if not per_variant:
        raise SystemExit(f"no callgrind dumps named variant-* found in {results_dir}")

    lines = ["instructions per request (callgrind Ir, user space only)", ""]
    lines.append(f"{'variant':<8}{'what':<32}{'total':>8}  by object file")
    for variant in sorted(per_variant):
        by_object = {}
        for (obj, _function), cost in per_variant[variant].items():
            by_object[obj] = by_object.get(obj, 0) + cost
        total = sum(by_object.values()) / requests
        objects = ", ".join(
            f"{obj} {cost / requests:.0f}"
            for obj, cost in sorted(by_object.items(), key=lambda item: -item[1])
            if cost / requests >= 50
        )
        lines.append(f"{variant:<8}{VARIANTS.get(variant, '?'):<32}{total:>8.0f}  {objects}")

    for name, variant, reference, _target in COMPARISONS:
        if variant not in per_variant or reference not in per_variant:
            continue
        mine, theirs = per_variant[variant], per_variant[reference]
        differences = sorted(
            ((mine.get(item, 0) - theirs.get(item, 0)) / requests, item)
            for item in set(mine) | set(theirs)
        )
        lines.append("")
        lines.append(f"{name}: functions with the largest difference, instructions per request")
        lines.append(f"  {variant + ' - ' + reference:>9}  {variant:>6}  {reference:>6}  function (object)")
        largest = sorted(differences, key=lambda entry: -abs(entry[0]))[:12]
        for difference, item in largest:
            lines.append(
                f"  {difference:>+9.0f}  {mine.get(item, 0) / requests:>6.0f}"
                f"  {theirs.get(item, 0) / requests:>6.0f}  {item[1]} ({item[0]})"
            )

    text = "\n".join(lines) + "\n"
    (results_dir / "callgrind-summary.txt").write_text(text)
    sys.stdout.write(text)
    return 0


def main(argv):
    usage = (
        "usage: report.py table RESULTS_DIR [MAX_OTHER_CPU_PERCENT]\n"
        "       report.py missed RESULTS_DIR\n"
        "       report.py callgrind RESULTS_DIR REQUESTS\n"
    )
    if len(argv) < 3 or argv[1] not in ("table", "missed", "callgrind"):
        sys.stderr.write(usage)
        return 2
    results_dir = Path(argv[2])
    if argv[1] == "missed":
        return print_missed(results_dir)
    if argv[1] == "callgrind":
        if len(argv) != 4:
            sys.stderr.write(usage)
            return 2
        return print_callgrind(results_dir, int(argv[3]))
    max_other_percent = int(argv[3]) if len(argv) > 3 else DEFAULT_MAX_OTHER_CPU_PERCENT
    return print_table(results_dir, max_other_percent)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
