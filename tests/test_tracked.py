"""No ignore rule matches a source or config file of the package: ``outputs/`` once matched
``musiclust/outputs/__init__.py`` and ``musiclust/conf/outputs/``, so a fresh clone could not import musiclust."""

import shutil
import subprocess

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
def test_no_file_of_the_package_is_git_ignored():
    files = [str(p.relative_to(REPO)) for p in sorted((REPO / "musiclust").rglob("*"))
             if p.suffix in (".py", ".yaml", ".j2", ".typed") and "__pycache__" not in p.parts]
    assert "musiclust/outputs/__init__.py" in files
    # --no-index: the rules themselves, whether or not the files are tracked yet
    done = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=REPO, input="\n".join(files),
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == "", f"ignored: {done.stdout.split()}"
