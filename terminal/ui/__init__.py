"""The kiosk's touch screens (Kivy): they render the plain-Python flows and never own state.

Import `terminal.ui.boot` and call `prepare()` before anything that imports kivy.
"""
