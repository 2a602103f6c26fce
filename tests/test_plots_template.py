"""The `dvc plots show` page template works offline: the vega libraries inline, no remote URL loaded."""

import re
import runpy

from tests.conftest import ROOT


def test_offline_template_loads_nothing_remote():
    page = runpy.run_path(str(ROOT / "scripts" / "offline_plots_template.py"))["template"]()
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC's CDN script tags are never inserted
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "window.vegaEmbed" in page and "window.vegaLite" in page


def test_plot_templates_named_in_dvc_yaml_exist():
    import yaml

    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    names = {next(iter(p.values())).get("template") for p in dvc["plots"]}
    for name in names - {None}:
        assert (ROOT / ".dvc" / "plots" / f"{name}.json").exists() or name in (
            "simple", "linear", "scatter", "confusion", "bar_horizontal"), name
