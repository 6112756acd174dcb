"""The inline style and script of the ``--html`` page (no external assets, no network).

The page reads fully without the script: it only adds conveniences on top
of the server-rendered content, and proves it ran by its marks:

- ``<nav id="toc">`` gets one link per pass section (``a.toc-link``, with
  the pass's rewrite and near-miss counts);
- each ``.diff`` gets a show/hide button (``button.diff-toggle``);
- a checkbox (``#only-changed``) hides the passes that left the IR as it was;
- ``<body>`` gets ``data-ready="true"`` and ``data-passes="N"`` (the number
  of pass sections it found) when all of that succeeded, or
  ``data-ready="error: ..."`` if the script failed.

The script uses only ``textContent`` and element creation, never
``innerHTML``, so nothing from the model can become markup.
"""

from __future__ import annotations

STYLE = """
:root { --fg: #1d1f21; --muted: #666; --line: #ddd; --add: #e6ffec; --del: #ffebe9;
        --add-mark: #1a7f37; --del-mark: #cf222e; --fused: #ffd27f; --miss: #fff8c5; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); margin: 0 auto;
       max-width: 1200px; padding: 1rem 2rem 4rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
code, pre, .code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
.muted, .loc { color: var(--muted); }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .2rem .6rem; border-bottom: 1px solid var(--line);
         vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.changed td:first-child { border-left: 3px solid var(--add-mark); }
nav#toc { display: flex; flex-wrap: wrap; gap: .4rem; margin: .8rem 0; }
nav#toc a { border: 1px solid var(--line); border-radius: 4px; padding: .1rem .5rem;
            text-decoration: none; color: inherit; }
nav#toc a.changed { border-color: var(--add-mark); }
section.pass { margin-top: 2rem; }
section.pass.hidden { display: none; }
ol.rewrites, ul.near-misses { padding-left: 1.4rem; }
li.rewrite, li.near-miss { margin: .25rem 0; }
li.near-miss { background: var(--miss); padding: .2rem .4rem; border-radius: 3px; }
.rule { font-weight: 600; }
.reason { font-style: italic; }
.fused { background: var(--fused); font-weight: 600; }
.diff { border: 1px solid var(--line); border-radius: 4px; overflow-x: auto; }
.diff.collapsed table { display: none; }
.diff table { width: 100%; }
.diff td { border: 0; padding: 0 .5rem; white-space: pre; }
.diff td.ln { color: var(--muted); text-align: right; user-select: none; width: 3.5em; }
.diff tr.hunk td { background: #ddf4ff; color: var(--muted); }
.diff tr.added td.code { background: var(--add); }
.diff tr.removed td.code { background: var(--del); }
.diff tr.added td.sign { color: var(--add-mark); }
.diff tr.removed td.sign { color: var(--del-mark); }
button.diff-toggle { margin: .3rem; font-size: 12px; }
details pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; }
"""

SCRIPT = """
(function () {
  "use strict";
  var body = document.body;
  try {
    var sections = document.querySelectorAll("section.pass");
    var toc = document.getElementById("toc");
    var count = function (n, one, many) { return n + " " + (n === "1" ? one : many); };
    sections.forEach(function (section) {
      var link = document.createElement("a");
      link.className = "toc-link" + (section.dataset.changed === "true" ? " changed" : "");
      link.href = "#" + section.id;
      link.textContent = section.dataset.index + ". " + section.dataset.pass + " (" +
        count(section.dataset.rewrites, "rewrite", "rewrites") + ", " +
        count(section.dataset.nearMisses, "near miss", "near misses") + ")";
      toc.appendChild(link);
    });
    document.querySelectorAll(".diff").forEach(function (diff) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "diff-toggle";
      button.textContent = "hide diff";
      button.addEventListener("click", function () {
        var collapsed = diff.classList.toggle("collapsed");
        button.textContent = collapsed ? "show diff" : "hide diff";
      });
      diff.insertBefore(button, diff.firstChild);
    });
    var filter = document.getElementById("only-changed");
    filter.disabled = false;
    filter.addEventListener("change", function () {
      sections.forEach(function (section) {
        section.classList.toggle("hidden", filter.checked && section.dataset.changed !== "true");
      });
    });
    body.dataset.passes = String(sections.length);
    body.dataset.ready = "true";
  } catch (err) {
    body.dataset.ready = "error: " + err;
  }
})();
"""

__all__ = ["SCRIPT", "STYLE"]
