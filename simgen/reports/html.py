"""The pieces every simgen HTML page shares: style, tables, sections, embedded data, and
the on-load check that each figure rendered (for headless-browser tests)."""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

import numpy as np

from simgen.reports import svg

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;
max-width:1180px;padding:0 16px;color:#222}
h1{font-size:24px;margin-bottom:4px}h2{border-bottom:1px solid #ccc;padding-bottom:3px;
margin-top:36px}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.figures{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
svg.figure{font:11px system-ui,sans-serif;background:#fff;border:1px solid #eee}
figure.thumb{margin:0;font-size:12px;color:#555}figure.thumb img{display:block}
.note{color:#666;font-size:13px}.low{color:#b03a2e;font-weight:bold}
nav a{margin-right:12px}td.text{text-align:left}tr.regressed td{background:#fbe3e0}
"""

#: Runs on load: every figure must be drawn, its result goes on <body> for headless checks.
CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var figures = document.querySelectorAll("svg.figure, img");
  var ok = 0, failed = [];
  figures.forEach(function (el, i) {
    var good;
    if (el.tagName.toLowerCase() === "img") {
      good = el.complete && el.naturalWidth > 0;
    } else {
      var box = el.getBoundingClientRect();
      var drawn = Array.prototype.some.call(el.querySelectorAll(".mark"), function (m) {
        var b = m.getBBox(); return b.width > 0 || b.height > 0;
      });
      good = box.width > 0 && box.height > 0 && drawn;
    }
    if (good) { ok += 1; } else { failed.push(el.getAttribute("data-name") || el.alt || i); }
  });
  document.body.setAttribute("data-figures", String(figures.length));
  document.body.setAttribute("data-figures-ok", String(ok));
  document.body.setAttribute("data-figures-failed", failed.join(" "));
});
"""


def table(headers: list[str], rows: list[list[Any]],
          row_classes: list[str] | None = None) -> str:
    """An HTML table: numbers right-aligned, text left; ``row_classes`` styles rows."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        (f'<tr class="{row_classes[i]}">' if row_classes and row_classes[i] else "<tr>")
        + "".join(f"<td>{cell(v)}</td>" if isinstance(v, int | float | np.number)
                  and not isinstance(v, bool) else f'<td class="text">{cell(v)}</td>'
                  for v in row) + "</tr>"
        for i, row in enumerate(rows))
    return f"<table><tr>{head}</tr>{body}</table>"


def cell(value: Any) -> str:
    """A table cell's text: yes/no, a short number, or escaped text."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | float | np.integer | np.floating):
        return svg.number_text(float(value))
    return escape(str(value))


def section(anchor: str, title: str, intro: str, body: str) -> str:
    """A ``<section>`` with its heading, a sentence on what it shows, and its content."""
    return (f'<section id="{anchor}" data-section="{anchor}"><h2>{escape(title)}</h2>'
            f'<p>{intro}</p>\n{body}\n</section>')


def plain(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python numbers, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def document(title: str, heading: str, nav: list[tuple[str, str]], sections: list[str],
             data: dict[str, Any], data_id: str) -> str:
    """A whole self-contained page: style, heading, links to the sections, the sections,
    ``data`` as JSON in ``<script type="application/json" id=data_id>``, and the check."""
    links = "".join(f'<a href="#{anchor}">{escape(text)}</a>' for anchor, text in nav)
    embedded = json.dumps(plain(data), sort_keys=True, allow_nan=False,
                          separators=(",", ":")).replace("</", "<\\/")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
            f"<h1>{escape(heading)}</h1><nav>{links}</nav>\n" + "\n".join(sections) +
            f'\n<script type="application/json" id="{data_id}">{embedded}</script>\n'
            f"<script>{CHECK_SCRIPT}</script>\n</body></html>\n")
