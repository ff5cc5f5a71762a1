#!/usr/bin/env python3
"""Draws records/s by stage as an SVG bar chart from Google Benchmark JSON files.

    bench/plot_rates.py --out docs/images/tap-rates.svg build/bench/tap_parse.json ...

Every benchmark in the files that reports items_per_second becomes one bar, in the order of the
files and of the benchmarks in them (aggregates such as _mean are used when present, else the
single run). A benchmark named in --reference is drawn in another colour and every other bar is
labelled with its ratio to it, so that the chart shows what docs/benchmarks.md's tables show:
the project against a reference measured in the same run.

Standard library only (the SVG is written by hand), so that it runs on a bare Debian.
"""

import argparse
import html
import json
import sys

BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 330
CHART_WIDTH = 520
MARGIN = 16


def rates(paths):
    """[(name, items_per_second)] over the files, aggregates (_mean) preferred."""
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        runs = [b for b in doc.get("benchmarks", []) if "items_per_second" in b]
        means = {b["run_name"]: b for b in runs if b.get("aggregate_name") == "mean"}
        seen = set()
        for b in runs:
            name = b.get("run_name", b["name"])
            if name in seen or (b.get("run_type") == "aggregate" and b.get("aggregate_name") != "mean"):
                continue
            seen.add(name)
            chosen = means.get(name, b)
            out.append((name, float(chosen["items_per_second"])))
    return out


def svg(bars, reference, title):
    top = max(rate for _, rate in bars)
    ref_rate = dict(bars).get(reference)
    height = 2 * MARGIN + 28 + len(bars) * (BAR_HEIGHT + GAP)
    width = 2 * MARGIN + LABEL_WIDTH + CHART_WIDTH + 150
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="15" font-weight="bold">'
        f"{html.escape(title)}</text>",
    ]
    y = MARGIN + 28
    for name, rate in bars:
        w = max(1.0, CHART_WIDTH * rate / top)
        colour = "#9a9a9a" if name == reference else "#2b6cb0"
        label = f"{rate / 1e6:.2f} M/s"
        if ref_rate and name != reference:
            label += f"  ({rate / ref_rate:.2f}×)"
        parts.append(
            f'<text x="{MARGIN + LABEL_WIDTH - 6}" y="{y + BAR_HEIGHT - 6}" '
            f'text-anchor="end">{html.escape(name)}</text>')
        parts.append(
            f'<rect x="{MARGIN + LABEL_WIDTH}" y="{y}" width="{w:.1f}" '
            f'height="{BAR_HEIGHT}" fill="{colour}"><title>{html.escape(name)}: '
            f"{html.escape(label)}</title></rect>")
        parts.append(
            f'<text x="{MARGIN + LABEL_WIDTH + w + 6:.1f}" y="{y + BAR_HEIGHT - 6}">'
            f"{html.escape(label)}</text>")
        y += BAR_HEIGHT + GAP
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="Google Benchmark --benchmark_out files")
    parser.add_argument("--out", required=True, help="the SVG file to write")
    parser.add_argument("--reference", default="", help="the benchmark the ratios are against")
    parser.add_argument("--title", default="records/s by stage (same run)")
    args = parser.parse_args()
    bars = rates(args.json)
    if not bars:
        sys.exit(f"{args.json}: no benchmark reports items_per_second")
    if args.reference and args.reference not in dict(bars):
        sys.exit(f"--reference {args.reference}: not among the benchmarks "
                 f"({', '.join(name for name, _ in bars)})")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(svg(bars, args.reference, args.title))


if __name__ == "__main__":
    main()
