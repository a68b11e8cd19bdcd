"""Face verification: quality gating, encoding, 1:1 matching and liveness."""

import warnings

# face_recognition_models locates its model files through pkg_resources, which warns on every
# import; the warning is about that package's packaging, not something an operator can act on.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
