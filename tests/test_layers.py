"""The package's structure stays true: no import cycles, layered stages (``lint-imports``, contracts in pyproject),
importing musiclust changes nothing in the process, and the comparison tools never load the training stack."""

import os
import subprocess
import sys

import grimp

from tests.conftest import REPO


def _cycle(graph: grimp.ImportGraph, modules: set[str]) -> list[str] | None:
    """One import cycle among ``modules`` (module names in order), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module], _ = 1, stack.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module) & modules):
            if state.get(imported) == 1:
                return stack[stack.index(imported):] + [imported]
            if imported not in state and (found := visit(imported)):
                return found
        state[module], _ = 2, stack.pop()
        return None

    for module in sorted(modules):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_import_graph_has_no_cycles():
    graph = grimp.build_graph("musiclust")
    # a package's __init__ re-exporting its own modules is not a cycle of the code
    modules = {m for m in graph.modules if not graph.find_children(m)}
    assert _cycle(graph, modules) is None, " → ".join(_cycle(graph, modules) or [])


def test_the_layer_contracts_hold():
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "lint-imports"), "--no-cache"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_importing_musiclust_leaves_the_environment_alone():
    code = ("import os; before = dict(os.environ); import musiclust, musiclust.pipeline, musiclust.run; "
            "print(dict(os.environ) == before)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env={
        k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"})
    assert done.stdout.strip() == "True", done.stderr


def test_config_and_dataset_errors_come_before_the_training_stack(tmp_path):
    """A bad value or a missing CSV answers before torch, Lightning or scikit-learn are even imported."""
    code = (
        "import sys\n"
        "from hydra import compose, initialize_config_dir\n"
        "from omegaconf import open_dict\n"
        "from musiclust.errors import MusiclustError\n"
        "from musiclust.pipeline import run_experiment\n"
        "from musiclust.run import CONFIG_DIR\n"
        "for overrides in (['model.latent_dim=0'], ['dataset=manifest', 'dataset.path=/nonexistent.csv']):\n"
        "    with initialize_config_dir(config_dir=CONFIG_DIR, version_base='1.3'):\n"
        "        cfg = compose(config_name='config', overrides=overrides)\n"
        "    with open_dict(cfg):\n"
        f"        cfg.paths.output_dir = {str(tmp_path / 'run')!r}\n"
        "    try:\n"
        "        run_experiment(cfg)\n"
        "    except MusiclustError as err:\n"
        "        print(type(err).__name__)\n"
        "print(sorted(m for m in ('torch', 'pytorch_lightning', 'sklearn', 'librosa') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.split() == ["ConfigError", "DataError", "[]"], done.stdout + done.stderr
