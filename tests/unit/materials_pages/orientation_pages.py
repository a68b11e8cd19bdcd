"""Generated pages for the orientation tests and benchmark: Latin forms and Chinese documents."""

from __future__ import annotations

import numpy as np

from devices.camera.document_scene import chinese_page, cjk_font, page_template
from devices.camera.emulated import render_page


def latin_form(seed: int) -> np.ndarray:
    """The generated application form the desk scenes use (variants differ in their lines)."""
    return np.asarray(page_template("A4", 150, seed))


def latin_letter(seed: int) -> np.ndarray:
    """The emulated document camera's page: a title, numbered lines, a seal."""
    rng = np.random.default_rng(seed)
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "clerk", "form"]
    lines = [
        " ".join(words[int(i)] for i in rng.integers(len(words), size=int(rng.integers(4, 10))))
        for _ in range(int(rng.integers(8, 25)))
    ]
    return render_page(f"Certificate {seed}", lines)


def turned(page: np.ndarray, turn: int) -> np.ndarray:
    """The page turned `turn` degrees clockwise, as it would lie on the desk."""
    return np.ascontiguousarray(np.rot90(page, -(turn // 90)))


__all__ = ["chinese_page", "cjk_font", "latin_form", "latin_letter", "turned"]
