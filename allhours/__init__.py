"""Composition root: the `allhours` command line and the wiring of real or emulated parts."""

import warnings as _warnings

# face_recognition_models loads its model files through pkg_resources, which setuptools now
# flags on every import; the pin setuptools<81 keeps it working, so the notice is only noise.
_warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
