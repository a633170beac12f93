"""Build hook: the gettext catalogues (``callbot/i18n/locale/<lang>/LC_MESSAGES/messages.po``)
are compiled to ``messages.mo`` whenever the package is built — ``pip install .``, a wheel, and
``pip install -e .`` (setuptools runs build_py for editable installs too; there the ``.mo``
goes beside its ``.po`` in the source tree). Everything else is in pyproject.toml.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LOCALE = Path("callbot") / "i18n" / "locale"


def compile_catalogues(source: Path, target: Path) -> list[Path]:
    """Every ``*.po`` under ``source`` compiled to ``.mo`` in the same layout under ``target``."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        with open(po, "rb") as f:
            catalogue = read_po(f, domain=po.stem)
        buffer = BytesIO()
        write_mo(buffer, catalogue)
        mo = (target / po.relative_to(source)).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        mo.write_bytes(buffer.getvalue())
        written.append(mo)
    return written


class BuildWithCatalogues(build_py):
    def run(self) -> None:
        super().run()
        here = Path(__file__).resolve().parent
        source = here / LOCALE
        if getattr(self, "editable_mode", False):
            target = source
        else:
            target = Path(self.build_lib) / LOCALE
        for mo in compile_catalogues(source, target):
            self.announce(f"compiled {mo}", level=2)


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import compile_catalogues
    setup(cmdclass={"build_py": BuildWithCatalogues})
