"""Write the HTML template that makes `dvc plots show` work offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so without internet the page is
blank. This template carries the three libraries inline, bundled by vl-convert (the Vega team's
converter, installed with songsim), and leaves out DVC's `{scripts}` placeholder, so the page
references no remote URL. `.dvc/config` points `plots.html_template` at the file this script writes;
`make` runs it after installing.

    python scripts/offline_plots_template.py [--out .dvc/plots/offline.html]
"""

from __future__ import annotations

import argparse
from pathlib import Path

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>songsim plots</title>
    <script type="text/javascript">
__BUNDLE__
    </script>
    <style>
        body { font-family: sans-serif; margin: 1em; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def template() -> str:
    import vl_convert

    bundle = vl_convert.javascript_bundle()  # sets window.vegaEmbed, window.vega and window.vegaLite
    if "{plot_divs}" in bundle or "</script" in bundle.lower():
        raise RuntimeError("the vega bundle cannot be inlined in a DVC page template")
    return PAGE.replace("__BUNDLE__", bundle)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=".dvc/plots/offline.html")
    out = Path(ap.parse_args().out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(template(), encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
