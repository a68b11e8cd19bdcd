"""Spoken prompts through espeak-ng, when it is installed; silent otherwise.

Speaking is a child process started without waiting; a new prompt cuts the previous one off,
as a person would, and `stop()` leaves no process behind.
"""

from __future__ import annotations

import shutil
import subprocess

VOICES = {"zh": "cmn", "en": "en"}


class Speaker:
    """Says prompts aloud if enabled and espeak-ng is on the PATH."""

    def __init__(self, enabled: bool = True, binary: str = "espeak-ng"):
        self.binary = shutil.which(binary) if enabled else None
        self._proc: subprocess.Popen[bytes] | None = None
        self.spoken: list[str] = []

    @property
    def available(self) -> bool:
        return self.binary is not None

    def say(self, text: str, lang: str) -> None:
        if not self.binary or not text:
            return
        self.stop()
        self.spoken.append(lang)  # the language only: prompts may name the citizen's item
        self._proc = subprocess.Popen(
            [self.binary, "-v", VOICES.get(lang, "en"), "-s", "140", "--", text],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
