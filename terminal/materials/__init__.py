"""Materials: turning paper on the document camera into pages a clerk can read.

`quad` finds the page in a frame, `formats` names its paper size, `rectify` straightens and
enhances it, `quality` says what is wrong in words a citizen understands, `capture` takes the
picture once the page lies still, and `pdf` makes the one file a material becomes.
"""
