"""Parts for tests, benchmarks, the demo and the screenshots; never part of a kiosk's work.

- `samples`: public sample photos (faces, a scanned page), fetched once from the PyPI
  packages that publish them into a digest-checked cache.
- `tour`: the scripted walk through every kiosk screen that `allhours screenshots`, the UI
  tests and the benchmarks drive, with its sample citizen.

Product packages (`terminal`, `devices`, `face`, `locker`, `cloud_bridge`, `backend`,
`provisioning`, `privacy`) never import it; `allhours` does only for its demo, its emulated
device set and its screenshot command.
"""
