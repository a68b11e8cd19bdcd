"""The kiosk: plain-Python flows and the Kivy screens that render them."""
